# Fails unless README.md shows the example file verbatim in a fenced block of
# the given language (```c, ```fortran, ...), so that the README's programs
# are ones CI compiles and runs.
# Usage: cmake -DREADME=<README.md> -DEXAMPLE=<file> -DFENCE=<language> -P check_readme_block.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```${FENCE}\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no ```${FENCE} block identical to ${EXAMPLE}; keep them the same")
endif()
