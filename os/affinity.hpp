// os/affinity.hpp - thread CPU masks, and masks prepared ahead for a child. Masks are sized at run time
// (CPU_ALLOC), so machines with more CPUs than a fixed cpu_set_t holds (1,024)
// work: a CPU number is never dropped or refused for being large.
#pragma once

#include <sched.h>
#include <sys/types.h>

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
    friend class affinity_snapshot;
    struct deleter {
        void operator()(cpu_set_t* set) const noexcept;
    };
    std::unique_ptr<cpu_set_t, deleter> m_set;
    std::size_t m_bytes = 0;
};

/// The calling thread's mask, saved and put back later without allocating:
/// the buffer is sized for the kernel's mask once, at construction.
class affinity_snapshot {
public:
    /// post: a buffer the kernel's mask fits in; nothing saved yet. Throws
    /// std::bad_alloc.
    affinity_snapshot();

    /// post: true when the calling thread's mask is now saved; false (and
    /// nothing saved) when the kernel would not say.
    [[nodiscard]] bool save() noexcept;
    /// post: true when the saved mask holds exactly the CPUs of `mask`.
    [[nodiscard]] bool equals(const prepared_affinity& mask) const noexcept;
    /// pre: save() returned true. post: 0 when the calling thread runs on
    /// the saved mask again, else the errno the kernel gave.
    [[nodiscard]] int restore() const noexcept;
    /// pre: save() (or copy_from()) returned true. post: 0 when thread `tid`
    /// of this process runs on the saved mask, else the errno the kernel gave
    /// (ESRCH: no such thread any more).
    [[nodiscard]] int restore(pid_t tid) const noexcept;
    /// post: true when this snapshot now holds the mask `other` holds.
    [[nodiscard]] bool copy_from(const affinity_snapshot& other) noexcept;

private:
    struct deleter {
        void operator()(cpu_set_t* set) const noexcept;
    };
    std::unique_ptr<cpu_set_t, deleter> m_set;
    std::size_t m_bytes = 0;
};

/// The calling thread's kernel id (gettid).
[[nodiscard]] pid_t current_tid() noexcept;

} // namespace topos::os
