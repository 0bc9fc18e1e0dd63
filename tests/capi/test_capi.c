/* tests/capi/test_capi.c - the whole C API of <topos/topos.h> from C,
 * including every error path: bad handles (NULL, destroyed, foreign), bad
 * nodes, NULL bodies and out-pointers, zero sizes, bad enum values.
 * Prints one line per failed check and a count; exit 0 only when all pass. */
#include <topos/topos.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_checks = 0;
static int g_failed = 0;

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        ++g_checks;                                                                                  \
        if (!(cond)) {                                                                               \
            ++g_failed;                                                                              \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    topos_last_error());                                                             \
        }                                                                                            \
    } while (0)

/* A call that must succeed. */
#define OK(call) CHECK((call) == TOPOS_OK)

/* A call that must fail with `status`, and a last error that names `word`. */
#define FAILS(call, status, word)                                                       \
    do {                                                                                \
        topos_status s_ = (call);                                                       \
        CHECK(s_ == (status));                                                          \
        if (s_ != (status)) {                                                           \
            fprintf(stderr, "  got %s\n", topos_status_name(s_));                       \
        }                                                                               \
        CHECK(strstr(topos_last_error(), (word)) != NULL);                              \
    } while (0)

/* ---- bodies ---- */

struct fill_ctx {
    int64_t* data;
    int64_t calls; /* chunks seen (atomically) */
    int64_t max_chunk;
};

static void fill_body(int64_t lo, int64_t hi, void* p) {
    struct fill_ctx* c = (struct fill_ctx*)p;
    for (int64_t i = lo; i < hi; ++i) {
        c->data[i] += i; /* += : a chunk run twice would show */
    }
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
    int64_t len = hi - lo;
    int64_t seen = __atomic_load_n(&c->max_chunk, __ATOMIC_RELAXED);
    while (len > seen && !__atomic_compare_exchange_n(&c->max_chunk, &seen, len, 0, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED)) {
    }
}

static void offset_body(int64_t lo, int64_t hi, void* p) {
    int64_t* sum = (int64_t*)p;
    int64_t local = 0;
    for (int64_t i = lo; i < hi; ++i) {
        local += i;
    }
    __atomic_fetch_add(sum, local, __ATOMIC_RELAXED);
}

static void never_body(int64_t lo, int64_t hi, void* p) {
    (void)lo;
    (void)hi;
    *(int*)p = 1;
}

static double sum_double(int64_t lo, int64_t hi, void* p) {
    const double* x = (const double*)p;
    double s = 0;
    for (int64_t i = lo; i < hi; ++i) {
        s += x[i];
    }
    return s;
}

static double min_double(int64_t lo, int64_t hi, void* p) {
    const double* x = (const double*)p;
    double m = INFINITY;
    for (int64_t i = lo; i < hi; ++i) {
        m = x[i] < m ? x[i] : m;
    }
    return m;
}

static double max_double(int64_t lo, int64_t hi, void* p) {
    const double* x = (const double*)p;
    double m = -INFINITY;
    for (int64_t i = lo; i < hi; ++i) {
        m = x[i] > m ? x[i] : m;
    }
    return m;
}

static int64_t sum_int(int64_t lo, int64_t hi, void* p) {
    (void)p;
    int64_t s = 0;
    for (int64_t i = lo; i < hi; ++i) {
        s += i;
    }
    return s;
}

static int64_t min_int(int64_t lo, int64_t hi, void* p) {
    (void)p;
    int64_t m = INT64_MAX;
    for (int64_t i = lo; i < hi; ++i) {
        int64_t v = (i * 7919) % 1000 - 500;
        m = v < m ? v : m;
    }
    return m;
}

static int64_t max_int(int64_t lo, int64_t hi, void* p) {
    (void)p;
    int64_t m = INT64_MIN;
    for (int64_t i = lo; i < hi; ++i) {
        int64_t v = (i * 7919) % 1000 - 500;
        m = v > m ? v : m;
    }
    return m;
}

struct task_ctx {
    int64_t runs;
    int64_t node_seen; /* last node a run_on_node task ran on */
};

static void task_fn(void* p) {
    struct task_ctx* c = (struct task_ctx*)p;
    __atomic_fetch_add(&c->runs, 1, __ATOMIC_RELAXED);
}

static void node_task_fn(void* p) {
    struct task_ctx* c = (struct task_ctx*)p;
    int node = -2;
    topos_this_worker_node(&node);
    __atomic_store_n(&c->node_seen, node, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->runs, 1, __ATOMIC_RELAXED);
}

/* ---- sections ---- */

static void test_status_and_version(void) {
    CHECK(strcmp(topos_status_name(TOPOS_OK), "TOPOS_OK") == 0);
    CHECK(strcmp(topos_status_name(TOPOS_E_NODE), "TOPOS_E_NODE") == 0);
    CHECK(strcmp(topos_status_name((topos_status)999), "unknown status") == 0);
    CHECK(strlen(topos_version()) >= 5);
    FAILS(topos_runtime_options_init(NULL), TOPOS_E_INVALID_ARGUMENT, "options");
}

