# Observers, TOPOS_TRACE, nested cancellation and run_on_node to a node
# without workers (component "observe"; included by tests/CMakeLists.txt).
topos_add_gtest(topos_observe_tests LABEL unit TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_observe.cpp ${CMAKE_CURRENT_LIST_DIR}/../unit/test_nested_cancel.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../unit/test_run_on_node_error.cpp
  LIBS nlohmann_json::nlohmann_json)
