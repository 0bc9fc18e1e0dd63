// allocators/thread_heap.cpp - thread heaps: their spans taken from and
// given back to the node arenas, made at a thread's first allocation and
// abandoned at its exit, the orphan heap after that, and the slow paths of
// allocation and free (see thread_heap.hpp).
#include "allocators/thread_heap.hpp"

#include "allocators/arena.hpp"
#include "allocators/fast_path.hpp"
#include "os/cpu.hpp"

#include <topos/error.hpp>

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>

namespace topos::detail {

constinit span g_no_span{};

[[gnu::tls_model("initial-exec")]] constinit thread_local thread_heap* t_heap = nullptr;
[[gnu::tls_model("initial-exec")]] constinit thread_local local_cache t_local;

namespace {

// What local_cache::m_cpu_offset points at without rseq: neither a CPU nor k_no_cpu.
[[gnu::tls_model("initial-exec")]] constinit thread_local std::uint32_t t_no_rseq_cpu = 0xfffffff9;
constinit thread_local heap_lifecycle t_state = heap_lifecycle::fresh;

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
    // A thread that allocates hands back what it batched at each span switch,
    // so its batch waits no longer than its allocations run in one span.
    flush_remote_batch(h);
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
    TOPOS_ASSERT(node >= 0 && static_cast<std::size_t>(node) < h->m_nodes.size(), "node_heap_of: node is the host's");
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
        t_state = heap_lifecycle::dead;
        // Before the spans are given back: blocks of spans this thread holds
        // may sit in its batch, and a span with none out is released, not abandoned.
        flush_remote_batch(h);
        abandon(h);
        retire_heap(h);
        delete h;
    }
};
thread_local heap_guard t_guard;

thread_heap* make_thread_heap() {
    auto* h = new thread_heap(host_node_count());
    t_local.m_in_range = range_reserved();
    t_local.m_cpu_offset = os::rseq_registered() ? os::rseq_cpu_offset() : os::thread_offset_of(&t_no_rseq_cpu);
    register_heap(h);
    t_guard.m_armed = true; // first use registers the guard's destructor for this thread
    t_heap = h;
    t_local.m_owner_key = reinterpret_cast<std::uintptr_t>(h);
    t_state = heap_lifecycle::live;
    return h;
}

// A remote free by a thread that has no heap (it exited, or frees during its
// teardown) is counted in the registry. Out of line and cold: inlined, the
// registry's first-use initialisation made free_not_owned save six registers
// on every remote free (xmalloc-style workloads lost ~8%).
[[gnu::cold, gnu::noinline]] void count_retired_remote_free(int node, std::int64_t size) noexcept {
    auto& r = registry();
    r.m_retired_in_use[static_cast<std::size_t>(node)].fetch_sub(size, std::memory_order_relaxed);
    r.m_retired_remote[static_cast<std::size_t>(node)].fetch_add(1, std::memory_order_relaxed);
}

// Pushes the chain first..last of n blocks of s onto s's remote list. The
// caller must not touch s afterwards: once the blocks are on the list the
// span may be collected, emptied and reused by another thread.
void push_remote(span* s, free_block* first, free_block* last, std::uint32_t n) noexcept {
    std::uintptr_t head = s->m_remote_free.load(std::memory_order_relaxed);
    std::uintptr_t next = 0;
    do {
        last->m_next = remote_top(head);
        next = ((head & ~k_remote_block_mask) + (std::uintptr_t{n} << k_remote_count_shift)) |
               reinterpret_cast<std::uintptr_t>(first);
        // release: publishes the chain's m_next links to the holder's acquire exchange in collect_remote
    } while (!s->m_remote_free.compare_exchange_weak(head, next, std::memory_order_release,
                                                     std::memory_order_relaxed));
}

