// allocators/arena.hpp - per-node small-object arenas and per-thread caches.
//
// Memory comes from the kernel in 4 MiB chunks, aligned to 4 MiB and bound to
// one node with mbind. A chunk is cut into 64 KiB spans; the first span holds
// the chunk header, which describes every span, so a free finds its span in
// O(1) from the pointer alone (mask to the chunk, shift to the span). A span
// serves one size class and is owned by one thread's heap at a time:
//
//   - the owner allocates from the span's local free list and frees into it
//     with no lock and no atomic read-modify-write;
//   - any other thread pushes the block onto the span's atomic remote-free
//     list; the owner takes the whole list in one exchange when it runs dry.
//
// A block always goes back to its own span, so memory of node 1 is never
// handed out as node-0 memory. Spans that become empty return to their node's
// arena, which keeps them committed for reuse: 32 spans (2 MiB) always, up
// to 128 (8 MiB) for 100 ms after they emptied (a program that frees and
// soon allocates again does not fault its pages back in); beyond that it
// decommits the oldest (MADV_DONTNEED) whenever its lock is taken, and
// unmaps a chunk once all its spans are empty and decommitted (one spare).
// When a thread exits, its spans are abandoned to the arena and adopted by
// the next thread that needs that size class on that node.
//
// Which memory each byte range of the address space belongs to is kept in a
// byte-per-4-MiB region map (a static 32 MiB array whose pages exist only
// where topos memory is), so a foreign pointer is told apart with one load.
// Chunks are placed, while there is room, in a range reserved at a fixed
// address (region.cpp), which node_free tests first with constants only.
//
// Where each part lives (the files follow mimalloc's split):
//   size_class.hpp   size classes and the size-to-class table
//   region.hpp/.cpp  the region map and the fixed range
//   span.hpp         chunks, spans, span lists, the remote-free word
//   node_arena.*     node arenas: chunks, empty and abandoned spans, purging
//   thread_heap.*    thread heaps, the orphan heap, the slow paths
//   fast_path.hpp    the inline allocation and free fast paths
//   arena.cpp        the entry points declared below
//   arena_stats.*    counters, trim and fork handling
//   page_block.*     page blocks and the medium-block cache (memory.cpp's)
//   shared_mapping.* shared segments' mappings that page operations accept
//   numa_layer.*     logical nodes, policies and page queries over os/memory.hpp
//   memory.cpp       policies and the public entry points
//   malloc_shim.cpp  libtopos_malloc.so
// In Debug and sanitizer builds TOPOS_ASSERT checks the pre: contracts of
// these paths (node indices, size classes, span ownership, list membership);
// in Release the checks compile to nothing.
//
// Lineage and departures. Per-span local and remote free lists are the "free
// list sharding" of Leijen, Zorn and de Moura, "Mimalloc: Free List Sharding
// in Action" (APLAS 2019, DOI 10.1007/978-3-030-34175-6_13). Unlike mimalloc,
// a thread has one heap per NUMA node (a span never changes node), there is no
// delayed-free flag (the owner scans its full spans for remote frees when it
// needs a span), and abandoned spans go to their node's arena rather than to
// a global list. The remote list is a Treiber stack (R. K. Treiber, IBM
// RJ 5118, 1986) with push only; the holder takes the whole list with one
// exchange, never a single element, so the ABA problem cannot arise.
//
// The fast paths (small_alloc_local, small_free and node_free, which has the
// same path behind its region test) touch only the thread's heap, one span
// header and the block: no lock, no atomic read-modify-write, no call, no
// node lookup and no counter. topos::allocate is inline (memory.hpp), so a
// caller's constant policy and options fold to one size test in front of
// small_alloc_local. The thread caches, in its TLS, the CPU it last ran on
// with that CPU's node heap and compares it with the cpu_id the kernel keeps
// in the thread's rseq area, so the `local` node is exact after any migration
// at the cost of one load. The node heap keeps, for each size up to 1 KiB by
// 16-byte steps, the span its class allocates from (a placeholder span with
// no free block when there is none), so the allocation reads its span with
// one load and no class computation. A free compares the span's owner with a
// TLS key that no span holds while the thread has no heap. Bytes in use are
// not counted per call: each span counts its blocks out (m_used, whose top
// bit marks a span on its owner's full list, so one signed test on free
// catches both "now empty" and "was full"), and get_memory_counters sums the
// spans of every chunk under the arena locks, less the bytes of remote frees
// not yet collected (per-thread counters touched only by remote frees and
// their collection).
//
// Invariants the fast paths rely on:
//   - m_used counts every block not on the span's local list, including blocks
//     sitting on its remote list; a span is released only at m_used == 0, so a
//     remote push never touches a released span (the pushing thread still
//     holds a block of it, counted in m_used, until its CAS succeeds);
//   - a free reads everything it needs from the span before pushing, because
//     after the push the span may be collected, emptied and reused;
//   - a thread compares a span's owner only with its own heap, and only it
//     sets or clears that value, so a stale read can never make it "owner".
#pragma once

#include "allocators/region.hpp"

#include <topos/memory.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

/// Largest alignment a small block can have; more makes a page block.
inline constexpr std::size_t k_small_align_max = 4096;

// pre: 0 < bytes <= k_small_max, alignment a power of two <= k_small_align_max,
// node valid on the host. post: a block of at least `bytes` from node's arena.
// Throws std::bad_alloc when the kernel has no memory.
void* small_alloc(std::size_t bytes, std::size_t alignment, int node);
// pre: 0 < bytes <= k_fast_max. post: a block of at least `bytes`, aligned
// to alignof(std::max_align_t), from the arena of the node of the CPU the
// caller runs on (the `local` policy). The fast path of malloc and allocate:
// the thread's heap remembers the CPU it last saw and that CPU's node, so the
// node lookup is one compare against the kernel's rseq cpu_id.
// Throws std::bad_alloc when the kernel has no memory.
void* small_alloc_local(std::size_t bytes);
// pre: k_fast_max < bytes <= k_small_max. As small_alloc_local, for the sizes
// its span table does not reach.
void* small_alloc_local_mid(std::size_t bytes);
// pre: region_of(p) == region::arena. Throws memory_error for a pointer that is
// not the start of a live block (checked in debug builds; cheap checks always).
// topos::node_free (arena.cpp) has the same fast path behind its region test.
void small_free(void* p);
// pre: region_of(p) == region::arena.
std::size_t small_usable_size(const void* p) noexcept;
// post: the logical node of the chunk p lies in.
int small_node(const void* p) noexcept;

/// Set while the calling thread is inside an allocator slow path (see
/// alloc_reentered); written only by alloc_reentry_guard.
extern constinit thread_local bool t_reentered;

/// True while the calling thread is inside an allocator slow path (a thread
/// heap, chunk or page block being made, the node table being loaded). The
/// drop-in malloc sends allocations made there to the C library, so the
/// allocator never re-enters itself. Inline: every malloc asks it.
inline bool alloc_reentered() noexcept { return t_reentered; }

/// Marks the calling thread as inside a slow path for the guard's lifetime.
class alloc_reentry_guard {
public:
    alloc_reentry_guard() noexcept : m_previous(t_reentered) { t_reentered = true; }
    ~alloc_reentry_guard() { t_reentered = m_previous; }
    alloc_reentry_guard(const alloc_reentry_guard&) = delete;
    alloc_reentry_guard& operator=(const alloc_reentry_guard&) = delete;

private:
    bool m_previous;
};

} // namespace topos::detail
