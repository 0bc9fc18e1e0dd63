# Arenas (runtime::arena, task_arena) and task priorities: confinement by
# worker, node and CPU, max_threads, bad input, high before normal
# (component "arena"; included by tests/CMakeLists.txt).
topos_add_gtest(topos_arena_tests LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_arena.cpp)