void free_remote(thread_heap* h, span* s, int node, free_block* blk) noexcept {
    // Read before the push: once the block is on the list the span may be
    // collected, emptied and reused by another thread.
    const std::int64_t size = s->m_block_size;
    if (h == nullptr) [[unlikely]] {
        blk->m_next = nullptr;
        push_remote(s, blk, blk, 1);
        count_retired_remote_free(node, size);
        return;
    }
    // Counted now, not at the push, so the counters never see the batch.
    h->count_remote_free(node, size);
    remote_batch& b = h->m_batch;
    if (b.m_span == s) [[likely]] {
        blk->m_next = b.m_first;
        b.m_first = blk;
        if (++b.m_count == k_remote_batch_max) [[unlikely]] {
            flush_remote_batch(h);
        }
        return;
    }
    if (b.m_span != nullptr) {
        flush_remote_batch(h);
    }
    blk->m_next = nullptr;
    b.m_span = s;
    b.m_first = b.m_last = blk;
    b.m_count = 1;
}

} // namespace

void flush_remote_batch(thread_heap* h) noexcept {
    remote_batch& b = h->m_batch;
    if (b.m_span == nullptr) {
        return;
    }
    TOPOS_ASSERT(b.m_count > 0 && b.m_count <= k_remote_batch_max,
                 "flush_remote_batch: a batch holds 1 to k_remote_batch_max blocks");
    TOPOS_ASSERT_EXPENSIVE(list_length(b.m_first) == b.m_count,
                           "flush_remote_batch: the batch's count matches its chain");
    push_remote(b.m_span, b.m_first, b.m_last, b.m_count);
    b = remote_batch{};
}

void* small_alloc_slow(std::size_t cls, int node) {
    TOPOS_ASSERT(cls < k_class_count, "small_alloc_slow: cls is a size class");
    TOPOS_ASSERT(node >= 0 && static_cast<std::size_t>(node) < host_node_count(),
                 "small_alloc_slow: node is the host's");
    const alloc_reentry_guard guard;
    thread_heap* h = t_heap;
    if (h == nullptr) {
        if (t_state == heap_lifecycle::dead) {
            auto& o = orphans();
            const std::lock_guard lock(o.m_lock);
            return heap_alloc(o.m_heap, cls, node);
        }
        h = make_thread_heap();
    }
    return heap_alloc(h, cls, node);
}

void free_local_slow(thread_heap* h, span* s) {
    // relaxed: only this thread sets or clears its own heap as owner
    TOPOS_ASSERT(s->m_owner.load(std::memory_order_relaxed) == h, "free_local_slow: h owns s");
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

void bad_free(const void* p, const char* why) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    throw memory_error(std::string("free of pointer ") + text + ": " + why);
}

// A thread whose first allocator call is a free of another thread's block (a
// consumer in a producer/consumer program) gets its heap here, so that its
// remote frees are counted in its own heap's counters. Counted in the
// registry instead, every such free made two atomic read-modify-writes on
// lines shared by all threads: xmalloc-test spent ~45% of its time there.
// Null when the heap cannot be made (out of memory); the caller then counts
// in the registry.
namespace {
[[gnu::cold, gnu::noinline]] thread_heap* heap_for_first_free() noexcept {
    const alloc_reentry_guard guard;
    try {
        return make_thread_heap();
    } catch (...) {
        return nullptr;
    }
}
} // namespace

void free_not_owned(thread_heap* h, void* p) {
    chunk* c = chunk_of(p);
    span* s = span_of(c, p);
    if (s == c->m_spans.data() || s->m_state.load(std::memory_order_relaxed) == span_state::empty) {
        bad_free(p, "it lies in no live block of a topos arena");
    }
    if (h == nullptr && t_state == heap_lifecycle::fresh && !alloc_reentered()) [[unlikely]] {
        h = heap_for_first_free();
    }
    free_remote(h, s, s->m_node, static_cast<free_block*>(p));
}

// The slow path of small_alloc_local: reads the CPU again (sched_getcpu where
// glibc registered no rseq area, for which this is also the fast path),
// allocates from that CPU's node and points the heap's local cache at it.
// Takes only `bytes`, so the fast path's tail call keeps nothing alive and
// the fast path saves no registers.
void* small_alloc_local_slow(std::size_t bytes) {
    TOPOS_ASSERT(bytes - 1 < k_small_max, "small_alloc_local_slow: 0 < bytes <= k_small_max");
    const std::uint32_t cpu = static_cast<std::uint32_t>(os::current_cpu());
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

} // namespace topos::detail
