// Helpers for the scheduler tests: a watchdog so a hang fails instead of
// stalling CI, and sizes scaled down under the sanitizers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

namespace topos::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool k_sanitized = true;
#else
inline constexpr bool k_sanitized = false;
#endif

/// `full` normally, `full / divisor` under a sanitizer.
inline constexpr std::size_t scaled(std::size_t full, std::size_t divisor = 8) {
    return k_sanitized ? full / divisor : full;
}

/// A little CPU work the optimiser cannot remove.
inline void burn(int iterations) {
    for (int i = 0; i < iterations; ++i) {
        asm volatile("" ::: "memory");
    }
}

/// Runs fn() on this thread; if it has not returned after `limit`, prints the
/// test's name and aborts the process, which the test runner reports as a
/// failure (a hang cannot be unwound).
template <class F>
void with_timeout(std::chrono::seconds limit, const char* what, F&& fn) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, limit, [&] { return done; })) {
            std::fprintf(stderr, "TIMEOUT: %s did not finish within %lld s\n", what,
                         static_cast<long long>(limit.count()));
            std::fflush(stderr);
            std::abort();
        }
    });
    struct finish {
        std::mutex& m;
        std::condition_variable& cv;
        bool& done;
        std::thread& watchdog;
        ~finish() {
            {
                std::lock_guard lock(m);
                done = true;
            }
            cv.notify_one();
            watchdog.join();
        }
    } guard{m, cv, done, watchdog};
    std::forward<F>(fn)();
}

} // namespace topos::test
