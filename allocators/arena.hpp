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
// address (arena.cpp), which node_free tests first with constants only.
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

#include <topos/memory.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

inline constexpr std::size_t k_chunk_shift = 22;
inline constexpr std::size_t k_chunk_size = std::size_t{1} << k_chunk_shift;
inline constexpr std::size_t k_span_shift = 16;
inline constexpr std::size_t k_span_size = std::size_t{1} << k_span_shift;
/// Largest alignment a small block can have; more makes a page block.
inline constexpr std::size_t k_small_align_max = 4096;

enum class region : std::uint8_t {
    none = 0,      ///< not topos memory
    arena = 1,     ///< a small-object chunk
    page_head = 2, ///< first 4 MiB of a page block (its header is at the region start)
    page_tail = 3, ///< later 4 MiB pieces of a page block
};

/// Bits of the user address space the region map covers.
inline constexpr std::size_t k_address_bits = 47;

/// One byte (a region) per 4 MiB of the address space (32 MiB). A static
/// array, so a free reads its byte with no pointer load and no null test:
/// the array is zero-filled .bss, whose pages the kernel supplies only where
/// topos memory is and written, so it costs address space, not memory.
inline constexpr std::size_t k_region_count = std::size_t{1} << (k_address_bits - k_chunk_shift);
extern std::uint8_t g_region_map[k_region_count];

/// The kind of memory p lies in. Inline: every free asks it.
inline region region_of(const void* p) noexcept {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    if ((addr >> k_address_bits) != 0) [[unlikely]] {
        return region::none;
    }
    // relaxed: a thread holding a topos pointer got it through a hand-off
    // that follows the marking of its region; a foreign pointer reads none
    return static_cast<region>(
        std::atomic_ref<std::uint8_t>(g_region_map[addr >> k_chunk_shift]).load(std::memory_order_relaxed));
}
// pre: base is 4 MiB aligned. post: the regions of [base, base+bytes) read
// `head` for the first and page_tail for the rest (arena chunks are one region).
void mark_regions(const void* base, std::size_t bytes, region head) noexcept;
void clear_regions(const void* base, std::size_t bytes) noexcept;
/// Start of the 4 MiB region holding the header of the page block p lies in;
/// nullptr unless region_of(p) is page_head or page_tail.
void* page_block_base(const void* p) noexcept;

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
// node_free of a pointer outside the arenas (memory.cpp): a page block, or a
// memory_error for a pointer topos did not hand out.
void free_foreign(void* p);
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

/// fork() safety for the drop-in malloc: take every allocator lock before the
/// fork and release them in both processes after it.
void alloc_fork_prepare() noexcept;
void alloc_fork_parent() noexcept;
void alloc_fork_child() noexcept;

/// pre: region_of(p) is page_head, p the start of a page block's user bytes.
/// post: true when those bytes are known to be zero: a fresh mapping, or a
/// cached medium block whose pages were dropped. A cached block that kept
/// its pages holds old data (calloc must clear it).
bool page_block_zeroed(const void* p) noexcept;

/// fork() safety for the medium-block caches (memory.cpp): leaf locks, taken
/// after the arena and status locks and released before them.
void medium_fork_prepare() noexcept;
void medium_fork_release() noexcept;

/// Reserves the arenas' address range if that was not tried yet (the first
/// thread heap does it otherwise); a refusal becomes a line of the memory
/// status note.
void arena_reserve_range() noexcept;

/// Releases what the calling thread's cache and the arenas hold without use.
void arena_trim();
/// Adds the arenas' per-node counters to out.nodes (sized to the node count).
void arena_counters(memory_counters& out);

} // namespace topos::detail
