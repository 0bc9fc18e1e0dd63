# The one-definition check (included by tests/CMakeLists.txt): no qualified
# name has inline definitions in two files (tests/layers/check_odr.py), and
# the checker itself rejects the pair of current_cpu() topos once had.
add_test(NAME odr_one_definition
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_odr.py ${PROJECT_SOURCE_DIR})
set_tests_properties(odr_one_definition PROPERTIES LABELS "unit" TIMEOUT 60)
add_test(NAME odr_checker_rejects_two_definitions
  COMMAND ${CMAKE_COMMAND} -DPYTHON=${Python3_EXECUTABLE}
          -DCHECKER=${CMAKE_CURRENT_LIST_DIR}/check_odr.py
          -DWORK=${CMAKE_CURRENT_BINARY_DIR}/odr-selftest
          -P ${CMAKE_CURRENT_LIST_DIR}/odr_selftest.cmake)
set_tests_properties(odr_checker_rejects_two_definitions PROPERTIES LABELS "unit" TIMEOUT 60)
