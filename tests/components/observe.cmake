# Observers, TOPOS_TRACE, nested cancellation and run_on_node to a node
# without workers (component "observe"; included by tests/CMakeLists.txt).
topos_add_gtest(topos_observe_tests LABEL unit TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/../unit/test_observe.cpp ${CMAKE_CURRENT_LIST_DIR}/../unit/test_nested_cancel.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../unit/test_run_on_node_error.cpp
  LIBS nlohmann_json::nlohmann_json)

# The README's fib trace: a small program, and a check that topos-plot draws
# the trace it writes (skipped without matplotlib: exit 3).
add_executable(topos_fib_trace ${PROJECT_SOURCE_DIR}/examples/trace/fib_trace.cpp)
target_link_libraries(topos_fib_trace PRIVATE topos::topos)
topos_set_warnings(topos_fib_trace)
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME topos_plot_draws_a_trace COMMAND sh -c [=[
set -e
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
TOPOS_TRACE="$dir/fib.json" TOPOS_NUM_THREADS=2 "$1" 16 >/dev/null
"$2" "$3" trace "$dir/fib.json" -o "$dir/fib.png" > /dev/null || exit $?
"$2" "$3" trace "$dir/fib.json" -o "$dir/fib.svg" > /dev/null
test -s "$dir/fib.png"; test -s "$dir/fib.svg"
if "$2" "$3" trace "$dir/missing.json" -o "$dir/x.png" 2>/dev/null; then exit 1; fi
echo "trace plot ok"
]=] sh $<TARGET_FILE:topos_fib_trace> ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/topos-plot)
  set_tests_properties(topos_plot_draws_a_trace PROPERTIES LABELS "unit" TIMEOUT 120
    SKIP_RETURN_CODE 3 PASS_REGULAR_EXPRESSION "trace plot ok")
endif()

# The cost figures of the observer's event sites and nested cancellation
# (README, "Observing a run"): fib timed by its worker's CPU time.
add_executable(topos_fib_cpu_time ${PROJECT_SOURCE_DIR}/examples/trace/fib_cpu_time.cpp)
target_link_libraries(topos_fib_cpu_time PRIVATE topos::topos)
