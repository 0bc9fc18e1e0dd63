// os/affinity.cpp - CPU masks with CPU_ALLOC: sized from the largest CPU
// asked for (set), or grown until the kernel accepts the size (get).
#include "os/affinity.hpp"

#include <topos/detail/assert.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace topos::os {

void prepared_affinity::deleter::operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }

prepared_affinity::prepared_affinity(const std::vector<int>& cpus) {
    if (cpus.empty()) {
        return;
    }
    const int highest = *std::max_element(cpus.begin(), cpus.end());
    TOPOS_ASSERT(*std::min_element(cpus.begin(), cpus.end()) >= 0, "CPU numbers are OS indices, never negative");
    const auto count = static_cast<std::size_t>(highest) + 1;
    m_set.reset(CPU_ALLOC(count));
    if (!m_set) {
        throw std::bad_alloc();
    }
    m_bytes = CPU_ALLOC_SIZE(count);
    CPU_ZERO_S(m_bytes, m_set.get());
    for (int cpu : cpus) {
        if (cpu >= 0) {
            CPU_SET_S(static_cast<std::size_t>(cpu), m_bytes, m_set.get());
        }
    }
}

int prepared_affinity::apply() const noexcept {
    if (!m_set) {
        return 0;
    }
    return ::sched_setaffinity(0, m_bytes, m_set.get()) == 0 ? 0 : errno;
}

bool pin_current_thread(const std::vector<int>& cpus, std::string& why) {
    for (int cpu : cpus) {
        if (cpu < 0) {
            why = "CPU " + std::to_string(cpu) + " is negative";
            return false;
        }
    }
    if (cpus.empty()) {
        why = std::strerror(EINVAL); // what the kernel says of an empty mask
        return false;
    }
    prepared_affinity mask;
    try {
        mask = prepared_affinity(cpus);
    } catch (const std::bad_alloc&) {
        why = "no memory for a mask of CPUs up to " + std::to_string(*std::max_element(cpus.begin(), cpus.end()));
        return false;
    }
    if (const int rc = mask.apply(); rc != 0) {
        why = std::strerror(rc);
        return false;
    }
    return true;
}

std::vector<int> current_affinity() {
    struct cpu_mask_deleter {
        void operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }
    };
    std::vector<int> out;
    // EINVAL means the kernel's mask is larger than ours: double and ask again.
    for (int count = 1024; count <= (1 << 22); count *= 2) {
        const std::unique_ptr<cpu_set_t, cpu_mask_deleter> set{CPU_ALLOC(static_cast<std::size_t>(count))};
        if (!set) {
            return out;
        }
        const std::size_t bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(count));
        CPU_ZERO_S(bytes, set.get());
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

void affinity_snapshot::deleter::operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }

affinity_snapshot::affinity_snapshot() {
    // EINVAL means the kernel's mask is larger than ours: double until it fits.
    for (int count = 1024; count <= (1 << 22); count *= 2) {
        m_set.reset(CPU_ALLOC(static_cast<std::size_t>(count)));
        if (!m_set) {
            throw std::bad_alloc();
        }
        m_bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(count));
        if (pthread_getaffinity_np(pthread_self(), m_bytes, m_set.get()) != EINVAL) {
            return;
        }
    }
}

bool affinity_snapshot::save() noexcept {
    return m_set && pthread_getaffinity_np(pthread_self(), m_bytes, m_set.get()) == 0;
}

bool affinity_snapshot::equals(const prepared_affinity& mask) const noexcept {
    if (!m_set || !mask.m_set) {
        return false;
    }
    // The two buffers may differ in size: the common bytes must match and
    // the longer one's tail must be empty.
    const auto* ours = reinterpret_cast<const unsigned char*>(m_set.get());     // NOLINT: a byte view of the mask
    const auto* theirs = reinterpret_cast<const unsigned char*>(mask.m_set.get()); // NOLINT: likewise
    const std::size_t common = std::min(m_bytes, mask.m_bytes);
    if (std::memcmp(ours, theirs, common) != 0) {
        return false;
    }
    const auto* tail = m_bytes > common ? ours : theirs;
    const std::size_t end = std::max(m_bytes, mask.m_bytes);
    return std::all_of(tail + common, tail + end, [](unsigned char b) { return b == 0; });
}

int affinity_snapshot::restore() const noexcept {
    if (!m_set) {
        return EINVAL;
    }
    return ::sched_setaffinity(0, m_bytes, m_set.get()) == 0 ? 0 : errno;
}

int affinity_snapshot::restore(pid_t tid) const noexcept {
    if (!m_set) {
        return EINVAL;
    }
    return ::sched_setaffinity(tid, m_bytes, m_set.get()) == 0 ? 0 : errno;
}

bool affinity_snapshot::copy_from(const affinity_snapshot& other) noexcept {
    if (!m_set || !other.m_set || m_bytes != other.m_bytes) {
        return false; // both were sized for the kernel's mask, so the sizes only differ if one is empty
    }
    std::memcpy(m_set.get(), other.m_set.get(), m_bytes);
    return true;
}

pid_t current_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

} // namespace topos::os
