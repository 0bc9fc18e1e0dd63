// os/futex.hpp - the futex(2) calls every topos wait uses: the scheduler's
// parker, the cohort lock and the in-process mutexes sleep here. Private
// futexes for one process; the *_shared calls are for a word in memory
// several processes map (process_barrier's wait).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace topos::os {

/// pre: `word` is a futex word of this process.
/// post: returned after a wake-up, a signal, or at once when word != expected
/// (the kernel compares atomically); callers re-check their condition.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;

/// post: at most one thread sleeping in futex_wait(word, ...) is woken.
void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept;

/// post: every thread sleeping in futex_wait(word, ...) is woken.
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

/// As futex_wait, for a word in shared memory (any process mapping it may
/// wake it), and giving up after `timeout` (relative, CLOCK_MONOTONIC).
void futex_wait_shared(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept;

/// post: every thread of every process sleeping in futex_wait_shared(word, ...) is woken.
void futex_wake_all_shared(std::atomic<std::uint32_t>& word) noexcept;

} // namespace topos::os
