# The in-process NUMA-aware lock (included by the root CMakeLists.txt).
target_sources(topos PRIVATE ${CMAKE_CURRENT_LIST_DIR}/numa_lock.cpp)
