// allocators/arena.cpp - chunks, spans, node arenas and thread heaps (see arena.hpp).
#include "allocators/arena.hpp"

#include "allocators/numa_layer.hpp"

#include <topos/detail/cache_line.hpp>
#include <topos/error.hpp>

#include <sys/mman.h>
#include <sys/rseq.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace topos::detail {
namespace {

constexpr std::size_t k_spans_per_chunk = k_chunk_size / k_span_size; // span 0 holds the header
constexpr std::uint64_t k_chunk_magic = 0x746f706f735f6368; // "topos_ch"
// Committed empty spans an arena keeps for reuse however long they wait.
constexpr std::size_t k_retained_spans = 32;
// Committed empty spans an arena keeps at most (8 MiB): beyond this the
// oldest are decommitted at once.
constexpr std::size_t k_max_retained_spans = 128;
// Between the two, a span is decommitted once it has been empty this long
// (checked whenever the arena lock is taken to give or take a span), so a
// program that frees and soon allocates again (a loop of parallel phases,
// threads that come and go) does not fault its pages back in each time,
// and memory it stops using goes back to the OS soon after.
constexpr std::uint32_t k_purge_delay_ms = 100;
// Wholly empty chunks an arena keeps mapped before unmapping more. A chunk
// is unmapped only once all its spans are empty and decommitted.
constexpr std::size_t k_retained_chunks = 1;

// A coarse millisecond clock for the purge (wraps after 49 days; compared by
// unsigned difference).
std::uint32_t now_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000U +
                                      static_cast<std::uint64_t>(ts.tv_nsec) / 1000000U);
}

// ---- size classes ----------------------------------------------------------
// 16-byte steps up to 128, then four classes per doubling up to k_small_max.
// Every power of two from 16 to 16384 is a class, which is what makes aligned
// small blocks possible: a class whose size is a multiple of the alignment
// places every block of a 64 KiB-aligned span on that alignment.
constexpr std::size_t k_class_count = 8 + 4 * 7;

constexpr std::array<std::uint32_t, k_class_count> k_class_size = [] {
    std::array<std::uint32_t, k_class_count> sizes{};
    std::size_t i = 0;
    for (std::uint32_t s = 16; s <= 128; s += 16) {
        sizes[i++] = s;
    }
    for (std::uint32_t base = 128; base < k_small_max; base *= 2) {
        for (std::uint32_t q = 5; q <= 8; ++q) {
            sizes[i++] = base / 4 * q;
        }
    }
    return sizes;
}();
static_assert(k_class_size[k_class_count - 1] == k_small_max);

constexpr std::size_t class_of(std::size_t size) noexcept {
    if (size <= 128) {
        return size == 0 ? 0 : (size + 15) / 16 - 1;
    }
    const auto log = static_cast<std::size_t>(std::bit_width(size - 1)) - 1; // base = 2^log < size <= 2^(log+1)
    const std::size_t base = std::size_t{1} << log;
    // Four classes per doubling: steps of base/4, found with a shift, not a division.
    return 8 + (log - 7) * 4 + ((size - base - 1) >> (log - 2));
}
static_assert(class_of(1) == 0 && class_of(128) == 7 && class_of(129) == 8 && class_of(256) == 11 &&
              class_of(257) == 12 && class_of(k_small_max) == k_class_count - 1);

// Every size maps to the smallest class that holds it.
constexpr bool classes_are_tight() {
    for (std::size_t size = 1; size <= k_small_max; ++size) {
        const std::size_t c = class_of(size);
        if (c >= k_class_count || k_class_size[c] < size || (c > 0 && k_class_size[c - 1] >= size)) {
            return false;
        }
    }
    return true;
}
static_assert(classes_are_tight());

// Classes of sizes up to 1024 by 16-byte steps: one load instead of the
// arithmetic above on the malloc fast path.
constexpr std::size_t k_table_max = k_fast_max; // the span table of node_heap reaches as far
constexpr std::array<std::uint8_t, k_table_max / 16 + 1> k_class_table = [] {
    std::array<std::uint8_t, k_table_max / 16 + 1> t{};
    for (std::size_t i = 0; i < t.size(); ++i) {
        t[i] = static_cast<std::uint8_t>(class_of(i * 16));
    }
    return t;
}();

// class_of by the table where it reaches.
std::size_t class_fast(std::size_t size) noexcept {
    return size <= k_table_max ? k_class_table[(size + 15) >> 4] : class_of(size);
}

// The class for `bytes` at `alignment`; k_class_count when none fits.
std::size_t class_for(std::size_t bytes, std::size_t alignment) noexcept {
    if (alignment <= 16) [[likely]] {
        return class_of(bytes); // every class is a multiple of 16
    }
    std::size_t c = class_of(std::max(bytes, alignment));
    while (c < k_class_count && (k_class_size[c] & (alignment - 1)) != 0) {
        ++c;
    }
    return c;
}

// ---- region map --------------------------------------------------------------

std::size_t region_index(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p) >> k_chunk_shift; }

void store_region(std::size_t index, region r) noexcept {
    // relaxed: a region is marked before its memory is handed out, and the
    // hand-off to any thread that frees it orders the two.
    std::atomic_ref<std::uint8_t>(g_region_map[index]).store(static_cast<std::uint8_t>(r), std::memory_order_relaxed);
}

region load_region(std::size_t index) noexcept {
    return static_cast<region>(std::atomic_ref<std::uint8_t>(g_region_map[index]).load(std::memory_order_relaxed));
}

// ---- chunks and spans ----------------------------------------------------------

struct free_block {
    free_block* m_next;
};

struct thread_heap;

enum class span_state : std::uint8_t { empty, owned, abandoned };

// Fields without a note are written by the owning heap's thread while the span
// is owned, and by the arena under its lock otherwise.
struct span {
    free_block* m_local_free = nullptr;
    span* m_prev = nullptr;
    span* m_next = nullptr;
    // Blocks out of the local list (remote frees count until collected),
    // with k_full_bit set while the span is on its owner's full list: one
    // word, so the free fast path tells "now empty" and "was full" apart
    // from "nothing to do" with one signed test of the decremented value.
    // Atomic only so get_memory_counters can read it (relaxed) under the
    // arena lock: the holder writes it with a relaxed load and store, no RMW.
    std::atomic<std::uint32_t> m_used{0};
    std::uint32_t m_carved = 0;   // blocks cut from the span's memory so far
    std::uint32_t m_capacity = 0;
    std::uint32_t m_block_size = 0;
    std::uint16_t m_class = 0;
    std::uint16_t m_node = 0;     // the chunk's node, kept here so a free reads one cache line
    bool m_committed = false;     // pages may be resident (not decommitted since last use)
    // Written by the owner or the arena as above; read by any freeing thread
    // only to reject frees into empty spans.
    std::atomic<span_state> m_state{span_state::empty};
    std::uint32_t m_empty_since = 0; // now_ms() when it last went on m_empty_committed (arena lock)
    // Any thread reads it to decide local or remote free; only the owner and
    // the arena (under its lock) write it. A thread sees its own heap here
    // exactly while it owns the span, whatever order other writes arrive in.
    std::atomic<thread_heap*> m_owner{nullptr};
    // Blocks freed by other threads: any thread pushes, the span's holder
    // takes all. The word holds the top block's address in its low 48 bits
    // (arena memory lies below 2^47) and the list's length above them, so
    // the holder takes the blocks and their count in one exchange and never
    // walks the list (its blocks were last written by other cores: a walk
    // would miss on every one). 0 when empty.
    alignas(detail::cache_line) std::atomic<std::uintptr_t> m_remote_free{0};
};
static_assert(sizeof(span) == 128, "a span's owner fields fill one cache line, its remote list another");

