// topos/detail/cache_line.hpp - the one definition of the cache-line size
// topos pads and aligns to.
#pragma once

#include <cstddef>

namespace topos::detail {

/// Bytes that two threads writing different data must keep apart. 64 on the
/// x86-64 and most AArch64 servers topos targets; where a pair of lines is
/// fetched together (the adjacent-line prefetcher), 64 still stops the
/// writes of two threads from landing in one line.
inline constexpr std::size_t cache_line = 64;

} // namespace topos::detail
