// allocators/region.hpp - which memory each 4 MiB of the address space
// belongs to (the region map), and the fixed address range the arenas' chunks
// go to first (see arena.hpp for the whole design).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

inline constexpr std::size_t k_chunk_shift = 22;
inline constexpr std::size_t k_chunk_size = std::size_t{1} << k_chunk_shift;
inline constexpr std::size_t k_span_shift = 16;
inline constexpr std::size_t k_span_size = std::size_t{1} << k_span_shift;
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
#if defined(__SANITIZE_ADDRESS__)
// Under ASan the map is a mapping made on first use instead: LeakSanitizer
// reads every global of the program at each exit, and faulting in 32 MiB of
// zero pages was half of a short test process's time. Its bytes are kinds,
// not pointers, so it never holds a block alive.
std::uint8_t* mapped_region_map() noexcept;
inline std::uint8_t* region_map() noexcept { return mapped_region_map(); }
#else
extern std::uint8_t g_region_map[k_region_count];
inline std::uint8_t* region_map() noexcept { return g_region_map; }
#endif

/// The kind of memory p lies in. Inline: every free asks it.
inline region region_of(const void* p) noexcept {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    if ((addr >> k_address_bits) != 0) [[unlikely]] {
        return region::none;
    }
    // relaxed: a thread holding a topos pointer got it through a hand-off
    // that follows the marking of its region; a foreign pointer reads none
    return static_cast<region>(
        std::atomic_ref<std::uint8_t>(region_map()[addr >> k_chunk_shift]).load(std::memory_order_relaxed));
}
// pre: base is 4 MiB aligned. post: the regions of [base, base+bytes) read
// `head` for the first and page_tail for the rest (arena chunks are one region).
void mark_regions(const void* base, std::size_t bytes, region head) noexcept;
void clear_regions(const void* base, std::size_t bytes) noexcept;
/// Start of the 4 MiB region holding the header of the page block p lies in;
/// nullptr unless region_of(p) is page_head or page_tail.
void* page_block_base(const void* p) noexcept;

// ---- the arena range ------------------------------------------------------------
//
// Chunks go, while there is room, into one range of the address space at a
// fixed address (k_range_base, 256 GiB), reserved once when the first thread
// heap is made (region.cpp). Then a free tells arena memory from the rest with a test of
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
inline constexpr bool k_range_possible = false;
#else
inline constexpr bool k_range_possible = true;
#endif
inline constexpr std::uintptr_t k_range_base = 0x300000000000; // 48 TiB: far from where Linux puts mappings
inline constexpr std::size_t k_range_bits = 38;
inline constexpr std::size_t k_range_slots = (std::size_t{1} << k_range_bits) >> k_chunk_shift;
static_assert(k_range_base % k_chunk_size == 0 &&
              k_range_base + (std::uintptr_t{1} << k_range_bits) <= (std::uintptr_t{1} << k_address_bits));


/// True when p lies in the arena range (constants only, no load). Inline:
/// node_free asks it first.
inline bool in_range(const void* p) noexcept {
    return ((reinterpret_cast<std::uintptr_t>(p) - k_range_base) >> k_range_bits) == 0;
}

/// post: true when the arena range is reserved for this process (tried once).
bool range_reserved() noexcept;
/// A 4 MiB slot of the range for a chunk; nullptr when the range is not ours or full.
void* take_range_slot() noexcept;
/// pre: base is a chunk's 4 MiB from take_range_slot or os::map_aligned.
/// post: its memory is back with the OS (see region.cpp).
void release_chunk_memory(void* base) noexcept;

/// Reserves the arenas' address range if that was not tried yet (the first
/// thread heap does it otherwise); a refusal becomes a line of the memory
/// status note.
void arena_reserve_range() noexcept;

} // namespace topos::detail
