// bench/bench_main.hpp - how every benchmark program ends: hand the remaining
// arguments to Google Benchmark, run what was registered, and report.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace topos::bench {

/// The thread counts the scheduler benchmarks register: TOPOS_BENCH_THREADS as
/// a comma-separated list ("1,2,4,8,16", for scaling runs on bigger machines),
/// else 1 and 2. A malformed list exits with status 2 and one line.
inline std::vector<int> thread_counts() {
    const char* env = std::getenv("TOPOS_BENCH_THREADS");
    if (env == nullptr || *env == '\0') {
        return {1, 2};
    }
    std::vector<int> out;
    const std::string text(env);
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::string item = text.substr(at, comma - at);
        char* end = nullptr;
        const long value = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || value < 1 || value > 4096) {
            std::fprintf(stderr, "TOPOS_BENCH_THREADS: '%s' is not a list of thread counts from 1 to 4096\n", env);
            std::exit(2);
        }
        out.push_back(static_cast<int>(value));
        at = comma + 1;
    }
    return out;
}

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
