// os/affinity.hpp - thread and process CPU masks. Masks are sized at run time
// (CPU_ALLOC), so machines with more CPUs than a fixed cpu_set_t holds (1,024)
// work: a CPU number is never dropped or refused for being large.
#pragma once

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

/// pre: every entry of `cpus` is >= 0. `pid` 0 means the calling process.
/// post: as pin_current_thread, for the process's main thread (sched_setaffinity).
[[nodiscard]] bool set_process_affinity(int pid, const std::vector<int>& cpus, std::string& why);

} // namespace topos::os
