# Fails unless README.md shows the example file verbatim as a ```cpp block,
# so every program the README shows is one that CI compiles and runs.
# Usage: cmake -DREADME=<README.md> -DEXAMPLE=<file.cpp> -P check_readme_example.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```cpp\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no ```cpp block identical to ${EXAMPLE}; keep them the same")
endif()
