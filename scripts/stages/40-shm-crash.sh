# Sourced by scripts/test after the sanitizer builds, when TOPOS_TEST_FULL=1:
# the full-length runs of the shared-segment crash tests on the default build
# (every build's ctest runs them at CI size): 1000 SIGKILLs of a heap worker
# (at random instants and at every step of a commit), 8 processes x 100000
# heap operations with random kills, and 100000 scribbled heaps. Each prints
# its counts into build/test-logs/shm-crash-full.log.
if [[ ${TOPOS_TEST_FULL:-0} == 1 ]]; then
  TOPOS_SHM_KILLS=1000 TOPOS_SHM_SOAK_OPS=100000 TOPOS_SHM_HOSTILE_ROUNDS=100000 TOPOS_SHM_BARRIER_KILLS=100 \
    run_tests shm-crash-full ctest --test-dir build/default -R 'ShmHeapKill|ShmHostile|ShmSyncKill' \
    --output-on-failure --verbose
else
  echo "test: full-length shared-segment crash runs skipped (TOPOS_TEST_FULL=1 runs them)" >&2
fi
