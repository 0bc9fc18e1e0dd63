# Tests of the topos::mpi component (label `mpi`; the NUMA ones `numa`).
# Included by tests/CMakeLists.txt; skipped with a message when the component
# is not built (no MPI found).
if(NOT TARGET topos_mpi)
  message(STATUS "topos: MPI tests skipped: the topos::mpi component is not built")
  return()
endif()

set(topos_mpi_launch ${CMAKE_CURRENT_LIST_DIR}/../mpi/launch)

add_executable(topos_mpi_tests ${CMAKE_CURRENT_LIST_DIR}/../mpi/test_mpi.cpp)
target_link_libraries(topos_mpi_tests PRIVATE topos::mpi GTest::gtest)
topos_set_warnings(topos_mpi_tests)

# Open MPI under the sanitizers. Leaks are not checked in these tests (only
# here): Open MPI does not free what MPI_Init allocates (e.g. in
# ompi_op_base_op_select), and its leak reports cannot be suppressed by
# library name: Debian's libmpi and its dlopened components have no frame
# pointers, so the leak stacks stop after one frame in an "unknown module".
# TSan reads the suppressions for Open MPI's internals (tests/mpi/tsan.supp).
set(topos_mpi_env
  "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
  "TSAN_OPTIONS=halt_on_error=1:suppressions=${CMAKE_CURRENT_LIST_DIR}/../mpi/tsan.supp"
  "OMPI_MCA_rmaps_base_oversubscribe=1")

#   topos_add_mpi_test(<name> LABELS <labels> TIMEOUT <s> COMMAND <cmd...>)
function(topos_add_mpi_test name)
  cmake_parse_arguments(arg "" "TIMEOUT" "LABELS;COMMAND" ${ARGN})
  add_test(NAME ${name} COMMAND ${arg_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "${topos_mpi_env}" SKIP_RETURN_CODE 77)
endfunction()

# The component's unit tests: without mpirun (an MPI singleton), then 1, 2
# and 4 ranks over shared memory and over TCP only (loopback).
topos_add_mpi_test(mpi_unit_singleton LABELS "mpi" TIMEOUT 120 COMMAND $<TARGET_FILE:topos_mpi_tests>)
foreach(np 1 2 4)
  topos_add_mpi_test(mpi_unit_np${np}_shm LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} ${np} $<TARGET_FILE:topos_mpi_tests>)
  topos_add_mpi_test(mpi_unit_np${np}_tcp LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} --tcp ${np} $<TARGET_FILE:topos_mpi_tests>)
endforeach()

# The examples (examples/mpi), built here as they are against an installed
# topos (scripts/stages/50-mpi.sh does that too), and run: each prints PASS
# or FAIL and exits 0 only on PASS.
foreach(example heat_stencil stream_triad)
  add_executable(topos_mpi_${example} ${PROJECT_SOURCE_DIR}/examples/mpi/${example}.cpp)
  target_link_libraries(topos_mpi_${example} PRIVATE topos::mpi)
  topos_set_warnings(topos_mpi_${example})
endforeach()
set(topos_heat $<TARGET_FILE:topos_mpi_heat_stencil>)
set(topos_triad $<TARGET_FILE:topos_mpi_stream_triad>)
foreach(np 1 2 4)
  topos_add_mpi_test(mpi_heat_np${np}_shm LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} ${np} ${topos_heat} --n 96 --steps 40 --threads 2)
  topos_add_mpi_test(mpi_heat_np${np}_tcp LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} --tcp ${np} ${topos_heat} --n 96 --steps 40 --threads 2)
  topos_add_mpi_test(mpi_triad_np${np}_shm LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} ${np} ${topos_triad} --n 100000 --reps 3 --threads 2)
  topos_add_mpi_test(mpi_triad_np${np}_tcp LABELS "mpi" TIMEOUT 180
    COMMAND ${topos_mpi_launch} --tcp ${np} ${topos_triad} --n 100000 --reps 3 --threads 2)
  set_tests_properties(mpi_heat_np${np}_shm mpi_heat_np${np}_tcp mpi_triad_np${np}_shm mpi_triad_np${np}_tcp
    PROPERTIES PASS_REGULAR_EXPRESSION " PASS")
endforeach()
topos_add_mpi_test(mpi_heat_serial_sweep LABELS "mpi" TIMEOUT 180
  COMMAND ${topos_mpi_launch} 3 ${topos_heat} --n 50 --steps 30 --sweep serial)
