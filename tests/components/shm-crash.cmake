# Crash consistency and hostile bytes of shared segments (issue 14):
# processes SIGKILLed inside segment_heap operations, random bytes over a
# heap's metadata and a segment's header, other users' segments. Included by
# tests/CMakeLists.txt; uses topos_shm_peer and the helpers of tests/shm.cmake.

# What one allocate + deallocate pair costs (a figure, not a test).
add_executable(topos_shm_heap_cost ${CMAKE_CURRENT_LIST_DIR}/../shm/heap_cost.cpp)
target_link_libraries(topos_shm_heap_cost PRIVATE topos::topos)
topos_set_warnings(topos_shm_heap_cost)

# segment_heap under SIGKILL: one worker killed TOPOS_SHM_KILLS times (default
# 150, the full run 1000), and 8 processes x TOPOS_SHM_SOAK_OPS operations
# (default 20000) with random kills.
topos_add_gtest(topos_shm_heap_kill_tests LABEL unit TIMEOUT 900 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../unit/test_shm_heap_kill.cpp)
target_include_directories(topos_shm_heap_kill_tests PRIVATE ${PROJECT_SOURCE_DIR})
