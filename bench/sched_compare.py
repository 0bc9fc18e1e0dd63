#!/usr/bin/env python3
"""Runs the scheduler benchmarks (topos, oneTBB, GCC libgomp, LLVM libomp) and
prints each peer's time and the ratio topos/peer, per workload.

Usage: bench/sched_compare.py BUILD_DIR [--repetitions N] [--rounds R] [--filter REGEX] [--json OUT]
       bench/sched_compare.py --from FILE.json [FILE.json ...] [--json OUT]

--from reads Google Benchmark JSON files saved earlier (--benchmark_format=json
output of the bench programs, e.g. from a run on another machine) instead of
running anything.

Each benchmark runs N times (default 3); the best (minimum) real time is used,
because these machines are shared and noise only ever adds time.

--rounds R runs every program R times over, one after the other, and also
prints, per workload, the ratio "best range form / best peer" of each round
and their median. Peers and topos then run seconds apart in every round, so
a machine whose speed drifts over minutes (a VM whose cores the host moves)
still gives same-round ratios; the minima over all rounds alone would mix
rounds.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PROGRAMS = [
    "topos_bench_fib",
    "topos_bench_fib-libomp",
    "topos_bench_sched_for",
    "topos_bench_sched_for-libomp",
    "topos_bench_sched_for-clang",
    "topos_bench_sched_nqueens",
    "topos_bench_sched_sort",
    "topos_bench_sched_triad",
]


def group_best(results):
    """{workload/threads:T/n:N: {impl: best seconds}} from Google Benchmark results."""
    best = {}
    for b in results:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].removesuffix("/real_time")
        t = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        best[name] = min(best.get(name, t), t)
    # name: workload/impl/threads:T/n:N
    groups = defaultdict(dict)
    for name, t in best.items():
        m = re.match(r"(\w+)/(\w+)(/.*)", name)
        if m:
            groups[m.group(1) + m.group(3)][m.group(2)] = t
    return groups


def best_range_vs_best_peer(results):
    """{workload: best topos range form / best peer} of one set of results."""
    out = {}
    for key, impls in group_best(results).items():
        ranges = [v for k, v in impls.items() if k.startswith("topos_range")]
        peers = [v for k, v in impls.items() if not k.startswith("topos")]
        if ranges and peers:
            out[key] = min(ranges) / min(peers)
    return out


def run(exe, reps, flt):
    cmd = [str(exe), "--benchmark_format=json", f"--benchmark_repetitions={reps}"]
    if flt:
        cmd.append(f"--benchmark_filter={flt}")
    out = subprocess.run(cmd, check=False, capture_output=True, text=True).stdout
    return json.loads(out)["benchmarks"] if out.strip() else []  # empty: the filter matched nothing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir", nargs="?")
    ap.add_argument("--from", dest="from_files", nargs="+", metavar="FILE")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="run every program this many times over (see above)")
    ap.add_argument("--filter", default="")
    ap.add_argument("--json")
    args = ap.parse_args()
    if (args.build_dir is None) == (args.from_files is None):
        ap.error("give a build directory or --from FILE..., not both")
    if args.rounds < 1 or args.repetitions < 1:
        ap.error("--rounds and --repetitions must be at least 1")
    rounds = []  # one list of results per round
    if args.from_files:
        results = []
        for f in args.from_files:
            text = Path(f).read_text()
            results.extend(json.loads(text)["benchmarks"] if text.strip() else [])
        rounds.append(results)
    else:
        bench = Path(args.build_dir) / "bench"
        for r in range(args.rounds):
            if args.rounds > 1:
                print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
            results = []
            for prog in PROGRAMS:
                exe = bench / prog
                if not exe.exists():
                    if r == 0:
                        print(f"skipping {prog}: not built", file=sys.stderr)
                    continue
                results.extend(run(exe, args.repetitions, args.filter))
            rounds.append(results)
    results = [b for rr in rounds for b in rr]
    per_round = [best_range_vs_best_peer(rr) for rr in rounds]
    groups = group_best(results)
    rows = []
    for key in sorted(groups):
        impls = groups[key]
        line = {"config": key, "seconds": impls, "ratios": {}}
        for topos_impl in [i for i in impls if i.startswith("topos")]:
            for peer in [i for i in impls if not i.startswith("topos")]:
                line["ratios"][f"{topos_impl}/{peer}"] = impls[topos_impl] / impls[peer]
        rows.append(line)
        times = "  ".join(f"{k}={v * 1e3:.3f}ms" for k, v in sorted(impls.items()))
        ratios = "  ".join(f"{k}={v:.2f}" for k, v in sorted(line["ratios"].items()))
        print(f"{key}\n  {times}\n  {ratios}")
        # The yardstick for loops: topos's range form, from whichever
        # compiler, against the best peer from whichever compiler.
        ranges = {k: v for k, v in impls.items() if k.startswith("topos_range")}
        peers = {k: v for k, v in impls.items() if not k.startswith("topos")}
        if ranges and peers:
            r = min(ranges, key=ranges.get)
            p = min(peers, key=peers.get)
            line["best_range_vs_best_peer"] = ranges[r] / peers[p]
            print(f"  best range form {r} / best peer {p} = {ranges[r] / peers[p]:.2f}")
        if len(per_round) > 1:
            each = [pr[key] for pr in per_round if key in pr]
            if each:
                line["best_range_vs_best_peer_by_round"] = each
                print(f"  by round: {' '.join(f'{x:.2f}' for x in each)}  (median {statistics.median(each):.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
