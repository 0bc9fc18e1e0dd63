# Warnings for topos's own targets; errors when TOPOS_WERROR is on.
function(topos_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(TOPOS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
