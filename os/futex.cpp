// os/futex.cpp - futex(2) through syscall(2); glibc has no wrapper.
#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>

namespace topos::os {

namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout = nullptr) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    return syscall(SYS_futex, static_cast<void*>(&word), op, value, timeout, nullptr, 0);
}

} // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    // EAGAIN (the word changed) and EINTR both mean "look again" to callers.
    static_cast<void>(futex(word, FUTEX_WAIT_PRIVATE, expected));
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
    static_cast<void>(futex(word, FUTEX_WAKE_PRIVATE, 1));
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    static_cast<void>(futex(word, FUTEX_WAKE_PRIVATE, static_cast<std::uint32_t>(INT_MAX)));
}

void futex_wait_shared(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
    const long long ns = std::max<long long>(0, timeout.count());
    timespec t{};
    t.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    t.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    // EAGAIN, EINTR and ETIMEDOUT all mean "look again" to callers.
    static_cast<void>(futex(word, FUTEX_WAIT, expected, &t));
}

void futex_wake_all_shared(std::atomic<std::uint32_t>& word) noexcept {
    static_cast<void>(futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(INT_MAX)));
}

} // namespace topos::os
