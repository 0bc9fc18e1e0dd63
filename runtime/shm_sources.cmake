# Memory shared between processes: named segments (POSIX and System V), the
# in-segment heap and the process-shared synchronisation primitives. Added to
# the one topos library. glibc 2.34+ has shm_open in libc; older ones need rt.
target_sources(topos PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/shm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/shm_heap.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sync.cpp
)
include(CheckSymbolExists)
set(CMAKE_REQUIRED_QUIET ON)
check_symbol_exists(shm_open "sys/mman.h" TOPOS_SHM_OPEN_IN_LIBC)
if(NOT TOPOS_SHM_OPEN_IN_LIBC)
  target_link_libraries(topos PUBLIC rt)
endif()
find_package(Threads REQUIRED)
target_link_libraries(topos PUBLIC Threads::Threads)
