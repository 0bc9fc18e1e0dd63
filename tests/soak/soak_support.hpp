// tests/soak/soak_support.hpp - how long a soak test runs, and the line of
// counts it prints for scripts/soak.
//
// By default a soak test is small enough for the TSan build in CI. Two
// variables make it longer (scripts/soak sets them):
//   TOPOS_SOAK_TASKS    scheduler: run at least this many tasks (e.g. 10000000)
//   TOPOS_SOAK_OPS      allocator: at least this many allocation operations
//   TOPOS_SOAK_SECONDS  both: keep going (in rounds) for at least this long
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace topos::soak {

/// The value of `name` as a positive number, `fallback` when unset or empty.
/// A malformed value fails the test at once rather than silently shrinking it.
inline std::uint64_t env_count(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') {
        return fallback;
    }
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0') {
        std::fprintf(stderr, "soak: %s='%s' is not a whole number\n", name, text);
        std::abort();
    }
    return value;
}

/// Rounds go on until both the count and the time are reached.
class budget {
public:
    budget(const char* count_variable, std::uint64_t default_count)
        : m_min(env_count(count_variable, default_count)), m_seconds(env_count("TOPOS_SOAK_SECONDS", 0)),
          m_start(std::chrono::steady_clock::now()) {}

    [[nodiscard]] bool more(std::uint64_t done) const {
        return done < m_min || std::chrono::steady_clock::now() - m_start < std::chrono::seconds(m_seconds);
    }
    [[nodiscard]] std::uint64_t minimum() const noexcept { return m_min; }
    [[nodiscard]] std::uint64_t seconds() const noexcept { return m_seconds; }

private:
    std::uint64_t m_min;
    std::uint64_t m_seconds;
    std::chrono::steady_clock::time_point m_start;
};

} // namespace topos::soak
