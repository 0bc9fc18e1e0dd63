// topos/detail/spin.hpp - busy-wait helpers: a CPU pause hint, a bounded
// exponential backoff, and a tiny test-and-test-and-set lock for short
// critical sections (a few pointer updates, never a system call inside).
#pragma once

#include <topos/detail/cache_line.hpp>

#include <atomic>
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

/// Exponential backoff: pause 1, 2, 4 ... up to k_max_pauses times, then yields
/// the CPU on every call. `spun_out()` says when the caller should stop
/// spinning and block instead.
class backoff {
public:
    static constexpr std::uint32_t k_max_pauses = 64;
    static constexpr std::uint32_t k_yields = 4;

    void pause() noexcept {
        if (m_pauses <= k_max_pauses) {
            for (std::uint32_t i = 0; i < m_pauses; ++i) {
                cpu_relax();
            }
            m_pauses *= 2;
        } else {
            ++m_yields;
            std::this_thread::yield();
        }
    }
    [[nodiscard]] bool spun_out() const noexcept { return m_yields >= k_yields; }
    void reset() noexcept {
        m_pauses = 1;
        m_yields = 0;
    }

private:
    std::uint32_t m_pauses = 1;
    std::uint32_t m_yields = 0;
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
