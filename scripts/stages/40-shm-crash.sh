# Sourced by scripts/test after the sanitizer builds: the full-length runs of
# the shared-segment crash tests on the default build (CI runs them shorter):
# 1000 SIGKILLs of a heap worker (at random instants and at every step of a
# commit), 8 processes x 100000 heap operations with random kills, and
# 100000 scribbled heaps. Each prints its counts into build/test-logs/shm-crash-full.log.
TOPOS_SHM_KILLS=1000 TOPOS_SHM_SOAK_OPS=100000 TOPOS_SHM_HOSTILE_ROUNDS=100000 TOPOS_SHM_BARRIER_KILLS=100 \
  run_tests shm-crash-full ctest --test-dir build/default -R 'ShmHeapKill|ShmHostile|ShmSyncKill' \
  --output-on-failure --verbose
