# Tests of the work-stealing scheduler (included by tests/CMakeLists.txt).

# Deque oracle and stress, runtime, task groups, parallel algorithms: any machine.
add_executable(topos_sched_tests
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_deque.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_sched_runtime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_task_group.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_parallel.cpp
)
target_link_libraries(topos_sched_tests PRIVATE topos::topos GTest::gtest GTest::gtest_main)
topos_set_warnings(topos_sched_tests)
gtest_discover_tests(topos_sched_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit" TIMEOUT 120)

# Workers and run_on_node checked against the kernel: needs several NUMA nodes
# (tests/numa-vm/run); skips elsewhere.
add_executable(topos_numa_sched_tests ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_sched.cpp)
target_link_libraries(topos_numa_sched_tests PRIVATE topos::topos PkgConfig::topos_numa GTest::gtest GTest::gtest_main)
topos_set_warnings(topos_numa_sched_tests)
gtest_discover_tests(topos_numa_sched_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "numa" TIMEOUT 300)
