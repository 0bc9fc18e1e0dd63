# Soak tests (tests/soak): the scheduler under random spawn trees with
# exceptions, cancellation, nested groups, run_on_node and parallel_for, waited
# on from three outside threads; the allocator while mmap, mremap and mbind
# fail at random (os/fault_injection.hpp). Small by default (label unit, TSan
# included); TOPOS_SOAK_TASKS, TOPOS_SOAK_OPS and TOPOS_SOAK_SECONDS make
# them long, as scripts/soak does.
topos_add_gtest(topos_soak_tests LABEL unit TIMEOUT 600 SOURCES
  ${PROJECT_SOURCE_DIR}/tests/soak/test_soak_scheduler.cpp
  ${PROJECT_SOURCE_DIR}/tests/soak/test_soak_alloc.cpp
)
# The allocator soak reaches the fault hook (os/) and the shim's entry points
# (allocators/) through internal headers.
target_include_directories(topos_soak_tests PRIVATE ${PROJECT_SOURCE_DIR})
