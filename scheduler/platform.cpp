// scheduler/platform.cpp - futex, membarrier, affinity and libnuma calls.
#include "scheduler/platform.hpp"

#include <topos/detail/sched_core.hpp>

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

namespace topos::detail {
namespace platform {

void futex_wait(std::uint32_t* word, std::uint32_t expected) noexcept {
    // FUTEX_WAIT re-checks *word == expected atomically in the kernel.
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_one(std::uint32_t* word) noexcept {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

bool enable_membarrier() noexcept {
    static const bool usable = [] {
        const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
            return false;
        }
        return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    }();
    return usable;
}

void heavy_fence() noexcept {
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

bool pin_current_thread(const std::vector<int>& pus, std::string& why) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int pu : pus) {
        if (pu < 0 || pu >= CPU_SETSIZE) {
            why = "PU " + std::to_string(pu) + " is beyond CPU_SETSIZE";
            return false;
        }
        CPU_SET(static_cast<std::size_t>(pu), &set);
    }
    const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) {
        why = std::strerror(rc);
        return false;
    }
    return true;
}

std::vector<int> current_affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        return out;
    }
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(static_cast<std::size_t>(cpu), &set)) {
            out.push_back(cpu);
        }
    }
    return out;
}

bool numa_usable() noexcept {
    static const bool usable = numa_available() >= 0;
    return usable;
}

void* allocate_on_node(std::size_t bytes, int os_node) noexcept {
    return numa_alloc_onnode(bytes, os_node);
}

void free_on_node(void* p, std::size_t bytes) noexcept {
    numa_free(p, bytes);
}

} // namespace platform

void parker::park(std::uint32_t generation) noexcept {
    // acquire: pairs with unpark()'s release increment (see prepare()).
    while (m_generation.load(std::memory_order_acquire) == generation) {
        platform::futex_wait(reinterpret_cast<std::uint32_t*>(&m_generation), generation);
    }
}

void parker::unpark() noexcept {
    // release: whatever we wrote before waking is visible to the parked
    // thread's acquire load of the new generation.
    m_generation.fetch_add(1, std::memory_order_release);
    platform::futex_wake_one(reinterpret_cast<std::uint32_t*>(&m_generation));
}

void worker_core::push_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not model fences; a seq_cst RMW on a private word is
    // a full barrier on every architecture we build for.
    thread_local std::atomic<int> word{0};
    word.fetch_add(1, std::memory_order_seq_cst); // seq_cst: stands in for the fence below
#else
    // seq_cst: orders our push before the load of m_sleepers; pairs with the
    // seq_cst increment of m_sleepers by a worker going to sleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

} // namespace topos::detail
