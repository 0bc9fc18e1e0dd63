# Tests of the locality benchmarks and of `topos bench|tune|run` (included by
# tests/CMakeLists.txt).

# The measured kernels, checked outside any timing.
topos_add_gtest(topos_locality_tests LABEL unit TIMEOUT 120 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_locality.cpp
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

# The `topos tune` example, built here so its claim can be tried:
#   topos tune -- <build>/tests/contended_histogram
add_executable(contended_histogram ${PROJECT_SOURCE_DIR}/examples/tune/contended_histogram.cpp)
target_link_libraries(contended_histogram PRIVATE topos::topos)
topos_set_warnings(contended_histogram)