constexpr unsigned k_remote_count_shift = 48;
constexpr std::uintptr_t k_remote_block_mask = (std::uintptr_t{1} << k_remote_count_shift) - 1;
static_assert(k_address_bits < k_remote_count_shift && k_span_size / 16 < (std::uintptr_t{1} << 16),
              "a block address and a span's block count share the remote list's word");

free_block* remote_top(std::uintptr_t word) noexcept {
    return reinterpret_cast<free_block*>(word & k_remote_block_mask); // NOLINT(performance-no-int-to-ptr)
}
std::uint32_t remote_count(std::uintptr_t word) noexcept {
    return static_cast<std::uint32_t>(word >> k_remote_count_shift);
}

struct chunk {
    std::uint64_t m_magic = k_chunk_magic;
    int m_node = 0;
    std::uint32_t m_empty = 0; // spans on the arena's empty lists (arena lock)
    std::uint32_t m_committed_empty = 0; // of which on m_empty_committed (arena lock)
    chunk* m_prev = nullptr;   // arena's chunk list (arena lock)
    chunk* m_next = nullptr;
    std::array<span, k_spans_per_chunk> m_spans; // [0] is unused: the header lives there
};
static_assert(sizeof(chunk) <= k_span_size, "the chunk header must fit in the first span");

void set_state(span* s, span_state state) noexcept {
    // relaxed: the state is published with the span by the arena lock or by the
    // hand-off of a block; the free-time check only needs some recent value
    s->m_state.store(state, std::memory_order_relaxed);
}

// The flag of span::m_used. Counts stay far below it (at most 4096 blocks).
constexpr std::uint32_t k_full_bit = 0x80000000U;

std::uint32_t used(const span* s) noexcept { return s->m_used.load(std::memory_order_relaxed) & ~k_full_bit; }

// pre: the caller holds s. Not a read-modify-write: only the holder writes
// m_used. Keeps the full flag.
void add_used(span* s, std::int32_t delta) noexcept {
    s->m_used.store(static_cast<std::uint32_t>(static_cast<std::int32_t>(s->m_used.load(std::memory_order_relaxed)) +
                                               delta),
                    std::memory_order_relaxed);
}

// True while s is on its owner's full list. pre: the caller holds s.
bool is_full(const span* s) noexcept { return (s->m_used.load(std::memory_order_relaxed) & k_full_bit) != 0; }

// pre: the caller holds s, and moves it onto (full) or off its full list.
void set_full(span* s, bool full) noexcept {
    s->m_used.store(used(s) | (full ? k_full_bit : 0U), std::memory_order_relaxed);
}

chunk* chunk_of(const void* p) noexcept {
    return reinterpret_cast<chunk*>(reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{k_chunk_size} - 1));
}

span* span_of(chunk* c, const void* p) noexcept {
    const std::size_t index = (reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(c)) >> k_span_shift;
    return &c->m_spans[index];
}

std::size_t index_of(const span* s) noexcept {
    const chunk* c = chunk_of(s);
    return static_cast<std::size_t>(s - c->m_spans.data());
}

char* span_memory(span* s) noexcept {
    return reinterpret_cast<char*>(chunk_of(s)) + index_of(s) * k_span_size;
}

// Intrusive doubly linked list of spans with a tail, so the oldest is at hand.
class span_list {
public:
    [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] span* front() const noexcept { return m_head; }
    [[nodiscard]] span* back() const noexcept { return m_tail; }

    void push_front(span* s) noexcept {
        s->m_prev = nullptr;
        s->m_next = m_head;
        if (m_head != nullptr) {
            m_head->m_prev = s;
        } else {
            m_tail = s;
        }
        m_head = s;
        ++m_size;
    }
    void push_back(span* s) noexcept {
        s->m_next = nullptr;
        s->m_prev = m_tail;
        if (m_tail != nullptr) {
            m_tail->m_next = s;
        } else {
            m_head = s;
        }
        m_tail = s;
        ++m_size;
    }
    void remove(span* s) noexcept {
        (s->m_prev != nullptr ? s->m_prev->m_next : m_head) = s->m_next;
        (s->m_next != nullptr ? s->m_next->m_prev : m_tail) = s->m_prev;
        s->m_prev = s->m_next = nullptr;
        --m_size;
    }
    span* pop_front() noexcept {
        span* s = m_head;
        if (s != nullptr) {
            remove(s);
        }
        return s;
    }

private:
    span* m_head = nullptr;
    span* m_tail = nullptr;
    std::size_t m_size = 0;
};

// ---- node arenas ------------------------------------------------------------------

// Everything but m_os_bytes is guarded by m_lock.
struct node_arena {
    std::mutex m_lock;
    int m_node = 0;
    chunk* m_chunks = nullptr;
    std::size_t m_empty_chunks = 0;
    std::array<span_list, k_class_count> m_abandoned;
    span_list m_empty_committed; // front = most recently emptied
    span_list m_empty_fresh;     // never touched or decommitted
    // Written under m_lock; counters read it without the lock.
    std::atomic<std::uint64_t> m_os_bytes{0};
    // Bytes of remote frees collected by trims of abandoned spans (see
    // thread_heap::m_in_use). Written and read under m_lock.
    std::atomic<std::int64_t> m_collected{0};
};

std::vector<node_arena>& arenas() {
    // Never destroyed: threads may free into arenas after main returns.
    static auto* all = [] {
        auto* v = new std::vector<node_arena>(host_node_count());
        for (std::size_t i = 0; i < v->size(); ++i) {
            (*v)[i].m_node = static_cast<int>(i);
        }
        return v;
    }();
    return *all;
}

node_arena& arena_of(int node) { return arenas()[static_cast<std::size_t>(node)]; }

