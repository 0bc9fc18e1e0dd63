// topos/detail/spin.hpp - busy-wait helpers: a CPU pause hint, a bounded
// exponential backoff, and a tiny test-and-test-and-set lock for short
// critical sections (a few pointer updates, never a system call inside).
#pragma once

#include <topos/detail/cache_line.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace topos::detail {

/// Tells the core we are spinning (x86 `pause`, ARM `yield`); a no-op elsewhere.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Exponential backoff: pause 1, 2, 4 ... up to k_max_pauses times, then
/// yields the CPU on every call. `spun_out()` says when the caller should stop
/// spinning and block instead.
///
/// A hot backoff (built with a hot time) is for threads that own their core
/// (no more threads than CPUs): it first polls for that long, with never more
/// than k_hot_pauses pauses between two polls, and yields only after that. A
/// yield is a system call (about a microsecond, more under a hypervisor), and
/// a long pause is as blind: work that arrives meanwhile waits. The time is
/// read from the clock, so a slow poll (a sanitizer build) shortens the
/// count of polls, not the time.
class backoff {
public:
    static constexpr std::uint32_t k_max_pauses = 64;
    static constexpr std::uint32_t k_yields = 4;
    static constexpr std::uint32_t k_hot_pauses = 8;

    backoff() = default;
    explicit backoff(std::chrono::nanoseconds hot) noexcept : m_hot(hot), m_hot_left(hot.count() > 0) {}

    void pause() noexcept {
        if (m_hot_left) {
            hot_pause();
        } else if (m_pauses <= k_max_pauses) {
            relax(m_pauses);
            m_spun += m_pauses;
            m_pauses *= 2;
        } else {
            ++m_yields;
            std::this_thread::yield();
        }
    }
    [[nodiscard]] bool spun_out() const noexcept { return !m_hot_left && m_yields >= k_yields; }
    /// True once the caller has waited about as long as a cold backoff takes
    /// to spin out (its pauses and k_yields yields): the point where a
    /// waiter may start looking further away.
    [[nodiscard]] bool settled() const noexcept {
        return spun_out() || m_spun >= 2 * k_max_pauses - 1 + k_yields * k_max_pauses;
    }
    void reset() noexcept {
        m_pauses = 1;
        m_hot_left = m_hot.count() > 0;
        m_hot_started = false;
        m_spun = 0;
        m_yields = 0;
    }

private:
    static void relax(std::uint32_t n) noexcept {
        for (std::uint32_t i = 0; i < n; ++i) {
            cpu_relax();
        }
    }

    void hot_pause() noexcept {
        const std::uint32_t n = m_pauses < k_hot_pauses ? m_pauses : k_hot_pauses;
        relax(n);
        m_spun += n;
        if (m_pauses < k_hot_pauses) {
            m_pauses *= 2;
        }
        const auto now = std::chrono::steady_clock::now();
        if (!m_hot_started) {
            m_hot_started = true;
            m_hot_start = now;
        } else if (now - m_hot_start >= m_hot) {
            m_hot_left = false;
            m_pauses = 2 * k_max_pauses; // long enough polled: yield from now on
        }
    }

    std::chrono::nanoseconds m_hot{0};
    std::chrono::steady_clock::time_point m_hot_start{};
    std::uint32_t m_pauses = 1;
    std::uint32_t m_spun = 0;
    std::uint32_t m_yields = 0;
    bool m_hot_left = false;
    bool m_hot_started = false;
};

/// Test-and-test-and-set spin lock. Only for critical sections of a few
/// instructions; holders never block or allocate.
class spin_lock {
public:
    void lock() noexcept {
        // acquire: pairs with unlock()'s release, so the protected data the
        // previous holder wrote is visible to us.
        while (m_locked.exchange(true, std::memory_order_acquire)) {
            backoff b;
            while (m_locked.load(std::memory_order_relaxed)) {
                b.pause();
            }
        }
    }
    [[nodiscard]] bool try_lock() noexcept {
        // acquire: as in lock().
        return !m_locked.load(std::memory_order_relaxed) && !m_locked.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept {
        // release: publishes our writes to the next lock()'s acquire exchange.
        m_locked.store(false, std::memory_order_release);
    }

private:
    std::atomic<bool> m_locked{false};
};

} // namespace topos::detail
