# The C API (<topos/topos.h>), the Fortran module, the OMP_* conventions and
# the README's C and Fortran examples.

# The whole C API from a C program: every function and every error path.
add_executable(topos_capi_test ${CMAKE_CURRENT_LIST_DIR}/../capi/test_capi.c)
target_link_libraries(topos_capi_test PRIVATE topos::topos)
set_target_properties(topos_capi_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(topos_capi_test PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Werror)
target_link_libraries(topos_capi_test PRIVATE m)
add_test(NAME capi_c_api COMMAND topos_capi_test)
set_tests_properties(capi_c_api PROPERTIES LABELS "unit" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "test_capi: [0-9]+ checks, 0 failed")

# The header is C99 and C11 and C++ as well: compile it alone in each.
foreach(std 99 11)
  add_library(topos_capi_header_c${std} OBJECT ${CMAKE_CURRENT_LIST_DIR}/../capi/header_only.c)
  target_include_directories(topos_capi_header_c${std} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  set_target_properties(topos_capi_header_c${std} PROPERTIES C_STANDARD ${std} C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_compile_options(topos_capi_header_c${std} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endforeach()

# test_config.cpp checks the OMP_* fallback through topology/config.hpp.
target_include_directories(topos_unit_tests PRIVATE ${PROJECT_SOURCE_DIR})

# OMP_* conventions: a table of environments through `topos places` and a runtime.
if(TOPOS_BUILD_TOOLS)
  topos_add_gtest(topos_omp_env_tests LABEL cli TIMEOUT 120 SOURCES ${CMAKE_CURRENT_LIST_DIR}/../capi/test_omp_env.cpp
    LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(topos_omp_env_tests PRIVATE TOPOS_CLI="$<TARGET_FILE:topos_cli>")
  add_dependencies(topos_omp_env_tests topos_cli)
endif()

# The README's C and Fortran examples, built from the build tree and run
# (scripts/stages/40-packages.sh builds them with plain cc/gfortran and
# pkg-config against the installed prefix and the Debian packages).
add_executable(topos_example_c ${PROJECT_SOURCE_DIR}/examples/c/parallel_sum.c)
target_link_libraries(topos_example_c PRIVATE topos::topos)
set_target_properties(topos_example_c PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(topos_example_c PRIVATE -Wall -Wextra -Wpedantic -Werror)
add_test(NAME capi_example_c COMMAND topos_example_c)
set_tests_properties(capi_example_c PROPERTIES LABELS "unit" TIMEOUT 120)
if(TARGET topos_fortran)
  add_executable(topos_example_fortran ${PROJECT_SOURCE_DIR}/examples/fortran/node_array_sum.f90)
  target_link_libraries(topos_example_fortran PRIVATE topos::topos_fortran)
  add_test(NAME capi_example_fortran COMMAND topos_example_fortran)
  set_tests_properties(capi_example_fortran PROPERTIES LABELS "unit" TIMEOUT 120) # error stop on a wrong sum
endif()
foreach(example c/parallel_sum.c:c fortran/node_array_sum.f90:fortran)
  string(REPLACE ":" ";" parts ${example})
  list(GET parts 0 file)
  list(GET parts 1 fence)
  get_filename_component(stem ${file} NAME_WE)
  add_test(NAME readme_example_in_sync_${stem}
    COMMAND ${CMAKE_COMMAND} -DREADME=${PROJECT_SOURCE_DIR}/README.md
            -DEXAMPLE=${PROJECT_SOURCE_DIR}/examples/${file} -DFENCE=${fence}
            -P ${PROJECT_SOURCE_DIR}/cmake/check_readme_block.cmake)
  set_tests_properties(readme_example_in_sync_${stem} PROPERTIES LABELS "unit")
endforeach()

find_package(Python3 COMPONENTS Interpreter REQUIRED)
# The Spack recipe: compiles, and against a stub of Spack's API has the
# variants mpi and fortran with the dependencies and CMake arguments they imply.
add_test(NAME packaging_spack_recipe
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/packaging/spack/check_package.py
          ${PROJECT_SOURCE_DIR}/packaging/spack/package.py)
set_tests_properties(packaging_spack_recipe PROPERTIES LABELS "unit" TIMEOUT 60)
# The packaging scripts parse (they run in scripts/stages/40-packages.sh).
foreach(script build-debs check-debs build-consumers)
  add_test(NAME packaging_script_parses_${script} COMMAND bash -n ${PROJECT_SOURCE_DIR}/packaging/${script})
  set_tests_properties(packaging_script_parses_${script} PROPERTIES LABELS "unit" TIMEOUT 30)
endforeach()
