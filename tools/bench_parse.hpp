// tools/bench_parse.hpp - byte counts from the command line ("64K", "1.5M")
// and the numbers of the result tables (units, decimals, columns, medians).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace topos::cli {

/// Parses a byte count: "4096", "64K", "1.5M", "2G", "1e6" (K, M, G, T are powers of
/// 1024; a trailing "B" or "iB" is allowed). Throws topos::error naming `flag` when it
/// is not a number, not positive, or above `max`.
[[nodiscard]] std::size_t parse_size(std::string_view text, std::string_view flag, std::size_t max);

/// "48 KiB", "1.5 MiB".
[[nodiscard]] std::string format_bytes(double bytes);
/// `v` with `digits` decimals, for the tables.
[[nodiscard]] std::string fixed(double v, int digits);
/// `s` right-aligned in `width` columns (never cut).
[[nodiscard]] std::string pad(const std::string& s, std::size_t width);

/// Median of a non-empty list.
[[nodiscard]] double median(std::vector<double> values);

} // namespace topos::cli
