#!/usr/bin/env python3
"""Runs the allocator benchmark (topos, glibc, jemalloc, mimalloc, tbbmalloc in
one process) and prints, per workload, each allocator's throughput, topos's
throughput over the peer's (= peer time / topos time: above 1 topos is
faster) and its memory.

Usage: bench/alloc_compare.py BUILD_DIR [--repetitions N] [--filter REGEX]
                              [--cpus LIST] [--json OUT]

Throughput is the median over N repetitions (default 5, run in random
interleaving so that drifting load hits every allocator alike) of the
benchmark's Mops_per_s counter. The program is pinned to --cpus (default
"0,1", the two threads of every workload) with taskset when that exists.
The last line reports the false-sharing probe: how much slower two threads
writing one cache line run than two threads writing lines apart; near 1 the
machine cannot show cache_scratch's difference.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PEERS = ["glibc", "jemalloc", "mimalloc", "tbbmalloc"]
WORKLOADS = ["churn", "larson", "xmalloc", "alloc_test", "cache_scratch"]


def run(exe, reps, flt, cpus):
    cmd = [str(exe), "--benchmark_format=json", f"--benchmark_repetitions={reps}",
           "--benchmark_enable_random_interleaving=true", "--benchmark_report_aggregates_only=true"]
    if flt:
        cmd.append(f"--benchmark_filter={flt}")
    if cpus and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus] + cmd
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.exit(f"alloc_compare: {exe} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)["benchmarks"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", help="build directory with bench/topos_bench_alloc (Release, TOPOS_BUILD_BENCH=ON)")
    ap.add_argument("--repetitions", type=int, default=5, help="repetitions per benchmark (default 5)")
    ap.add_argument("--filter", default="", help="Google Benchmark filter regex")
    ap.add_argument("--cpus", default="0,1", help="CPUs to pin to with taskset (default 0,1; empty: no pinning)")
    ap.add_argument("--json", help="write the medians and ratios here")
    args = ap.parse_args()
    if args.repetitions < 1:
        ap.error(f"--repetitions must be at least 1, not {args.repetitions}")
    exe = Path(args.build_dir) / "bench" / "topos_bench_alloc"
    if not exe.exists():
        ap.error(f"{exe} does not exist: build with -DTOPOS_BUILD_BENCH=ON")

    medians = defaultdict(dict)  # workload -> allocator -> counters
    probe = None
    for b in run(exe, args.repetitions, args.filter, args.cpus):
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]
        if name.startswith("false_sharing_probe"):
            probe = b
            continue
        m = re.match(r"(\w+)/(\w+)", name)
        if m:
            medians[m.group(1)][m.group(2)] = b

    rows = []
    print(f"{'workload':<14}{'allocator':<11}{'Mops/s':>9}{'topos/peer':>12}{'rss MiB':>9}{'held MiB':>10}")
    for w in WORKLOADS:
        if "topos" not in medians.get(w, {}):
            continue
        topos = medians[w]["topos"]["Mops_per_s"]
        for a in ["topos"] + PEERS:
            b = medians[w].get(a)
            if b is None:
                continue
            ratio = topos / b["Mops_per_s"]
            rows.append({"workload": w, "allocator": a, "Mops_per_s": b["Mops_per_s"],
                         "peer_time_over_topos_time": ratio, "rss_MiB": b.get("rss_MiB", 0.0),
                         "rss_held_MiB": b.get("rss_held_MiB", 0.0)})
            shown = "" if a == "topos" else f"{ratio:.2f}"
            print(f"{w:<14}{a:<11}{b['Mops_per_s']:>9.1f}{shown:>12}{b.get('rss_MiB', 0.0):>9.2f}"
                  f"{b.get('rss_held_MiB', 0.0):>10.2f}")
    if probe is not None:
        print(f"false sharing on this machine: one line {probe['same_line_ns_per_write']:.2f} ns/write, "
              f"lines apart {probe['apart_ns_per_write']:.2f} ns/write, slowdown {probe['slowdown']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "false_sharing_slowdown":
                                               probe["slowdown"] if probe else None}, indent=2) + "\n")


if __name__ == "__main__":
    main()
