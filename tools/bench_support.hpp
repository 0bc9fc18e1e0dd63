// tools/bench_support.hpp - what every `topos bench` subcommand and `topos tune`
// share: results in Google Benchmark's JSON shape, the progress line, Ctrl-C,
// size arguments, pinned measuring threads and child processes.
#pragma once

#include <topos/topology.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
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

/// Parses a byte count: "4096", "64K", "1.5M", "2G", "1e6" (K, M, G, T are powers of
/// 1024; a trailing "B" or "iB" is allowed). Throws topos::error naming `flag` when it
/// is not a number, not positive, or above `max`.
[[nodiscard]] std::size_t parse_size(std::string_view text, std::string_view flag, std::size_t max);

/// "48 KiB", "1.5 MiB".
[[nodiscard]] std::string format_bytes(double bytes);
/// `v` with `digits` decimals, for the tables.
[[nodiscard]] std::string fixed(double v, int digits);
/// `s` right-aligned in `width` columns (never cut).
[[nodiscard]] std::string pad(const std::string& s, std::size_t width);

/// Ctrl-C: install() makes SIGINT (and SIGTERM) set a flag instead of killing us;
/// requested() tells the benchmark to stop after its current measurement.
namespace interrupt {
void install();
[[nodiscard]] bool requested() noexcept;
/// For tests of the machinery only.
void reset() noexcept;
} // namespace interrupt
inline constexpr int k_exit_interrupted = 130;

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

/// The sum of the sizes of the last-level caches (0 when none is reported).
[[nodiscard]] std::uint64_t last_level_cache_bytes(const topology& topo);
/// The size of the first data (or unified) cache of `level` (0 when none).
[[nodiscard]] std::uint64_t cache_bytes(const topology& topo, int level);
/// Bytes the host could give us now without swapping (MemAvailable), 0 when unknown.
[[nodiscard]] std::uint64_t available_memory_bytes();

/// PUs of each core of `node`, one set per core.
[[nodiscard]] std::vector<std::vector<int>> core_pus_of_node(const topology& topo, int node);
/// An OMP_PLACES list naming each set as one place: "{0,4},{1,5}".
[[nodiscard]] std::string places_of(const std::vector<std::vector<int>>& sets);

/// Runs body(t) on `pu_sets.size()` threads, thread t pinned to pu_sets[t] (an empty
/// set: not pinned), `rounds` times with all threads released together each round.
/// Returns, per round, the time from the first thread's start to the last one's end.
/// `pinned` (if given) says whether every thread could be pinned.
std::vector<double> run_pinned_rounds(const std::vector<std::vector<int>>& pu_sets, unsigned rounds,
                                      const std::function<void(unsigned thread, unsigned round)>& body,
                                      bool* pinned = nullptr);

/// Pins the calling thread to `pus`; false when the kernel refused.
bool pin_this_thread(const std::vector<int>& pus);

/// Seconds of CPU time the process has used.
[[nodiscard]] double process_cpu_seconds();

/// How to start a program: the environment to add or remove, where it may run
/// and its memory policy, applied in the child between fork and exec.
struct launch_spec {
    std::vector<std::string> argv;                       ///< program and arguments
    std::map<std::string, std::optional<std::string>> env; ///< value, or nullopt to unset
    std::vector<int> cpus;                               ///< PU OS indices; empty: inherit
    enum class mem_mode { inherit, bind, interleave } memory = mem_mode::inherit;
    std::vector<int> memory_os_nodes;                    ///< kernel node numbers for bind/interleave
};

/// Finds a program as execvp would. Returns the path, or nullopt (with the reason in
/// `why`) when there is none or it cannot be executed.
[[nodiscard]] std::optional<std::string> find_program(const std::string& name, std::string* why = nullptr,
                                                      bool* not_executable = nullptr);

/// Applies env, CPU affinity and memory policy of `spec` to this process. Returns an
/// empty string, or what failed.
[[nodiscard]] std::string apply_launch_spec(const launch_spec& spec);

struct child_result {
    int status = -1;          ///< exit status, 128 + signal when killed, -1 when it did not start
    std::string captured;     ///< the captured stream (see run_child)
    double seconds = 0;       ///< wall time from fork to exit
    bool interrupted = false; ///< Ctrl-C arrived while it ran (it was sent SIGINT)
    std::string start_error;  ///< why it did not start
};

enum class child_output { inherit, discard, capture };

/// Forks, applies `spec` and execs it; stdout and stderr go as asked, and one
/// captured stream is kept (stdout when stdout is captured, else the last 4 KiB of
/// stderr). It runs in its own process group with stdin from /dev/null; a
/// Ctrl-C while it runs is passed on to that group.
[[nodiscard]] child_result run_child(const launch_spec& spec, child_output out, child_output err);

/// Median of a non-empty list.
[[nodiscard]] double median(std::vector<double> values);

} // namespace topos::cli
