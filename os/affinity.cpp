// os/affinity.cpp - CPU masks with CPU_ALLOC, sized from the largest CPU
// asked for (set) or grown until the kernel accepts the size (get).
#include "os/affinity.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace topos::os {

namespace {

struct cpu_mask_deleter {
    void operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }
};
using cpu_mask = std::unique_ptr<cpu_set_t, cpu_mask_deleter>;

// post: a zeroed mask of `count` CPUs and its size in bytes, or nullptr.
cpu_mask make_mask(int count, std::size_t& bytes) {
    cpu_mask set{CPU_ALLOC(static_cast<std::size_t>(count))};
    bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(count));
    if (set) {
        CPU_ZERO_S(bytes, set.get());
    }
    return set;
}

// post: a mask holding `cpus`, or nullptr with `why` set.
cpu_mask mask_of(const std::vector<int>& cpus, std::size_t& bytes, std::string& why) {
    int highest = 0;
    for (int cpu : cpus) {
        if (cpu < 0) {
            why = "CPU " + std::to_string(cpu) + " is negative";
            return nullptr;
        }
        highest = std::max(highest, cpu);
    }
    cpu_mask set = make_mask(highest + 1, bytes);
    if (!set) {
        why = "no memory for a mask of " + std::to_string(highest + 1) + " CPUs";
        return nullptr;
    }
    for (int cpu : cpus) {
        CPU_SET_S(static_cast<std::size_t>(cpu), bytes, set.get());
    }
    return set;
}

} // namespace

bool pin_current_thread(const std::vector<int>& cpus, std::string& why) {
    std::size_t bytes = 0;
    const cpu_mask set = mask_of(cpus, bytes, why);
    if (!set) {
        return false;
    }
    const int rc = pthread_setaffinity_np(pthread_self(), bytes, set.get());
    if (rc != 0) {
        why = std::strerror(rc);
        return false;
    }
    return true;
}

bool set_process_affinity(int pid, const std::vector<int>& cpus, std::string& why) {
    std::size_t bytes = 0;
    const cpu_mask set = mask_of(cpus, bytes, why);
    if (!set) {
        return false;
    }
    if (sched_setaffinity(pid, bytes, set.get()) != 0) {
        why = std::strerror(errno);
        return false;
    }
    return true;
}

std::vector<int> current_affinity() {
    std::vector<int> out;
    // EINVAL means the kernel's mask is larger than ours: double and ask again.
    for (int count = 1024; count <= (1 << 22); count *= 2) {
        std::size_t bytes = 0;
        const cpu_mask set = make_mask(count, bytes);
        if (!set) {
            return out;
        }
        const int rc = pthread_getaffinity_np(pthread_self(), bytes, set.get());
        if (rc == EINVAL) {
            continue;
        }
        if (rc != 0) {
            return out;
        }
        for (int cpu = 0; cpu < count; ++cpu) {
            if (CPU_ISSET_S(static_cast<std::size_t>(cpu), bytes, set.get())) {
                out.push_back(cpu);
            }
        }
        return out;
    }
    return out;
}

} // namespace topos::os
