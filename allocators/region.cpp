// allocators/region.cpp - the region map and the arenas' fixed address range
// (see region.hpp).
#include "allocators/region.hpp"

#include "allocators/numa_layer.hpp"
#include "os/memory.hpp"

#include <topos/detail/assert.hpp>

#include <array>
#include <cstring>
#include <mutex>
#include <string>

namespace topos::detail {
namespace {

std::size_t region_index(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p) >> k_chunk_shift; }

void store_region(std::size_t index, region r) noexcept {
    // relaxed: a region is marked before its memory is handed out, and the
    // hand-off to any thread that frees it orders the two.
    std::atomic_ref<std::uint8_t>(region_map()[index]).store(static_cast<std::uint8_t>(r), std::memory_order_relaxed);
}

region load_region(std::size_t index) noexcept {
    return static_cast<region>(std::atomic_ref<std::uint8_t>(region_map()[index]).load(std::memory_order_relaxed));
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
    const std::size_t bytes = std::size_t{1} << k_range_bits;
    void* want = reinterpret_cast<void*>(k_range_base); // NOLINT(performance-no-int-to-ptr)
    int err = 0;
    if (os::map_fixed_noreplace(want, bytes, err) != nullptr) {
        return true;
    }
    try {
        note_degraded(std::string("the arena's address range could not be reserved (") +
                      (err != 0 ? std::strerror(err) : "the kernel placed it elsewhere") +
                      "): frees find small blocks through the region map, a little slower");
    } catch (...) { // NOLINT(bugprone-empty-catch): the note is only a report
    }
    return false;
}

} // namespace

#if defined(__SANITIZE_ADDRESS__)
std::uint8_t* mapped_region_map() noexcept {
    // Made by the first question, even one asked by a static constructor;
    // never by the failures a test injects, which would leave no map.
    static std::uint8_t* const map = [] {
        void* p = os::map_untracked(k_region_count);
        TOPOS_ASSERT(p != nullptr, "the region map could not be mapped");
        return static_cast<std::uint8_t*>(p);
    }();
    return map;
}
#else
alignas(4096) constinit std::uint8_t g_region_map[k_region_count] = {};
#endif

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
    TOPOS_ASSERT(reinterpret_cast<std::uintptr_t>(base) % k_chunk_size == 0, "release_chunk_memory: base is a chunk");
    if (!in_range(base)) {
        os::unmap(base, k_chunk_size);
        return;
    }
    os::decommit(base, k_chunk_size);
    const std::lock_guard lock(g_range.m_lock);
    g_range.m_free[g_range.m_free_count++] =
        static_cast<std::uint32_t>((reinterpret_cast<std::uintptr_t>(base) - k_range_base) >> k_chunk_shift);
}


void mark_regions(const void* base, std::size_t bytes, region head) noexcept {
    TOPOS_ASSERT(reinterpret_cast<std::uintptr_t>(base) % k_chunk_size == 0, "mark_regions: base is 4 MiB aligned");
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

void arena_reserve_range() noexcept { (void)range_reserved(); }

} // namespace topos::detail
