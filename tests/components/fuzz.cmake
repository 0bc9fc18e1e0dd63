# Fuzzing (tests/fuzz): every tests/fuzz/fuzz_<name>.cpp defines
# LLVMFuzzerTestOneInput, and tests/fuzz/corpus/<name>/ holds its inputs:
# seeds from the bad-input tables and every input that once crashed it.
#
# In every build, fuzz_replay_<name> (label unit) runs the harness once over
# each file of its corpus, so a crash that became a corpus file is a
# regression test in the default, ASan and TSan builds alike.
# In the `fuzz` preset (clang, -fsanitize=fuzzer-no-link,address,undefined),
# topos_fuzz_<name> is the libFuzzer program, and fuzz_<name> (label fuzz)
# runs it for TOPOS_FUZZ_SECONDS over a scratch copy of the corpus;
# scripts/fuzz NAME SECONDS runs one for longer.
set(TOPOS_FUZZ_SECONDS 30 CACHE STRING "How long each `fuzz` ctest runs its harness, in seconds")
set(topos_fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)
file(GLOB topos_fuzz_harnesses CONFIGURE_DEPENDS ${topos_fuzz_dir}/fuzz_*.cpp)
list(SORT topos_fuzz_harnesses)
set(topos_fuzzing OFF)
if(TOPOS_SANITIZE MATCHES "fuzzer")
  set(topos_fuzzing ON)
endif()
add_custom_target(topos_fuzz_all)

# hwloc and the libraries under it leak a little on some bad XML; these are
# their frames only (the file says which and why). Used by every fuzz run.
set(topos_fuzz_lsan "LSAN_OPTIONS=suppressions=${topos_fuzz_dir}/lsan.supp:print_suppressions=0")

foreach(harness IN LISTS topos_fuzz_harnesses)
  get_filename_component(stem ${harness} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${stem})
  set(corpus ${topos_fuzz_dir}/corpus/${name})
  # What a harness links: the library and its internal headers; the CLI
  # harness also gets the command's objects (all of `topos` but main()).
  set(libs topos::topos)
  if(name STREQUAL "cli")
    if(NOT TARGET topos_cli_objects)
      continue()
    endif()
    set(libs topos_cli_objects)
  endif()

  # The replay program: the harness and a main() that feeds it each file.
  add_executable(topos_fuzz_replay_${name} ${harness} ${topos_fuzz_dir}/replay_main.cpp)
  target_link_libraries(topos_fuzz_replay_${name} PRIVATE ${libs})
  target_include_directories(topos_fuzz_replay_${name} PRIVATE ${PROJECT_SOURCE_DIR})
  topos_set_warnings(topos_fuzz_replay_${name})
  add_test(NAME fuzz_replay_${name} COMMAND topos_fuzz_replay_${name} ${corpus})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS "unit" TIMEOUT 300
    ENVIRONMENT "${topos_fuzz_lsan}")

  if(topos_fuzzing)
    add_executable(topos_fuzz_${name} ${harness})
    target_link_libraries(topos_fuzz_${name} PRIVATE ${libs})
    target_include_directories(topos_fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_options(topos_fuzz_${name} PRIVATE -fsanitize=fuzzer)
    topos_set_warnings(topos_fuzz_${name})
    add_dependencies(topos_fuzz_all topos_fuzz_${name} topos_fuzz_replay_${name})
    # The tree's corpus is read, never written: new inputs go to a scratch
    # directory named first, which libFuzzer fills.
    set(scratch ${CMAKE_CURRENT_BINARY_DIR}/fuzz-scratch/${name})
    add_test(NAME fuzz_${name}
      COMMAND ${CMAKE_COMMAND} -E env ${topos_fuzz_lsan}
              sh -c "rm -rf \"$1\" && mkdir -p \"$1\" && exec \"$0\" -max_total_time=${TOPOS_FUZZ_SECONDS} -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \"$1\" \"$2\""
              $<TARGET_FILE:topos_fuzz_${name}> ${scratch} ${corpus})
    math(EXPR fuzz_timeout "${TOPOS_FUZZ_SECONDS} + 120")
    set_tests_properties(fuzz_${name} PROPERTIES LABELS "fuzz" TIMEOUT ${fuzz_timeout})
  endif()
endforeach()

# The fuzzers' findings as plain tests with their expected outcome.
topos_add_gtest(topos_fuzz_findings_tests LABEL unit TIMEOUT 300
  SOURCES ${topos_fuzz_dir}/test_fuzz_findings.cpp)
target_compile_definitions(topos_fuzz_findings_tests PRIVATE TOPOS_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
