# Stage of scripts/test (sourced): builds the libFuzzer harnesses of the
# library's inputs in tests/fuzz with clang (the `fuzz-library` preset) and
# runs each for 30 s over its corpus (ctest label `fuzz`). The command line's
# harness (fuzz_cli) needs all of the CLI built again with clang, 3-4 minutes
# on 2 cores: here its corpus is replayed by fuzz_replay_cli in the default
# and ASan builds instead, and scripts/fuzz cli SECONDS fuzzes it.
echo "== build (fuzz-library)" >&2
# Each harness runs for a fixed 30 s of wall time, so the five run three at
# a time (jobs + 1 on two cores): two rounds instead of three, the last of
# which left a core idle, at two thirds of a core each in the first round.
if build_preset fuzz-library; then
  run_tests fuzz ctest --preset fuzz-library -j "$((jobs + 1))"
else
  stage_failed fuzz
fi
