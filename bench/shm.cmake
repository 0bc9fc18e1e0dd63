# Shared-memory benchmarks (included from bench/CMakeLists.txt): a topos
# segment between two processes against a pipe pair and a Unix socketpair,
# for round-trip latency and for streaming 1 MiB chunks.
add_executable(topos_bench_shm ${CMAKE_CURRENT_LIST_DIR}/bench_shm.cpp)
target_link_libraries(topos_bench_shm PRIVATE topos::topos benchmark::benchmark)
target_include_directories(topos_bench_shm PRIVATE ${PROJECT_SOURCE_DIR}) # os/affinity.hpp
topos_set_warnings(topos_bench_shm)
