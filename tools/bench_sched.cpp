// tools/bench_sched.cpp - `topos bench sched`: the scheduler peer suite (fib,
// nqueens, mergesort, triad against oneTBB and OpenMP). The workloads are the
// Google Benchmark programs of bench/ (built with -DTOPOS_BUILD_BENCH=ON); this
// command finds them, runs each with JSON output, merges their results and
// computes topos's time over each peer's, per workload and thread count.
#include "bench_commands.hpp"
#include "bench_parse.hpp"
#include "interrupt.hpp"
#include "launch.hpp"

#include "command_set.hpp"

#include <topos/error.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <regex>
#include <sstream>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;

struct sched_program {
    const char* file;
    const char* quick_filter;  ///< the smallest configuration on 2 threads
    const char* quick_extra;   ///< an extra argument for --quick, or nullptr
    bool required;
};

// topos_bench_fib-libomp is the clang-built LLVM libomp twin, present when clang was found.
constexpr std::array<sched_program, 5> k_programs{{
    {"topos_bench_fib", "^fib/[a-z_]+/threads:2/n:30/", nullptr, true},
    {"topos_bench_fib-libomp", "^fib/[a-z_]+/threads:2/n:30/", nullptr, false},
    {"topos_bench_sched_nqueens", "^nqueens/[a-z_]+/threads:2/n:12/", nullptr, true},
    {"topos_bench_sched_sort", "^sort/[a-z_]+/threads:2/", nullptr, true},
    {"topos_bench_sched_triad", "^triad/(topos|omp_static|tbb)/threads:2/", "--n=1048576", true},
}};

bool is_executable(const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

std::filesystem::path self_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path(".") : exe.parent_path();
}

// --bench-dir, else TOPOS_BENCH_DIR, else libexec/topos next to the installed
// binary, else the build tree this topos came from.
std::filesystem::path find_bench_dir(const std::optional<std::string>& flag, std::vector<std::string>& looked) {
    if (flag) {
        const std::filesystem::path dir(*flag);
        if (!std::filesystem::is_directory(dir)) {
            throw error("--bench-dir: '" + *flag + "' is not a directory");
        }
        if (!is_executable(dir / k_programs[0].file)) {
            throw error("--bench-dir: '" + *flag + "' holds no " + k_programs[0].file +
                        "; expected the bench/ folder of a build configured with -DTOPOS_BUILD_BENCH=ON");
        }
        return dir;
    }
    std::vector<std::filesystem::path> candidates;
    if (const char* env = std::getenv("TOPOS_BENCH_DIR"); env != nullptr && *env != '\0') {
        candidates.emplace_back(env);
    }
    candidates.push_back(self_dir() / ".." / "libexec" / "topos");
#ifdef TOPOS_BENCH_BUILD_DIR
    candidates.emplace_back(TOPOS_BENCH_BUILD_DIR);
#endif
    for (const auto& dir : candidates) {
        looked.push_back(dir.lexically_normal().string());
        if (is_executable(dir / k_programs[0].file)) {
            return dir;
        }
    }
    return {};
}

double seconds_of(const json& b) {
    const std::string unit = b.value("time_unit", "ns");
    const double scale = unit == "s" ? 1.0 : unit == "ms" ? 1e-3 : unit == "us" ? 1e-6 : 1e-9;
    return b.value("real_time", 0.0) * scale;
}

// Google Benchmark writes a counter's undefined statistic (the coefficient of
// variation of an all-zero counter) as a bare NaN or inf, which JSON does not
// have; those become null.
std::string json_without_nan(const std::string& text) {
    static const std::regex bare(R"((:\s*)-?(nan|NaN|inf|Infinity)\b)");
    return std::regex_replace(text, bare, "$1null");
}

} // namespace

