// Parallel merge sort of 2^22 random 64-bit keys: recursive halves as tasks,
// std::sort below a cutoff, std::merge into a buffer. topos task_group against
// oneTBB task_group and OpenMP tasks (GCC libgomp). Checked after timing.
#include "sched_bench.hpp"

#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace topos::bench;

constexpr std::size_t k_n = std::size_t{1} << 22;
constexpr std::size_t k_cutoff = 4096;

std::vector<std::uint64_t> input() {
    std::vector<std::uint64_t> v(k_n);
    std::mt19937_64 rng(12345);
    for (auto& x : v) {
        x = rng();
    }
    return v;
}

void check(const char* who, const std::vector<std::uint64_t>& v) {
    if (!std::is_sorted(v.begin(), v.end())) {
        std::fprintf(stderr, "%s: not sorted\n", who);
        std::abort();
    }
}

// Sorts v[lo, hi) using tmp[lo, hi) as scratch; the result ends in v.
template <class Fork>
void merge_sort(std::uint64_t* v, std::uint64_t* tmp, std::size_t n, const Fork& fork) {
    if (n <= k_cutoff) {
        std::sort(v, v + n);
        return;
    }
    const std::size_t half = n / 2;
    fork([=, &fork] { merge_sort(v, tmp, half, fork); }, [=, &fork] { merge_sort(v + half, tmp + half, n - half, fork); });
    std::merge(v, v + half, v + half, v + n, tmp);
    std::copy(tmp, tmp + n, v);
}

void bm_topos(benchmark::State& state, unsigned threads) {
    topos::runtime rt(workers(threads));
    const auto fresh = input();
    std::vector<std::uint64_t> v;
    std::vector<std::uint64_t> tmp(k_n);
    const auto fork = [&rt](auto&& a, auto&& b) {
        topos::task_group g(rt);
        g.run(a);
        b();
        g.wait();
    };
    run_in_task(rt, [&] {
        for (auto _ : state) {
            state.PauseTiming();
            v = fresh;
            state.ResumeTiming();
            merge_sort(v.data(), tmp.data(), k_n, fork);
        }
    });
    check("topos", v);
}

void bm_tbb(benchmark::State& state, int threads) {
    tbb_threads arena(threads);
    const auto fresh = input();
    std::vector<std::uint64_t> v;
    std::vector<std::uint64_t> tmp(k_n);
    const auto fork = [](auto&& a, auto&& b) {
        tbb::task_group g;
        g.run(a);
        b();
        g.wait();
    };
    for (auto _ : state) {
        state.PauseTiming();
        v = fresh;
        state.ResumeTiming();
        arena.execute([&] { merge_sort(v.data(), tmp.data(), k_n, fork); });
    }
    check("tbb", v);
}

void bm_omp(benchmark::State& state, int threads) {
    const auto fresh = input();
    std::vector<std::uint64_t> v;
    std::vector<std::uint64_t> tmp(k_n);
    const auto fork = [](auto&& a, auto&& b) {
#pragma omp task default(none) firstprivate(a)
        a();
        b();
#pragma omp taskwait
    };
    for (auto _ : state) {
        state.PauseTiming();
        v = fresh;
        state.ResumeTiming();
        std::uint64_t* data = v.data();
        std::uint64_t* scratch = tmp.data();
#pragma omp parallel num_threads(threads) default(none) shared(data, scratch, fork)
#pragma omp single
        merge_sort(data, scratch, k_n, fork);
    }
    check("gomp", v);
}

} // namespace

int main(int argc, char** argv) {
    for (int threads : topos::bench::thread_counts()) {
        const std::string suffix = run_suffix(threads, k_n);
        constexpr auto ms = benchmark::kMillisecond;
        register_run("sort/topos" + suffix, ms, bm_topos, static_cast<unsigned>(threads));
        register_run("sort/tbb" + suffix, ms, bm_tbb, threads);
        register_run("sort/gomp" + suffix, ms, bm_omp, threads);
    }
    return topos::bench::run_benchmarks(argc, argv);
}
