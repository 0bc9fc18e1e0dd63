#!/usr/bin/env python3
"""Runs the allocator community's benchmark programs (daanx/mimalloc-bench) with
libtopos_malloc.so and its peers preloaded, interleaved round by round, and
prints median times, peak RSS and ratios against mimalloc and glibc.

The programs are other people's code: they are compiled from the suite's
directory (default ../shared/peer-bench/mimalloc-bench beside the project, or
$TOPOS_MIMALLOC_BENCH) into a scratch directory and never copied into topos.

  bench/mimalloc_suite.py [--lib build/rel/allocators/libtopos_malloc.so]
                          [--suite DIR] [--rounds 3] [--only a,b] [--peers mimalloc,glibc]
                          [--json FILE]

Times are seconds of wall clock, except for the programs that run a fixed
time and print a rate: larson (time per operation), xmalloc-test (its
"rtime"), glibc-thread (time per iteration) and rptest (time per memory
operation: its wall clock is mostly the seconds it sleeps between phases, the
same for every allocator). Lower is better everywhere.
Peak RSS is the program's maximum resident set (KiB, by GNU time) in the same run,
its median over the rounds."""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# How each program is compiled from the suite's sources (paths relative to the suite).
BUILDS = {
    "larson": "g++ -O2 -w -std=c++17 -DCPP=1 {s}/larson/larson.cpp -o {b}/larson -lpthread",
    "alloc-test": "g++ -O2 -w -std=c++17 -DBENCH=4 {s}/alloc-test/test_common.cpp "
                  "{s}/alloc-test/allocator_tester.cpp -o {b}/alloc-test -lpthread",
    "cache-scratch": "g++ -O2 -w -std=c++17 {s}/cache-scratch/cache-scratch.cpp -o {b}/cache-scratch -lpthread",
    "cache-thrash": "g++ -O2 -w -std=c++17 {s}/cache-thrash/cache-thrash.cpp -o {b}/cache-thrash -lpthread",
    "xmalloc-test": "gcc -O2 -w {s}/xmalloc-test/xmalloc-test.c -o {b}/xmalloc-test -lpthread",
    "malloc-large": "g++ -O2 -w -std=c++17 {s}/malloc-large/malloc-large.cpp -o {b}/malloc-large -lpthread",
    "mstress": "gcc -O2 -w {s}/mstress/mstress.c -o {b}/mstress -lpthread",
    "rptest": "gcc -O2 -w -fpermissive -I{s}/rptest {s}/rptest/rptest.c {s}/rptest/thread.c "
              "{s}/rptest/timer.c -o {b}/rptest -lpthread -lm",
    "glibc-simple": "gcc -O2 -w {s}/glibc-bench/bench-malloc-simple.c -o {b}/glibc-simple -lpthread",
    "glibc-thread": "gcc -O2 -w {s}/glibc-bench/bench-malloc-thread.c -o {b}/glibc-thread -lpthread",
}

# (row name, program, arguments, metric); 2 threads where the program takes a count,
# the arguments upstream's bench.sh uses otherwise.
RUNS = [
    ("larson", "larson", ["5", "8", "1000", "5000", "100", "4141", "2"], "larson"),
    ("alloc-test1", "alloc-test", ["1"], "wall"),
    ("alloc-test2", "alloc-test", ["2"], "wall"),
    ("cache-scratch", "cache-scratch", ["2", "1000", "1", "2000000", "2"], "wall"),
    ("cache-thrash", "cache-thrash", ["2", "1000", "1", "2000000", "2"], "wall"),
    ("xmalloc-test", "xmalloc-test", ["-w", "2", "-t", "5", "-s", "64"], "xmalloc"),
    ("malloc-large", "malloc-large", [], "wall"),
    ("mstress", "mstress", ["2", "50", "200"], "wall"),
    ("rptest", "rptest", ["2", "0", "1", "2", "500", "1000", "100", "8", "16000"], "rptest"),
    ("glibc-simple", "glibc-simple", [], "wall"),
    ("glibc-thread", "glibc-thread", ["2"], "glibc-thread"),
]

PEERS = {
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "glibc": None,
}


def metric_of(out, metric, wall):
    """The program's time (lower is better) from its output, or None when absent."""
    for line in out.splitlines():
        if metric == "larson" and "Throughput" in line:
            return 1e6 / float(line.split("=")[1].split()[0])
        if metric == "xmalloc" and "rtime:" in line:
            return float(line.split("rtime:")[1].split(",")[0])
        if metric == "glibc-thread" and line.strip().endswith("iterations"):
            return 1e9 / float(line.split()[0])
        if metric == "rptest" and "memory ops/CPU second" in line:
            # "crt  2 threads ... 100 ops: ........1031316 memory ops/CPU second (...)"
            rate = line.split(" memory ops/CPU second")[0].split()[-1].lstrip(".")
            return 1e6 / float(rate)
    return wall if metric == "wall" else None


# The peak RSS of a child started by this script would include this script's
# own (~15 MiB): fork and vfork share or copy the parent's memory, and Linux
# keeps the pre-exec high-water mark in ru_maxrss. GNU time, a small C
# program, starts the program instead, so the floor is its size (~2 MiB).
GNU_TIME = "/usr/bin/time"


