# Tests of the locality benchmarks and of `topos bench|tune|run` (included by
# tests/CMakeLists.txt).

# The measured kernels, checked outside any timing, and the os/ calls the
# commands measure and launch with (resident memory, CPU time, prepared masks).
topos_add_gtest(topos_locality_tests LABEL unit TIMEOUT 120 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_locality.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_os_process.cpp
  ${PROJECT_SOURCE_DIR}/tools/bench_kernels.cpp)
target_include_directories(topos_locality_tests PRIVATE ${PROJECT_SOURCE_DIR})

if(TOPOS_BUILD_TOOLS)
  # Quick runs of every subcommand, sized to stay short under the sanitizers.
  topos_add_gtest(topos_bench_cli_tests LABEL cli TIMEOUT 300
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_bench_cli.cpp LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_bench_cli_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_bench_cli_tests topos_cli)
  if(TOPOS_SANITIZE)
    target_compile_definitions(topos_bench_cli_tests PRIVATE TOPOS_TEST_SANITIZED)
  endif()
  if(TOPOS_BUILD_BENCH)
    # `bench sched --quick` runs the programs of bench/.
    target_compile_definitions(topos_bench_cli_tests PRIVATE TOPOS_TEST_HAVE_BENCH)
    add_dependencies(topos_bench_cli_tests
      topos_bench_fib topos_bench_sched_nqueens topos_bench_sched_sort topos_bench_sched_triad)
  endif()

  # Needs several NUMA nodes (tests/numa-vm/run); skips elsewhere. The "bench."
  # prefix lets `ctest -L numa -R bench` pick these out.
  add_executable(topos_numa_bench_tests ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_bench.cpp)
  target_link_libraries(topos_numa_bench_tests PRIVATE
    topos::topos GTest::gtest GTest::gtest_main PkgConfig::topos_numa nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_numa_bench_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  topos_set_warnings(topos_numa_bench_tests)
  add_dependencies(topos_numa_bench_tests topos_cli)
  gtest_discover_tests(topos_numa_bench_tests TEST_PREFIX "bench." DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "numa" TIMEOUT 600)
endif()

# topos-plot draws what a quick run wrote (skipped without matplotlib: exit 3).
if(TOPOS_BUILD_TOOLS)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_Interpreter_FOUND)
    add_test(NAME topos_plot_draws_quick_runs COMMAND sh -c [=[
set -e
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$1" bench latency --quick --size 64K --json "$dir/lat.json" >/dev/null
"$1" bench bandwidth --quick --size 256K --json "$dir/bw.json" >/dev/null
"$2" "$3" -o "$dir/img" --format png,svg "$dir/lat.json" "$dir/bw.json" > "$dir/list" || exit $?
for f in latency-matrix latency-curves bandwidth-matrix; do
  test -s "$dir/img/$f.png"; test -s "$dir/img/$f.svg"
done
echo "plots ok"
]=] sh $<TARGET_FILE:topos_cli> ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/topos-plot)
    set_tests_properties(topos_plot_draws_quick_runs PROPERTIES LABELS "cli" TIMEOUT 300
      SKIP_RETURN_CODE 3 PASS_REGULAR_EXPRESSION "plots ok")
  endif()
endif()

# The `topos tune` example, built here so its claim can be tried:
#   topos tune -- <build>/tests/contended_histogram
add_executable(contended_histogram ${PROJECT_SOURCE_DIR}/examples/tune/contended_histogram.cpp)
target_link_libraries(contended_histogram PRIVATE topos::topos)
topos_set_warnings(contended_histogram)

# A plain configure (no -DTOPOS_BUILD_BENCH) builds the benchmarks, and so
# gives `topos bench sched` its programs, exactly when Google Benchmark,
# oneTBB and OpenMP are found: configured afresh here, only the cache and the
# target list are read (nothing is built). It compiles nothing of ours, so the
# sanitizer builds, which would only run it again (14 s under TSan's load),
# neither register it nor look for its peers.
if(NOT TOPOS_SANITIZE)
find_package(benchmark QUIET)
find_package(TBB QUIET)
find_package(OpenMP QUIET)
set(topos_bench_expected OFF)
if(benchmark_FOUND AND TBB_FOUND AND OpenMP_CXX_FOUND)
  set(topos_bench_expected ON)
endif()
add_test(NAME bench_built_by_default_when_peers_found COMMAND sh -c [=[
set -e
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$1" -S "$2" -B "$dir" -G "$3" -DCMAKE_CXX_COMPILER="$4" -DTOPOS_BUILD_TESTS=OFF >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log"; exit 1; }
got=$("$1" -N -L "$dir" | sed -n 's/^TOPOS_BUILD_BENCH:BOOL=//p')
[ "$got" = "$5" ] || { echo "a plain configure has TOPOS_BUILD_BENCH=$got; expected $5"; exit 1; }
if "$1" --build "$dir" --target help | grep -q topos_bench_fib; then built=ON; else built=OFF; fi
[ "$built" = "$5" ] || { echo "topos_bench_fib is a target: $built; expected $5"; exit 1; }
echo "bench default ok ($5)"
]=] sh ${CMAKE_COMMAND} ${PROJECT_SOURCE_DIR} ${CMAKE_GENERATOR} ${CMAKE_CXX_COMPILER} ${topos_bench_expected})
set_tests_properties(bench_built_by_default_when_peers_found PROPERTIES LABELS "unit" TIMEOUT 300
  PASS_REGULAR_EXPRESSION "bench default ok")
endif()
