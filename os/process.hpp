// os/process.hpp - what a process reads about itself (resident memory, CPU
// time) and what it sets up for a program it starts: a CPU mask
// (os/affinity.hpp) and a memory policy, built before fork and applied between fork and exec. Between those
// two calls a child of a threaded parent may not allocate (another thread may
// have held malloc's lock at fork), so the masks are made ahead and apply()
// is a system call and nothing else.
#pragma once

#include "os/affinity.hpp" // prepared_affinity, the CPU half of a launch

#include <cstddef>
#include <vector>

namespace topos::os {

/// post: this process's resident set in bytes (/proc/self/statm), 0 when
/// the kernel would not say.
[[nodiscard]] std::size_t resident_bytes();

/// post: seconds of CPU time this process (all its threads) has used.
[[nodiscard]] double process_cpu_seconds() noexcept;

/// A memory policy (set_mempolicy) over kernel node numbers, to be applied
/// later without allocating.
class prepared_memory_policy {
public:
    enum class mode { bind, interleave };

    /// post: no policy; apply() changes nothing.
    prepared_memory_policy() = default;
    /// pre: `os_nodes` is not empty and every entry is >= 0 (kernel node numbers).
    prepared_memory_policy(mode m, const std::vector<int>& os_nodes);

    [[nodiscard]] bool active() const noexcept { return !m_mask.empty(); }
    /// Async-signal-safe: one set_mempolicy for the calling thread.
    /// post: 0 when the thread's future allocations follow the policy (or
    /// there is none), else the errno the kernel gave.
    [[nodiscard]] int apply() const noexcept;

private:
    int m_mode = 0;
    std::vector<unsigned long> m_mask;
};

} // namespace topos::os
