/* topos/topos.h - the C API of topos (C99 and later, and C++).
 *
 * A stable C ABI over the C++ library, exported by libtopos. Only C types
 * appear here. Every function returns a topos_status; TOPOS_OK is 0. On any
 * other code, topos_last_error() returns a one-line message (thread-local,
 * valid until the thread's next failing call) that names the bad input.
 * No C++ exception ever leaves a function of this header.
 *
 * Handles (topos_runtime_t*, topos_task_group_t*, topos_segment_t*,
 * topos_node_array_t*) are made by a *_create or *_open function and freed by
 * the matching *_destroy or *_close function. A NULL handle, or a pointer
 * that is not a live handle of that kind, is TOPOS_E_BAD_HANDLE. The process-shared
 * mutex, semaphore and barrier live in memory the caller provides (usually a
 * shared segment): *_init makes one in place, *_attach uses one another
 * process made.
 *
 * Node ids are logical NUMA node ids (0 .. node count - 1), never the
 * kernel's numbers. Loop bounds are int64_t; a loop body receives chunks
 * [lo, hi) so that the C loop inside stays tight.
 *
 * Build: cc prog.c $(pkg-config --cflags --libs topos)
 */
#ifndef TOPOS_TOPOS_H
#define TOPOS_TOPOS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------ */

typedef enum topos_status {
    TOPOS_OK = 0,
    TOPOS_E_INVALID_ARGUMENT = 1, /* NULL pointer, zero size, out-of-range value */
    TOPOS_E_BAD_HANDLE = 2,       /* NULL or not a live handle of the expected kind */
    TOPOS_E_NODE = 3,             /* a NUMA node id or PU the topology lacks */
    TOPOS_E_CONFIG = 4,           /* bind policy, thread count, TOPOS_* or OMP_* variable */
    TOPOS_E_PLACES = 5,           /* a malformed places list */
    TOPOS_E_TOPOLOGY = 6,         /* a topology source that cannot be loaded */
    TOPOS_E_INDEX = 7,            /* an index past the end */
    TOPOS_E_MEMORY = 8,           /* bad memory request (alignment, foreign pointer, ...) */
    TOPOS_E_NO_MEMORY = 9,        /* memory ran out */
    TOPOS_E_SHM = 10,             /* shared segment create/open/remove failed */
    TOPOS_E_SYNC = 11,            /* a process-shared primitive failed */
    TOPOS_E_SYSTEM = 12,          /* another system error */
    TOPOS_E_INTERNAL = 13,        /* anything else (a bug: please report it) */
    TOPOS_STATUS_MAX_ENUM = 0x7fffffff /* not a status: makes the enum an int everywhere */
} topos_status;

/* The message of the calling thread's last failing call ("" when none). */
const char* topos_last_error(void);
/* "TOPOS_OK", "TOPOS_E_NODE", ... ("unknown status" for other values). */
const char* topos_status_name(topos_status status);
/* The library's version, "0.1.0". */
const char* topos_version(void);

/* ---- runtime ----------------------------------------------------------- */

typedef struct topos_runtime topos_runtime_t;

/* Unset fields (NULL, 0) come from TOPOS_* variables, then OMP_* ones, then
 * the defaults, as for the C++ runtime_options. Initialise with
 * topos_runtime_options_init so that later fields stay zero. */
typedef struct topos_runtime_options {
    const char* places;   /* OMP_PLACES grammar: "cores", "numa_domains", "{0:4}" */
    const char* bind;     /* "false", "true", "primary", "close", "spread" */
    int threads;          /* 0: one per place; else 1 .. 4096 */
    const char* topology; /* "synthetic:...", "xml:FILE", "host"; NULL: TOPOS_TOPOLOGY or the host */
    int64_t reserved[4];  /* zero (room for later options without a new ABI) */
} topos_runtime_options;

topos_status topos_runtime_options_init(topos_runtime_options* options);
/* options may be NULL (everything from the environment). */
topos_status topos_runtime_create(const topos_runtime_options* options, topos_runtime_t** out);
/* Waits for work in flight, stops the workers and frees the handle. */
topos_status topos_runtime_destroy(topos_runtime_t* rt);
topos_status topos_runtime_thread_count(const topos_runtime_t* rt, int* out);
/* The NUMA node of the calling worker, -1 outside any runtime or unbound. */
topos_status topos_this_worker_node(int* out);
/* Index of the calling worker in its runtime, -1 outside any runtime. */
topos_status topos_this_worker_index(int* out);

typedef struct topos_runtime_stats {
    uint64_t tasks_run;
    uint64_t caller_tasks_run;
    uint64_t steals_local;
    uint64_t steals_remote;
    uint64_t steals_lost;
    uint64_t inbox_tasks;
    uint64_t parks;
    uint64_t iterations_on_data_node;
    uint64_t iterations_off_data_node;
    uint64_t reserved[7]; /* zero (room for later counters without a new ABI) */
} topos_runtime_stats;
topos_status topos_runtime_stats_get(const topos_runtime_t* rt, topos_runtime_stats* out);

