// tools/bench_kernels.hpp - the measured loops of `topos bench latency`,
// `bandwidth` and `stream`, and the checks run on their results outside the
// timed region. Kept apart from the commands so the tests can check them.
#pragma once

#include <topos/topology.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace topos::cli {

/// Links `elements` slots of `stride` bytes starting at `base` into a single
/// cycle in random order (a random cyclic permutation: each slot's first word
/// points at the next slot to visit), so a hardware prefetcher cannot guess
/// the next address. Returns the slot the chase starts from.
/// pre: stride >= sizeof(void*) and a multiple of alignof(void*); elements >= 1.
void* build_chase_chain(std::byte* base, std::size_t elements, std::size_t stride, std::uint64_t seed);

/// Follows `loads` links from `start`, each load depending on the one before;
/// returns where it stopped (so the compiler cannot drop the loads).
void* chase(void* start, std::size_t loads);

/// Result of walking a chain once around: how many slots it visited before it
/// returned to the start, and whether every slot was visited exactly once with
/// every link inside [base, base + elements * stride) on a slot boundary.
struct chain_check {
    std::size_t cycle_length = 0;
    bool every_slot_once = false;
};
[[nodiscard]] chain_check check_chase_chain(const std::byte* base, std::size_t elements, std::size_t stride,
                                            const void* start);

/// Fills words[i] = i, the pattern read_sum's checksum expects.
void fill_index_pattern(std::uint64_t* words, std::size_t n, std::size_t first_index = 0);
/// Sum of n words (wrapping), read in one pass: the bandwidth reader.
[[nodiscard]] std::uint64_t read_sum(const std::uint64_t* words, std::size_t n);
/// Sum of first, first+1, ..., first+n-1, wrapping as read_sum does.
[[nodiscard]] std::uint64_t index_pattern_sum(std::size_t first, std::size_t n);

/// Working-set sizes for the latency curve: powers of two from 4 KiB (16 KiB for a
/// quick run, by powers of four) up to `max_bytes`, plus each data cache's size
/// and max_bytes itself, ascending and without repeats.
[[nodiscard]] std::vector<std::size_t> latency_sizes(const topology& topo, std::size_t max_bytes, bool quick);

/// STREAM's four kernels over arrays a, b, c of n doubles, elements [lo, hi).
/// copy: c = a; scale: b = q*c; add: c = a + b; triad: a = b + q*c.
enum class stream_kernel { copy, scale, add, triad };
inline constexpr double k_stream_scalar = 3.0;
[[nodiscard]] const char* to_string(stream_kernel k) noexcept;
/// Bytes one pass moves per element, as STREAM counts them (16 or 24).
[[nodiscard]] std::size_t stream_bytes_per_element(stream_kernel k) noexcept;
void stream_range(stream_kernel k, double* a, double* b, double* c, std::size_t lo, std::size_t hi) noexcept;

/// STREAM's result check: the values a, b and c must hold after `passes` rounds of
/// the four kernels in order, starting from a = 2 (STREAM doubles 1 before timing),
/// b = 2, c = 0. Returns the index of the first element off by more than STREAM's
/// relative tolerance in any array, or n when all are right.
[[nodiscard]] std::size_t stream_first_bad_element(const double* a, const double* b, const double* c,
                                                   std::size_t n, unsigned passes);
/// The initial values stream_first_bad_element assumes.
inline constexpr double k_stream_a0 = 2.0;
inline constexpr double k_stream_b0 = 2.0;
inline constexpr double k_stream_c0 = 0.0;

} // namespace topos::cli
