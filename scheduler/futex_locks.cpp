// scheduler/futex_locks.cpp - the slow paths of the cohort lock's two parts:
// spin a little, then sleep on the lock word's futex.
#include "scheduler/futex_locks.hpp"

#include <topos/detail/spin.hpp>

namespace topos::detail {

namespace {

/// Polls of a lock word, each followed by a pause, before a waiter sleeps:
/// about a microsecond where `pause` takes ~25 ns (recent Xeons). Long enough
/// to cover a short critical section and a hand-off between cores; short
/// enough not to keep a core from a preempted holder when threads outnumber
/// cores. Longer spins made two threads on two cores settle into trading the
/// lock line back and forth on every acquisition (about 10x slower than
/// letting one of them sleep).
constexpr int k_spin_polls = 40;

} // namespace

void futex_mutex::lock_slow() noexcept {
    for (int i = 0; i < k_spin_polls; ++i) {
        // relaxed: only says whether a try_lock() could succeed now.
        if (m_state.load(std::memory_order_relaxed) == 0 && try_lock()) {
            return;
        }
        cpu_relax();
    }
    // acquire: pairs with unlock()'s release exchange. Storing 2 (not 1)
    // makes the unlock() after ours wake the next sleeper; a spurious wake
    // costs one system call, a missed one would hang a waiter.
    while (m_state.exchange(2, std::memory_order_acquire) != 0) {
        os::futex_wait(m_state, 2);
    }
}

void parking_ticket_lock::wait_for(std::uint32_t ticket) noexcept {
    for (int i = 0; i < k_spin_polls; ++i) {
        cpu_relax();
        // acquire: pairs with unlock()'s increment of m_serving.
        if (m_serving.load(std::memory_order_acquire) == ticket) {
            return;
        }
    }
    for (;;) {
        // seq_cst (this increment and the load after it): Dekker with
        // unlock()'s seq_cst increment of m_serving and load of m_sleepers;
        // either we see the new m_serving or unlock() sees us and wakes us.
        m_sleepers.fetch_add(1, std::memory_order_seq_cst);
        const std::uint32_t serving = m_serving.load(std::memory_order_seq_cst);
        if (serving != ticket) {
            os::futex_wait(m_serving, serving);
        }
        // relaxed: a late decrement only costs unlock() a needless wake.
        m_sleepers.fetch_sub(1, std::memory_order_relaxed);
        if (serving == ticket) {
            return;
        }
    }
}

} // namespace topos::detail
