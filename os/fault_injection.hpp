// os/fault_injection.hpp - a test hook that makes the memory system calls of
// os/memory.hpp fail as the kernel would when it runs out of memory: mmap
// (map_aligned, map_anonymous) and mremap (remap_to) return their failure
// with errno ENOMEM, mbind (bind_range) returns ENOMEM. The allocator soak
// test (tests/soak) turns it on to check that every allocation path reports
// exhaustion as the standard says (nullptr or std::bad_alloc) and recovers.
//
// Always compiled in; while it is off (the default) a call site pays one
// relaxed load of a flag. Deterministic: the n-th call of a site fails when
// a hash of (n, seed) falls in the chosen rate, whatever thread makes it.
#pragma once

#include <atomic>
#include <cstdint>

namespace topos::os {

enum class fault_site : unsigned {
    map,   ///< map_aligned, map_anonymous (mmap)
    remap, ///< remap_to (mremap)
    bind,  ///< bind_range (mbind)
};
inline constexpr unsigned k_fault_sites = 3;

/// post: from now on about one call in `one_in` of `site` fails (0: none).
/// Thread-safe; calls already past the check are not affected.
void set_fault_rate(fault_site site, std::uint32_t one_in, std::uint64_t seed = 1) noexcept;

/// post: no site fails any more (the counts stay).
void clear_faults() noexcept;

/// post: how many calls of `site` this hook has failed since the process began.
[[nodiscard]] std::uint64_t faults_injected(fault_site site) noexcept;

namespace detail {
extern std::atomic<bool> g_faults_armed;
[[nodiscard]] bool fault_now_slow(fault_site site) noexcept;
} // namespace detail

/// post: true when this call of `site` must fail. Cheap while off.
[[nodiscard]] inline bool fault_now(fault_site site) noexcept {
    // relaxed: a hint; the slow path reads the rate with its own relaxed loads,
    // and a test tolerates a call or two racing with turning the hook on or off.
    return detail::g_faults_armed.load(std::memory_order_relaxed) && detail::fault_now_slow(site);
}

} // namespace topos::os