static topos_runtime_t* test_runtime_lifecycle(void) {
    topos_runtime_options o;
    OK(topos_runtime_options_init(&o));
    CHECK(o.places == NULL && o.bind == NULL && o.threads == 0 && o.topology == NULL && o.reserved[3] == 0);

    topos_runtime_t* rt = (topos_runtime_t*)0x1;
    o.reserved[2] = 1;
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_INVALID_ARGUMENT, "reserved");
    CHECK(rt == NULL);
    o.reserved[2] = 0;
    FAILS(topos_runtime_create(&o, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    o.bind = "sideways";
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_CONFIG, "sideways");
    CHECK(rt == NULL);
    o.bind = NULL;
    o.threads = -3;
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_INVALID_ARGUMENT, "threads");
    o.threads = 100000;
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_CONFIG, "100000");
    o.threads = 0;
    o.places = "{0:4";
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_PLACES, "{0:4");
    o.places = NULL;
    o.topology = "synthetic:bogus:7";
    FAILS(topos_runtime_create(&o, &rt), TOPOS_E_TOPOLOGY, "bogus");
    o.topology = NULL;

    o.threads = 2;
    o.bind = "false";
    OK(topos_runtime_create(&o, &rt));
    int threads = 0;
    OK(topos_runtime_thread_count(rt, &threads));
    CHECK(threads == 2);
    FAILS(topos_runtime_thread_count(rt, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_runtime_thread_count(NULL, &threads), TOPOS_E_BAD_HANDLE, "rt");
    uint64_t foreign[8] = {0};
    FAILS(topos_runtime_thread_count((topos_runtime_t*)foreign, &threads), TOPOS_E_BAD_HANDLE, "not a live");

    /* Outside any runtime. */
    int node = 5, index = 5;
    OK(topos_this_worker_node(&node));
    CHECK(node == -1);
    OK(topos_this_worker_index(&index));
    CHECK(index == -1);
    FAILS(topos_this_worker_node(NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_this_worker_index(NULL), TOPOS_E_INVALID_ARGUMENT, "out");

    /* Create and destroy; bad handles to destroy. */
    topos_runtime_t* other = NULL;
    o.threads = 1;
    OK(topos_runtime_create(&o, &other));
    OK(topos_runtime_destroy(other));
    FAILS(topos_runtime_destroy(NULL), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_runtime_destroy((topos_runtime_t*)foreign), TOPOS_E_BAD_HANDLE, "rt");
    /* Default options from the environment. */
    OK(topos_runtime_create(NULL, &other));
    OK(topos_runtime_thread_count(other, &threads));
    CHECK(threads >= 1);
    OK(topos_runtime_destroy(other));
    return rt;
}

static void test_parallel_for(topos_runtime_t* rt) {
    enum { n = 100003 };
    int64_t* data = calloc(n, sizeof *data);
    struct fill_ctx c = {data, 0, 0};
    OK(topos_parallel_for(rt, 0, n, 1000, fill_body, &c));
    int good = 1;
    for (int64_t i = 0; i < n; ++i) {
        good &= data[i] == i;
    }
    CHECK(good);
    CHECK(c.calls == (n + 999) / 1000); /* one call per chunk of the grain */
    CHECK(c.max_chunk == 1000);

    /* Automatic grain: each index once, in chunks of more than one. */
    memset(data, 0, n * sizeof *data);
    c.calls = 0;
    c.max_chunk = 0;
    OK(topos_parallel_for(rt, 0, n, 0, fill_body, &c));
    good = 1;
    for (int64_t i = 0; i < n; ++i) {
        good &= data[i] == i;
    }
    CHECK(good);
    CHECK(c.calls >= 2 && c.calls < n);

    /* Negative bounds and a grain larger than the range. */
    int64_t sum = 0;
    OK(topos_parallel_for(rt, -1000, 1002, 7, offset_body, &sum));
    CHECK(sum == 1001);
    sum = 0;
    OK(topos_parallel_for(rt, 5, 10, 1000000, offset_body, &sum));
    CHECK(sum == 5 + 6 + 7 + 8 + 9);

    /* Empty and reversed ranges do nothing. */
    int touched = 0;
    OK(topos_parallel_for(rt, 10, 10, 0, never_body, &touched));
    OK(topos_parallel_for(rt, 10, 3, 0, never_body, &touched));
    CHECK(touched == 0);


    FAILS(topos_parallel_for(rt, 0, 10, 0, NULL, NULL), TOPOS_E_INVALID_ARGUMENT, "body");
    FAILS(topos_parallel_for(NULL, 0, 10, 0, fill_body, &c), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_parallel_for(rt, 0, 10, -1, fill_body, &c), TOPOS_E_INVALID_ARGUMENT, "grain");
    free(data);
}

static void test_reduce(topos_runtime_t* rt) {
    enum { n = 50000 };
    double* x = malloc(n * sizeof *x);
    double expect = 0;
    for (int i = 0; i < n; ++i) {
        x[i] = (double)((i * 37) % 101) - 50.25;
        expect += x[i];
    }
    double r = 0;
    OK(topos_parallel_reduce_double(rt, 0, n, 0, TOPOS_REDUCE_SUM, sum_double, x, &r));
    CHECK(fabs(r - expect) < 1e-6 * n);
    double again = 1;
    OK(topos_parallel_reduce_double(rt, 0, n, 0, TOPOS_REDUCE_SUM, sum_double, x, &again));
    CHECK(again == r); /* the grouping is fixed by the grain */
    OK(topos_parallel_reduce_double(rt, 0, n, 333, TOPOS_REDUCE_MIN, min_double, x, &r));
    CHECK(r == -50.25);
    OK(topos_parallel_reduce_double(rt, 0, n, 333, TOPOS_REDUCE_MAX, max_double, x, &r));
    CHECK(r == 49.75);
    /* Empty ranges give the identity. */
    OK(topos_parallel_reduce_double(rt, 3, 3, 0, TOPOS_REDUCE_SUM, sum_double, x, &r));
    CHECK(r == 0.0);
    OK(topos_parallel_reduce_double(rt, 3, 3, 0, TOPOS_REDUCE_MIN, min_double, x, &r));
    CHECK(isinf(r) && r > 0);
    OK(topos_parallel_reduce_double(rt, 3, 3, 0, TOPOS_REDUCE_MAX, max_double, x, &r));
    CHECK(isinf(r) && r < 0);

    int64_t s = 0;
    OK(topos_parallel_reduce_int64(rt, 1, 1000001, 0, TOPOS_REDUCE_SUM, sum_int, NULL, &s));
    CHECK(s == (int64_t)1000000 * 1000001 / 2);
    int64_t expect_min = INT64_MAX, expect_max = INT64_MIN;
    for (int64_t i = 0; i < 10000; ++i) {
        int64_t v = (i * 7919) % 1000 - 500;
        expect_min = v < expect_min ? v : expect_min;
        expect_max = v > expect_max ? v : expect_max;
    }
    OK(topos_parallel_reduce_int64(rt, 0, 10000, 17, TOPOS_REDUCE_MIN, min_int, NULL, &s));
    CHECK(s == expect_min);
    OK(topos_parallel_reduce_int64(rt, 0, 10000, 17, TOPOS_REDUCE_MAX, max_int, NULL, &s));
    CHECK(s == expect_max);
    OK(topos_parallel_reduce_int64(rt, 0, 0, 0, TOPOS_REDUCE_MIN, min_int, NULL, &s));
    CHECK(s == INT64_MAX);

    FAILS(topos_parallel_reduce_double(rt, 0, n, 0, TOPOS_REDUCE_SUM, NULL, x, &r), TOPOS_E_INVALID_ARGUMENT, "chunk");
    FAILS(topos_parallel_reduce_double(rt, 0, n, 0, TOPOS_REDUCE_SUM, sum_double, x, NULL), TOPOS_E_INVALID_ARGUMENT,
          "result");
    FAILS(topos_parallel_reduce_double(rt, 0, n, 0, (topos_reduce_op)7, sum_double, x, &r), TOPOS_E_INVALID_ARGUMENT,
          "op 7");
    FAILS(topos_parallel_reduce_double(NULL, 0, n, 0, TOPOS_REDUCE_SUM, sum_double, x, &r), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_parallel_reduce_int64(rt, 0, n, -5, TOPOS_REDUCE_SUM, sum_int, NULL, &s), TOPOS_E_INVALID_ARGUMENT,
          "grain");
    FAILS(topos_parallel_reduce_int64(rt, 0, n, 0, TOPOS_REDUCE_SUM, NULL, NULL, &s), TOPOS_E_INVALID_ARGUMENT, "chunk");
    free(x);
}

static void test_task_groups(topos_runtime_t* rt) {
    topos_task_group_t* g = NULL;
    FAILS(topos_task_group_create(NULL, &g), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_task_group_create(rt, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    OK(topos_task_group_create(rt, &g));
    struct task_ctx c = {0, -5};
    for (int i = 0; i < 100; ++i) {
        OK(topos_task_group_run(g, task_fn, &c));
    }
    /* The runtime is unbound (bind "false"): no worker is on node 0, so
       run_on_node is an error naming the node, and nothing is queued. */
    FAILS(topos_task_group_run_on_node(g, 0, node_task_fn, &c), TOPOS_E_NODE, "no worker");
    OK(topos_task_group_wait(g));
    CHECK(c.runs == 100);
    CHECK(c.node_seen == -5);
    /* Waiting again returns at once; the group is reusable. */
    OK(topos_task_group_wait(g));
    OK(topos_task_group_run(g, task_fn, &c));
    OK(topos_task_group_wait(g));
    CHECK(c.runs == 101);

    FAILS(topos_task_group_run(g, NULL, &c), TOPOS_E_INVALID_ARGUMENT, "fn");
    FAILS(topos_task_group_run_on_node(g, 0, NULL, &c), TOPOS_E_INVALID_ARGUMENT, "fn");
    FAILS(topos_task_group_run_on_node(g, 4096, task_fn, &c), TOPOS_E_NODE, "4096");
    FAILS(topos_task_group_run_on_node(g, -1, task_fn, &c), TOPOS_E_NODE, "-1");
    FAILS(topos_task_group_run(NULL, task_fn, &c), TOPOS_E_BAD_HANDLE, "group");
    FAILS(topos_task_group_run_on_node(NULL, 0, task_fn, &c), TOPOS_E_BAD_HANDLE, "group");
    FAILS(topos_task_group_wait(NULL), TOPOS_E_BAD_HANDLE, "group");
    uint64_t foreign[4] = {0};
    FAILS(topos_task_group_wait((topos_task_group_t*)foreign), TOPOS_E_BAD_HANDLE, "not a live");
    CHECK(c.runs == 101);

    /* Destroy waits for pending tasks. */
    OK(topos_task_group_run(g, task_fn, &c));
    OK(topos_task_group_destroy(g));
    CHECK(c.runs == 102);
    FAILS(topos_task_group_destroy(NULL), TOPOS_E_BAD_HANDLE, "group");
}

static void test_stats(topos_runtime_t* rt) {
    topos_runtime_stats st;
    memset(&st, 0xff, sizeof st);
    OK(topos_runtime_stats_get(rt, &st));
    CHECK(st.tasks_run > 0 && st.tasks_run != UINT64_MAX);
    CHECK(st.caller_tasks_run <= st.tasks_run);
    CHECK(st.reserved[0] == 0 && st.reserved[6] == 0);
    FAILS(topos_runtime_stats_get(rt, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_runtime_stats_get(NULL, &st), TOPOS_E_BAD_HANDLE, "rt");
}

static void test_topology(topos_runtime_t* host) {
    /* A synthetic machine: two packages of one node each, four PUs a node. */
    topos_runtime_options o;
    topos_runtime_options_init(&o);
    o.topology = "synthetic:pack:2 numa:1 core:2 pu:2";
    o.threads = 2;
    topos_runtime_t* rt = NULL;
    OK(topos_runtime_create(&o, &rt));
    int nodes = 0;
    OK(topos_node_count(rt, &nodes));
    CHECK(nodes == 2);
    int d[4] = {0, 0, 0, 0};
    OK(topos_distance_matrix(rt, d, 4));
    CHECK(d[0] == 10 && d[3] == 10 && d[1] > 10 && d[1] == d[2]);
    FAILS(topos_distance_matrix(rt, d, 3), TOPOS_E_INVALID_ARGUMENT, "capacity 3");
    FAILS(topos_distance_matrix(rt, NULL, 4), TOPOS_E_INVALID_ARGUMENT, "out");
    int pus[8];
    size_t count = 0;
    OK(topos_node_pus(rt, 1, pus, 8, &count));
    CHECK(count == 4 && pus[0] == 4 && pus[3] == 7);
    OK(topos_node_pus(rt, 0, pus, 2, &count)); /* a short buffer: the count still says 4 */
    CHECK(count == 4 && pus[0] == 0 && pus[1] == 1);
    OK(topos_node_pus(rt, 0, NULL, 0, &count));
    CHECK(count == 4);
    FAILS(topos_node_pus(rt, 2, pus, 8, &count), TOPOS_E_NODE, "2");
    FAILS(topos_node_pus(rt, -1, pus, 8, &count), TOPOS_E_NODE, "-1");
    FAILS(topos_node_pus(rt, 0, NULL, 8, &count), TOPOS_E_INVALID_ARGUMENT, "pus");
    FAILS(topos_node_pus(rt, 0, pus, 8, NULL), TOPOS_E_INVALID_ARGUMENT, "count");
    FAILS(topos_node_count(NULL, &nodes), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_node_count(rt, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_distance_matrix(NULL, d, 4), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_node_pus(NULL, 0, pus, 8, &count), TOPOS_E_BAD_HANDLE, "rt");
    OK(topos_runtime_destroy(rt));

    OK(topos_node_count(host, &nodes));
    CHECK(nodes >= 1);
}

static void test_memory(void) {
    void* p = (void*)0x1;
    size_t page = 0;
    OK(topos_page_size(&page));
    CHECK(page >= 4096);
    FAILS(topos_page_size(NULL), TOPOS_E_INVALID_ARGUMENT, "out");

    const topos_mem_kind kinds[] = {TOPOS_MEM_LOCAL, TOPOS_MEM_ON_NODE, TOPOS_MEM_PREFERRED, TOPOS_MEM_INTERLEAVE,
                                    TOPOS_MEM_BIND};
    const int node0 = 0;
    for (int k = 0; k < 5; ++k) {
        const size_t sizes[] = {24, 5000, 3 * 1024 * 1024};
        for (int s = 0; s < 3; ++s) {
            const int* nodes = kinds[k] == TOPOS_MEM_LOCAL ? NULL : &node0;
            size_t count = kinds[k] == TOPOS_MEM_LOCAL ? 0 : 1;
            p = NULL;
            OK(topos_alloc(sizes[s], kinds[k], nodes, count, 0, &p));
            CHECK(p != NULL);
            if (p != NULL) {
                memset(p, 0x5a, sizes[s]);
                OK(topos_free(p, sizes[s]));
            }
        }
    }
    OK(topos_alloc(100, TOPOS_MEM_INTERLEAVE, NULL, 0, 0, &p)); /* interleave over all nodes */
    OK(topos_free(p, 100));
    OK(topos_free(NULL, 0));

    /* A page block: page_nodes and migrate. */
    const size_t bytes = 4 * page;
    OK(topos_alloc(bytes, TOPOS_MEM_ON_NODE, &node0, 1, TOPOS_ALLOC_OWN_PAGES, &p));
    int where[8] = {-9, -9, -9, -9, -9, -9, -9, -9};
    size_t pages = 0;
    OK(topos_page_nodes(p, bytes, where, 8, &pages));
    CHECK(pages == 4);
    CHECK(where[0] == -1); /* untouched */
    memset(p, 1, bytes);
    OK(topos_page_nodes(p, bytes, where, 8, &pages));
    CHECK(where[0] == 0 && where[3] == 0);
    OK(topos_page_nodes(p, bytes, NULL, 0, &pages));
    CHECK(pages == 4);
    size_t moved = 0;
    OK(topos_migrate(p, bytes, 0, &moved));
    CHECK(moved == 4);
    OK(topos_migrate(p, bytes, 0, NULL));
    FAILS(topos_migrate(p, bytes, 999, &moved), TOPOS_E_NODE, "999");
    FAILS(topos_migrate(p, 0, 0, &moved), TOPOS_E_INVALID_ARGUMENT, "bytes");
    FAILS(topos_migrate(NULL, bytes, 0, &moved), TOPOS_E_INVALID_ARGUMENT, "p");
    FAILS(topos_page_nodes(p, 0, where, 8, &pages), TOPOS_E_INVALID_ARGUMENT, "bytes");
    FAILS(topos_page_nodes(p, bytes, NULL, 8, &pages), TOPOS_E_INVALID_ARGUMENT, "nodes");
    FAILS(topos_page_nodes(p, bytes, where, 8, NULL), TOPOS_E_INVALID_ARGUMENT, "pages");
    FAILS(topos_page_nodes((char*)p + 1, page, where, 8, &pages), TOPOS_E_MEMORY, "");
    OK(topos_free(p, bytes));
    char stack_bytes[64];
    FAILS(topos_page_nodes(stack_bytes, sizeof stack_bytes, where, 8, &pages), TOPOS_E_MEMORY, "");

    /* Errors of topos_alloc. */
    FAILS(topos_alloc(0, TOPOS_MEM_LOCAL, NULL, 0, 0, &p), TOPOS_E_INVALID_ARGUMENT, "bytes");
    CHECK(p == NULL);
    FAILS(topos_alloc(64, TOPOS_MEM_LOCAL, NULL, 0, 0, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_alloc(64, TOPOS_MEM_LOCAL, &node0, 1, 0, &p), TOPOS_E_INVALID_ARGUMENT, "TOPOS_MEM_LOCAL");
    FAILS(topos_alloc(64, TOPOS_MEM_ON_NODE, NULL, 0, 0, &p), TOPOS_E_INVALID_ARGUMENT, "exactly one");
    FAILS(topos_alloc(64, TOPOS_MEM_ON_NODE, NULL, 1, 0, &p), TOPOS_E_INVALID_ARGUMENT, "nodes");
    const int bad_node = 77;
    FAILS(topos_alloc(64, TOPOS_MEM_ON_NODE, &bad_node, 1, 0, &p), TOPOS_E_NODE, "77");
    FAILS(topos_alloc(64, TOPOS_MEM_PREFERRED, &bad_node, 1, 0, &p), TOPOS_E_NODE, "77");
    FAILS(topos_alloc(64, TOPOS_MEM_INTERLEAVE, &bad_node, 1, 0, &p), TOPOS_E_NODE, "77");
    FAILS(topos_alloc(64, TOPOS_MEM_BIND, &bad_node, 1, 0, &p), TOPOS_E_NODE, "77");
    FAILS(topos_alloc(64, TOPOS_MEM_BIND, NULL, 0, 0, &p), TOPOS_E_INVALID_ARGUMENT, "TOPOS_MEM_BIND");
    FAILS(topos_alloc(64, (topos_mem_kind)9, NULL, 0, 0, &p), TOPOS_E_INVALID_ARGUMENT, "kind 9");
    FAILS(topos_alloc(64, TOPOS_MEM_LOCAL, NULL, 0, 8u, &p), TOPOS_E_INVALID_ARGUMENT, "flags");
    FAILS(topos_alloc(SIZE_MAX, TOPOS_MEM_LOCAL, NULL, 0, 0, &p), TOPOS_E_MEMORY, "");
    FAILS(topos_free(stack_bytes, sizeof stack_bytes), TOPOS_E_MEMORY, "");
    OK(topos_alloc(64, TOPOS_MEM_LOCAL, NULL, 0, 0, &p));
    FAILS(topos_free(p, 0), TOPOS_E_INVALID_ARGUMENT, "bytes");
    OK(topos_free(p, 64));
}

struct array_ctx {
    double* x;
    const topos_node_array_t* a;
    int64_t wrong_node; /* chunks that ran off their node while bound */
};

static void array_body(int64_t lo, int64_t hi, void* p) {
    struct array_ctx* c = (struct array_ctx*)p;
    for (int64_t i = lo; i < hi; ++i) {
        c->x[i] += (double)i;
    }
}

static void test_node_array(topos_runtime_t* rt) {
    topos_node_array_t* a = NULL;
    const size_t n = 100000;
    OK(topos_node_array_create(n, sizeof(double), NULL, 0, &a));
    void* data = NULL;
    OK(topos_node_array_data(a, &data));
    CHECK(data != NULL);
    size_t size = 0;
    OK(topos_node_array_size(a, &size));
    CHECK(size == n);
    size_t blocks = 0;
    OK(topos_node_array_block_count(a, &blocks));
    CHECK(blocks >= 1);
    int node = -1;
    size_t begin = 1, end = 0;
    OK(topos_node_array_block(a, 0, &node, &begin, &end));
    CHECK(node == 0 && begin == 0 && end == n / blocks);
    OK(topos_node_array_node_of(a, 0, &node));
    CHECK(node == 0);
    OK(topos_node_array_node_of(a, n - 1, &node));
    CHECK(node == (int)blocks - 1);

    double* x = (double*)data;
    int zero = 1;
    for (size_t i = 0; i < n; ++i) {
        zero &= x[i] == 0.0;
    }
    CHECK(zero);
    struct array_ctx c = {x, a, 0};
    OK(topos_parallel_for_array(rt, a, 0, array_body, &c));
    OK(topos_parallel_for_array(rt, a, 999, array_body, &c));
    int good = 1;
    for (size_t i = 0; i < n; ++i) {
        good &= x[i] == 2.0 * (double)i;
    }
    CHECK(good);
    double sum = 0;
    OK(topos_parallel_reduce_double(rt, 0, (int64_t)n, 0, TOPOS_REDUCE_SUM, sum_double, x, &sum));
    CHECK(sum == (double)n * (double)(n - 1));

    FAILS(topos_node_array_node_of(a, n, &node), TOPOS_E_INDEX, "100000");
    FAILS(topos_node_array_node_of(a, 0, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_node_array_block(a, blocks, &node, &begin, &end), TOPOS_E_INDEX, "block");
    FAILS(topos_node_array_block(a, 0, NULL, &begin, &end), TOPOS_E_INVALID_ARGUMENT, "node");
    FAILS(topos_node_array_data(a, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_node_array_size(a, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_node_array_block_count(a, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_parallel_for_array(rt, a, 0, NULL, &c), TOPOS_E_INVALID_ARGUMENT, "body");
    FAILS(topos_parallel_for_array(rt, a, -2, array_body, &c), TOPOS_E_INVALID_ARGUMENT, "grain");
    FAILS(topos_parallel_for_array(NULL, a, 0, array_body, &c), TOPOS_E_BAD_HANDLE, "rt");
    FAILS(topos_parallel_for_array(rt, NULL, 0, array_body, &c), TOPOS_E_BAD_HANDLE, "array");
    OK(topos_node_array_destroy(a));
    FAILS(topos_node_array_destroy(NULL), TOPOS_E_BAD_HANDLE, "array");
    FAILS(topos_node_array_data(NULL, &data), TOPOS_E_BAD_HANDLE, "array");
    FAILS(topos_node_array_size(NULL, &size), TOPOS_E_BAD_HANDLE, "array");
    FAILS(topos_node_array_node_of(NULL, 0, &node), TOPOS_E_BAD_HANDLE, "array");
    FAILS(topos_node_array_block_count(NULL, &blocks), TOPOS_E_BAD_HANDLE, "array");
    FAILS(topos_node_array_block(NULL, 0, &node, &begin, &end), TOPOS_E_BAD_HANDLE, "array");

    /* Explicit nodes; a node list longer than the array leaves empty blocks. */
    const int two[2] = {0, 0};
    OK(topos_node_array_create(1, 8, two, 2, &a));
    OK(topos_node_array_block(a, 0, &node, &begin, &end));
    CHECK(begin == 0 && end == 0);
    OK(topos_node_array_node_of(a, 0, &node));
    CHECK(node == 0);
    OK(topos_node_array_destroy(a));

    const int bad = 42;
    a = (topos_node_array_t*)0x1;
    FAILS(topos_node_array_create(10, 8, &bad, 1, &a), TOPOS_E_NODE, "42");
    CHECK(a == NULL);
    FAILS(topos_node_array_create(0, 8, NULL, 0, &a), TOPOS_E_INVALID_ARGUMENT, "count");
    FAILS(topos_node_array_create(10, 0, NULL, 0, &a), TOPOS_E_INVALID_ARGUMENT, "elem_size");
    FAILS(topos_node_array_create(10, 8, NULL, 3, &a), TOPOS_E_INVALID_ARGUMENT, "nodes");
    FAILS(topos_node_array_create(SIZE_MAX / 2, 8, NULL, 0, &a), TOPOS_E_INVALID_ARGUMENT, "overflows");
    FAILS(topos_node_array_create(10, 8, NULL, 0, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
}

static void test_segments_and_sync(void) {
    char name[64];
    snprintf(name, sizeof name, "/topos-capi-test-%d", (int)getpid());
    topos_segment_t* seg = NULL;
    OK(topos_segment_create(name, 4096, TOPOS_SEGMENT_REMOVE_ON_CLOSE, &seg));
    void* data = NULL;
    size_t size = 0;
    OK(topos_segment_data(seg, &data));
    OK(topos_segment_size(seg, &size));
    CHECK(data != NULL && size == 4096);
    CHECK(((unsigned char*)data)[100] == 0);
    strcpy((char*)data + 1024, "hello from C");

    topos_segment_t* again = NULL;
    FAILS(topos_segment_create(name, 4096, 0, &again), TOPOS_E_SHM, name); /* exists */
    CHECK(again == NULL);
    OK(topos_segment_open(name, TOPOS_SEGMENT_READ_ONLY, &again));
    void* data2 = NULL;
    OK(topos_segment_data(again, &data2));
    CHECK(strcmp((const char*)data2 + 1024, "hello from C") == 0);
    OK(topos_segment_size(again, &size));
    CHECK(size == 4096);

    /* The mutex, semaphore and barrier in the segment. */
    char* base = (char*)data;
    topos_mutex_t* m = NULL;
    OK(topos_mutex_init(base, TOPOS_MUTEX_BYTES, &m));
    int died = 7, acquired = 0;
    OK(topos_mutex_lock(m, &died));
    CHECK(died == 0);
    topos_mutex_t* m2 = NULL;
    OK(topos_mutex_attach(base, &m2));
#ifndef __SANITIZE_THREAD__
    /* Misuse the error-checking mutex reports (EDEADLK, EPERM); ThreadSanitizer
     * reports the misuse itself before the mutex can, so these run elsewhere. */
    FAILS(topos_mutex_lock(m2, NULL), TOPOS_E_SYNC, ""); /* already owned by this thread */
    OK(topos_mutex_unlock(m2));
    FAILS(topos_mutex_unlock(m), TOPOS_E_SYNC, "");      /* not owned */
#else
    OK(topos_mutex_unlock(m2));
#endif
    OK(topos_mutex_try_lock(m, &acquired, &died));
    CHECK(acquired == 1 && died == 0);
    OK(topos_mutex_unlock(m));
    FAILS(topos_mutex_try_lock(m, NULL, NULL), TOPOS_E_INVALID_ARGUMENT, "acquired");
    FAILS(topos_mutex_lock(NULL, NULL), TOPOS_E_BAD_HANDLE, "mutex");
    FAILS(topos_mutex_unlock(NULL), TOPOS_E_BAD_HANDLE, "mutex");
    FAILS(topos_mutex_try_lock(NULL, &acquired, NULL), TOPOS_E_BAD_HANDLE, "mutex");
    FAILS(topos_mutex_init(base, TOPOS_MUTEX_BYTES - 1, &m2), TOPOS_E_INVALID_ARGUMENT, "TOPOS_MUTEX_BYTES");
    FAILS(topos_mutex_init(base, 0, &m2), TOPOS_E_INVALID_ARGUMENT, "bytes 0");
    FAILS(topos_mutex_init(base + 8, TOPOS_MUTEX_BYTES, &m2), TOPOS_E_INVALID_ARGUMENT, "aligned");
    FAILS(topos_mutex_init(NULL, TOPOS_MUTEX_BYTES, &m2), TOPOS_E_INVALID_ARGUMENT, "mem");
    FAILS(topos_mutex_init(base, TOPOS_MUTEX_BYTES, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_mutex_attach(base + 512, &m2), TOPOS_E_BAD_HANDLE, "not a live"); /* zeroes: no mutex there */
    FAILS(topos_mutex_attach(base + 8, &m2), TOPOS_E_BAD_HANDLE, "aligned");
    FAILS(topos_mutex_attach(NULL, &m2), TOPOS_E_INVALID_ARGUMENT, "mem");
    OK(topos_mutex_destroy(m));
    FAILS(topos_mutex_lock(m, NULL), TOPOS_E_BAD_HANDLE, "not a live");
    FAILS(topos_mutex_destroy(m), TOPOS_E_BAD_HANDLE, "mutex");

    topos_semaphore_t* s = NULL;
    OK(topos_semaphore_init(base + 64, TOPOS_SEMAPHORE_BYTES, 2, &s));
    int value = -1, taken = -1;
    OK(topos_semaphore_value(s, &value));
    CHECK(value == 2);
    OK(topos_semaphore_wait(s));
    OK(topos_semaphore_timed_wait(s, 0, &taken));
    CHECK(taken == 1);
    OK(topos_semaphore_timed_wait(s, 1000000, &taken)); /* 1 ms, count 0 */
    CHECK(taken == 0);
    OK(topos_semaphore_post(s));
    topos_semaphore_t* s2 = NULL;
    OK(topos_semaphore_attach(base + 64, &s2));
    OK(topos_semaphore_timed_wait(s2, -1, &taken));
    CHECK(taken == 1);
    OK(topos_semaphore_value(s2, &value));
    CHECK(value == 0);
    FAILS(topos_semaphore_timed_wait(s, 0, NULL), TOPOS_E_INVALID_ARGUMENT, "taken");
    FAILS(topos_semaphore_value(s, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_semaphore_init(base + 64, 0, 0, &s2), TOPOS_E_INVALID_ARGUMENT, "bytes 0");
    FAILS(topos_semaphore_init(base + 64, TOPOS_SEMAPHORE_BYTES, 0xffffffffu, &s2), TOPOS_E_SYNC, "");
    FAILS(topos_semaphore_post(NULL), TOPOS_E_BAD_HANDLE, "sem");
    FAILS(topos_semaphore_wait(NULL), TOPOS_E_BAD_HANDLE, "sem");
    FAILS(topos_semaphore_value(NULL, &value), TOPOS_E_BAD_HANDLE, "sem");
    FAILS(topos_semaphore_attach(base + 512, &s2), TOPOS_E_BAD_HANDLE, "not a live");
    OK(topos_semaphore_destroy(s));
    FAILS(topos_semaphore_post(s), TOPOS_E_BAD_HANDLE, "not a live");
    FAILS(topos_semaphore_destroy(NULL), TOPOS_E_BAD_HANDLE, "sem");

    topos_barrier_t* b = NULL;
    OK(topos_barrier_init(base + 256, TOPOS_BARRIER_BYTES, 1, &b));
    int serial = 0;
    OK(topos_barrier_wait(b, &serial));
    CHECK(serial == 1); /* one participant: always the last to arrive */
    OK(topos_barrier_wait(b, NULL));
    topos_barrier_t* b2 = NULL;
    OK(topos_barrier_attach(base + 256, &b2));
    OK(topos_barrier_wait(b2, &serial));
    CHECK(serial == 1);
    FAILS(topos_barrier_init(base + 256, TOPOS_BARRIER_BYTES, 0, &b2), TOPOS_E_INVALID_ARGUMENT, "participants");
    FAILS(topos_barrier_init(base + 256, 16, 2, &b2), TOPOS_E_INVALID_ARGUMENT, "TOPOS_BARRIER_BYTES");
    FAILS(topos_barrier_wait(NULL, &serial), TOPOS_E_BAD_HANDLE, "barrier");
    FAILS(topos_barrier_attach(base + 512, &b2), TOPOS_E_BAD_HANDLE, "not a live");
    OK(topos_barrier_destroy(b));
    FAILS(topos_barrier_wait(b, &serial), TOPOS_E_BAD_HANDLE, "not a live");
    FAILS(topos_barrier_destroy(NULL), TOPOS_E_BAD_HANDLE, "barrier");

    /* Segment errors. */
    topos_segment_t* bad = NULL;
    FAILS(topos_segment_create("no-slash", 64, 0, &bad), TOPOS_E_SHM, "no-slash");
    FAILS(topos_segment_create(NULL, 64, 0, &bad), TOPOS_E_INVALID_ARGUMENT, "name");
    FAILS(topos_segment_create("/topos-capi-zero", 0, 0, &bad), TOPOS_E_INVALID_ARGUMENT, "size");
    FAILS(topos_segment_create("/topos-capi-flags", 64, 64u, &bad), TOPOS_E_INVALID_ARGUMENT, "flags");
    FAILS(topos_segment_create(name, 64, 0, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_segment_open("/topos-capi-missing-segment", 0, &bad), TOPOS_E_SHM, "topos-capi-missing-segment");
    FAILS(topos_segment_open(name, TOPOS_SEGMENT_REPLACE, &bad), TOPOS_E_INVALID_ARGUMENT, "flags");
    FAILS(topos_segment_open(NULL, 0, &bad), TOPOS_E_INVALID_ARGUMENT, "name");
    FAILS(topos_segment_data(NULL, &data), TOPOS_E_BAD_HANDLE, "segment");
    FAILS(topos_segment_data(seg, NULL), TOPOS_E_INVALID_ARGUMENT, "out");
    FAILS(topos_segment_size(NULL, &size), TOPOS_E_BAD_HANDLE, "segment");
    FAILS(topos_segment_unlink(NULL), TOPOS_E_BAD_HANDLE, "segment");
    FAILS(topos_segment_close(NULL), TOPOS_E_BAD_HANDLE, "segment");
    FAILS(topos_segment_remove(NULL), TOPOS_E_INVALID_ARGUMENT, "name");
    FAILS(topos_segment_remove("/topos-capi-missing-segment"), TOPOS_E_SHM, "topos-capi-missing-segment");

    OK(topos_segment_close(again));
    OK(topos_segment_unlink(seg));
    FAILS(topos_segment_open(name, 0, &bad), TOPOS_E_SHM, name); /* gone */
    OK(topos_segment_close(seg));

    /* REPLACE, then remove by name. */
    OK(topos_segment_create(name, 128, 0, &seg));
    OK(topos_segment_close(seg));
    OK(topos_segment_create(name, 256, TOPOS_SEGMENT_REPLACE, &seg));
    OK(topos_segment_size(seg, &size));
    CHECK(size == 256);
    OK(topos_segment_close(seg));
    OK(topos_segment_remove(name));
}

int main(void) {
    test_status_and_version();
    topos_runtime_t* rt = test_runtime_lifecycle();
    if (rt == NULL) {
        fprintf(stderr, "no runtime: %s\n", topos_last_error());
        return 1;
    }
    test_parallel_for(rt);
    test_reduce(rt);
    test_task_groups(rt);
    test_stats(rt);
    test_topology(rt);
    test_memory();
    test_node_array(rt);
    test_segments_and_sync();
    OK(topos_runtime_destroy(rt));
    printf("test_capi: %d checks, %d failed\n", g_checks, g_failed);
    return g_failed == 0 ? 0 : 1;
}
