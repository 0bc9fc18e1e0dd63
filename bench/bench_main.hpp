// bench/bench_main.hpp - how every benchmark program ends: hand the remaining
// arguments to Google Benchmark, run what was registered, and report.
#pragma once

#include <benchmark/benchmark.h>

namespace topos::bench {

/// Returns main's exit status: 1 when an argument is not Google Benchmark's.
inline int run_benchmarks(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

} // namespace topos::bench
