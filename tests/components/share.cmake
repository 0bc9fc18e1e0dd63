# Tests of the calling thread as worker 0 and of the ranks' share of the host
# (topos/share.hpp; included by tests/CMakeLists.txt).

# The caller is worker 0: thread counts, pinning while inside, guests, nested
# and concurrent callers, one worker, exceptions, TOPOS_CALLER.
topos_add_gtest(topos_sched_caller_tests LABEL unit TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_sched_caller.cpp)

# The share rule on synthetic machines, the launchers' variables, TOPOS_SHARE,
# and the runtime's plan with a share.
topos_add_gtest(topos_share_tests LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_share.cpp)

# `topos places --ranks K --rank I` and the "share:" lines of the CLI.
if(TOPOS_BUILD_TOOLS)
  topos_add_gtest(topos_share_cli_tests LABEL cli TIMEOUT 120
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_share_cli.cpp LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_share_cli_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_share_cli_tests topos_cli)
endif()

# Local ranks (forked children with OMPI_COMM_WORLD_LOCAL_RANK/SIZE) each run
# on their own node, judged by the kernel; bound ones keep their binding.
# Needs several NUMA nodes (tests/numa-vm/run); skips elsewhere.
topos_add_gtest(topos_numa_share_tests LABEL numa TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../numa/test_numa_share.cpp LIBS PkgConfig::topos_numa)
