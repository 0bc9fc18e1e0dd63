# The cohort lock against std::mutex, an MCS lock and a ticket lock
# (included from bench/CMakeLists.txt).
add_executable(topos_bench_lock ${CMAKE_CURRENT_LIST_DIR}/bench_lock.cpp)
target_link_libraries(topos_bench_lock PRIVATE topos::topos benchmark::benchmark)
topos_set_warnings(topos_bench_lock)
