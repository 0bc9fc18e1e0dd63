// STREAM triad a = b + q*c: topos parallel_for over node_arrays (each block
// runs on its node) against OpenMP `parallel for schedule(static)` and oneTBB
// parallel_for, on the same thread count.
//
// "topos_vector" runs the same loop over std::vectors, which separates the
// scheduler's cost from the node_array's page placement.
//
// STREAM rules: the arrays should be at least 4x the sum of the last-level
// caches (--n, default 2^25 doubles per array as in PEERS.md; raise it on
// machines with large caches); each configuration runs repeatedly and the best
// run counts (use --benchmark_repetitions=10 and take the minimum, as
// bench/sched_compare.py does). Bandwidth counts 24 bytes per element (two
// reads, one write), as STREAM does. Results are checked after timing.
#include "sched_bench.hpp"

#include <topos/node_array.hpp>
#include <topos/parallel.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace topos::bench;

constexpr double k_q = 3.0;
std::size_t g_n = std::size_t{1} << 25;
std::size_t g_grain = 0;

template <class A>
void check(const char* who, const A& a) {
    for (std::size_t i = 0; i < g_n; i += 4099) {
        if (a[i] != 1.0 + k_q * 2.0) {
            std::fprintf(stderr, "%s: a[%zu] = %g, expected %g\n", who, i, a[i], 1.0 + k_q * 2.0);
            std::abort();
        }
    }
}

void set_bandwidth(benchmark::State& state) {
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(24 * g_n));
}

void bm_triad_topos(benchmark::State& state, unsigned threads) {
    topos::runtime rt(workers(threads));
    const std::vector<int> nodes = rt.nodes().empty() ? std::vector<int>{0} : rt.nodes();
    topos::node_array<double> a(g_n, nodes);
    topos::node_array<double> b(g_n, nodes);
    topos::node_array<double> c(g_n, nodes);
    // First touch is already placed by node_array; fill in parallel anyway so
    // every page is mapped before timing.
    topos::parallel_for(rt, a, [&](std::size_t i) {
        b[i] = 1.0;
        c[i] = 2.0;
    });
    run_in_task(rt, [&] {
        for (auto _ : state) {
            topos::parallel_for(rt, a, [&](std::size_t i) { a[i] = b[i] + k_q * c[i]; }, g_grain);
            benchmark::ClobberMemory();
        }
    });
    check("topos", a);
    const auto s = rt.stats();
    state.counters["on_node_pct"] =
        100.0 * static_cast<double>(s.iterations_on_data_node) /
        static_cast<double>(std::max<std::uint64_t>(1, s.iterations_on_data_node + s.iterations_off_data_node));
    set_bandwidth(state);
}

// The same loop over plain vectors (first touch by the workers), to separate
// the scheduler from the node_array's page placement.
void bm_triad_topos_vector(benchmark::State& state, unsigned threads) {
    topos::runtime rt(workers(threads));
    std::vector<double> a;
    std::vector<double> b;
    std::vector<double> c;
    run_in_task(rt, [&] {
        a.resize(g_n);
        b.resize(g_n);
        c.resize(g_n);
        topos::parallel_for(rt, std::size_t{0}, g_n, [&](std::size_t i) {
            a[i] = 0.0;
            b[i] = 1.0;
            c[i] = 2.0;
        });
        for (auto _ : state) {
            topos::parallel_for(rt, std::size_t{0}, g_n, [&](std::size_t i) { a[i] = b[i] + k_q * c[i]; }, g_grain);
            benchmark::ClobberMemory();
        }
    });
    check("topos_vector", a);
    set_bandwidth(state);
}

void bm_triad_omp(benchmark::State& state, int threads) {
    std::vector<double> a(g_n);
    std::vector<double> b(g_n);
    std::vector<double> c(g_n);
    const auto n = static_cast<long>(g_n);
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, b, c, n)
    for (long i = 0; i < n; ++i) { // first touch by the thread that will use it
        const auto k = static_cast<std::size_t>(i);
        a[k] = 0.0;
        b[k] = 1.0;
        c[k] = 2.0;
    }
    for (auto _ : state) {
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, b, c, n)
        for (long i = 0; i < n; ++i) {
            const auto k = static_cast<std::size_t>(i);
            a[k] = b[k] + k_q * c[k];
        }
        benchmark::ClobberMemory();
    }
    check("omp", a);
    set_bandwidth(state);
}

void bm_triad_tbb(benchmark::State& state, int threads) {
    tbb_threads arena(threads);
    std::vector<double> a(g_n);
    std::vector<double> b(g_n);
    std::vector<double> c(g_n);
    tbb::static_partitioner part;
    const tbb::blocked_range<std::size_t> all(0, g_n);
    arena.execute([&] {
        tbb::parallel_for(
            all,
            [&](const tbb::blocked_range<std::size_t>& r) {
                for (std::size_t i = r.begin(); i != r.end(); ++i) {
                    a[i] = 0.0;
                    b[i] = 1.0;
                    c[i] = 2.0;
                }
            },
            part);
    });
    for (auto _ : state) {
        arena.execute([&] {
            tbb::parallel_for(
                all,
                [&](const tbb::blocked_range<std::size_t>& r) {
                    for (std::size_t i = r.begin(); i != r.end(); ++i) {
                        a[i] = b[i] + k_q * c[i];
                    }
                },
                part);
        });
        benchmark::ClobberMemory();
    }
    check("tbb", a);
    set_bandwidth(state);
}

} // namespace

int main(int argc, char** argv) {
    // --n=<elements per array> before Google Benchmark's own flags.
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--grain=", 0) == 0) {
            g_grain = std::stoull(arg.substr(8));
        } else if (arg.rfind("--n=", 0) == 0) {
            g_n = std::stoull(arg.substr(4));
        } else {
            rest.push_back(argv[i]);
        }
    }
    int rest_count = static_cast<int>(rest.size());
    for (int threads : topos::bench::thread_counts()) {
        const std::string suffix = run_suffix(threads, g_n);
        constexpr auto ms = benchmark::kMillisecond;
        register_run("triad/topos" + suffix, ms, bm_triad_topos, static_cast<unsigned>(threads));
        register_run("triad/topos_vector" + suffix, ms, bm_triad_topos_vector, static_cast<unsigned>(threads));
        register_run("triad/omp_static" + suffix, ms, bm_triad_omp, threads);
        register_run("triad/tbb" + suffix, ms, bm_triad_tbb, threads);
    }
    return topos::bench::run_benchmarks(rest_count, rest.data());
}
