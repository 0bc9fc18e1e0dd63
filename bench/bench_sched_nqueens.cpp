// N-queens (count all solutions), one task per placement in the first rows:
// topos task_group against oneTBB task_group and OpenMP tasks (GCC libgomp).
// The result is checked against the known counts outside the timed loop.
#include "sched_bench.hpp"

#include <oneapi/tbb/task_group.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

using namespace topos::bench;

constexpr int k_spawn_depth = 4; // rows that spawn a task per placement; deeper rows run serially
constexpr std::array<long, 15> k_solutions{1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596};

// Bitmask solver: cols/diag1/diag2 are the attacked columns of the next row.
long solve_serial(int n, unsigned cols, unsigned d1, unsigned d2) {
    const unsigned all = (1U << n) - 1;
    if (cols == all) {
        return 1;
    }
    long count = 0;
    for (unsigned free = ~(cols | d1 | d2) & all; free != 0; free &= free - 1) {
        const unsigned bit = free & -free;
        count += solve_serial(n, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1);
    }
    return count;
}

void check(const char* who, int n, long got) {
    if (got != k_solutions[static_cast<std::size_t>(n)]) {
        std::fprintf(stderr, "%s: %d-queens gave %ld solutions\n", who, n, got);
        std::abort();
    }
}

template <class Group>
long solve_tasks(int n, int depth, unsigned cols, unsigned d1, unsigned d2, Group& make_group) {
    if (depth >= k_spawn_depth) {
        return solve_serial(n, cols, d1, d2);
    }
    const unsigned all = (1U << n) - 1;
    if (cols == all) {
        return 1;
    }
    std::array<long, 32> partial{};
    auto g = make_group();
    int k = 0;
    for (unsigned free = ~(cols | d1 | d2) & all; free != 0; free &= free - 1, ++k) {
        const unsigned bit = free & -free;
        long* out = &partial[static_cast<std::size_t>(k)];
        g->run([=, &make_group] { *out = solve_tasks(n, depth + 1, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1, make_group); });
    }
    g->wait();
    long total = 0;
    for (int i = 0; i < k; ++i) {
        total += partial[static_cast<std::size_t>(i)];
    }
    return total;
}

void bm_topos(benchmark::State& state, unsigned threads, int n) {
    topos::runtime rt(workers(threads));
    auto make = [&rt] { return std::make_unique<topos::task_group>(rt); };
    long result = 0;
    run_in_task(rt, [&] {
        for (auto _ : state) {
            result = solve_tasks(n, 0, 0, 0, 0, make);
            benchmark::DoNotOptimize(result);
        }
    });
    check("topos", n, result);
}

void bm_tbb(benchmark::State& state, int threads, int n) {
    tbb_threads arena(threads);
    auto make = [] { return std::make_unique<tbb::task_group>(); };
    long result = 0;
    for (auto _ : state) {
        arena.execute([&] { result = solve_tasks(n, 0, 0, 0, 0, make); });
        benchmark::DoNotOptimize(result);
    }
    check("tbb", n, result);
}

long solve_omp(int n, int depth, unsigned cols, unsigned d1, unsigned d2) {
    if (depth >= k_spawn_depth) {
        return solve_serial(n, cols, d1, d2);
    }
    const unsigned all = (1U << n) - 1;
    if (cols == all) {
        return 1;
    }
    std::array<long, 32> partial{};
    int k = 0;
    for (unsigned free = ~(cols | d1 | d2) & all; free != 0; free &= free - 1, ++k) {
        const unsigned bit = free & -free;
        long* out = &partial[static_cast<std::size_t>(k)];
#pragma omp task default(none) firstprivate(out, n, depth, cols, d1, d2, bit)
        *out = solve_omp(n, depth + 1, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1);
    }
#pragma omp taskwait
    long total = 0;
    for (int i = 0; i < k; ++i) {
        total += partial[static_cast<std::size_t>(i)];
    }
    return total;
}

void bm_omp(benchmark::State& state, int threads, int n) {
    long result = 0;
    for (auto _ : state) {
#pragma omp parallel num_threads(threads) default(none) shared(result, n)
#pragma omp single
        result = solve_omp(n, 0, 0, 0, 0);
        benchmark::DoNotOptimize(result);
    }
    check("gomp", n, result);
}

} // namespace

int main(int argc, char** argv) {
    for (int n : {12, 13}) {
        for (int threads : topos::bench::thread_counts()) {
            const std::string suffix = run_suffix(threads, static_cast<std::size_t>(n));
            constexpr auto ms = benchmark::kMillisecond;
            register_run("nqueens/topos" + suffix, ms, bm_topos, static_cast<unsigned>(threads), n);
            register_run("nqueens/tbb" + suffix, ms, bm_tbb, threads, n);
            register_run("nqueens/gomp" + suffix, ms, bm_omp, threads, n);
        }
    }
    return topos::bench::run_benchmarks(argc, argv);
}
