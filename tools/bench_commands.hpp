// tools/bench_commands.hpp - `topos bench latency|bandwidth|stream|sched`,
// `topos tune` and `topos run`. Each returns the process's exit status and
// writes its own output (results are written as they become final, so an
// interrupted or failed run still leaves what it measured).
#pragma once

#include "bench_json.hpp"

#include <topos/topology.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topos::cli {

struct stream_options {
    bench_common_options common;
    std::optional<std::string> impls;      ///< comma list of topos, omp, tbb
    std::optional<std::string> placements; ///< comma list of first_touch, interleave, one_node, remote
};

struct sched_options {
    bench_common_options common;
    std::optional<std::string> bench_dir;  ///< where topos_bench_fib etc. live
};

struct tune_options {
    std::vector<std::string> command;      ///< the program and its arguments
    unsigned repeat = 3;
    std::optional<std::string> topology;   ///< plan candidates for this machine (runs stay on the host)
    std::optional<std::string> threads;    ///< comma list replacing the derived thread counts
    std::optional<std::string> json;
    bool show_output = false;
};

struct run_options {
    std::vector<std::string> command;
    std::optional<std::string> places;
    std::optional<std::string> bind;
    std::optional<std::string> threads;
    std::optional<std::string> membind;    ///< node list
    std::optional<std::string> interleave; ///< node list or "all"
    bool dry_run = false;                  ///< print what would be set and exit
};

int run_bench_latency(const bench_common_options& opts);
int run_bench_bandwidth(const bench_common_options& opts);
int run_bench_stream(const stream_options& opts);
int run_bench_sched(const sched_options& opts);
/// `topos bench data` (tools/bench_data.cpp): replicas, next-touch, phase change.
int run_bench_data(const bench_common_options& opts);
int run_tune(const tune_options& opts);
int run_run(const run_options& opts);

/// The environment a placement gives a program: TOPOS_* and the OMP_* equivalents.
/// `bind` and `places` are the user's words; threads 0 leaves the counts unset.
[[nodiscard]] std::map<std::string, std::optional<std::string>> placement_environment(const std::string& places,
                                                                                      const std::string& bind,
                                                                                      unsigned threads);

/// Parses a node list "0,2", "0-3" or "all" (when allowed) into logical node ids of
/// `topo`. Throws topos::error naming `flag`.
[[nodiscard]] std::vector<int> parse_node_list(const topology& topo, std::string_view text, std::string_view flag,
                                               bool allow_all);

} // namespace topos::cli
