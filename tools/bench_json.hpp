// tools/bench_json.hpp - what a `topos bench` subcommand or `topos tune`
// reports: rows in Google Benchmark's JSON shape with this machine's context,
// the table, and a progress line on stderr while it measures.
#pragma once

#include <topos/topology.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topos::cli {

/// Options every benchmark takes.
struct bench_common_options {
    bool quick = false;                ///< a short smoke run (small sizes, few repetitions)
    std::optional<std::string> json;   ///< --json FILE; "-" writes the JSON to stdout instead of the table
    std::optional<std::string> size;   ///< --size BYTES, parsed by parse_size
    std::optional<unsigned> repetitions; ///< --repetitions N; each benchmark has its own default
};

/// One row of Google Benchmark's "benchmarks" array.
struct bench_record {
    std::string name;
    std::string run_type = "iteration"; ///< or "aggregate"
    std::string aggregate_name;         ///< for aggregates: "median", "min", ...
    std::uint64_t iterations = 1;
    double real_time = 0;
    double cpu_time = 0;
    std::string time_unit = "ns";       ///< ns, us, ms or s
    unsigned threads = 1;
    unsigned repetitions = 1;
    unsigned repetition_index = 0;
    std::map<std::string, double> counters; ///< custom counters, written as top-level keys
    std::string label;
};

/// Results of one run, written as {"context": ..., "benchmarks": [...], <extra>}.
struct bench_report {
    std::string command;        ///< "latency", "stream", ...
    nlohmann::ordered_json context_extra = nlohmann::ordered_json::object();
    std::vector<bench_record> records;
    nlohmann::ordered_json extra = nlohmann::ordered_json::object(); ///< top-level keys after "benchmarks"
    bool interrupted = false;
    std::vector<std::string> notes;  ///< what could not be done here (printed and stored in context)
};

/// Google Benchmark's context object for this machine plus topos's fields.
[[nodiscard]] nlohmann::ordered_json bench_context(const topology& topo, std::string_view command);
[[nodiscard]] nlohmann::ordered_json report_to_json(const bench_report& report, const topology& topo);

/// Writes `doc` to `path` ("-" is stdout) via a temporary file renamed into place.
/// Returns 0, or 1 after reporting why it could not.
int write_json_output(const std::string& path, const nlohmann::ordered_json& doc);

/// Finishes a benchmark: writes --json (also when interrupted or failed, with what
/// finished), prints the table unless the JSON went to stdout, and returns the exit
/// status (130 when interrupted, `status` otherwise, 1 if the output failed).
int finish_report(const bench_report& report, const topology& topo, const std::optional<std::string>& json_path,
                  const std::string& table, int status = 0);

/// One line on stderr, rewritten in place with '\r', only when stderr is a terminal.
class progress_line {
public:
    explicit progress_line(std::string prefix);
    ~progress_line();
    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;
    void update(std::size_t done, std::size_t total, std::string_view what);
    void clear();

private:
    std::string m_prefix;
    bool m_enabled = false;
    bool m_shown = false;
};

/// Runs a subcommand's measuring loop `measure`. A topos::error (bad input
/// found late) propagates. Any other exception ends the run: the progress
/// line is cleared, one line on stderr names `command` and the error, and
/// finish_report writes what was measured; that exit status (1) is returned.
/// Otherwise the progress line is cleared, the report is marked interrupted
/// when Ctrl-C ended the loop, and nullopt is returned.
[[nodiscard]] std::optional<int> run_measurements(std::string_view command, progress_line& progress,
                                                  bench_report& report, const topology& topo,
                                                  const std::optional<std::string>& json_path,
                                                  const std::function<void()>& measure);

} // namespace topos::cli