void add_os_bytes(node_arena& a, std::uint64_t bytes) noexcept {
    a.m_os_bytes.store(a.m_os_bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
}
void sub_os_bytes(node_arena& a, std::uint64_t bytes) noexcept {
    a.m_os_bytes.store(a.m_os_bytes.load(std::memory_order_relaxed) - bytes, std::memory_order_relaxed);
}

// pre: a.m_lock held. post: a fresh chunk's spans are on m_empty_fresh; false when out of memory.
// ---- the arena range ------------------------------------------------------------
//
// Chunks go, while there is room, into one range of the address space at a
// fixed address (k_range_base, 256 GiB), reserved once when the first thread
// heap is made. Then a free tells arena memory from the rest with a test of
// constants, p - k_range_base < 2^k_range_bits: no load at all. Loading the
// region map (or a base address) instead touches one more page per free, and
// a program that walks much memory, as the benchmarks' random frees do, loses
// that page's TLB entry between frees: a few percent of a free's time. Chunks
// that do not fit (range full, or the reservation refused: address taken,
// ulimit -v, strict overcommit, ThreadSanitizer's fixed layout) are mapped
// anywhere and found through the region map, as before. The range is mapped
// readable and writable but reserving nothing, so a stale pointer into a slot
// no chunk uses now reads a zero chunk header and is refused as a bad free.
#if defined(__SANITIZE_THREAD__) || !(defined(__x86_64__) || defined(__aarch64__))
constexpr bool k_range_possible = false;
#else
constexpr bool k_range_possible = true;
#endif
constexpr std::uintptr_t k_range_base = 0x300000000000; // 48 TiB: far from where Linux puts mappings
constexpr std::size_t k_range_bits = 38;
constexpr std::size_t k_range_slots = (std::size_t{1} << k_range_bits) >> k_chunk_shift;
static_assert(k_range_base % k_chunk_size == 0 &&
              k_range_base + (std::uintptr_t{1} << k_range_bits) <= (std::uintptr_t{1} << k_address_bits));

bool in_range(const void* p) noexcept {
    return ((reinterpret_cast<std::uintptr_t>(p) - k_range_base) >> k_range_bits) == 0;
}

// Chunk slots of the range. A leaf lock: taken with an arena lock held (or
// alone, once, to reserve), so the fork handlers, which hold every arena lock,
// never find it held by a chunk operation.
struct arena_range {
    std::mutex m_lock;
    std::size_t m_next = 0;       // slots never used start here
    std::size_t m_free_count = 0; // slots given back, on m_free
    std::array<std::uint32_t, k_range_slots> m_free{};
};
// .bss: its pages appear only as slots are given back.
constinit arena_range g_range;

// True when the range is ours. Asked once, by the first thread heap.
bool reserve_range() noexcept {
    if (!k_range_possible) {
        return false;
    }
#ifdef MAP_FIXED_NOREPLACE
    constexpr int k_noreplace = MAP_FIXED_NOREPLACE;
#else
    constexpr int k_noreplace = 0x100000; // Linux's value; older headers lack the name
#endif
    const std::size_t bytes = std::size_t{1} << k_range_bits;
    void* want = reinterpret_cast<void*>(k_range_base); // NOLINT(performance-no-int-to-ptr)
    void* got = mmap(want, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | k_noreplace,
                     -1, 0);
    const int err = errno;
    if (got != MAP_FAILED && got != want) { // a kernel before 4.17 takes the address as a hint only
        munmap(got, bytes);
    }
    if (got == want) {
        return true;
    }
    try {
        note_degraded(std::string("the arena's address range could not be reserved (") +
                      (got == MAP_FAILED ? std::strerror(err) : "the kernel placed it elsewhere") +
                      "): frees find small blocks through the region map, a little slower");
    } catch (...) { // NOLINT(bugprone-empty-catch): the note is only a report
    }
    return false;
}

bool range_reserved() noexcept {
    static const bool reserved = reserve_range();
    return reserved;
}

// A 4 MiB slot of the range for a chunk; nullptr when the range is not ours or full.
void* take_range_slot() noexcept {
    if (!range_reserved()) {
        return nullptr;
    }
    const std::lock_guard lock(g_range.m_lock);
    std::size_t slot = 0;
    if (g_range.m_free_count > 0) {
        slot = g_range.m_free[--g_range.m_free_count];
    } else if (g_range.m_next < k_range_slots) {
        slot = g_range.m_next++;
    } else {
        return nullptr;
    }
    return reinterpret_cast<void*>(k_range_base + (slot << k_chunk_shift)); // NOLINT(performance-no-int-to-ptr)
}

// Gives a chunk's memory back to the OS: unmapped, or for a slot of the range,
// decommitted (it then reads as zeros, no chunk) and kept for the next chunk.
void release_chunk_memory(void* base) noexcept {
    if (!in_range(base)) {
        unmap(base, k_chunk_size);
        return;
    }
    decommit(base, k_chunk_size);
    const std::lock_guard lock(g_range.m_lock);
    g_range.m_free[g_range.m_free_count++] =
        static_cast<std::uint32_t>((reinterpret_cast<std::uintptr_t>(base) - k_range_base) >> k_chunk_shift);
}

bool new_chunk_locked(node_arena& a) {
    void* base = take_range_slot();
    if (base == nullptr) {
        base = map_aligned(k_chunk_size, k_chunk_size);
    }
    if (base == nullptr) {
        return false;
    }
    try {
        apply_policy(base, k_chunk_size, mem_policy::on_node(a.m_node));
    } catch (...) {
        release_chunk_memory(base);
        throw;
    }
    auto* c = new (base) chunk();
    c->m_node = a.m_node;
    for (span& sp : c->m_spans) {
        sp.m_node = static_cast<std::uint16_t>(a.m_node);
    }
    c->m_next = a.m_chunks;
    if (a.m_chunks != nullptr) {
        a.m_chunks->m_prev = c;
    }
    a.m_chunks = c;
    for (std::size_t i = k_spans_per_chunk - 1; i >= 1; --i) {
        a.m_empty_fresh.push_front(&c->m_spans[i]);
    }
    c->m_empty = k_spans_per_chunk - 1;
    ++a.m_empty_chunks;
    add_os_bytes(a, k_span_size); // the header span
    mark_regions(base, k_chunk_size, region::arena);
    return true;
}

// pre: a.m_lock held, c wholly empty. post: unmapped.
void unmap_chunk_locked(node_arena& a, chunk* c) {
    for (std::size_t i = 1; i < k_spans_per_chunk; ++i) {
        span* s = &c->m_spans[i];
        if (s->m_committed) {
            a.m_empty_committed.remove(s);
            sub_os_bytes(a, k_span_size);
        } else {
            a.m_empty_fresh.remove(s);
        }
    }
    (c->m_prev != nullptr ? c->m_prev->m_next : a.m_chunks) = c->m_next;
    if (c->m_next != nullptr) {
        c->m_next->m_prev = c->m_prev;
    }
    --a.m_empty_chunks;
    sub_os_bytes(a, k_span_size);
    clear_regions(c, k_chunk_size);
    c->~chunk();
    release_chunk_memory(c);
}

// Decommits the span that has been empty longest; unmaps its chunk when that
// leaves the chunk wholly empty and decommitted, beyond the retained chunks.
void decommit_oldest_locked(node_arena& a) {
    span* old = a.m_empty_committed.back();
    a.m_empty_committed.remove(old);
    decommit(span_memory(old), k_span_size);
    old->m_committed = false;
    sub_os_bytes(a, k_span_size);
    a.m_empty_fresh.push_front(old);
    chunk* c = chunk_of(old);
    if (--c->m_committed_empty == 0 && c->m_empty == k_spans_per_chunk - 1 && a.m_empty_chunks > k_retained_chunks) {
        unmap_chunk_locked(a, c);
    }
}

// Gives back to the OS the empty spans beyond the retention: the oldest
// beyond k_max_retained_spans at once, those beyond k_retained_spans once
// they have waited k_purge_delay_ms. pre: a.m_lock held.
void purge_locked(node_arena& a) {
    if (a.m_empty_committed.size() <= k_retained_spans) {
        return;
    }
    const std::uint32_t now = now_ms();
    while (a.m_empty_committed.size() > k_retained_spans) {
        if (a.m_empty_committed.size() <= k_max_retained_spans &&
            now - a.m_empty_committed.back()->m_empty_since < k_purge_delay_ms) {
            break;
        }
        decommit_oldest_locked(a);
    }
}

// pre: a.m_lock held, s has no block out (m_used == 0) and is on no list.
// post: s is on the committed empty list; spare memory beyond the retention
// goes back to the OS (purge_locked).
void release_span_locked(node_arena& a, span* s) {
    set_state(s, span_state::empty);
    s->m_local_free = nullptr;
    set_full(s, false);
    // relaxed: the span is on no thread's lists; the next owner is set under this lock
    s->m_owner.store(nullptr, std::memory_order_relaxed);
    s->m_empty_since = now_ms();
    a.m_empty_committed.push_front(s);
    chunk* c = chunk_of(s);
    ++c->m_committed_empty;
    if (++c->m_empty == k_spans_per_chunk - 1) {
        ++a.m_empty_chunks;
    }
    purge_locked(a);
}

// ---- thread heaps ---------------------------------------------------------------------

// The span of the direct table's empty entries: no free block, ever, so the
// fast path falls through to the slow path. Never written: the fast path
// writes a span only after finding a block on it.
constinit span g_no_span{};

struct bin {
    span** m_current = nullptr; // the node heap's slot for the span allocated from (on no list)
    // The node heap's direct entries of the sizes this class serves (none
    // above k_table_max): they mirror *m_current, see node_heap::m_direct.
    span** m_direct_first = nullptr;
    std::uint32_t m_direct_count = 0;
    span_list m_partial;       // owned spans with free blocks
    span_list m_full;          // owned spans without local free blocks at last look
    // An emptied span the bin keeps (on m_partial) instead of returning it to
    // the arena, so a size class that hovers around a span boundary does not
    // take the arena lock on every crossing.
    span* m_spare = nullptr;
};

// The spans allocated from sit in one array, apart from the bins' lists, so
// the allocation fast path touches a few dense cache lines, not one per class.
struct node_heap {
    node_heap() noexcept {
        for (std::size_t c = 0; c < k_class_count; ++c) {
            m_bins[c].m_current = &m_current[c];
        }
        m_direct.fill(&g_no_span);
        for (std::size_t i = 1; i < m_direct.size(); ++i) {
            bin& b = m_bins[class_of(i * 16)];
            if (b.m_direct_first == nullptr) {
                b.m_direct_first = &m_direct[i];
            }
            ++b.m_direct_count;
        }
    }
    node_heap(const node_heap&) = delete;
    node_heap& operator=(const node_heap&) = delete;

    // The current span of each size up to k_table_max by 16-byte steps
    // (entry (bytes + 15) / 16), g_no_span where the class has none: the
    // allocation fast path reads its span in one load, with no class
    // computation and no null test (mimalloc's pages_free_direct does the
    // same by 8-byte words). Every class's entries are consecutive.
    std::array<span*, k_table_max / 16 + 1> m_direct{};
    std::array<span*, k_class_count> m_current{};
    std::array<bin, k_class_count> m_bins;
};

// Makes s (nullptr for none) the span b allocates from, in the direct table too.
void set_current(bin& b, span* s) noexcept {
    *b.m_current = s;
    span* direct = s != nullptr ? s : &g_no_span;
    for (std::uint32_t i = 0; i < b.m_direct_count; ++i) {
        b.m_direct_first[i] = direct;
    }
}

// Owner-private except the counters, which the owner writes (relaxed load and
// store, never contended) and get_memory_counters reads.
struct alignas(detail::cache_line) thread_heap {
    explicit thread_heap(std::size_t nodes)
        : m_nodes(nodes, nullptr),
          m_in_use(std::make_unique<std::atomic<std::int64_t>[]>(nodes)),
          m_remote_frees(std::make_unique<std::atomic<std::uint64_t>[]>(nodes)) {}

    // The node of t_local's CPU (valid while t_local.m_cpu != k_no_cpu).
    int m_local_node = 0;

    std::vector<node_heap*> m_nodes; // lazily created, one per node touched
    // Bytes in use are counted by the spans (m_used); this counts, per node,
    // the bytes of this thread's remote frees (negative) and of the remote
    // frees it collected (positive), so that blocks waiting on a remote list
    // are not counted as in use.
    std::unique_ptr<std::atomic<std::int64_t>[]> m_in_use;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_remote_frees;
    thread_heap* m_reg_prev = nullptr; // registry list (registry lock)
    thread_heap* m_reg_next = nullptr;

    void count_remote_free(int node, std::int64_t bytes) noexcept {
        auto& b = m_in_use[static_cast<std::size_t>(node)];
        b.store(b.load(std::memory_order_relaxed) - bytes, std::memory_order_relaxed);
        auto& c = m_remote_frees[static_cast<std::size_t>(node)];
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// Live heaps (for counters) and what exited threads left in the counters.
struct heap_registry {
    std::mutex m_lock;
    thread_heap* m_heaps = nullptr;
    std::unique_ptr<std::atomic<std::int64_t>[]> m_retired_in_use;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_retired_remote;
};

heap_registry& registry() {
    static auto* r = [] { // never destroyed: thread exits after main use it
        auto* reg = new heap_registry();
        reg->m_retired_in_use = std::make_unique<std::atomic<std::int64_t>[]>(host_node_count());
        reg->m_retired_remote = std::make_unique<std::atomic<std::uint64_t>[]>(host_node_count());
        return reg;
    }();
    return *r;
}

// The heap of threads whose own heap is gone (frees and allocations from
// thread_local destructors that run after ours). Used under m_lock only; it
// never frees locally, so its spans see only remote frees.
struct orphan_heap {
    std::mutex m_lock;
    thread_heap* m_heap = nullptr;
};

orphan_heap& orphans() {
    static auto* o = [] {
        auto* oh = new orphan_heap();
        oh->m_heap = new thread_heap(host_node_count());
        return oh;
    }();
    return *o;
}

enum class heap_state : std::uint8_t { fresh, live, dead };
// The calling thread's heap. Initial-exec: in position-independent code the
// default model reaches a thread_local through a call to __tls_get_addr, which
// the linker may rewrite away but which still makes the compiler save
// registers in every fast path. Initial-exec costs 8 bytes of the static TLS
// block (glibc keeps a surplus for libraries loaded with dlopen).
[[gnu::tls_model("initial-exec")]] constinit thread_local thread_heap* t_heap = nullptr;

// Never a CPU, nor what a failed sched_getcpu (-1) or rseq's cpu_id before
// or after a failed registration (-1, -2) reads as.
// Bit 3 is set, so it is not the low half of a 16-aligned pointer either
// (see local_cache).
constexpr std::uint32_t k_no_cpu = 0xfffffff8;

// The `local` policy's cache: the CPU the thread ran on at its last slow path
// and the thread heap's node heap of that CPU's node. Invariant: m_heap is
// non-null, belongs to t_heap and to node_of_cpu(m_cpu) whenever m_cpu !=
// k_no_cpu, so a fast path that reads the same CPU needs no node lookup.
// Nothing may keep the node of a thread any longer: rseq's cpu_id changes as
// soon as the kernel moves the thread, and the next call takes the slow path.
// In the static TLS block, beside t_heap, so the allocation fast path reads
// its node heap with no load of the thread heap first.
//
// m_owner_key is t_heap as an integer, or 1 while the thread has no heap: a
// value no span's m_owner holds (null or a heap), so the free fast path
// compares the span's owner with it and needs no test for a missing heap.
//
// m_cpu_offset is where the allocation fast path reads the CPU it runs on, as
// an offset from the thread pointer: the kernel's cpu_id in the rseq area
// glibc registers for each thread. The CPU is then one load from the thread
// pointer, cheaper than sched_getcpu's call. Set when the thread's heap is
// made. Where glibc registered no rseq area (tunable off, old kernel,
// valgrind) it points at t_no_rseq_cpu instead, whose value matches no
// m_cpu, so every allocation takes the slow path (which asks sched_getcpu).
// Before the heap exists it is 0: the word at the thread pointer is an
// aligned pointer there (x86-64: the TCB's self pointer; AArch64: the dtv
// pointer), whose low 32 bits are never k_no_cpu, the only value m_cpu has
// then. So the fast path needs no test for a missing heap or rseq area
// (elsewhere it tests that the thread has a CPU cached before it reads).
// Kept in the thread's TLS line with the rest, not in a global, so the fast
// path touches no shared data line.
//
// m_in_range says the arena range is ours (see range_reserved), so a free may
// trust the range test; false until the thread has a heap.
struct alignas(32) local_cache {
    std::uint32_t m_cpu = k_no_cpu;
    bool m_in_range = false;
    node_heap* m_heap = nullptr;
    std::uintptr_t m_owner_key = 1;
    std::ptrdiff_t m_cpu_offset = 0;
};
[[gnu::tls_model("initial-exec")]] constinit thread_local local_cache t_local;

#if defined(__x86_64__) || defined(__aarch64__)
constexpr bool k_tp_word_is_pointer = true;
#else
constexpr bool k_tp_word_is_pointer = false;
#endif

// The offset of the kernel's cpu_id from the thread pointer. pre: __rseq_size != 0.
std::ptrdiff_t rseq_cpu_offset() noexcept { return __rseq_offset + static_cast<std::ptrdiff_t>(offsetof(rseq, cpu_id)); }
// What local_cache::m_cpu_offset points at without rseq: neither a CPU nor k_no_cpu.
[[gnu::tls_model("initial-exec")]] constinit thread_local std::uint32_t t_no_rseq_cpu = 0xfffffff9;
constinit thread_local heap_state t_state = heap_state::fresh;

// Moves every remote-freed block of s onto its local list, adding their
// bytes to `credit` (the collecting heap's or arena's count, see m_in_use).
// pre: the caller holds s (its owner thread, or the arena lock for an unowned
// span) and is the only writer of credit.
void collect_remote(span* s, std::atomic<std::int64_t>& credit) noexcept {
    // relaxed: a look before the exchange, which costs a locked instruction
    if (s->m_remote_free.load(std::memory_order_relaxed) == 0) {
        return;
    }
    // acquire: pairs with the release CAS in free_remote, so each block's m_next is visible
    const std::uintptr_t word = s->m_remote_free.exchange(0, std::memory_order_acquire);
    if (word == 0) {
        return;
    }
    free_block* list = remote_top(word);
    const std::uint32_t n = remote_count(word);
    if (s->m_local_free != nullptr) {
        // Rare (the allocation path collects only when the local list is
        // empty): splice the local list behind the remote one's tail.
        free_block* tail = list;
        while (tail->m_next != nullptr) {
            tail = tail->m_next;
        }
        tail->m_next = s->m_local_free;
    }
    s->m_local_free = list;
    add_used(s, -static_cast<std::int32_t>(n));
    credit.store(credit.load(std::memory_order_relaxed) + static_cast<std::int64_t>(n) * s->m_block_size,
                 std::memory_order_relaxed);
}

// The count a collection by heap h credits.
std::atomic<std::int64_t>& credit_of(thread_heap* h, const span* s) noexcept {
    return h->m_in_use[s->m_node];
}

// Cuts up to a page (at least 8 blocks) of never-used blocks onto the local list.
void carve(span* s) noexcept {
    const std::uint32_t left = s->m_capacity - s->m_carved;
    const std::uint32_t batch = std::min(left, std::max<std::uint32_t>(8, 4096 / s->m_block_size));
    char* base = span_memory(s) + static_cast<std::size_t>(s->m_carved) * s->m_block_size;
    free_block* next = s->m_local_free;
    for (std::uint32_t i = batch; i > 0; --i) {
        auto* b = reinterpret_cast<free_block*>(base + static_cast<std::size_t>(i - 1) * s->m_block_size);
        b->m_next = next;
        next = b;
    }
    s->m_local_free = next;
    s->m_carved += batch;
}

// pre: h holds s. post: true when s has a block on its local list.
bool refill(thread_heap* h, span* s) noexcept {
    if (s->m_local_free != nullptr) {
        return true;
    }
    collect_remote(s, credit_of(h, s));
    if (s->m_local_free == nullptr && s->m_carved < s->m_capacity) {
        carve(s);
    }
    return s->m_local_free != nullptr;
}

void init_span(span* s, std::size_t cls) noexcept {
    s->m_class = static_cast<std::uint16_t>(cls);
    s->m_block_size = k_class_size[cls];
    s->m_capacity = static_cast<std::uint32_t>(k_span_size / s->m_block_size);
    s->m_carved = 0;
    s->m_used.store(0, std::memory_order_relaxed); // not full
    s->m_local_free = nullptr;
}

// A span of class cls for heap h, from the arena: an abandoned span with room
// first (abandoned spans without room are adopted onto b's full list), then an
// empty one, then a new chunk. nullptr when out of memory.
span* arena_take(node_arena& a, std::size_t cls, thread_heap* h, bin& b) {
    const std::lock_guard lock(a.m_lock);
    while (span* s = a.m_abandoned[cls].pop_front()) {
        collect_remote(s, credit_of(h, s));
        if (used(s) == 0) {
            release_span_locked(a, s);
            continue;
        }
        set_state(s, span_state::owned);
        // relaxed: the span's other fields reach h's thread through this lock
        s->m_owner.store(h, std::memory_order_relaxed);
        if (refill(h, s)) {
            return s;
        }
        set_full(s, true);
        b.m_full.push_front(s);
    }
    span* s = a.m_empty_committed.pop_front();
    if (s != nullptr) {
        --chunk_of(s)->m_committed_empty;
    } else {
        if (a.m_empty_fresh.empty() && !new_chunk_locked(a)) {
            return nullptr;
        }
        s = a.m_empty_fresh.pop_front();
        s->m_committed = true;
        add_os_bytes(a, k_span_size);
    }
    chunk* c = chunk_of(s);
    if (c->m_empty-- == k_spans_per_chunk - 1) {
        --a.m_empty_chunks;
    }
    // Spans that waited too long behind it; s's chunk is no longer empty,
    // so the purge cannot unmap it.
    purge_locked(a);
    init_span(s, cls);
    set_state(s, span_state::owned);
    // relaxed: as above, the lock publishes the span to h's thread
    s->m_owner.store(h, std::memory_order_relaxed);
    return s;
}

// The next span of b with a free block; current goes to the full list.
span* next_span(thread_heap* h, bin& b, std::size_t cls, int node) {
    if (*b.m_current != nullptr) {
        set_full(*b.m_current, true);
        b.m_full.push_front(*b.m_current);
        set_current(b, nullptr);
    }
    while (span* s = b.m_partial.pop_front()) {
        if (s == b.m_spare) {
            b.m_spare = nullptr;
        }
        if (refill(h, s)) {
            set_current(b, s);
            return s;
        }
        set_full(s, true);
        b.m_full.push_front(s);
    }
    for (span* s = b.m_full.front(); s != nullptr; s = s->m_next) {
        // relaxed: only a hint; refill's exchange acquires the blocks
        if (s->m_remote_free.load(std::memory_order_relaxed) != 0) {
            b.m_full.remove(s);
            set_full(s, false);
            refill(h, s);
            set_current(b, s);
            return s;
        }
    }
    span* s = arena_take(arena_of(node), cls, h, b);
    if (s == nullptr) {
        throw std::bad_alloc();
    }
    refill(h, s); // a fresh span has nothing carved yet
    set_current(b, s);
    return s;
}

node_heap& node_heap_of(thread_heap* h, int node) {
    node_heap*& nh = h->m_nodes[static_cast<std::size_t>(node)];
    if (nh == nullptr) {
        nh = new node_heap();
    }
    return *nh;
}

void* heap_alloc(thread_heap* h, std::size_t cls, int node) {
    bin& b = node_heap_of(h, node).m_bins[cls];
    span* s = *b.m_current;
    if (s == nullptr || !refill(h, s)) {
        s = next_span(h, b, cls, node);
    }
    free_block* blk = s->m_local_free;
    s->m_local_free = blk->m_next;
    add_used(s, 1);
    return blk;
}

// Gives every span of h back to the arenas: empty ones as empty, the rest abandoned.
void abandon(thread_heap* h) {
    for (std::size_t n = 0; n < h->m_nodes.size(); ++n) {
        node_heap* nh = h->m_nodes[n];
        if (nh == nullptr) {
            continue;
        }
        node_arena& a = arenas()[n];
        const std::lock_guard lock(a.m_lock);
        for (bin& b : nh->m_bins) {
            auto give = [&](span* s) {
                collect_remote(s, credit_of(h, s));
                if (used(s) == 0) {
                    release_span_locked(a, s);
                    return;
                }
                set_state(s, span_state::abandoned);
                set_full(s, false);
                // relaxed: from now on this thread frees into s remotely; the lock
                // publishes the span's fields to the next owner
                s->m_owner.store(nullptr, std::memory_order_relaxed);
                a.m_abandoned[s->m_class].push_front(s);
            };
            if (*b.m_current != nullptr) {
                give(*b.m_current);
                set_current(b, nullptr);
            }
            b.m_spare = nullptr;
            while (span* s = b.m_partial.pop_front()) {
                give(s);
            }
            while (span* s = b.m_full.pop_front()) {
                give(s);
            }
        }
        delete nh;
        h->m_nodes[n] = nullptr;
    }
}

void register_heap(thread_heap* h) {
    auto& r = registry();
    const std::lock_guard lock(r.m_lock);
    h->m_reg_next = r.m_heaps;
    if (r.m_heaps != nullptr) {
        r.m_heaps->m_reg_prev = h;
    }
    r.m_heaps = h;
}

void retire_heap(thread_heap* h) {
    auto& r = registry();
    const std::lock_guard lock(r.m_lock);
    (h->m_reg_prev != nullptr ? h->m_reg_prev->m_reg_next : r.m_heaps) = h->m_reg_next;
    if (h->m_reg_next != nullptr) {
        h->m_reg_next->m_reg_prev = h->m_reg_prev;
    }
    for (std::size_t n = 0; n < h->m_nodes.size(); ++n) {
        r.m_retired_in_use[n].fetch_add(h->m_in_use[n].load(std::memory_order_relaxed), std::memory_order_relaxed);
        r.m_retired_remote[n].fetch_add(h->m_remote_frees[n].load(std::memory_order_relaxed),
                                        std::memory_order_relaxed);
    }
}

// Ends the thread's heap when the thread exits.
struct heap_guard {
    bool m_armed = false;
    heap_guard() = default;
    heap_guard(const heap_guard&) = delete;
    heap_guard& operator=(const heap_guard&) = delete;
    ~heap_guard() {
        thread_heap* h = t_heap;
        if (h == nullptr) {
            return;
        }
        t_heap = nullptr;
        t_local = {};
        t_state = heap_state::dead;
        abandon(h);
        retire_heap(h);
        delete h;
    }
};
thread_local heap_guard t_guard;

thread_heap* make_thread_heap() {
    auto* h = new thread_heap(host_node_count());
    t_local.m_in_range = range_reserved();
    t_local.m_cpu_offset = __rseq_size != 0 ? rseq_cpu_offset()
                                            : static_cast<const char*>(static_cast<const void*>(&t_no_rseq_cpu)) -
                                                  static_cast<const char*>(__builtin_thread_pointer());
    register_heap(h);
    t_guard.m_armed = true; // first use registers the guard's destructor for this thread
    t_heap = h;
    t_local.m_owner_key = reinterpret_cast<std::uintptr_t>(h);
    t_state = heap_state::live;
    return h;
}

void* small_alloc_slow(std::size_t cls, int node) {
    const alloc_reentry_guard guard;
    thread_heap* h = t_heap;
    if (h == nullptr) {
        if (t_state == heap_state::dead) {
            auto& o = orphans();
            const std::lock_guard lock(o.m_lock);
            return heap_alloc(o.m_heap, cls, node);
        }
        h = make_thread_heap();
    }
    return heap_alloc(h, cls, node);
}

// A free by the owner that may change which list s belongs on.
[[gnu::noinline]] void free_local_slow(thread_heap* h, span* s) {
    const int node = s->m_node;
    bin& b = h->m_nodes[static_cast<std::size_t>(node)]->m_bins[s->m_class];
    if (s == *b.m_current) {
        return;
    }
    if (is_full(s)) {
        // To the back: a span that has just one free block would give the
        // next span switch one block and send the following allocation back
        // here. At the back it gathers the frees that arrive until the spans
        // ahead of it are used up (mimalloc queues unfull pages the same way).
        b.m_full.remove(s);
        set_full(s, false);
        b.m_partial.push_back(s);
    }
    if (used(s) == 0) {
        if (b.m_spare == nullptr) {
            b.m_spare = s; // stays on m_partial
            return;
        }
        b.m_partial.remove(s);
        node_arena& a = arena_of(node);
        const std::lock_guard lock(a.m_lock);
        release_span_locked(a, s);
    }
}

void free_remote(thread_heap* h, span* s, int node, free_block* blk) noexcept {
    // Read before the push: once the block is on the list the span may be
    // collected, emptied and reused by another thread.
    const std::int64_t size = s->m_block_size;
    std::uintptr_t head = s->m_remote_free.load(std::memory_order_relaxed);
    std::uintptr_t next = 0;
    do {
        blk->m_next = remote_top(head);
        next = ((head & ~k_remote_block_mask) + (std::uintptr_t{1} << k_remote_count_shift)) |
               reinterpret_cast<std::uintptr_t>(blk);
        // release: publishes blk->m_next to the holder's acquire exchange in collect_remote
    } while (!s->m_remote_free.compare_exchange_weak(head, next, std::memory_order_release,
                                                     std::memory_order_relaxed));
    if (h != nullptr) {
        h->count_remote_free(node, size);
    } else {
        auto& r = registry();
        r.m_retired_in_use[static_cast<std::size_t>(node)].fetch_sub(size, std::memory_order_relaxed);
        r.m_retired_remote[static_cast<std::size_t>(node)].fetch_add(1, std::memory_order_relaxed);
    }
}

[[noreturn, gnu::cold, gnu::noinline]] void bad_free(const void* p, const char* why) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    throw memory_error(std::string("free of pointer ") + text + ": " + why);
}

// A free by a thread that does not own the block's span (or of a bad pointer).
[[gnu::noinline]] void free_not_owned(thread_heap* h, void* p) {
    chunk* c = chunk_of(p);
    span* s = span_of(c, p);
    if (s == c->m_spans.data() || s->m_state.load(std::memory_order_relaxed) == span_state::empty) {
        bad_free(p, "it lies in no live block of a topos arena");
    }
    free_remote(h, s, s->m_node, static_cast<free_block*>(p));
}

} // namespace

alignas(4096) constinit std::uint8_t g_region_map[k_region_count] = {};

constinit thread_local bool t_reentered = false;

// Lock order: registry, orphans, arenas by node; the status lock (numa_layer)
// nests inside an arena lock and is taken by its own fork handlers last.
void alloc_fork_prepare() noexcept {
    registry().m_lock.lock();
    orphans().m_lock.lock();
    for (node_arena& a : arenas()) {
        a.m_lock.lock();
    }
}

void alloc_fork_parent() noexcept {
    for (auto it = arenas().rbegin(); it != arenas().rend(); ++it) {
        it->m_lock.unlock();
    }
    orphans().m_lock.unlock();
    registry().m_lock.unlock();
}

void alloc_fork_child() noexcept {
    // The child has only the forking thread; the locks it took are its own.
    alloc_fork_parent();
}

void mark_regions(const void* base, std::size_t bytes, region head) noexcept {
    const std::size_t first = region_index(base);
    const std::size_t count = (bytes + k_chunk_size - 1) >> k_chunk_shift;
    store_region(first, head);
    for (std::size_t i = 1; i < count; ++i) {
        store_region(first + i, region::page_tail);
    }
}

void clear_regions(const void* base, std::size_t bytes) noexcept {
    const std::size_t first = region_index(base);
    const std::size_t count = (bytes + k_chunk_size - 1) >> k_chunk_shift;
    for (std::size_t i = 0; i < count; ++i) {
        store_region(first + i, region::none);
    }
}

void* page_block_base(const void* p) noexcept {
    region r = region_of(p);
    std::size_t index = region_index(p);
    while (r == region::page_tail && index > 0) {
        r = load_region(--index);
    }
    return r == region::page_head ? reinterpret_cast<void*>(index << k_chunk_shift) : nullptr;
}

void* small_alloc(std::size_t bytes, std::size_t alignment, int node) {
    const std::size_t cls = class_for(bytes, alignment);
    thread_heap* h = t_heap;
    if (h != nullptr) [[likely]] {
        node_heap* nh = h->m_nodes[static_cast<std::size_t>(node)];
        if (nh != nullptr) [[likely]] {
            span* s = nh->m_current[cls];
            if (s != nullptr) [[likely]] {
                free_block* blk = s->m_local_free;
                if (blk != nullptr) [[likely]] {
                    s->m_local_free = blk->m_next;
                    add_used(s, 1);
                    return blk;
                }
            }
        }
    }
    return small_alloc_slow(cls, node);
}

namespace {

// A block from the span nh allocates class cls from; nullptr when it has none at hand.
inline free_block* pop_current(node_heap* nh, std::size_t cls) noexcept {
    span* s = nh->m_current[cls];
    if (s != nullptr) [[likely]] {
        free_block* blk = s->m_local_free;
        if (blk != nullptr) [[likely]] {
            s->m_local_free = blk->m_next;
            add_used(s, 1);
            return blk;
        }
    }
    return nullptr;
}

// The word at `offset` from the thread pointer: the kernel's cpu_id for the
// calling thread when offset is rseq_cpu_offset().
inline std::uint32_t rseq_cpu(std::ptrdiff_t offset) noexcept {
    const auto* id =
        reinterpret_cast<const std::uint32_t*>(static_cast<const char*>(__builtin_thread_pointer()) + offset);
    // relaxed: the kernel rewrites cpu_id when it moves the thread; any recent value will do
    return __atomic_load_n(id, __ATOMIC_RELAXED);
}

// The slow path of small_alloc_local: reads the CPU again (sched_getcpu where
// glibc registered no rseq area, for which this is also the fast path),
// allocates from that CPU's node and points the heap's local cache at it.
// Takes only `bytes`, so the fast path's tail call keeps nothing alive and
// the fast path saves no registers.
[[gnu::noinline]] void* small_alloc_local_slow(std::size_t bytes) {
    const std::uint32_t cpu =
        __rseq_size == 0 ? static_cast<std::uint32_t>(sched_getcpu()) : rseq_cpu(rseq_cpu_offset());
    const std::size_t cls = class_fast(bytes);
    thread_heap* h = t_heap;
    if (h != nullptr && t_local.m_cpu == cpu) {
        if (free_block* blk = pop_current(t_local.m_heap, cls)) {
            return blk;
        }
        // The class's span ran dry on the node the cache already serves.
        const alloc_reentry_guard guard;
        return heap_alloc(h, cls, h->m_local_node);
    }
    const int node = node_of_cpu(static_cast<int>(cpu)); // a failed sched_getcpu reads as -1: node 0
    void* p = small_alloc_slow(cls, node);
    h = t_heap; // made by small_alloc_slow when the thread had none
    if (h != nullptr) {
        h->m_local_node = node;
        t_local.m_heap = h->m_nodes[static_cast<std::size_t>(node)]; // made by small_alloc_slow
        t_local.m_cpu = cpu >= k_no_cpu ? k_no_cpu : cpu; // -1 and -2 name no CPU
    }
    return p;
}

// The fast path of small_free and node_free (see span::m_owner).
// pre: region_of(p) == region::arena.
inline void small_free_inline(void* p) {
    span* s = span_of(chunk_of(p), p);
#ifndef NDEBUG
    // m_block_size cannot change while a block of s is out, so any thread may read it.
    const std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - span_memory(s));
    if (offset % s->m_block_size != 0) {
        bad_free(p, "it is not the start of a block of a topos arena");
    }
#endif
    const std::uintptr_t key = t_local.m_owner_key;
    // relaxed: the thread's heap is seen here exactly while this thread owns
    // s (see span::m_owner). An owned span is live, and span 0 (the header)
    // never has an owner, so the checks below need not run on this path.
    if (reinterpret_cast<std::uintptr_t>(s->m_owner.load(std::memory_order_relaxed)) == key) [[likely]] {
        auto* h = reinterpret_cast<thread_heap*>(key); // NOLINT(performance-no-int-to-ptr): t_heap, see local_cache
        auto* blk = static_cast<free_block*>(p);
        blk->m_next = s->m_local_free;
        s->m_local_free = blk;
        // Negative (as signed) while s is full: see span::m_used.
        const std::uint32_t left = s->m_used.load(std::memory_order_relaxed) - 1;
        s->m_used.store(left, std::memory_order_relaxed);
        if (static_cast<std::int32_t>(left) <= 0) [[unlikely]] {
            free_local_slow(h, s);
        }
        return;
    }
    free_not_owned(t_heap, p);
}

} // namespace

