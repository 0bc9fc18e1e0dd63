// fib(n) with one task per call, on 1 and 2 threads: topos task_group against
// oneTBB task_group and OpenMP tasks, side by side.
//
// The same file builds twice: with g++ (topos, oneTBB and GCC libgomp) and,
// with TOPOS_BENCH_OPENMP_ONLY, with clang++ -fopenmp=libomp (LLVM libomp),
// because libomp needs clang's OpenMP lowering. bench/sched_compare.py runs
// both and prints the ratios.
//
// Every variant checks its result outside the timed loop.
#include "sched_bench.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef TOPOS_BENCH_OPENMP_ONLY
#include <oneapi/tbb/task_group.h>
#endif

namespace {

using namespace topos::bench;

constexpr long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

void check(const char* who, int n, long got) {
    if (got != fib_serial(n)) {
        std::fprintf(stderr, "%s: fib(%d) = %ld, expected %ld\n", who, n, got, fib_serial(n));
        std::abort();
    }
}

long fib_omp(int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
#pragma omp task shared(a) firstprivate(n) default(none)
    a = fib_omp(n - 1);
    const long b = fib_omp(n - 2);
#pragma omp taskwait
    return a + b;
}

void bm_fib_omp(benchmark::State& state, int threads, int n) {
    long result = 0;
    for (auto _ : state) {
#pragma omp parallel num_threads(threads) default(none) shared(result, n)
#pragma omp single
        result = fib_omp(n);
        benchmark::DoNotOptimize(result);
    }
    check(TOPOS_BENCH_OMP_NAME, n, result);
}

#ifndef TOPOS_BENCH_OPENMP_ONLY

long fib_topos(topos::runtime& rt, int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
    topos::task_group g(rt);
    g.run([&] { a = fib_topos(rt, n - 1); });
    const long b = fib_topos(rt, n - 2);
    g.wait();
    return a + b;
}

void bm_fib_topos(benchmark::State& state, unsigned threads, int n) {
    topos::runtime rt(workers(threads));
    long result = 0;
    run_in_task(rt, [&] {
        for (auto _ : state) {
            result = fib_topos(rt, n);
            benchmark::DoNotOptimize(result);
        }
    });
    check("topos", n, result);
    const auto s = rt.stats();
    state.counters["steals"] = static_cast<double>(s.steals_local + s.steals_remote);
}

long fib_tbb(int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
    tbb::task_group g;
    g.run([&] { a = fib_tbb(n - 1); });
    const long b = fib_tbb(n - 2);
    g.wait();
    return a + b;
}

void bm_fib_tbb(benchmark::State& state, int threads, int n) {
    tbb_threads arena(threads);
    long result = 0;
    for (auto _ : state) {
        arena.execute([&] { result = fib_tbb(n); });
        benchmark::DoNotOptimize(result);
    }
    check("tbb", n, result);
}

#endif

void register_all() {
    for (int n : {30, 32}) {
        for (int threads : topos::bench::thread_counts()) {
            const std::string suffix = run_suffix(threads, static_cast<std::size_t>(n));
            constexpr auto ms = benchmark::kMillisecond;
#ifndef TOPOS_BENCH_OPENMP_ONLY
            register_run("fib/topos" + suffix, ms, bm_fib_topos, static_cast<unsigned>(threads), n);
            register_run("fib/tbb" + suffix, ms, bm_fib_tbb, threads, n);
#endif
            register_run(std::string("fib/") + TOPOS_BENCH_OMP_NAME + suffix, ms, bm_fib_omp, threads, n);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    return topos::bench::run_benchmarks(argc, argv);
}
