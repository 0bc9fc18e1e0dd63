// allocators/thread_heap.hpp - each thread's heap (one node heap per node it
// allocates on, a bin per size class), the heap registry and the orphan heap,
// and the thread-local cache the fast paths read (see arena.hpp).
#pragma once

#include "allocators/node_arena.hpp"
#include "allocators/span.hpp"

#include <topos/detail/assert.hpp>
#include <topos/detail/cache_line.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace topos::detail {

// The span of the direct table's empty entries: no free block, ever, so the
// fast path falls through to the slow path. Never written: the fast path
// writes a span only after finding a block on it.
extern constinit span g_no_span;

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
            bin& b = m_bins[class_of(i * k_table_step)];
            if (b.m_direct_first == nullptr) {
                b.m_direct_first = &m_direct[i];
            }
            ++b.m_direct_count;
        }
    }
    node_heap(const node_heap&) = delete;
    node_heap& operator=(const node_heap&) = delete;

    // The current span of each size up to k_table_max by 8-byte steps
    // (entry table_index(bytes)), g_no_span where the class has none: the
    // allocation fast path reads its span in one load, with no class
    // computation and no null test (mimalloc's pages_free_direct does the
    // same by 8-byte words). Every class's entries are consecutive.
    std::array<span*, k_table_max / k_table_step + 1> m_direct{};
    std::array<span*, k_class_count> m_current{};
    std::array<bin, k_class_count> m_bins;
};

// Makes s (nullptr for none) the span b allocates from, in the direct table too.
inline void set_current(bin& b, span* s) noexcept {
    *b.m_current = s;
    span* direct = s != nullptr ? s : &g_no_span;
    for (std::uint32_t i = 0; i < b.m_direct_count; ++i) {
        b.m_direct_first[i] = direct;
    }
}

// Blocks this thread freed into one span it does not own, not yet pushed onto
// the span's remote list: consecutive remote frees into the same span (a
// consumer freeing what a producer allocated in a row) are linked here and
// pushed as one chain with one CAS (flush_remote_batch), not one CAS each.
// The blocks stay counted in the span's m_used until its holder collects
// them, so the span cannot be released while they wait here. Their bytes are
// counted as freed (thread_heap::m_in_use) when they enter, so the counters
// never see the delay. Flushed when a free goes to another span, when it
// holds k_remote_batch_max blocks, when the thread takes a new span
// (next_span), trims (arena_trim) or exits (before its spans are abandoned).
// So a thread holds back at most k_remote_batch_max - 1 blocks of one span,
// for as long as it makes no remote free into another span, no span switch
// and no trim (a thread that goes idle right after a remote free keeps them
// until it runs again or exits).
struct remote_batch {
    span* m_span = nullptr; // nullptr: the batch is empty
    free_block* m_first = nullptr; // the last block freed; its chain ends at m_last
    free_block* m_last = nullptr;
    std::uint32_t m_count = 0;
};

// Blocks a batch holds before it is pushed: enough to make the CAS a small
// part of each free, few enough that the owner gets them back soon.
inline constexpr std::uint32_t k_remote_batch_max = 64;

// Owner-private except the counters, which the owner writes (relaxed load and
// store, never contended) and get_memory_counters reads.
struct alignas(detail::cache_line) thread_heap {
    explicit thread_heap(std::size_t nodes)
        : m_nodes(nodes, nullptr),
          m_in_use(std::make_unique<std::atomic<std::int64_t>[]>(nodes)),
          m_remote_frees(std::make_unique<std::atomic<std::uint64_t>[]>(nodes)) {}

    // The node of t_local's CPU (valid while t_local.m_cpu != k_no_cpu).
    int m_local_node = 0;

    remote_batch m_batch; // this thread's remote frees not yet pushed (owner-private)

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

inline heap_registry& registry() {
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

inline orphan_heap& orphans() {
    static auto* o = [] {
        auto* oh = new orphan_heap();
        oh->m_heap = new thread_heap(host_node_count());
        return oh;
    }();
    return *o;
}


/// Where the calling thread's heap is in its life (not topos::detail::heap_state, the shm heap's).
enum class heap_lifecycle : std::uint8_t { fresh, live, dead };
// The calling thread's heap. Initial-exec: in position-independent code the
// default model reaches a thread_local through a call to __tls_get_addr, which
// the linker may rewrite away but which still makes the compiler save
// registers in every fast path. Initial-exec costs 8 bytes of the static TLS
// block (glibc keeps a surplus for libraries loaded with dlopen).
[[gnu::tls_model("initial-exec")]] extern constinit thread_local thread_heap* t_heap;

// Never a CPU, nor what a failed sched_getcpu (-1) or rseq's cpu_id before
// or after a failed registration (-1, -2) reads as.
// Bit 3 is set, so it is not the low half of a 16-aligned pointer either
// (see local_cache).
inline constexpr std::uint32_t k_no_cpu = 0xfffffff8;

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
// pointer (os::thread_word), cheaper than sched_getcpu's call. Set when the
// thread's heap is made. Where glibc registered no rseq area (tunable off, old kernel,
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
[[gnu::tls_model("initial-exec")]] extern constinit thread_local local_cache t_local;

#if defined(__x86_64__) || defined(__aarch64__)
inline constexpr bool k_tp_word_is_pointer = true;
#else
inline constexpr bool k_tp_word_is_pointer = false;
#endif

// The count a collection by heap h credits.
inline std::atomic<std::int64_t>& credit_of(thread_heap* h, const span* s) noexcept {
    return h->m_in_use[s->m_node];
}

// pre: node a logical node of the host, cls < k_class_count.
// post: a block of class cls on `node` for the calling thread, from its heap
// (made first when it has none; the orphan heap once its heap is gone).
// Throws std::bad_alloc when the kernel has no memory.
void* small_alloc_slow(std::size_t cls, int node);
// The slow path of small_alloc_local (thread_heap.cpp).
// pre: 0 < bytes <= k_small_max.
[[gnu::noinline]] void* small_alloc_local_slow(std::size_t bytes);
// A free by the owner h of s that may change which list s belongs on.
// pre: h owns s.
[[gnu::noinline]] void free_local_slow(thread_heap* h, span* s);
// A free by a thread that does not own the block's span (or of a bad pointer).
// pre: region_of(p) == region::arena.
[[gnu::noinline]] void free_not_owned(thread_heap* h, void* p);
// Pushes the blocks of h's remote batch onto their span's remote list (one
// CAS). pre: h is the calling thread's heap (or its thread is exiting).
// post: h's batch is empty.
void flush_remote_batch(thread_heap* h) noexcept;
// Throws memory_error naming p and why the free is refused.
[[noreturn, gnu::cold, gnu::noinline]] void bad_free(const void* p, const char* why);

} // namespace topos::detail
