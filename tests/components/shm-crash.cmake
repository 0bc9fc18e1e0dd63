# Crash consistency and hostile bytes of shared segments (issue 14):
# processes SIGKILLed inside segment_heap operations, random bytes over a
# heap's metadata and a segment's header, other users' segments. Included by
# tests/CMakeLists.txt; uses topos_shm_peer and the helpers of tests/shm.cmake.

# What one allocate + deallocate pair costs (a figure, not a test).
add_executable(topos_shm_heap_cost ${CMAKE_CURRENT_LIST_DIR}/../shm/heap_cost.cpp)
target_link_libraries(topos_shm_heap_cost PRIVATE topos::topos)
topos_set_warnings(topos_shm_heap_cost)