/* ---- parallel loops ---------------------------------------------------- */

/* body(lo, hi, ctx) handles iterations [lo, hi). */
typedef void (*topos_for_body)(int64_t lo, int64_t hi, void* ctx);

/* Calls body on chunks covering [begin, end) in parallel; a chunk has at most
 * `grain` iterations (0: automatic, a few chunks per worker and at most 65536
 * iterations each). begin >= end does nothing. grain < 0 is an error. */
topos_status topos_parallel_for(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain,
                                topos_for_body body, void* ctx);

typedef enum topos_reduce_op {
    TOPOS_REDUCE_SUM = 0,
    TOPOS_REDUCE_MIN = 1,
    TOPOS_REDUCE_MAX = 2,
    TOPOS_REDUCE_OP_MAX_ENUM = 0x7fffffff /* not an operation: any int value is then a valid topos_reduce_op */
} topos_reduce_op;

/* chunk(lo, hi, ctx) returns the reduction (by op) of its iterations; the
 * chunks' results are combined by op starting from the identity (0, +inf or
 * INT64_MAX, -inf or INT64_MIN), left to right in a grouping fixed by the
 * grain, so a floating-point sum repeats from run to run. */
typedef double (*topos_reduce_double_body)(int64_t lo, int64_t hi, void* ctx);
typedef int64_t (*topos_reduce_int64_body)(int64_t lo, int64_t hi, void* ctx);
topos_status topos_parallel_reduce_double(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain,
                                          topos_reduce_op op, topos_reduce_double_body chunk, void* ctx,
                                          double* result);
topos_status topos_parallel_reduce_int64(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain,
                                         topos_reduce_op op, topos_reduce_int64_body chunk, void* ctx,
                                         int64_t* result);

/* ---- task groups ------------------------------------------------------- */

typedef struct topos_task_group topos_task_group_t;
typedef void (*topos_task_fn)(void* ctx);

topos_status topos_task_group_create(topos_runtime_t* rt, topos_task_group_t** out);
/* Waits for the group's tasks, then frees it. */
topos_status topos_task_group_destroy(topos_task_group_t* group);
topos_status topos_task_group_run(topos_task_group_t* group, topos_task_fn fn, void* ctx);
/* Runs fn on a worker of NUMA node `node`; TOPOS_E_NODE when the runtime has no
   worker there (an unbound runtime has none on any node), and nothing is queued. */
topos_status topos_task_group_run_on_node(topos_task_group_t* group, int node, topos_task_fn fn, void* ctx);
/* Returns when every task run so far has finished. */
topos_status topos_task_group_wait(topos_task_group_t* group);

/* ---- memory ------------------------------------------------------------ */

typedef enum topos_mem_kind {
    TOPOS_MEM_LOCAL = 0,      /* the node of the CPU that first touches a page; no nodes */
    TOPOS_MEM_ON_NODE = 1,    /* exactly one node */
    TOPOS_MEM_PREFERRED = 2,  /* exactly one node, others when it is full */
    TOPOS_MEM_INTERLEAVE = 3, /* round-robin over the nodes (none given: all) */
    TOPOS_MEM_BIND = 4,       /* bound to one or more nodes */
    TOPOS_MEM_KIND_MAX_ENUM = 0x7fffffff /* not a policy: any int value is then a valid topos_mem_kind */
} topos_mem_kind;

/* flags of topos_alloc */
#define TOPOS_ALLOC_OWN_PAGES 1u  /* a page block even when small (for page_nodes, migrate) */
#define TOPOS_ALLOC_HUGE_PAGES 2u /* ask for transparent huge pages */

/* Allocates `bytes` (> 0) placed by `kind` over nodes[0 .. node_count). */
topos_status topos_alloc(size_t bytes, topos_mem_kind kind, const int* nodes, size_t node_count, unsigned flags,
                         void** out);
/* Frees a block from topos_alloc; bytes as asked. NULL is ignored. */
topos_status topos_free(void* p, size_t bytes);
/* The node of each page of [p, p + bytes) (p page-aligned, inside one page
 * block): -1 for a page not yet touched. Writes min(pages, capacity) entries
 * to nodes and the page count to *pages. */
topos_status topos_page_nodes(const void* p, size_t bytes, int* nodes, size_t capacity, size_t* pages);
/* Moves the pages of [p, p + bytes) to `node`; *moved (may be NULL) gets the
 * number of present pages now there. */
topos_status topos_migrate(void* p, size_t bytes, int node, size_t* moved);
topos_status topos_page_size(size_t* out);

/* A block-distributed array (the C form of topos::node_array): `count`
 * elements of `elem_size` bytes, zeroed, split into one contiguous block per
 * node of nodes[0 .. node_count) (every node of the host when node_count is
 * 0), block i holding [i*count/k, (i+1)*count/k), each block's pages bound to
 * its node. */
typedef struct topos_node_array topos_node_array_t;
topos_status topos_node_array_create(size_t count, size_t elem_size, const int* nodes, size_t node_count,
                                     topos_node_array_t** out);
