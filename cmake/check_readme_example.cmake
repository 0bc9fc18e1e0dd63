# Fails when the first C++ block of README.md differs from the example file
# that CI builds and runs, so the README's program always compiles.
# Usage: cmake -DREADME=<README.md> -DEXAMPLE=<file.cpp> -P check_readme_example.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README.md has no ```cpp block")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} block)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "the first ```cpp block of README.md differs from ${EXAMPLE}; keep them identical")
endif()
