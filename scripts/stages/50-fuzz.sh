# Stage of scripts/test (sourced): builds the libFuzzer harnesses of
# tests/fuzz with clang (the `fuzz` preset) and runs each for 30 s over its
# corpus (ctest label `fuzz`). Longer runs: scripts/fuzz NAME SECONDS.
echo "== build (fuzz)" >&2
if build_preset fuzz; then
  run_tests fuzz ctest --preset fuzz -j "$jobs"
else
  stage_failed fuzz
fi
