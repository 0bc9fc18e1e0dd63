# The work-stealing scheduler: workers, deques, parking, task groups.
find_package(Threads REQUIRED)
target_sources(topos PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/platform.cpp
  ${CMAKE_CURRENT_LIST_DIR}/runtime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/task_group.cpp
)
target_link_libraries(topos PUBLIC Threads::Threads)
