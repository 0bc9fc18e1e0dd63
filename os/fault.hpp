// os/fault.hpp - the process's SIGSEGV handler, shared by topos's users of
// page protection (next-touch migration) and chained to the program's own.
//
// install_fault_filter installs one handler (SA_SIGINFO | SA_ONSTACK |
// SA_RESTART) and remembers the action that was installed before it. On a
// fault the handler asks each registered filter whether the faulting address
// is its own; a filter that takes the fault has already made the access
// legal, so the instruction simply runs again. A fault no filter takes goes
// to the previous action (its sa_sigaction or sa_handler is called with this
// signal's arguments; its own sa_mask and flags do not apply), or, when the
// previous action was SIG_DFL or SIG_IGN, the handler restores SIG_DFL and
// returns: the instruction faults again and the kernel's default action
// (core dump) ends the process, as if topos had never been there.
//
// A handler the program installs after topos replaces topos's; that program
// must then call topos::handle_next_touch_fault(si_addr) first (see
// next_touch.hpp), or keep its handler installed before topos arms anything.
#pragma once

#include <csignal>

namespace topos::os {

/// A filter: true when the fault at `address` was its own and has been
/// repaired. Runs inside the signal handler: async-signal-safe code only.
using fault_filter = bool (*)(void* address) noexcept;

/// pre: called from normal context (not a signal handler).
/// post: `filter` is consulted on every SIGSEGV of the process (at most 4
/// filters; the same filter twice is one). Returns 0, or errno when
/// sigaction failed or no filter slot is left (ENOSPC).
[[nodiscard]] int install_fault_filter(fault_filter filter) noexcept;

/// pre: called from normal context.
/// post: faults no filter takes go to `action` instead of the action found
/// at installation (for a handler installed after topos that chains back by
/// calling topos::handle_next_touch_fault itself, pass its previous action).
void set_fault_fallback(const struct sigaction& action) noexcept;

/// post: true once install_fault_filter installed the handler and the
/// process's SIGSEGV action is still topos's (sigaction read back).
[[nodiscard]] bool fault_handler_active() noexcept;

} // namespace topos::os
