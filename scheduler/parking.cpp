// scheduler/parking.cpp - how idle workers sleep and wake (parker), and the
// fence an owner's push pays when membarrier(2) is missing.
#include <topos/detail/sched_core.hpp>

#include "os/futex.hpp"

#include <atomic>

namespace topos::detail {

void parker::park(std::uint32_t generation) noexcept {
    // acquire: pairs with unpark()'s release increment (see prepare()).
    while (m_generation.load(std::memory_order_acquire) == generation) {
        os::futex_wait(m_generation, generation);
    }
}

void parker::unpark() noexcept {
    // release: whatever we wrote before waking is visible to the parked
    // thread's acquire load of the new generation.
    m_generation.fetch_add(1, std::memory_order_release);
    os::futex_wake_one(m_generation);
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
