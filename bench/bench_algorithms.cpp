// Sort and scan of 64-bit keys: topos::parallel_sort against oneTBB
// parallel_sort, std::sort(std::execution::par) (libstdc++'s parallel
// algorithms on the oneTBB backend), GNU parallel mode __gnu_parallel::sort
// (OpenMP) and serial std::sort; topos::parallel_inclusive_scan against
// oneTBB parallel_scan and a serial std::inclusive_scan. Checked after timing.
//
// Sizes: TOPOS_BENCH_SORT_N (default 10^8 keys, as issue 18 asks) and
// TOPOS_BENCH_SCAN_N (default 10^8); threads: TOPOS_BENCH_THREADS (see
// bench_main.hpp). Every peer gets exactly that many threads.
//
// Run: build/rel/bench/topos_bench_algorithms --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include "sched_bench.hpp"

#include <topos/algorithm.hpp>

#include <oneapi/tbb/parallel_scan.h>
#include <oneapi/tbb/parallel_sort.h>
#include <parallel/algorithm>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <execution>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace topos::bench;

std::size_t size_from_env(const char* name, std::size_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        return fallback;
    }
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (*end != '\0' || n == 0) {
        std::fprintf(stderr, "%s: '%s' is not a positive integer\n", name, v);
        std::exit(2);
    }
    return static_cast<std::size_t>(n);
}

const std::vector<std::uint64_t>& keys(std::size_t n) {
    static std::vector<std::uint64_t> v;
    if (v.size() != n) {
        v.resize(n);
        std::mt19937_64 rng(2026);
        for (auto& x : v) {
            x = rng();
        }
    }
    return v;
}

void check_sorted(const char* who, const std::vector<std::uint64_t>& v) {
    if (!std::is_sorted(v.begin(), v.end())) {
        std::fprintf(stderr, "%s: not sorted\n", who);
        std::abort();
    }
}

// One sort run: the keys are copied in (untimed), then `sort(v)` is timed.
template <class Sort>
void sort_loop(benchmark::State& state, std::size_t n, const char* who, const Sort& sort) {
    std::vector<std::uint64_t> v;
    for (auto _ : state) {
        state.PauseTiming();
        v = keys(n);
        state.ResumeTiming();
        sort(v);
    }
    check_sorted(who, v);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void bm_sort_topos(benchmark::State& state, unsigned threads, std::size_t n) {
    topos::runtime rt(workers(threads));
    run_in_task(rt, [&] {
        sort_loop(state, n, "topos", [&](auto& v) { topos::parallel_sort(rt, v.begin(), v.end()); });
    });
}

void bm_sort_tbb(benchmark::State& state, int threads, std::size_t n) {
    tbb_threads arena(threads);
    sort_loop(state, n, "tbb", [&](auto& v) { arena.execute([&] { tbb::parallel_sort(v.begin(), v.end()); }); });
}

void bm_sort_std_par(benchmark::State& state, int threads, std::size_t n) {
    tbb_threads arena(threads); // the PSTL's TBB backend runs in the calling thread's arena
    sort_loop(state, n, "std_par", [&](auto& v) {
        arena.execute([&] { std::sort(std::execution::par, v.begin(), v.end()); });
    });
}

void bm_sort_gnu_parallel(benchmark::State& state, int threads, std::size_t n) {
    omp_set_num_threads(threads);
    sort_loop(state, n, "gnu_parallel", [&](auto& v) { __gnu_parallel::sort(v.begin(), v.end()); });
}

void bm_sort_serial(benchmark::State& state, std::size_t n) {
    sort_loop(state, n, "serial", [](auto& v) { std::sort(v.begin(), v.end()); });
}

template <class Scan>
void scan_loop(benchmark::State& state, std::size_t n, const char* who, const Scan& scan) {
    const auto& in = keys(n);
    std::vector<std::uint64_t> out(n);
    for (auto _ : state) {
        scan(in, out);
        benchmark::DoNotOptimize(out.data());
    }
    std::vector<std::uint64_t> want(n);
    std::inclusive_scan(in.begin(), in.end(), want.begin());
    if (out != want) {
        std::fprintf(stderr, "%s: wrong scan\n", who);
        std::abort();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void bm_scan_topos(benchmark::State& state, unsigned threads, std::size_t n) {
    topos::runtime rt(workers(threads));
    run_in_task(rt, [&] {
        scan_loop(state, n, "topos", [&](const auto& in, auto& out) {
            topos::parallel_inclusive_scan(rt, in.begin(), in.end(), out.begin(), std::plus<>{});
        });
    });
}

void bm_scan_tbb(benchmark::State& state, int threads, std::size_t n) {
    tbb_threads arena(threads);
    scan_loop(state, n, "tbb", [&](const auto& in, auto& out) {
        arena.execute([&] {
            tbb::parallel_scan(
                tbb::blocked_range<std::size_t>(0, in.size()), std::uint64_t{0},
                [&](const tbb::blocked_range<std::size_t>& r, std::uint64_t sum, bool is_final) {
                    for (std::size_t i = r.begin(); i < r.end(); ++i) {
                        sum += in[i];
                        if (is_final) {
                            out[i] = sum;
                        }
                    }
                    return sum;
                },
                std::plus<>{});
        });
    });
}

void bm_scan_serial(benchmark::State& state, std::size_t n) {
    scan_loop(state, n, "serial",
              [](const auto& in, auto& out) { std::inclusive_scan(in.begin(), in.end(), out.begin()); });
}

} // namespace

int main(int argc, char** argv) {
    const std::size_t sort_n = size_from_env("TOPOS_BENCH_SORT_N", 100'000'000);
    const std::size_t scan_n = size_from_env("TOPOS_BENCH_SCAN_N", 100'000'000);
    const auto ms = benchmark::kMillisecond;
    register_run("sort/serial" + run_suffix(1, sort_n), ms, bm_sort_serial, sort_n);
    register_run("scan/serial" + run_suffix(1, scan_n), ms, bm_scan_serial, scan_n);
    for (int threads : topos::bench::thread_counts()) {
        const auto t = static_cast<unsigned>(threads);
        register_run("sort/topos" + run_suffix(threads, sort_n), ms, bm_sort_topos, t, sort_n);
        register_run("sort/tbb" + run_suffix(threads, sort_n), ms, bm_sort_tbb, threads, sort_n);
        register_run("sort/std_par" + run_suffix(threads, sort_n), ms, bm_sort_std_par, threads, sort_n);
        register_run("sort/gnu_parallel" + run_suffix(threads, sort_n), ms, bm_sort_gnu_parallel, threads, sort_n);
        register_run("scan/topos" + run_suffix(threads, scan_n), ms, bm_scan_topos, t, scan_n);
        register_run("scan/tbb" + run_suffix(threads, scan_n), ms, bm_scan_tbb, threads, scan_n);
    }
    return topos::bench::run_benchmarks(argc, argv);
}
