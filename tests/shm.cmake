# Tests of the shared segments and process-shared primitives (included by
# tests/CMakeLists.txt). The multi-process tests start topos_shm_peer as the
# other processes; every test checks that no segment is left behind.

# The other process of the multi-process tests.
add_executable(topos_shm_peer ${CMAKE_CURRENT_LIST_DIR}/shm/shm_peer.cpp)
target_link_libraries(topos_shm_peer PRIVATE topos::topos)
topos_set_warnings(topos_shm_peer)

topos_add_gtest(topos_shm_tests LABEL unit TIMEOUT 120 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm_sync.cpp
)
target_compile_definitions(topos_shm_tests PRIVATE TOPOS_SHM_PEER="$<TARGET_FILE:topos_shm_peer>")
add_dependencies(topos_shm_tests topos_shm_peer)
