#!/usr/bin/env python3
"""Runs the hybrid heat-equation stencil at the same core count three ways
and prints each one's time and its ratio to the topos variant:

  mpi-only   one rank per core, each sweeping its rows in one thread
             (mpirun -np CORES --map-by core --bind-to core, --sweep serial)
  topos      one rank per NUMA node, topos threads inside
             (mpirun -np NODES --map-by numa --bind-to numa, --threads CORES/NODES --places cores)
  openmp     one rank per NUMA node, OpenMP threads inside
             (same binding, OMP_NUM_THREADS=CORES/NODES OMP_PLACES=cores OMP_PROC_BIND=close)

Usage: bench/stencil_compare.py BUILD_DIR [--runs N] [--n N] [--steps S]
                                [--cores C] [--nodes K] [--json OUT]

BUILD_DIR is a build with the benchmarks and topos::mpi (build/default); the
programs are BUILD_DIR/bench/topos_bench_heat_stencil{,_omp}. CORES defaults
to the CPUs this process may use, NODES to the NUMA nodes hwloc reports.
Each rank's runtime gets exactly its share of the cores (--threads, --places
cores inside a rank bound to its node), so no variant is oversubscribed. The
variants run interleaved, N times each (default 5); the median time counts.
Every run also checks its grid against a serial run (PASS) on a small grid
first; the timed runs skip that check but print the same checksum, which
must agree between the variants.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path


def numa_nodes():
    try:
        out = subprocess.run(["hwloc-calc", "--number-of", "numanode", "all"], capture_output=True, text=True,
                             check=True).stdout
        return max(1, int(out.strip()))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 1


def mpirun_base():
    cmd = [shutil.which("mpirun") or "mpirun", "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def variants(build, cores, nodes, n, steps, check):
    per_rank = cores // nodes
    topos_exe = build / "bench" / "topos_bench_heat_stencil"
    omp_exe = build / "bench" / "topos_bench_heat_stencil_omp"
    args = ["--n", str(n), "--steps", str(steps)] + ([] if check else ["--no-check"])
    base = mpirun_base()
    # Every rank bound to its node; inside it, exactly its share of threads.
    hybrid = base + ["-np", str(nodes), "--map-by", "numa", "--bind-to", "numa"]
    return [
        ("mpi-only", f"{cores} ranks x 1 thread",
         base + ["-np", str(cores), "--map-by", "core", "--bind-to", "core", str(topos_exe), "--sweep", "serial"]
         + args),
        ("topos", f"{nodes} rank(s) x {per_rank} topos threads",
         hybrid + [str(topos_exe), "--threads", str(per_rank), "--places", "cores"] + args),
        ("openmp", f"{nodes} rank(s) x {per_rank} OpenMP threads",
         hybrid + ["-x", f"OMP_NUM_THREADS={per_rank}", "-x", "OMP_PLACES=cores", "-x", "OMP_PROC_BIND=close",
                   str(omp_exe), "--threads", str(per_rank)] + args),
    ]


LINE = re.compile(r"time_s=([0-9.]+) checksum=(\S+)")


def run_once(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        sys.exit(f"stencil_compare: {' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout}{p.stderr}")
    if "FAIL" in p.stdout:
        sys.exit(f"stencil_compare: {' '.join(cmd)} does not match the serial run:\n{p.stdout}")
    return float(m.group(1)), m.group(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--nodes", type=int, default=numa_nodes())
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.runs < 1 or a.n < 1 or a.steps < 1:
        print("stencil_compare: --runs, --n and --steps must be positive", file=sys.stderr)
        return 2
    if a.cores < a.nodes or a.cores % a.nodes != 0:
        print(f"stencil_compare: --cores {a.cores} is not a multiple of --nodes {a.nodes}", file=sys.stderr)
        return 2
    for exe in ("topos_bench_heat_stencil", "topos_bench_heat_stencil_omp"):
        if not (a.build / "bench" / exe).is_file():
            print(f"stencil_compare: {a.build / 'bench' / exe} is missing; build the target {exe}", file=sys.stderr)
            return 2

    # Correctness first, on a small grid: each variant against the serial run.
    for name, _, cmd in variants(a.build, a.cores, a.nodes, 64, 20, True):
        run_once(cmd)

    rows = variants(a.build, a.cores, a.nodes, a.n, a.steps, False)
    times = {name: [] for name, _, _ in rows}
    sums = {}
    for _ in range(a.runs):
        for name, _, cmd in rows:  # interleaved, so drifting load hits all alike
            t, s = run_once(cmd)
            times[name].append(t)
            sums[name] = s
    if len(set(sums.values())) != 1:
        sys.exit(f"stencil_compare: the variants' checksums differ: {sums}")

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"heat stencil {a.n}x{a.n}, {a.steps} steps, {a.cores} cores, {a.nodes} NUMA node(s), "
          f"median of {a.runs} runs (checksum {sums['topos']} in every variant)")
    print(f"{'variant':10} {'layout':34} {'median s':>10} {'min s':>10} {'/ topos':>8}")
    for name, layout, _ in rows:
        print(f"{name:10} {layout:34} {med[name]:10.4f} {min(times[name]):10.4f} {med[name] / med['topos']:8.2f}")
    if a.json:
        a.json.write_text(json.dumps({"n": a.n, "steps": a.steps, "cores": a.cores, "nodes": a.nodes,
                                      "times": times, "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