void* small_alloc_local(std::size_t bytes) {
    const std::ptrdiff_t offset = t_local.m_cpu_offset;
    // t_local.m_cpu is k_no_cpu until the thread has a heap, so the test
    // also means "t_heap is set" (k_no_cpu is never a CPU rseq reports, nor
    // what the other words m_cpu_offset points at hold).
    if ((k_tp_word_is_pointer || t_local.m_cpu != k_no_cpu) && t_local.m_cpu == rseq_cpu(offset)) [[likely]] {
        span* s = t_local.m_heap->m_direct[(bytes + 15) >> 4];
        free_block* blk = s->m_local_free; // null on g_no_span
        if (blk != nullptr) [[likely]] {
            s->m_local_free = blk->m_next;
            add_used(s, 1);
            return blk;
        }
    }
    return small_alloc_local_slow(bytes);
}

void* small_alloc_local_mid(std::size_t bytes) { return small_alloc_local_slow(bytes); }

void small_free(void* p) { small_free_inline(p); }

} // namespace topos::detail

namespace topos {

// Here rather than in memory.cpp so that the arena's fast path is inlined
// behind the region test: one call per free.
void node_free(void* p) {
    // The range test first: constants only, no load of the region map.
    if ((detail::t_local.m_in_range && detail::in_range(p)) || detail::region_of(p) == detail::region::arena)
        [[likely]] {
        detail::small_free_inline(p);
        return;
    }
    detail::free_foreign(p);
}

} // namespace topos

