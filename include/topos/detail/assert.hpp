// topos/detail/assert.hpp - contract checks for topos's own code.
//
// TOPOS_ASSERT(cond, msg) turns a `pre:`/`post:` comment into a check.
// TOPOS_ASSERT_EXPENSIVE(cond, msg) is for checks that walk data (a list, a
// heap) and cost more than the operation they guard.
//
// Both are on when TOPOS_ENABLE_ASSERTS is defined (topos's Debug and
// sanitizer builds define it) and compile to nothing otherwise: the condition
// is not evaluated, so it must have no side effects. A failed check prints
// the condition, the message and the place to stderr and aborts, so a
// debugger or the sanitizer's report shows the caller.
#pragma once

namespace topos::detail {

/// Prints "topos: assertion failed: ..." and aborts. Never returns.
[[noreturn]] void assertion_failed(const char* condition, const char* message, const char* file, int line) noexcept;

} // namespace topos::detail

#if defined(TOPOS_ENABLE_ASSERTS)
#define TOPOS_ASSERT(cond, msg)                                                                                        \
    (static_cast<bool>(cond) ? static_cast<void>(0)                                                                    \
                             : ::topos::detail::assertion_failed(#cond, msg, __FILE__, __LINE__))
#define TOPOS_ASSERT_EXPENSIVE(cond, msg) TOPOS_ASSERT(cond, msg)
#else
#define TOPOS_ASSERT(cond, msg) static_cast<void>(0)
#define TOPOS_ASSERT_EXPENSIVE(cond, msg) static_cast<void>(0)
#endif
