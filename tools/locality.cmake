# The locality part of the `topos` command (included from tools/CMakeLists.txt):
# `topos bench` (latency, bandwidth, stream, sched), `topos tune` and `topos run`.
# The command may use more than the core library: the STREAM peers (oneTBB and
# OpenMP) link here, never into topos::topos.
# Both are optional: without one, `bench stream` skips that peer and says so.
find_package(TBB QUIET)
find_package(OpenMP QUIET)

target_sources(topos_cli_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/bench_json.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_parse.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interrupt.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pinning.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_memory.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_stream.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_sched.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tune_command.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run_command.cpp
)
target_link_libraries(topos_cli_objects PUBLIC Threads::Threads)
if(TBB_FOUND)
  target_link_libraries(topos_cli_objects PUBLIC TBB::tbb)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/bench_stream.cpp APPEND PROPERTY COMPILE_DEFINITIONS TOPOS_STREAM_HAVE_TBB)
endif()
if(OpenMP_CXX_FOUND)
  target_link_libraries(topos_cli_objects PUBLIC OpenMP::OpenMP_CXX)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/bench_stream.cpp APPEND PROPERTY COMPILE_DEFINITIONS TOPOS_STREAM_HAVE_OPENMP)
endif()

# `topos bench sched` runs the Google Benchmark programs of bench/: from the
# build tree here, from <prefix>/libexec/topos once installed.
if(TOPOS_BUILD_BENCH)
  target_compile_definitions(topos_cli_objects PRIVATE TOPOS_BENCH_BUILD_DIR="${PROJECT_BINARY_DIR}/bench")
  # bench/ is read after tools/, so the install rule waits for the end of the
  # top-level directory, when its targets exist.
  function(topos_install_sched_bench)
    foreach(name topos_bench_fib topos_bench_sched_nqueens topos_bench_sched_sort topos_bench_sched_triad)
      if(TARGET ${name})
        install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/topos)
      endif()
    endforeach()
    if(TARGET topos_bench_fib_libomp)
      install(PROGRAMS ${PROJECT_BINARY_DIR}/bench/topos_bench_fib-libomp DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/topos)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL topos_install_sched_bench)
endif()

# Draws the JSON of `topos bench` as heatmaps, curves and bar charts (matplotlib).
install(PROGRAMS ${CMAKE_CURRENT_LIST_DIR}/topos-plot DESTINATION ${CMAKE_INSTALL_BINDIR})
