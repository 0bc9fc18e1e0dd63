# topos_parallel_for from C against OpenMP's parallel for (bench/bench_capi_for.c);
# bench/capi_for_compare.sh runs the pair and prints the ratio.
find_package(OpenMP REQUIRED COMPONENTS C)
add_executable(topos_bench_capi_for ${CMAKE_CURRENT_LIST_DIR}/bench_capi_for.c)
target_link_libraries(topos_bench_capi_for PRIVATE topos::topos)
add_executable(topos_bench_capi_for_omp ${CMAKE_CURRENT_LIST_DIR}/bench_capi_for.c)
target_compile_definitions(topos_bench_capi_for_omp PRIVATE BENCH_OPENMP)
target_link_libraries(topos_bench_capi_for_omp PRIVATE OpenMP::OpenMP_C)
foreach(t topos_bench_capi_for topos_bench_capi_for_omp)
  set_target_properties(${t} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
  target_compile_options(${t} PRIVATE -Wall -Wextra -Werror)
endforeach()
