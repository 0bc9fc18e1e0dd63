#!/usr/bin/env bash
# Runs topos_bench_capi_for and topos_bench_capi_for_omp alternately ROUNDS
# times and prints each run and the ratio topos/OpenMP of the medians of
# their per-run medians (the goal: at most 1.05).
# Usage: bench/capi_for_compare.sh [BUILD_DIR=build/default] [ROUNDS=5] [THREADS=2] [N=10000000]
set -euo pipefail
build=${1:-build/default}
rounds=${2:-5}
threads=${3:-2}
n=${4:-10000000}
topos_ms=()
omp_ms=()
for ((r = 0; r < rounds; ++r)); do
  line=$("$build/bench/topos_bench_capi_for" "$threads" "$n")
  echo "$line"
  topos_ms+=("$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")")
  line=$("$build/bench/topos_bench_capi_for_omp" "$threads" "$n")
  echo "$line"
  omp_ms+=("$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t=$(median "${topos_ms[@]}")
o=$(median "${omp_ms[@]}")
awk -v t="$t" -v o="$o" 'BEGIN { printf "median of medians: topos %.3f ms, openmp %.3f ms, ratio topos/openmp %.3f\n", t, o, t / o }'
