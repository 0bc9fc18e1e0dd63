// tools/bench_parse.cpp - byte counts read from the command line, and the
// numbers of the result tables.
#include "bench_parse.hpp"

#include <topos/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace topos::cli {

std::size_t parse_size(std::string_view text, std::string_view flag, std::size_t max) {
    const std::string s(text);
    const auto bad = [&](const std::string& why) {
        return error(std::string(flag) + ": '" + s + "' " + why);
    };
    if (s.empty()) {
        throw bad("is empty; expected a byte count such as 4096, 64K, 16M or 1G");
    }
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || errno == ERANGE || !std::isfinite(value)) {
        throw bad("is not a size; expected a byte count such as 4096, 64K, 16M or 1G");
    }
    std::string unit(end);
    std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    double scale = 1;
    static const std::array<std::pair<const char*, double>, 5> k_units{{
        {"", 1.0}, {"K", 1024.0}, {"M", 1024.0 * 1024}, {"G", 1024.0 * 1024 * 1024}, {"T", 1024.0 * 1024 * 1024 * 1024}}};
    bool known = false;
    for (const auto& [name, factor] : k_units) {
        const std::string n(name);
        if (unit == n || unit == n + "B" || (!n.empty() && unit == n + "IB")) {
            scale = factor;
            known = true;
        }
    }
    if (!known) {
        throw bad("has an unknown unit; expected a number with an optional K, M, G or T suffix");
    }
    const double bytes = value * scale;
    if (!(bytes >= 1)) {
        throw bad("is too small; expected at least 1 byte");
    }
    if (bytes > static_cast<double>(max)) {
        throw bad("is too large; expected at most " + format_bytes(static_cast<double>(max)));
    }
    return static_cast<std::size_t>(bytes);
}

std::string format_bytes(double bytes) {
    static const std::array<const char*, 5> k_names{"B", "KiB", "MiB", "GiB", "TiB"};
    std::size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < k_names.size()) {
        bytes /= 1024;
        ++unit;
    }
    std::array<char, 32> buf{};
    const bool whole = std::fabs(bytes - std::round(bytes)) < 1e-9;
    std::snprintf(buf.data(), buf.size(), whole ? "%.0f %s" : "%.1f %s", bytes, k_names[unit]);
    return buf.data();
}

std::string fixed(double v, int digits) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", digits, v);
    return buf.data();
}

std::string pad(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    if (n == 0) {
        return 0;
    }
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

} // namespace topos::cli
