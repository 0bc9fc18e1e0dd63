// os/futex.cpp - futex(2) through syscall(2); glibc has no wrapper.
#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace topos::os {

namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    return syscall(SYS_futex, static_cast<void*>(&word), op, value, nullptr, nullptr, 0);
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

} // namespace topos::os
