// ipc/shm_heap_layout.hpp - the state at the start of a segment_heap's
// region (ipc/shm_heap.cpp). Internal; the tests' peer program reads it to
// play a process that dies holding the heap's lock.
#pragma once

#include <topos/sync.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

/// The magic of a formatted heap: segment_heap(seg) attaches when it finds
/// this and formats only memory that still holds 0 (a fresh segment).
inline constexpr std::uint64_t k_heap_magic = 0x5045454853504f54ULL; // "TOPSHEEP"
/// Claimed (by compare-exchange from 0) by the one process formatting the heap.
inline constexpr std::uint64_t k_heap_formatting = 0x474e4954414d524fULL; // "ORMATING"
inline constexpr std::size_t k_heap_names = 32;
inline constexpr std::size_t k_heap_name_chars = 48;

struct heap_name {
    char name[k_heap_name_chars];
    std::uint64_t offset;
    std::uint64_t bytes;
};

struct heap_state {
    std::atomic<std::uint64_t> magic{k_heap_formatting}; ///< k_heap_magic once formatted
    std::uint64_t region_bytes = 0;
    std::uint64_t first_block = 0;
    /// Nonzero once a holder of `mutex` died: the free list may be half
    /// updated, and every operation from then on throws heap_broken.
    std::atomic<std::uint32_t> broken{0};
    process_mutex mutex; ///< guards everything below
    std::uint64_t free_head = 0;
    std::uint64_t used = 0;
    heap_name names[k_heap_names]{};
};

} // namespace topos::detail
