# The OpenMP peer of the hybrid stencil (bench/stencil_compare.py runs it next
# to examples/mpi/heat_stencil.cpp). Included by mpi/CMakeLists.txt when the
# benchmarks are built.
find_package(OpenMP COMPONENTS CXX REQUIRED)
add_executable(topos_bench_heat_stencil_omp ${PROJECT_SOURCE_DIR}/bench/heat_stencil_omp.cpp)
target_link_libraries(topos_bench_heat_stencil_omp PRIVATE topos::mpi OpenMP::OpenMP_CXX)
topos_set_warnings(topos_bench_heat_stencil_omp)
set_target_properties(topos_bench_heat_stencil_omp PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
# The topos variant, also built here so the benchmark has it without the tests.
add_executable(topos_bench_heat_stencil ${PROJECT_SOURCE_DIR}/examples/mpi/heat_stencil.cpp)
target_link_libraries(topos_bench_heat_stencil PRIVATE topos::mpi)
topos_set_warnings(topos_bench_heat_stencil)
set_target_properties(topos_bench_heat_stencil PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