def measure(exe, argv, metric, lib, cwd):
    """(time, peak RSS in KiB) of one run (time: see metric_of), or None when the
    program failed."""
    env = dict(os.environ)
    if lib:
        env["LD_PRELOAD"] = lib
    with tempfile.NamedTemporaryFile(mode="w+") as out, tempfile.NamedTemporaryFile(mode="w+") as rss:
        start = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", rss.name, exe] + argv, env=env, cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            return None
        out.seek(0)
        t = metric_of(out.read(), metric, wall)
        rss.seek(0)
        peak = int(rss.read().split()[-1])
    return None if t is None else (t, peak)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", default=os.path.join(ROOT, "build/rel/allocators/libtopos_malloc.so"),
                    help="the allocator under test (default: %(default)s)")
    ap.add_argument("--suite", default=os.environ.get("TOPOS_MIMALLOC_BENCH",
                                                      os.path.join(ROOT, "../shared/peer-bench/mimalloc-bench")),
                    help="the mimalloc-bench directory (default: $TOPOS_MIMALLOC_BENCH or %(default)s)")
    ap.add_argument("--build", default="/tmp/topos-mimalloc-suite", help="scratch directory for the programs")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--only", default="", help="comma-separated rows to run (default: all)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated peers to run (default: %(default)s); mimalloc and glibc give the ratios")
    ap.add_argument("--json", help="also write every measurement to this file")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error(f"--rounds {a.rounds}: expected at least 1")
    if not os.path.isfile(a.lib):
        ap.error(f"--lib {a.lib}: no such file (build it: cmake --build build/rel --target topos_malloc)")
    if not os.access(GNU_TIME, os.X_OK):
        ap.error(f"{GNU_TIME} (GNU time, for each program's own peak RSS) is missing: apt-get install time")
    if not os.path.isdir(a.suite):
        ap.error(f"--suite {a.suite}: no such directory")
    only = [x for x in a.only.split(",") if x]
    unknown = [x for x in only if x not in {r[0] for r in RUNS}]
    if unknown:
        ap.error(f"--only {','.join(unknown)}: unknown; expected some of {','.join(r[0] for r in RUNS)}")
    runs = [r for r in RUNS if not only or r[0] in only]
    peers = [x for x in a.peers.split(",") if x]
    unknown = [x for x in peers if x not in PEERS]
    if unknown:
        ap.error(f"--peers {','.join(unknown)}: unknown; expected some of {','.join(PEERS)}")

    os.makedirs(a.build, exist_ok=True)
    for prog in sorted({r[1] for r in runs}):
        exe = os.path.join(a.build, prog)
        if not os.path.exists(exe):
            print(f"building {prog}", file=sys.stderr)
            subprocess.run(BUILDS[prog].format(s=a.suite, b=a.build), shell=True, check=True)

    libs = {"topos": os.path.abspath(a.lib)}
    libs.update({k: v for k, v in PEERS.items() if k in peers and (v is None or os.path.exists(v))})
    times = {r[0]: {k: [] for k in libs} for r in runs}
    rss = {r[0]: {k: [] for k in libs} for r in runs}
    for rnd in range(a.rounds):
        names = list(libs)
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for row, prog, argv, metric in runs:
            exe = os.path.join(a.build, prog)
            for k in order:
                got = measure(exe, argv, metric, libs[k], a.build)
                if got is None:
                    print(f"{row} under {k}: FAILED", file=sys.stderr)
                    continue
                times[row][k].append(got[0])
                rss[row][k].append(got[1])
            print(f"round {rnd + 1}/{a.rounds}: {row} done", file=sys.stderr, flush=True)

    def med(xs):
        return statistics.median(xs) if xs else float("nan")

    def geo(xs):
        xs = [x for x in xs if x == x and x > 0]
        return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")

    print(f"{'benchmark':14}" + "".join(f"{k:>10}" for k in libs) +
          "  topos/mimalloc  topos/glibc  rss(MiB) topos mimalloc  rss topos/mimalloc")
    ratio_m, ratio_g, ratio_rss = [], [], []
    for row, _, _, _ in runs:
        t = {k: med(v) for k, v in times[row].items()}
        r = {k: med(v) for k, v in rss[row].items()}
        rm = t["topos"] / t.get("mimalloc", float("nan"))
        rg = t["topos"] / t.get("glibc", float("nan"))
        rr = r["topos"] / r.get("mimalloc", float("nan"))
        ratio_m.append(rm)
        ratio_g.append(rg)
        ratio_rss.append(rr)
        print(f"{row:14}" + "".join(f"{t[k]:10.4g}" for k in libs) +
              f"  {rm:14.2f}  {rg:11.2f}  {r['topos'] / 1024:14.1f} {r.get('mimalloc', float('nan')) / 1024:8.1f}"
              f"  {rr:17.2f}")
    print(f"geometric mean topos/mimalloc {geo(ratio_m):.2f} (max {max(ratio_m):.2f}), "
          f"topos/glibc {geo(ratio_g):.2f}, peak RSS topos/mimalloc max {max(ratio_rss):.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"libs": libs, "times": times, "rss_kib": rss, "rounds": a.rounds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
