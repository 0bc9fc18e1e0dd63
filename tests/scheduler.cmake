# Tests of the work-stealing scheduler (included by tests/CMakeLists.txt).

# Deque oracle and stress, runtime, task groups, parallel algorithms: any machine.
topos_add_gtest(topos_sched_tests LABEL unit TIMEOUT 120 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_deque.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_sched_runtime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_task_group.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_parallel.cpp
)

# Workers and run_on_node checked against the kernel: needs several NUMA nodes
# (tests/numa-vm/run); skips elsewhere.
topos_add_gtest(topos_numa_sched_tests LABEL numa TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_sched.cpp LIBS PkgConfig::topos_numa)

# A runtime whose workers cannot allocate their state (failure injected by
# replacing the aligned operator new, so it is a program of its own).
topos_add_gtest(topos_sched_oom_tests LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_sched_runtime_oom.cpp)

# Parallel algorithms (topos/algorithm.hpp): deterministic reduce, scans, sort.
topos_add_gtest(topos_algorithm_tests LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_algorithm.cpp ${CMAKE_CURRENT_LIST_DIR}/unit/test_range.cpp)