set_tests_properties(mpi_heat_serial_sweep PROPERTIES PASS_REGULAR_EXPRESSION " PASS")
# Bad arguments: one line on stderr, exit status 2.
topos_add_mpi_test(mpi_heat_bad_argument LABELS "mpi" TIMEOUT 60
  COMMAND ${CMAKE_COMMAND} -DPROGRAM=${topos_heat} -DARGS=--steps|-3 -DEXPECT=not.a.positive.integer
          -P ${CMAKE_CURRENT_LIST_DIR}/../mpi/expect_exit2.cmake)
topos_add_mpi_test(mpi_triad_bad_argument LABELS "mpi" TIMEOUT 60
  COMMAND ${CMAKE_COMMAND} -DPROGRAM=${topos_triad} -DARGS=--bogus|1 -DEXPECT=--bogus
          -P ${CMAKE_CURRENT_LIST_DIR}/../mpi/expect_exit2.cmake)

# Two hosts for real: UTS + mount namespaces, each with its own hostname,
# sharing the loopback interface (tests/mpi/two_hosts); 2 ranks on each.
# Skipped (exit 77, with the reason) where namespaces are not allowed.
topos_add_mpi_test(mpi_two_hosts_unit LABELS "mpi" TIMEOUT 240
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/../mpi/two_hosts $<TARGET_FILE:topos_mpi_tests>)
topos_add_mpi_test(mpi_two_hosts_heat LABELS "mpi" TIMEOUT 240
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/../mpi/two_hosts ${topos_heat} --n 96 --steps 40 --threads 1)
set_tests_properties(mpi_two_hosts_heat PROPERTIES PASS_REGULAR_EXPRESSION " PASS" FAIL_REGULAR_EXPRESSION "FAIL")
topos_add_mpi_test(mpi_two_hosts_triad LABELS "mpi" TIMEOUT 240
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/../mpi/two_hosts ${topos_triad} --n 100000 --reps 2 --threads 1)
set_tests_properties(mpi_two_hosts_triad PROPERTIES PASS_REGULAR_EXPRESSION "host hostb.* PASS")

# NUMA (label `numa`): in the emulated machines, judged by the kernel:
#   tests/numa-vm/run --shape 4n -- tests/numa-vm/ctest-in-guest build/default -L numa -R mpi_numa
# They skip (exit 77, with the reason) on a one-node machine.
add_executable(topos_mpi_numa_tests ${CMAKE_CURRENT_LIST_DIR}/../mpi/test_mpi_numa.cpp)
target_link_libraries(topos_mpi_numa_tests PRIVATE topos::mpi GTest::gtest)
topos_set_warnings(topos_mpi_numa_tests)
set(topos_numa_launch ${CMAKE_CURRENT_LIST_DIR}/../mpi/numa_launch)
foreach(per_node 1 2)
  # --map-by numa --bind-to numa: each rank's workers are on its node, and
  # each rank's shared_array slice is on its node (move_pages).
  topos_add_mpi_test(mpi_numa_bound_${per_node}_per_node LABELS "numa;mpi" TIMEOUT 600
    COMMAND ${topos_numa_launch} numa ${per_node} $<TARGET_FILE:topos_mpi_numa_tests>
            --gtest_filter=-*UnboundRanksTakeTheirShare)
endforeach()
# --bind-to none: the share rule (ranks take their share of the machine from
# OMPI_COMM_WORLD_LOCAL_RANK/_SIZE, TOPOS_SHARE) gives each rank its own node.
topos_add_mpi_test(mpi_numa_unbound_share LABELS "numa;mpi" TIMEOUT 600
  COMMAND ${topos_numa_launch} none 1 $<TARGET_FILE:topos_mpi_numa_tests>)

# MPI missing at run time: a topos::mpi program is refused by the dynamic
# loader (exit 127, naming libmpi); a libtopos-only program runs.
add_executable(topos_mpi_core_probe ${CMAKE_CURRENT_LIST_DIR}/../mpi/core_probe.cpp)
target_link_libraries(topos_mpi_core_probe PRIVATE topos::topos)
topos_set_warnings(topos_mpi_core_probe)
topos_add_mpi_test(mpi_missing_at_run_time LABELS "mpi" TIMEOUT 60
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/../mpi/check_without_libmpi ${topos_triad} $<TARGET_FILE:topos_mpi_core_probe>)
