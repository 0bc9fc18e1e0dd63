// os/affinity.hpp - thread CPU masks, and masks prepared ahead for a child. Masks are sized at run time
// (CPU_ALLOC), so machines with more CPUs than a fixed cpu_set_t holds (1,024)
// work: a CPU number is never dropped or refused for being large.
#pragma once

#include <sched.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace topos::os {

/// pre: every entry of `cpus` is >= 0 (OS indices; any size).
/// post: true when the calling thread now runs only on `cpus`; false with
/// `why` set when the kernel refused (a CPU outside the cgroup, for
/// instance) or an entry is negative; the thread's mask is then unchanged.
[[nodiscard]] bool pin_current_thread(const std::vector<int>& cpus, std::string& why);

/// post: the CPUs the calling thread may run on, ascending; empty only when
/// the kernel would not say.
[[nodiscard]] std::vector<int> current_affinity();

/// A CPU mask sized for its largest CPU (CPU_ALLOC, so no CPU number is too
/// large), to be applied later without allocating.
class prepared_affinity {
public:
    /// post: an empty mask; apply() changes nothing.
    prepared_affinity() = default;
    /// pre: every entry of `cpus` is >= 0 (OS indices).
    /// post: a mask holding exactly `cpus`; empty `cpus`: as the default.
    explicit prepared_affinity(const std::vector<int>& cpus);

    /// post: true when a mask was asked for.
    [[nodiscard]] bool active() const noexcept { return m_set != nullptr; }
    /// Async-signal-safe: one sched_setaffinity for the calling thread.
    /// post: 0 when the calling thread now runs only on the mask's CPUs (or
    /// the mask is empty), else the errno the kernel gave; the thread's mask
    /// is then unchanged.
    [[nodiscard]] int apply() const noexcept;

private:
    struct deleter {
        void operator()(cpu_set_t* set) const noexcept;
    };
    std::unique_ptr<cpu_set_t, deleter> m_set;
    std::size_t m_bytes = 0;
};

} // namespace topos::os
