// parallel_for with tiny bodies and automatic grain: topos against oneTBB
// parallel_for (auto_partitioner) and OpenMP `parallel for schedule(static)`.
//
// topos is measured two ways. "topos": called from the benchmark's own
// thread, which takes worker slot 0 for each loop (the runtime started
// `threads` - 1 threads), as OpenMP's and oneTBB's callers take part.
// "topos_in_task": the timing loop runs inside one task, so every
// parallel_for starts on a worker and no slot is taken per loop.
// "topos_range" and "topos_range_in_task": the same with a chunked body
// (topos/range.hpp), whose inner loop the compiler can vectorise.
//
// The same file builds with clang++ -fopenmp=libomp (TOPOS_BENCH_OPENMP_ONLY)
// for the LLVM libomp numbers, and whole with clang++ (TOPOS_BENCH_IMPL_SUFFIX
// "_clang": topos_clang, tbb_clang, ...), so that every peer is also measured
// as built by the compiler that builds libomp's variant.
#include "sched_bench.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef TOPOS_BENCH_OPENMP_ONLY
#include <topos/parallel.hpp>
#include <topos/range.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#endif

#ifndef TOPOS_BENCH_IMPL_SUFFIX
#define TOPOS_BENCH_IMPL_SUFFIX ""
#endif

namespace {

using namespace topos::bench;

struct arrays {
    explicit arrays(std::size_t n) : x(n, 1.0F), y(n, 2.0F) {}
    std::vector<float> x;
    std::vector<float> y;
};

// One saxpy step per index: y = 0.5 y + x keeps values bounded (converges to 2x).
inline void body(arrays& a, std::size_t i) { a.y[i] = 0.5F * a.y[i] + a.x[i]; }

void check(const char* who, const arrays& a) {
    for (std::size_t i = 0; i < a.y.size(); ++i) {
        if (!(a.y[i] > 1.9F && a.y[i] < 2.1F)) {
            std::fprintf(stderr, "%s: y[%zu] = %g, expected 2\n", who, i, static_cast<double>(a.y[i]));
            std::abort();
        }
    }
}

void bm_for_omp(benchmark::State& state, int threads, std::size_t n) {
    arrays a(n);
    const auto count = static_cast<long>(n);
    for (auto _ : state) {
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, count)
        for (long i = 0; i < count; ++i) {
            body(a, static_cast<std::size_t>(i));
        }
        benchmark::ClobberMemory();
    }
    check(TOPOS_BENCH_OMP_NAME, a);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

#ifndef TOPOS_BENCH_OPENMP_ONLY

// The chunked form: the body gets a topos::range and runs its own inner loop.
void range_body(arrays& a, topos::range r) {
    for (std::size_t i = r.begin(); i < r.end(); ++i) {
        body(a, i);
    }
}

// One loop over the arrays, per index or per chunk.
void loop(topos::runtime& rt, arrays& a, bool chunked) {
    const std::size_t n = a.y.size();
    if (chunked) {
        topos::parallel_for(rt, topos::range{0, n}, [&](topos::range r) { range_body(a, r); });
    } else {
        topos::parallel_for(rt, std::size_t{0}, n, [&](std::size_t i) { body(a, i); });
    }
}

// From the benchmark's thread (in_task false), or with the timing loop inside
// one task, so every parallel_for starts on a worker (in_task true).
void bm_topos(benchmark::State& state, unsigned threads, std::size_t n, bool chunked, bool in_task) {
    topos::runtime rt(workers(threads));
    arrays a(n);
    const auto timed = [&] {
        for (auto _ : state) {
            loop(rt, a, chunked);
            benchmark::ClobberMemory();
        }
    };
    if (in_task) {
        run_in_task(rt, timed);
    } else {
        timed();
    }
    check("topos", a);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void bm_for_topos(benchmark::State& state, unsigned threads, std::size_t n) { bm_topos(state, threads, n, false, false); }
void bm_for_topos_in_task(benchmark::State& state, unsigned threads, std::size_t n) {
    bm_topos(state, threads, n, false, true);
}
void bm_for_topos_range(benchmark::State& state, unsigned threads, std::size_t n) {
    bm_topos(state, threads, n, true, false);
}
void bm_for_topos_range_in_task(benchmark::State& state, unsigned threads, std::size_t n) {
    bm_topos(state, threads, n, true, true);
}

void bm_for_tbb(benchmark::State& state, int threads, std::size_t n) {
    tbb_threads arena(threads);
    arrays a(n);
    for (auto _ : state) {
        arena.execute([&] {
            tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n), [&](const tbb::blocked_range<std::size_t>& r) {
                for (std::size_t i = r.begin(); i != r.end(); ++i) {
                    body(a, i);
                }
            });
        });
        benchmark::ClobberMemory();
    }
    check("tbb", a);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

#endif

void register_all() {
    for (std::size_t n : {std::size_t{1} << 12, std::size_t{1} << 16, std::size_t{1} << 20}) {
        for (int threads : topos::bench::thread_counts()) {
            const std::string suffix = run_suffix(threads, n);
            constexpr auto ns = benchmark::kNanosecond;
#ifndef TOPOS_BENCH_OPENMP_ONLY
            const auto count = static_cast<unsigned>(threads);
            register_run("for/topos" TOPOS_BENCH_IMPL_SUFFIX + suffix, ns, bm_for_topos, count, n);
            register_run("for/topos_in_task" TOPOS_BENCH_IMPL_SUFFIX + suffix, ns, bm_for_topos_in_task, count, n);
            register_run("for/topos_range" TOPOS_BENCH_IMPL_SUFFIX + suffix, ns, bm_for_topos_range, count, n);
            register_run("for/topos_range_in_task" TOPOS_BENCH_IMPL_SUFFIX + suffix, ns, bm_for_topos_range_in_task, count, n);
            register_run("for/tbb" TOPOS_BENCH_IMPL_SUFFIX + suffix, ns, bm_for_tbb, threads, n);
#endif
            register_run(std::string("for/") + TOPOS_BENCH_OMP_NAME + suffix, ns, bm_for_omp, threads, n);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    return topos::bench::run_benchmarks(argc, argv);
}
