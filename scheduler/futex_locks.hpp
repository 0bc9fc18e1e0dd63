// scheduler/futex_locks.hpp - the two locks a cohort_lock is built from: a
// barging futex mutex (each node's local lock) and a FIFO ticket lock whose
// waiters park (the global lock). Fast paths inline; the spin-then-sleep
// paths are in futex_locks.cpp. Private to the scheduler: users see only
// <topos/numa_lock.hpp>.
#pragma once

#include "os/futex.hpp"

#include <atomic>
#include <cstdint>

namespace topos::detail {

/// A barging mutex that spins briefly and then sleeps on a futex.
/// State: 0 free, 1 locked, 2 locked and a thread may be asleep on it.
class futex_mutex {
public:
    [[nodiscard]] bool try_lock() noexcept {
        std::uint32_t expected = 0;
        // acquire: pairs with unlock()'s release exchange, so the previous
        // holder's writes are visible to us.
        return m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }
    void lock() noexcept {
        if (!try_lock()) {
            lock_slow();
        }
    }
    void unlock() noexcept {
        // release: publishes the critical section to the next holder's
        // acquire in try_lock() or lock_slow().
        if (m_state.exchange(0, std::memory_order_release) == 2) {
            os::futex_wake_one(m_state);
        }
    }
    /// Spins, then sleeps until the mutex is ours.
    void lock_slow() noexcept;

private:
    std::atomic<std::uint32_t> m_state{0};
};

/// A FIFO ticket lock whose waiters spin briefly and then sleep. Any thread
/// may release it (the cohort's global lock is released by whichever thread
/// of the owning node ends the tenure).
class parking_ticket_lock {
public:
    void lock() noexcept {
        // relaxed: the ticket only orders us among lockers; the data is
        // published through m_serving.
        const std::uint32_t ticket = m_next.fetch_add(1, std::memory_order_relaxed);
        // acquire: pairs with unlock()'s seq_cst increment of m_serving.
        if (m_serving.load(std::memory_order_acquire) != ticket) {
            wait_for(ticket);
        }
    }
    [[nodiscard]] bool try_lock() noexcept {
        // acquire: pairs with unlock()'s increment, as in lock().
        const std::uint32_t serving = m_serving.load(std::memory_order_acquire);
        std::uint32_t next = serving;
        // relaxed: success means m_next == m_serving == serving, so the
        // ticket we take is the one being served, and the acquire above
        // already synchronised with its release.
        return m_next.compare_exchange_strong(next, serving + 1, std::memory_order_relaxed, std::memory_order_relaxed);
    }
    void unlock() noexcept {
        // seq_cst: release for the next ticket's acquire load, and ordered
        // before the m_sleepers load below against wait_for()'s seq_cst
        // increment of m_sleepers and re-load of m_serving (Dekker).
        m_serving.fetch_add(1, std::memory_order_seq_cst);
        if (m_sleepers.load(std::memory_order_seq_cst) != 0) {
            os::futex_wake_all(m_serving);
        }
    }

private:
    void wait_for(std::uint32_t ticket) noexcept;

    std::atomic<std::uint32_t> m_next{0};
    std::atomic<std::uint32_t> m_serving{0};
    std::atomic<std::uint32_t> m_sleepers{0};
};

} // namespace topos::detail
