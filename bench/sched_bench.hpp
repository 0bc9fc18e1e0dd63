// bench/sched_bench.hpp - what the scheduler benchmarks (fib, for, nqueens,
// sort, triad) share: the peers' headers, the name of the OpenMP runtime, how
// a run is named and registered, and the setup that gives topos and oneTBB
// exactly `threads` threads each, as an OpenMP team of that size has.
//
// The fib and for programs build a second time with clang++ -fopenmp=libomp
// and TOPOS_BENCH_OPENMP_ONLY (bench/scheduler.cmake): then only the OpenMP
// half is here, and nothing of topos or oneTBB is included.
#pragma once

#include "bench_main.hpp"

#include <benchmark/benchmark.h>

#include <omp.h>

#include <cstddef>
#include <string>

#ifndef TOPOS_BENCH_OPENMP_ONLY
#include <utility>

#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#endif

// The OpenMP runtime in run names: GCC's libgomp unless the libomp twin says.
#ifndef TOPOS_BENCH_OMP_NAME
#define TOPOS_BENCH_OMP_NAME "gomp"
#endif

namespace topos::bench {

/// "/threads:T/n:N", the tail of every run name; bench/sched_compare.py reads
/// the thread count and size back from it.
inline std::string run_suffix(int threads, std::size_t n) {
    return "/threads:" + std::to_string(threads) + "/n:" + std::to_string(n);
}

/// Registers `fn(state, args...)` as the run `name`, timed by the wall clock
/// (the work is on other threads, so the caller's CPU time says nothing) and
/// shown in `unit`.
template <class Fn, class... Args>
benchmark::internal::Benchmark* register_run(const std::string& name, benchmark::TimeUnit unit, Fn fn,
                                             Args... args) {
    return benchmark::RegisterBenchmark(name.c_str(), fn, args...)->UseRealTime()->Unit(unit);
}

#ifndef TOPOS_BENCH_OPENMP_ONLY

/// A runtime of `threads` workers and nothing else set.
inline topos::runtime_options workers(unsigned threads) {
    return {.places = {}, .bind = {}, .threads = threads, .topology = {}};
}

/// Runs `loop` (a benchmark's timing loop) inside one task of `rt` and
/// waits on it. The waiting caller is worker 0 (topos's default; the runtime
/// started the other threads - 1), so exactly `threads` threads do the work,
/// as in oneTBB's arena and OpenMP's team, whose calling thread takes part.
template <class Loop>
void run_in_task(topos::runtime& rt, Loop&& loop) {
    topos::task_group g(rt);
    g.run([&] { loop(); });
    g.wait();
}

/// oneTBB held to `threads` threads: the process-wide limit and an arena of
/// that size, alive together for one benchmark.
class tbb_threads {
public:
    explicit tbb_threads(int threads)
        : m_limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads)), m_arena(threads) {}

    /// Runs `f` in the arena and returns when it is done.
    template <class F>
    void execute(F&& f) {
        m_arena.execute(std::forward<F>(f));
    }

private:
    tbb::global_control m_limit;
    tbb::task_arena m_arena;
};

#endif

} // namespace topos::bench
