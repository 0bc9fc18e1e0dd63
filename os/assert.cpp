// os/assert.cpp - the failure path of TOPOS_ASSERT. It writes with write(2)
// only, so a check that fails inside the allocator or a signal handler does
// not re-enter malloc.
#include <topos/detail/assert.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace topos::detail {

namespace {

void put(const char* text) noexcept {
    std::size_t left = std::strlen(text);
    while (left > 0) {
        const ssize_t n = ::write(STDERR_FILENO, text, left);
        if (n <= 0) {
            return;
        }
        text += n;
        left -= static_cast<std::size_t>(n);
    }
}

} // namespace

void assertion_failed(const char* condition, const char* message, const char* file, int line) noexcept {
    char number[16];
    int at = static_cast<int>(sizeof(number)) - 1;
    number[at] = '\0';
    unsigned value = line < 0 ? 0U : static_cast<unsigned>(line);
    do {
        number[--at] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && at > 0);
    put("topos: assertion failed: ");
    put(condition);
    put(" (");
    put(message);
    put(") at ");
    put(file);
    put(":");
    put(number + at);
    put("\n");
    std::abort();
}

} // namespace topos::detail
