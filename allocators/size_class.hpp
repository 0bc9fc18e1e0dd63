// allocators/size_class.hpp - the small-block size classes and the table
// that maps a request's size to its class in one load (see arena.hpp).
#pragma once

#include <topos/memory.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

// 8 bytes, then 16-byte steps up to 128, then four classes per doubling up
// to k_small_max (jemalloc's classes). Every class but the first is a
// multiple of 16, so a block of 9 bytes or more is aligned to 16; the 8-byte
// class serves requests of up to 8 bytes with 8-byte alignment, which is all
// an object that small can need (C11 DR 445, C++ [basic.stc.dynamic.allocation]):
// malloc and new use it, requests for 16-byte alignment skip it (class_for).
// Half of alloc-test's blocks are 5-8 bytes. Every power of two from 8 to
// 16384 is a class, which is what makes aligned small blocks possible: a
// class whose size is a multiple of the alignment places every block of a
// 64 KiB-aligned span on that alignment.
constexpr std::size_t k_class_count = 9 + 4 * 7;

constexpr std::array<std::uint32_t, k_class_count> k_class_size = [] {
    std::array<std::uint32_t, k_class_count> sizes{};
    std::size_t i = 0;
    sizes[i++] = 8;
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
        return size <= 8 ? 0 : (size + 15) / 16;
    }
    const auto log = static_cast<std::size_t>(std::bit_width(size - 1)) - 1; // base = 2^log < size <= 2^(log+1)
    const std::size_t base = std::size_t{1} << log;
    // Four classes per doubling: steps of base/4, found with a shift, not a division.
    return 9 + (log - 7) * 4 + ((size - base - 1) >> (log - 2));
}
static_assert(class_of(1) == 0 && class_of(8) == 0 && class_of(9) == 1 && class_of(16) == 1 &&
              class_of(128) == 8 && class_of(129) == 9 && class_of(256) == 12 && class_of(257) == 13 &&
              class_of(k_small_max) == k_class_count - 1);

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

// Classes of sizes up to 1024 by 8-byte steps (entry (size + 7) / 8): one
// load instead of the arithmetic above on the malloc fast path.
constexpr std::size_t k_table_step = 8;
constexpr std::size_t k_table_max = k_fast_max; // the span table of node_heap reaches as far
constexpr std::size_t table_index(std::size_t size) noexcept { return (size + k_table_step - 1) / k_table_step; }
constexpr std::array<std::uint8_t, k_table_max / k_table_step + 1> k_class_table = [] {
    std::array<std::uint8_t, k_table_max / k_table_step + 1> t{};
    for (std::size_t i = 0; i < t.size(); ++i) {
        t[i] = static_cast<std::uint8_t>(class_of(i * k_table_step));
    }
    return t;
}();

// class_of by the table where it reaches.
inline std::size_t class_fast(std::size_t size) noexcept {
    return size <= k_table_max ? k_class_table[table_index(size)] : class_of(size);
}

// The class for `bytes` at `alignment`; k_class_count when none fits.
inline std::size_t class_for(std::size_t bytes, std::size_t alignment) noexcept {
    // Up to 16 the loop stops at once: every class above 8 is a multiple of 16.
    std::size_t c = class_of(min_block(bytes, alignment));
    while (c < k_class_count && (k_class_size[c] & (alignment - 1)) != 0) {
        ++c;
    }
    return c;
}

} // namespace topos::detail
