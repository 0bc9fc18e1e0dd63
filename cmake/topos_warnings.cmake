# Warnings for topos's own targets; errors when TOPOS_WERROR is on.
function(topos_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  # GCC 12 reports a false -Wrestrict inside libstdc++ for `"text" + std::string`
  # at -O3 (GCC bug 105651, fixed in GCC 13); it is not about our code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(TOPOS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