topos_status topos_node_array_destroy(topos_node_array_t* array);
topos_status topos_node_array_data(const topos_node_array_t* array, void** out);
topos_status topos_node_array_size(const topos_node_array_t* array, size_t* out);
/* The node that holds element `index`. */
topos_status topos_node_array_node_of(const topos_node_array_t* array, size_t index, int* out);
topos_status topos_node_array_block_count(const topos_node_array_t* array, size_t* out);
/* Block i: its node and its elements [*begin, *end). */
topos_status topos_node_array_block(const topos_node_array_t* array, size_t i, int* node, size_t* begin,
                                    size_t* end);
/* As topos_parallel_for over [0, size), each block's chunks on its node. */
topos_status topos_parallel_for_array(topos_runtime_t* rt, const topos_node_array_t* array, int64_t grain,
                                      topos_for_body body, void* ctx);

/* ---- topology (of the runtime's machine) -------------------------------- */

topos_status topos_node_count(const topos_runtime_t* rt, int* out);
/* The node_count x node_count distance matrix, row-major, into out[0 .. capacity). */
topos_status topos_distance_matrix(const topos_runtime_t* rt, int* out, size_t capacity);
/* The PU OS indices of `node`: min(count, capacity) into pus, the count to *count. */
topos_status topos_node_pus(const topos_runtime_t* rt, int node, int* pus, size_t capacity, size_t* count);

/* ---- shared segments ---------------------------------------------------- */

typedef struct topos_segment topos_segment_t;

/* flags of topos_segment_create and topos_segment_open */
#define TOPOS_SEGMENT_REPLACE 1u         /* create: remove an existing segment of the name first */
#define TOPOS_SEGMENT_REMOVE_ON_CLOSE 2u /* create: the creator's close removes the name */
#define TOPOS_SEGMENT_READ_ONLY 4u       /* open: map read-only */

/* name: "/name" (POSIX shm). size > 0 user bytes, zeroed. */
topos_status topos_segment_create(const char* name, size_t size, unsigned flags, topos_segment_t** out);
topos_status topos_segment_open(const char* name, unsigned flags, topos_segment_t** out);
/* Removes the segment's name (mappings stay valid). */
topos_status topos_segment_unlink(topos_segment_t* segment);
/* Removes a name without opening it. */
topos_status topos_segment_remove(const char* name);
/* Unmaps and frees the handle. */
topos_status topos_segment_close(topos_segment_t* segment);
topos_status topos_segment_data(const topos_segment_t* segment, void** out);
topos_status topos_segment_size(const topos_segment_t* segment, size_t* out);

/* ---- process-shared synchronisation ------------------------------------ */

/* Bytes and alignment the caller provides for each object. */
#define TOPOS_MUTEX_BYTES 64
#define TOPOS_SEMAPHORE_BYTES 64
#define TOPOS_BARRIER_BYTES 192
#define TOPOS_SYNC_ALIGN 16

typedef struct topos_mutex topos_mutex_t;
typedef struct topos_semaphore topos_semaphore_t;
typedef struct topos_barrier topos_barrier_t;

/* Makes a robust process-shared mutex at mem (TOPOS_SYNC_ALIGN-aligned,
 * bytes >= TOPOS_MUTEX_BYTES). */
topos_status topos_mutex_init(void* mem, size_t bytes, topos_mutex_t** out);
/* Uses the mutex another process made at mem (its copy of the segment). */
topos_status topos_mutex_attach(void* mem, topos_mutex_t** out);
topos_status topos_mutex_destroy(topos_mutex_t* mutex);
/* *owner_died (may be NULL) is 1 when taken from an owner that died holding it. */
topos_status topos_mutex_lock(topos_mutex_t* mutex, int* owner_died);
/* *acquired is 1 when owned now. */
topos_status topos_mutex_try_lock(topos_mutex_t* mutex, int* acquired, int* owner_died);
topos_status topos_mutex_unlock(topos_mutex_t* mutex);

topos_status topos_semaphore_init(void* mem, size_t bytes, unsigned initial, topos_semaphore_t** out);
topos_status topos_semaphore_attach(void* mem, topos_semaphore_t** out);
topos_status topos_semaphore_destroy(topos_semaphore_t* sem);
topos_status topos_semaphore_post(topos_semaphore_t* sem);
topos_status topos_semaphore_wait(topos_semaphore_t* sem);
/* Waits at most timeout_ns (< 0: forever); *taken is 1 when the count was taken. */
topos_status topos_semaphore_timed_wait(topos_semaphore_t* sem, int64_t timeout_ns, int* taken);
topos_status topos_semaphore_value(const topos_semaphore_t* sem, int* out);

/* participants >= 1. */
topos_status topos_barrier_init(void* mem, size_t bytes, unsigned participants, topos_barrier_t** out);
topos_status topos_barrier_attach(void* mem, topos_barrier_t** out);
topos_status topos_barrier_destroy(topos_barrier_t* barrier);
/* *serial (may be NULL) is 1 for exactly one participant of each round. */
topos_status topos_barrier_wait(topos_barrier_t* barrier, int* serial);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TOPOS_TOPOS_H */
