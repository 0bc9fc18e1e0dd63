# Tests of the calling thread as worker 0 and of the ranks' share of the host
# (topos/share.hpp; included by tests/CMakeLists.txt).

# The caller is worker 0: thread counts, pinning while inside, guests, nested
# and concurrent callers, one worker, exceptions, TOPOS_CALLER.
topos_add_gtest(topos_sched_caller_tests LABEL unit TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_sched_caller.cpp)