int run_bench_sched(const sched_options& opts) {
    const topology topo = topology::host();
    const unsigned reps = opts.common.repetitions.value_or(opts.common.quick ? 1 : 3);
    if (reps == 0) {
        throw error("--repetitions: expected at least 1");
    }
    if (opts.common.size) {
        throw error("--size: 'bench sched' runs fixed problem sizes; expected no --size");
    }
    std::vector<std::string> looked;
    const std::filesystem::path dir = find_bench_dir(opts.bench_dir, looked);
    if (dir.empty()) {
        std::string where;
        for (const auto& l : looked) {
            where += (where.empty() ? "" : ", ") + l;
        }
        throw error("bench sched: the scheduler benchmarks were not built (no " + std::string(k_programs[0].file) +
                    " in " + where + "); they build by default where Google Benchmark, oneTBB and OpenMP are found "
                    "(-DTOPOS_BUILD_BENCH=ON insists), or pass --bench-dir DIR");
    }
    bench_report report;
    report.command = "sched";
    report.context_extra["bench_dir"] = dir.lexically_normal().string();
    report.context_extra["sched_repetitions"] = reps;
    json program_contexts = json::object();
    interrupt::install();
    progress_line progress("sched");
    int status = 0;
    std::vector<json> runs;
    for (std::size_t i = 0; i < k_programs.size() && !interrupt::requested(); ++i) {
        const auto& prog = k_programs[i];
        const auto path = dir / prog.file;
        if (!is_executable(path)) {
            if (prog.required) {
                report.notes.push_back(std::string(prog.file) + " is missing from " + dir.string() + ": skipped");
            }
            continue;
        }
        progress.update(i, k_programs.size(), prog.file);
        launch_spec spec;
        spec.argv = {path.string(), "--benchmark_format=json", "--benchmark_repetitions=" + std::to_string(reps)};
        if (opts.common.quick) {
            spec.argv.push_back(std::string("--benchmark_filter=") + prog.quick_filter);
            spec.argv.emplace_back("--benchmark_min_time=0.01");
            if (prog.quick_extra != nullptr) {
                spec.argv.emplace_back(prog.quick_extra);
            }
        }
        const child_result r = run_child(spec, child_output::capture, child_output::inherit);
        if (r.interrupted || interrupt::requested()) {
            break;
        }
        if (!r.start_error.empty() || r.status != 0) {
            progress.clear();
            report_error("bench sched: " + std::string(prog.file) +
                         (r.start_error.empty() ? " exited with status " + std::to_string(r.status)
                                                : " did not start: " + r.start_error));
            status = k_exit_internal;
            continue;
        }
        json doc;
        try {
            doc = json::parse(json_without_nan(r.captured));
        } catch (const json::exception& e) {
            progress.clear();
            report_error("bench sched: " + std::string(prog.file) + " did not print Google Benchmark JSON: " + e.what());
            status = k_exit_internal;
            continue;
        }
        program_contexts[prog.file] = doc.value("context", json::object());
        for (auto& b : doc.value("benchmarks", json::array())) {
            b["program"] = prog.file;
            runs.push_back(b);
        }
    }
    progress.clear();
    report.interrupted = interrupt::requested();
    report.context_extra["programs"] = program_contexts;

    // Best (minimum) time per configuration: noise on a shared machine only adds.
    // Names are workload/impl/threads:T/n:N[/real_time].
    std::map<std::string, std::map<std::string, double>> best;
    const std::regex shape(R"(^(\w+)/(\w+)(/.*?)(/real_time)?$)");
    for (const auto& b : runs) {
        if (b.value("run_type", "iteration") != "iteration") {
            continue;
        }
        std::smatch m;
        const std::string run_name = b.value("run_name", b.value("name", ""));
        if (!std::regex_match(run_name, m, shape)) {
            continue;
        }
        const std::string config = m[1].str() + m[3].str();
        const double t = seconds_of(b);
        auto [it, fresh] = best[config].emplace(m[2].str(), t);
        if (!fresh) {
            it->second = std::min(it->second, t);
        }
    }
    json ratios = json::array();
    std::ostringstream table;
    table << "Scheduler suite (best of " << reps << "; time ratios topos/peer, < 1: topos faster)\n";
    for (const auto& [config, impls] : best) {
        table << config << '\n' << "   ";
        for (const auto& [impl, t] : impls) {
            table << "  " << impl << " " << fixed(t * 1e3, 3) << " ms";
        }
        table << '\n';
        const auto mine = impls.find("topos");
        if (mine == impls.end()) {
            continue; // a peer-only program (the libomp twin) whose topos rows were filtered out
        }
        table << "   ";
        for (const auto& [impl, t] : impls) {
            if (impl.starts_with("topos")) {
                continue;
            }
            const double ratio = mine->second / t;
            ratios.push_back({{"workload", config}, {"ratio", "topos/" + impl}, {"value", ratio}});
            table << "  topos/" << impl << " " << fixed(ratio, 2);
        }
        table << '\n';
    }
    report.extra["ratios"] = ratios;
    // The programs' own rows, as Google Benchmark wrote them.
    nlohmann::ordered_json merged = nlohmann::ordered_json::array();
    for (auto& b : runs) {
        merged.push_back(b);
    }
    report.extra["benchmarks"] = merged;
    return finish_report(report, topo, opts.common.json, table.str(), status);
}

} // namespace topos::cli
