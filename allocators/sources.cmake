# The NUMA-local allocators: memory policies, page placement, per-node arenas
# with thread caches, and the pmr adapter. Added to the one topos library.
target_sources(topos PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/numa_layer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/arena.cpp
  ${CMAKE_CURRENT_LIST_DIR}/memory.cpp
  ${CMAKE_CURRENT_LIST_DIR}/resource.cpp
)

# libtopos_malloc.so: malloc, free and the C++ operators over the node-local
# allocator, for unmodified programs under LD_PRELOAD. Its own copy of the
# allocator (reads nodes from libnuma, not hwloc), initial-exec TLS since it
# is preloaded, and only the allocation functions exported. Not built in
# sanitizer builds: the sanitizers replace malloc themselves.
if(NOT TOPOS_SANITIZE)
  add_library(topos_malloc SHARED
    ${CMAKE_CURRENT_LIST_DIR}/malloc_shim.cpp
    ${CMAKE_CURRENT_LIST_DIR}/numa_layer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/arena.cpp
    ${CMAKE_CURRENT_LIST_DIR}/memory.cpp
  )
  target_include_directories(topos_malloc PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include ${PROJECT_SOURCE_DIR})
  target_compile_definitions(topos_malloc PRIVATE TOPOS_ALLOC_STANDALONE)
  target_compile_options(topos_malloc PRIVATE -ftls-model=initial-exec)
  target_link_libraries(topos_malloc PRIVATE PkgConfig::topos_numa ${CMAKE_DL_LIBS})
  target_link_options(topos_malloc PRIVATE -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/malloc.map)
  set_property(TARGET topos_malloc APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/malloc.map)
  target_compile_features(topos_malloc PRIVATE cxx_std_20)
  set_target_properties(topos_malloc PROPERTIES
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  topos_set_warnings(topos_malloc)
  install(TARGETS topos_malloc LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
