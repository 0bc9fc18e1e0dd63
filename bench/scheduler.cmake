# Scheduler benchmarks (included from bench/CMakeLists.txt): topos against
# oneTBB and OpenMP (GCC libgomp here; LLVM libomp in a clang-built twin).
# bench/sched_compare.py runs them all and prints the ratios.
find_package(TBB REQUIRED)
find_package(OpenMP REQUIRED)

foreach(name bench_fib bench_sched_for bench_sched_triad bench_sched_nqueens bench_sched_sort)
  add_executable(topos_${name} ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp)
  target_link_libraries(topos_${name} PRIVATE topos::topos benchmark::benchmark TBB::tbb OpenMP::OpenMP_CXX)
  topos_set_warnings(topos_${name})
endforeach()

# LLVM libomp needs clang's OpenMP lowering: the same sources, OpenMP variants
# only, built with clang++ -fopenmp=libomp.
find_program(TOPOS_CLANGXX NAMES clang++ clang++-14)
if(TOPOS_CLANGXX)
  foreach(name bench_fib bench_sched_for)
    add_custom_command(
      OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/topos_${name}-libomp
      COMMAND ${TOPOS_CLANGXX} -std=c++20 -O2 -DNDEBUG -fopenmp=libomp -DTOPOS_BENCH_OPENMP_ONLY
              -DTOPOS_BENCH_OMP_NAME="libomp" ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp
              -o ${CMAKE_CURRENT_BINARY_DIR}/topos_${name}-libomp -lbenchmark -lpthread
      DEPENDS ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp
      COMMENT "Building topos_${name}-libomp with clang++ -fopenmp=libomp"
      VERBATIM)
    add_custom_target(topos_${name}_libomp ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/topos_${name}-libomp)
  endforeach()
endif()

# The whole loop benchmark built by clang++ too (topos, oneTBB and libomp
# variants, named *_clang and libomp), so that topos and oneTBB are also
# compared with libomp as built by the same compiler. It links the library
# built here (C++ ABI: both compilers use libstdc++).
if(TOPOS_CLANGXX)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/topos_bench_sched_for-clang
    COMMAND ${TOPOS_CLANGXX} -std=c++20 -O2 -DNDEBUG -fopenmp=libomp -DTOPOS_BENCH_OMP_NAME="libomp"
            -DTOPOS_BENCH_IMPL_SUFFIX="_clang"
            -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_BINARY_DIR}/include
            ${CMAKE_CURRENT_LIST_DIR}/bench_sched_for.cpp $<TARGET_FILE:topos>
            -o ${CMAKE_CURRENT_BINARY_DIR}/topos_bench_sched_for-clang -ltbb -lbenchmark -lhwloc -lnuma -lpthread
    DEPENDS ${CMAKE_CURRENT_LIST_DIR}/bench_sched_for.cpp ${CMAKE_CURRENT_LIST_DIR}/sched_bench.hpp topos
    COMMENT "Building topos_bench_sched_for-clang with clang++ (topos, oneTBB and libomp variants)"
    VERBATIM)
  add_custom_target(topos_bench_sched_for_clang ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/topos_bench_sched_for-clang)
endif()

# Parallel algorithms (topos/algorithm.hpp): sort against oneTBB parallel_sort,
# std::sort(std::execution::par) on the TBB backend and __gnu_parallel::sort;
# scan against oneTBB parallel_scan.
add_executable(topos_bench_algorithms ${CMAKE_CURRENT_LIST_DIR}/bench_algorithms.cpp)
target_link_libraries(topos_bench_algorithms PRIVATE topos::topos benchmark::benchmark TBB::tbb OpenMP::OpenMP_CXX)
topos_set_warnings(topos_bench_algorithms)
