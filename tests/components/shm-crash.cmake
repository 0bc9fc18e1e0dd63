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

# Writes the seed corpora of tests/fuzz/fuzz_shm_header.cpp and fuzz_shm_heap.cpp
# (run by hand: topos_make_shm_corpus tests/fuzz/corpus).
add_executable(topos_make_shm_corpus ${CMAKE_CURRENT_LIST_DIR}/../shm/make_shm_corpus.cpp)
target_link_libraries(topos_make_shm_corpus PRIVATE topos::topos)
target_include_directories(topos_make_shm_corpus PRIVATE ${PROJECT_SOURCE_DIR})
topos_set_warnings(topos_make_shm_corpus)

# Random bytes over a heap's metadata and a segment's header, offset
# pointers a peer wrote, and the fuzz corpora replayed as regression tests.
topos_add_gtest(topos_shm_hostile_tests LABEL unit TIMEOUT 600 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../unit/test_shm_hostile.cpp)
target_include_directories(topos_shm_hostile_tests PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(topos_shm_hostile_tests PRIVATE
  TOPOS_FUZZ_CORPUS="${CMAKE_CURRENT_LIST_DIR}/../fuzz/corpus")

# Other users: a 0600 segment, `topos shm rm` of another's segment, a
# symlink planted in /dev/shm.
if(TOPOS_BUILD_TOOLS)
  topos_add_gtest(topos_shm_security_tests LABEL unit TIMEOUT 120 SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/../unit/test_shm_security.cpp)
  target_include_directories(topos_shm_security_tests PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(topos_shm_security_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_shm_security_tests topos_cli)
endif()

# process_semaphore and process_barrier with participants SIGKILLed.
topos_add_gtest(topos_shm_sync_kill_tests LABEL unit TIMEOUT 300 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../unit/test_shm_sync_kill.cpp)
