# Data that moves (issue 17): next-touch migration, per-node replicas,
# per-worker/per-node storage and node_array layouts.

# Computed behaviour and the fault handler on this machine (one node is enough).
topos_add_gtest(topos_data_moves_tests LABEL unit TIMEOUT 300 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../unit/test_data_moves.cpp)

# Placement the kernel judges: run inside tests/numa-vm/run (2n and 4n).
topos_add_gtest(topos_numa_data_tests LABEL numa TIMEOUT 300 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../numa/test_numa_data.cpp
  LIBS PkgConfig::topos_numa)

# `topos bench data` through the binary.
if(TOPOS_BUILD_TOOLS)
  topos_add_gtest(topos_data_moves_cli_tests LABEL cli TIMEOUT 300
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_data_moves_cli.cpp LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_data_moves_cli_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_data_moves_cli_tests topos_cli)
endif()
