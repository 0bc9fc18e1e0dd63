// topos/next_touch.hpp - next-touch migration: pages that move to the node of
// the thread that touches them next (COMA-style data that follows its users).
//
//   topos::migrate_on_next_touch(p, bytes);      // arm the pages of a page block
//   topos::parallel_for(rt, 0, n, [&](std::size_t i) { p[i] += 1; });
//                                                // each page is now on the node of its first toucher
//   auto* q = topos::allocate(bytes, topos::mem_policy::next_touch()); // armed from the start
//
// How it works (user space, as the kernel has no next-touch policy): arming
// records the range in a fixed table of 1024 ranges with one state byte per
// page, sets the range's policy to MPOL_LOCAL and protects it (PROT_NONE).
// The first access to an armed page faults; topos's SIGSEGV handler finds the
// page in the table (lock-free: atomics only), makes it readable and
// writable again (mprotect: move_pages skips pages without access), moves it
// with move_pages(2) to the node of the CPU the faulting thread runs on, and
// disarms it. The access then runs again and
// the page stays where it is: only the next touch moves it. A page that was
// never touched is not moved; it is placed by first touch (MPOL_LOCAL) on the
// toucher's node. Two threads touching one page at once: one moves it, the
// other waits in its fault until it is accessible, so every page ends on
// exactly one node and no byte is lost (migration copies the page whole).
//
// Costs. Per armed page touched: one fault and signal delivery, one mprotect
// with its TLB shoot-down of the threads of the process, a query of where the
// page (or its group: see next_touch_options) is and, when it is on another
// node, one move_pages call with the copy. move_pages with targets first
// drains every CPU's LRU lists, which is why pages already in place are not
// passed to it. That is a few microseconds per page plus the move, several
// times move_pages of many pages in one call (`topos bench data` measures
// both; groups of 16 pages cut it 4 to 9 times). Arming is one mprotect and one mbind of the range.
// Each disarmed page splits the range's mapping (VMA) until its neighbours
// are disarmed too; a scattered touch order over a huge range can reach the
// kernel's vm.max_map_count (65530 by default), and then mprotect fails and
// the process is aborted with a message. Use group_pages to bound that.
//
// What it does not cover, and what to do:
//  - System calls: the kernel does not fault on a user page, it returns
//    EFAULT (read(2) into an armed buffer fails). Call prepare_for_io(p, n)
//    first: it moves the armed pages of the range to the caller's node and
//    disarms them, as touching them would.
//  - Other signal handlers: a handler that touches armed pages works (the
//    fault nests) unless SIGSEGV is blocked in it (sa_mask) or in the thread
//    (sigprocmask): the kernel then kills the process on the fault.
//  - The program's own SIGSEGV handler: one installed before topos arms its
//    first range is kept and called for every fault that is not a next-touch
//    fault (its sa_mask and flags do not apply); with none, such a fault ends
//    the process as it would without topos. A handler installed later
//    replaces topos's: it must call topos::handle_next_touch_fault(si_addr)
//    first and return when that says true.
//  - Shared segments (shm.hpp) and small arena blocks cannot be armed (a
//    memory_error says so); mprotect of an armed range by the program itself
//    confuses the handler (a fault on a page topos has already disarmed is
//    retried, forever when the program made it inaccessible).
//  - page_nodes (and move_pages(2) without a target) report an armed page
//    as absent (-1): the kernel does not look up pages without access.
//  - Freeing an armed block (deallocate, node_free, a node_array's
//    destruction) disarms its pages first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace topos {

struct next_touch_options {
    /// Pages moved together by one fault: the touched page's aligned group
    /// of this many pages (1 to 64). Larger groups cost fewer faults and
    /// mapping splits and fit data touched in runs; 1 is exact.
    std::size_t group_pages = 1;
};

/// Arms the pages of [p, p+bytes): each moves to the node of the thread that
/// touches it next, then stays. p must be page-aligned and the range must lie
/// in one page block from topos::allocate (the pages of a node_array, of an
/// allocation with own_pages, or of any allocation above k_small_max).
/// Pages already armed are re-armed. Returns the number of pages armed.
/// Throws memory_error for a bad range or group size, when 1024 ranges are
/// armed already, or when the kernel refuses the protection.
std::size_t migrate_on_next_touch(void* p, std::size_t bytes, const next_touch_options& options = {});

/// Disarms the armed pages of [p, p+bytes) where they are (no move) and makes
/// them accessible. Returns the number of pages it disarmed. Same validation
/// as migrate_on_next_touch.
std::size_t cancel_next_touch(void* p, std::size_t bytes);

/// Takes the next touch of every armed page of [p, p+bytes) now, for the
/// calling thread: the pages move to its node in one move_pages call and are
/// disarmed. Call it before passing an armed buffer to a system call (read,
/// write, recv, ...), which would otherwise fail with EFAULT. Returns the
/// number of pages it disarmed. Same validation as migrate_on_next_touch.
std::size_t prepare_for_io(void* p, std::size_t bytes);

/// Explicit pre-faulting: prepare_for_io, then every page of the range is
/// made present and writable as if the caller wrote it (without changing a
/// byte), so new pages land on the caller's node (by the range's policy).
/// Same validation as migrate_on_next_touch.
void touch_pages(void* p, std::size_t bytes);

/// The number of pages of [p, p+bytes) armed now (any page-aligned range; no
/// block check). For tests and diagnostics.
[[nodiscard]] std::size_t armed_pages(const void* p, std::size_t bytes) noexcept;

/// For a SIGSEGV handler the program installed after topos: true when the
/// fault at `address` was a next-touch fault and has been handled (the
/// handler should then return at once); false when it is the program's.
/// Async-signal-safe.
bool handle_next_touch_fault(const void* address) noexcept;

struct next_touch_counters {
    std::uint64_t pages_armed = 0;     ///< pages armed so far (each time)
    std::uint64_t faults = 0;          ///< next-touch faults that moved pages
    std::uint64_t pages_touched = 0;   ///< pages disarmed by a fault
    std::uint64_t pages_moved = 0;     ///< of those and of prepare_for_io's, pages now on the toucher's node
    std::uint64_t pages_disarmed = 0;  ///< pages disarmed by cancel_next_touch, prepare_for_io or a free
    std::uint64_t ranges_live = 0;     ///< table entries in use now (of 1024)
};
/// A snapshot of the process's next-touch counters.
[[nodiscard]] next_touch_counters get_next_touch_counters() noexcept;

} // namespace topos
