# Allocator workloads (mimalloc-bench style) with glibc, jemalloc, mimalloc and
# tbbmalloc side by side; the peers are loaded at run time with dlopen.
add_executable(topos_bench_alloc ${CMAKE_CURRENT_LIST_DIR}/bench_alloc.cpp)
target_link_libraries(topos_bench_alloc PRIVATE topos::topos benchmark::benchmark ${CMAKE_DL_LIBS})
target_include_directories(topos_bench_alloc PRIVATE ${PROJECT_SOURCE_DIR}) # os/process.hpp: resident_bytes
topos_set_warnings(topos_bench_alloc)
