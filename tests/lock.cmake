# Tests of the in-process NUMA-aware lock (included by tests/CMakeLists.txt).

# Mutual exclusion, try_lock, the cohort hand-off bound on synthetic
# multi-node topologies (the caller's node injected): any machine.
topos_add_gtest(topos_lock_tests LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_numa_lock.cpp)

# Threads pinned to real nodes of a multi-node kernel (tests/numa-vm/run);
# skips elsewhere.
topos_add_gtest(topos_numa_lock_tests LABEL numa TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_lock.cpp LIBS PkgConfig::topos_numa)
