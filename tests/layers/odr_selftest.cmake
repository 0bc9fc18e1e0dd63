# Builds two tiny trees and runs check_odr.py on them. Both repeat names only
# where that is allowed (unnamed namespaces, static functions, #if branches
# within one file, members of different classes); the good one adds a
# declaration and overloads in one header, the bad one is topos before the
# os/ layer: two inline topos::detail::current_cpu() in two headers, and a
# class defined twice.
file(REMOVE_RECURSE ${WORK})
set(allowed_repeats [=[
namespace topos::detail {
namespace {
inline int helper() { return 1; }
struct slot { int x; };
} // namespace
static inline int local_only() { return 2; }
} // namespace topos::detail
]=])
set(two_branches [=[
namespace topos::detail {
#if defined(ONE)
inline int twice() { return 1; }
#else
inline int twice() { return 2; }
#endif
class worker { public: void lock() { } };
} // namespace topos::detail
]=])
foreach(tree good bad)
  file(MAKE_DIRECTORY ${WORK}/${tree}/include/topos ${WORK}/${tree}/allocators ${WORK}/${tree}/scheduler)
  file(WRITE ${WORK}/${tree}/scheduler/worker.cpp "${allowed_repeats}${two_branches}")
  file(WRITE ${WORK}/${tree}/scheduler/frames.cpp "${allowed_repeats}")
  file(WRITE ${WORK}/${tree}/include/topos/numa_lock.hpp [=[
#pragma once
namespace topos {
namespace detail {
struct cached_cpu { int cpu = -1; unsigned uses_left = 0; };
inline thread_local cached_cpu t_cached_cpu;
int refresh_current_cpu() noexcept;
/// The calling thread's CPU, re-read from the kernel every 64 calls.
inline int current_cpu() noexcept {
    cached_cpu& c = t_cached_cpu;
    if (c.uses_left == 0) { return refresh_current_cpu(); }
    --c.uses_left;
    return c.cpu;
}
} // namespace detail
class cohort_lock { public: void lock() noexcept { } };
} // namespace topos
]=])
endforeach()
file(WRITE ${WORK}/good/allocators/numa_layer.hpp [=[
#pragma once
#include <sched.h>
namespace topos::detail {
int current_cpu() noexcept; // a declaration defines nothing
inline int current_node(int cpu) { return cpu / 2; }
inline int current_node() { return current_node(sched_getcpu()); }
} // namespace topos::detail
]=])
file(WRITE ${WORK}/bad/allocators/numa_layer.hpp [=[
#pragma once
#include <sched.h>
namespace topos {
namespace detail {
/// The CPU the caller runs on, from the kernel's rseq area.
[[nodiscard]] inline int current_cpu() noexcept {
    return sched_getcpu();
}
} // namespace detail
struct alignas(64) cohort_lock { int other; };
} // namespace topos
]=])

# Runs the checker on one tree; fails unless it exits `want` and prints every
# pattern in ARGN.
function(expect_odr tree want)
  execute_process(COMMAND ${PYTHON} ${CHECKER} ${WORK}/${tree} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL want)
    message(FATAL_ERROR "check_odr on the ${tree} tree exited ${rc}, expected ${want}:\n${out}")
  endif()
  foreach(pattern IN LISTS ARGN)
    if(NOT out MATCHES "${pattern}")
      message(FATAL_ERROR "check_odr on the ${tree} tree did not say '${pattern}':\n${out}")
    endif()
  endforeach()
  message(STATUS "check_odr on the ${tree} tree:\n${out}")
endfunction()

expect_odr(good 0)
expect_odr(bad 1
  "allocators/numa_layer.hpp:6: inline function topos::detail::current_cpu is also defined at include/topos/numa_lock.hpp:8"
  "struct topos::cohort_lock is also defined at include/topos/numa_lock.hpp:15")