namespace topos::detail {

std::size_t small_usable_size(const void* p) noexcept {
    chunk* c = chunk_of(p);
    return span_of(c, p)->m_block_size;
}

int small_node(const void* p) noexcept { return chunk_of(p)->m_node; }

void arena_reserve_range() noexcept { (void)range_reserved(); }

void arena_trim() {
    if (thread_heap* h = t_heap) {
        for (std::size_t n = 0; n < h->m_nodes.size(); ++n) {
            node_heap* nh = h->m_nodes[n];
            if (nh == nullptr) {
                continue;
            }
            for (bin& b : nh->m_bins) {
                for (span* s = b.m_full.front(); s != nullptr;) {
                    span* next = s->m_next;
                    collect_remote(s, credit_of(h, s));
                    if (s->m_local_free != nullptr || used(s) == 0) {
                        b.m_full.remove(s);
                        set_full(s, false);
                        b.m_partial.push_front(s);
                    }
                    s = next;
                }
                auto release = [&](span* s) {
                    node_arena& a = arenas()[n];
                    const std::lock_guard lock(a.m_lock);
                    release_span_locked(a, s);
                };
                b.m_spare = nullptr;
                for (span* s = b.m_partial.front(); s != nullptr;) {
                    span* next = s->m_next;
                    collect_remote(s, credit_of(h, s));
                    if (used(s) == 0) {
                        b.m_partial.remove(s);
                        release(s);
                    }
                    s = next;
                }
                if (*b.m_current != nullptr) {
                    collect_remote(*b.m_current, credit_of(h, *b.m_current));
                    if (used(*b.m_current) == 0) {
                        release(*b.m_current);
                        set_current(b, nullptr);
                    }
                }
            }
        }
    }
    for (node_arena& a : arenas()) {
        const std::lock_guard lock(a.m_lock);
        for (span_list& list : a.m_abandoned) {
            for (span* s = list.front(); s != nullptr;) {
                span* next = s->m_next;
                collect_remote(s, a.m_collected);
                if (used(s) == 0) {
                    list.remove(s);
                    release_span_locked(a, s);
                }
                s = next;
            }
        }
        while (!a.m_empty_committed.empty()) {
            decommit_oldest_locked(a);
        }
        for (chunk* c = a.m_chunks; c != nullptr;) {
            chunk* next = c->m_next;
            if (c->m_empty == k_spans_per_chunk - 1) {
                unmap_chunk_locked(a, c);
            }
            c = next;
        }
    }
}

void arena_counters(memory_counters& out) {
    auto& all = arenas();
    for (std::size_t n = 0; n < all.size() && n < out.nodes.size(); ++n) {
        node_arena& a = all[n];
        out.nodes[n].os_bytes += a.m_os_bytes.load(std::memory_order_relaxed);
        // Blocks out of every span of the node, read under the lock that
        // guards the chunk list and every span's size class.
        const std::lock_guard lock(a.m_lock);
        std::int64_t in_use = a.m_collected.load(std::memory_order_relaxed);
        for (const chunk* c = a.m_chunks; c != nullptr; c = c->m_next) {
            for (std::size_t i = 1; i < k_spans_per_chunk; ++i) {
                const span& sp = c->m_spans[i];
                in_use += static_cast<std::int64_t>(used(&sp)) * sp.m_block_size;
            }
        }
        out.nodes[n].bytes_in_use += in_use;
    }
    auto add_heap = [&](const thread_heap* h) {
        for (std::size_t n = 0; n < out.nodes.size(); ++n) {
            out.nodes[n].bytes_in_use += h->m_in_use[n].load(std::memory_order_relaxed);
            out.nodes[n].remote_frees += h->m_remote_frees[n].load(std::memory_order_relaxed);
        }
    };
    {
        auto& o = orphans();
        const std::lock_guard lock(o.m_lock);
        add_heap(o.m_heap);
    }
    auto& r = registry();
    const std::lock_guard lock(r.m_lock);
    for (const thread_heap* h = r.m_heaps; h != nullptr; h = h->m_reg_next) {
        add_heap(h);
    }
    for (std::size_t n = 0; n < out.nodes.size(); ++n) {
        out.nodes[n].bytes_in_use += r.m_retired_in_use[n].load(std::memory_order_relaxed);
        out.nodes[n].remote_frees += r.m_retired_remote[n].load(std::memory_order_relaxed);
    }
}

} // namespace topos::detail
