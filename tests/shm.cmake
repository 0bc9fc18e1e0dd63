# Tests of the shared segments and process-shared primitives (included by
# tests/CMakeLists.txt). The multi-process tests start topos_shm_peer as the
# other processes; every test checks that no segment is left behind.

# The other process of the multi-process tests.
add_executable(topos_shm_peer ${CMAKE_CURRENT_LIST_DIR}/shm/shm_peer.cpp)
target_link_libraries(topos_shm_peer PRIVATE topos::topos)
# The crash roles reach internals (ipc/shm_heap_layout.hpp).
target_include_directories(topos_shm_peer PRIVATE ${PROJECT_SOURCE_DIR})
topos_set_warnings(topos_shm_peer)

topos_add_gtest(topos_shm_tests LABEL unit TIMEOUT 120 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm_sync.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm_crash.cpp
)
target_compile_definitions(topos_shm_tests PRIVATE TOPOS_SHM_PEER="$<TARGET_FILE:topos_shm_peer>")
# test_shm_crash.cpp uses the header layout and the open hook (ipc/shm_backend.hpp).
target_include_directories(topos_shm_tests PRIVATE ${PROJECT_SOURCE_DIR})
add_dependencies(topos_shm_tests topos_shm_peer)

# Interop: Python's multiprocessing.shared_memory and a plain shmget/shmat C
# program on both sides, `ipcs -m`, and `topos shm list/rm` on real segments.
enable_language(C)
add_executable(topos_shm_sysv_peer ${CMAKE_CURRENT_LIST_DIR}/shm/sysv_peer.c)
set_target_properties(topos_shm_sysv_peer PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
target_compile_options(topos_shm_sysv_peer PRIVATE -Wall -Wextra -Werror)
find_program(TOPOS_PYTHON3 python3)
if(NOT TOPOS_PYTHON3)
  set(TOPOS_PYTHON3 "")
endif()
if(TOPOS_BUILD_TOOLS)
  topos_add_gtest(topos_shm_interop_tests LABEL unit TIMEOUT 120
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_shm_interop.cpp LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_shm_interop_tests PRIVATE
    TOPOS_SHM_PEER="$<TARGET_FILE:topos_shm_peer>"
    TOPOS_SYSV_PEER="$<TARGET_FILE:topos_shm_sysv_peer>"
    TOPOS_PYTHON3="${TOPOS_PYTHON3}"
    TOPOS_PY_PEER="${CMAKE_CURRENT_LIST_DIR}/shm/py_peer.py"
    TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_shm_interop_tests topos_shm_peer topos_shm_sysv_peer topos_cli)
endif()

# The README's two-process example, built and run here so CI runs it.
add_executable(topos_example_shm_pingpong ${PROJECT_SOURCE_DIR}/examples/shm/shm_pingpong.cpp)
target_link_libraries(topos_example_shm_pingpong PRIVATE topos::topos)
topos_set_warnings(topos_example_shm_pingpong)
add_test(NAME example_shm_pingpong COMMAND topos_example_shm_pingpong)
set_tests_properties(example_shm_pingpong PROPERTIES LABELS "unit" TIMEOUT 60
  PASS_REGULAR_EXPRESSION "ball hit 2000 times in 1000 rounds")

# Placement checked against the kernel: needs several NUMA nodes
# (tests/numa-vm/run); skips elsewhere.
topos_add_gtest(topos_numa_shm_tests LABEL numa TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_shm.cpp LIBS PkgConfig::topos_numa)
target_compile_definitions(topos_numa_shm_tests PRIVATE TOPOS_SHM_PEER="$<TARGET_FILE:topos_shm_peer>")
add_dependencies(topos_numa_shm_tests topos_shm_peer)
