// tools/tune_command.cpp - `topos tune -- PROGRAM ARGS`: runs a program under
// each candidate placement, as `topos run` would start it (TOPOS_* and OMP_*
// variables, CPU mask), and ranks the placements by median wall time.
//
// Candidates come from the topology: close and spread over cores, threads
// (with SMT), numa_domains, and everything on one node, each at the thread
// counts that matter (1, one node's cores, all cores, all PUs). Candidates
// whose plans put the same workers on the same PUs are run once. The
// "default" candidate runs the program with none of the variables set.
// Runs are interleaved (every candidate once, then again) so a slow spell of
// a shared machine spreads over all of them.
#include "bench_commands.hpp"
#include "bench_parse.hpp"
#include "interrupt.hpp"
#include "launch.hpp"
#include "pinning.hpp"

#include "command_set.hpp"
#include "commands.hpp"

#include <topos/error.hpp>
#include <topos/placement.hpp>

#include <algorithm>
#include <array>
#include <iostream>
#include <set>
#include <sstream>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;

struct candidate {
    std::string label;
    std::string places;  ///< empty for the default candidate
    std::string bind;
    unsigned threads = 0;
    std::vector<int> cpus; ///< union of the plan's PUs; empty: not restricted
    std::vector<double> seconds;
};

const std::array<const char*, 6> k_variables{"TOPOS_NUM_THREADS", "TOPOS_PLACES", "TOPOS_PROC_BIND",
                                             "OMP_NUM_THREADS",   "OMP_PLACES",   "OMP_PROC_BIND"};

std::vector<unsigned> parse_thread_list(const std::string& text) {
    std::vector<unsigned> out;
    std::istringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        out.push_back(parse_thread_count(part, "--threads"));
    }
    if (out.empty()) {
        throw error("--threads: '" + text + "' is empty; expected a comma list of thread counts such as 1,4,8");
    }
    return out;
}

std::vector<candidate> derive_candidates(const topology& topo, const std::optional<std::string>& thread_list,
                                         bool restrict_cpus) {
    std::vector<candidate> out;
    out.push_back({"default", "", "", 0, {}, {}});
    std::vector<int> cpu_nodes;
    for (const auto& n : topo.numa_nodes()) {
        if (!n.pus.empty()) {
            cpu_nodes.push_back(n.id);
        }
    }
    const auto node_cores = cpu_nodes.empty() ? std::vector<std::vector<int>>{} : core_pus_of_node(topo, cpu_nodes.front());
    const auto cores = static_cast<unsigned>(topo.cores().size());
    const auto pus = static_cast<unsigned>(topo.pus().size());
    std::vector<unsigned> counts;
    if (thread_list) {
        counts = parse_thread_list(*thread_list);
    } else {
        counts = {1, static_cast<unsigned>(node_cores.size()), cores};
        if (pus > cores) {
            counts.push_back(pus);
        }
    }
    std::sort(counts.begin(), counts.end());
    counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
    counts.erase(std::remove(counts.begin(), counts.end(), 0U), counts.end());

    struct idea {
        std::string label;
        std::string places;
        std::string bind;
        unsigned threads;
    };
    std::vector<idea> ideas;
    for (unsigned t : counts) {
        ideas.push_back({"cores/close", "cores", "close", t});
        ideas.push_back({"cores/spread", "cores", "spread", t});
        if (pus > cores) {
            ideas.push_back({"threads/close", "threads", "close", t});
            ideas.push_back({"threads/spread", "threads", "spread", t});
        }
        ideas.push_back({"numa_domains/spread", "numa_domains", "spread", t});
    }
    if (!node_cores.empty() && cpu_nodes.size() > 1) {
        ideas.push_back({"node" + std::to_string(cpu_nodes.front()) + "/close", places_of(node_cores), "close",
                         static_cast<unsigned>(node_cores.size())});
    }
    // One run per distinct plan: same workers on the same PUs, same binding.
    std::set<std::pair<bool, std::vector<std::vector<int>>>> seen;
    for (const auto& i : ideas) {
        placement_plan plan;
        try {
            plan = plan_placement(topo, {.places = i.places, .bind = parse_proc_bind(i.bind), .threads = i.threads});
        } catch (const error&) {
            continue; // e.g. more threads than the grammar allows
        }
        std::vector<std::vector<int>> key;
        std::vector<int> cpus;
        for (const auto& w : plan.workers) {
            key.push_back(w.pus);
            cpus.insert(cpus.end(), w.pus.begin(), w.pus.end());
        }
        if (!seen.emplace(plan.bind == proc_bind::disabled, key).second) {
            continue;
        }
        std::sort(cpus.begin(), cpus.end());
        cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
        out.push_back({i.label + "/" + std::to_string(i.threads), i.places, i.bind, i.threads,
                       restrict_cpus ? cpus : std::vector<int>{}, {}});
    }
    return out;
}

// A value a shell reads back unchanged.
std::string shell_quote(const std::string& v) {
    if (!v.empty() && v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/") ==
                          std::string::npos) {
        return v;
    }
    std::string out = "'";
    for (char c : v) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

std::string export_line(const candidate& c) {
    if (c.places.empty()) {
        std::string line = "unset";
        for (const char* v : k_variables) {
            line += std::string(" ") + v;
        }
        return line;
    }
    std::string line = "export";
    for (const auto& [name, value] : placement_environment(c.places, c.bind, c.threads)) {
        line += " " + name + "=" + shell_quote(value.value_or(""));
    }
    return line;
}

std::string pad_right(const std::string& s, std::size_t width) {
    return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

} // namespace

int run_tune(const tune_options& opts) {
    if (opts.command.empty()) {
        throw error("tune: no program given; expected 'topos tune [OPTIONS] -- PROGRAM [ARGS...]'");
    }
    if (opts.repeat == 0 || opts.repeat > 1000) {
        throw error("--repeat: expected a count from 1 to 1000");
    }
    std::string why;
    if (!find_program(opts.command.front(), &why)) {
        throw error("tune: cannot run the program: " + why);
    }
    const topology topo = load_topology(opts.topology);
    const bool here = topo.is_this_system();
    std::vector<candidate> candidates = derive_candidates(topo, opts.threads, here);

    bench_report report;
    report.command = "tune";
    if (!here) {
        report.notes.push_back("candidates were planned for " + topo.source_spec() +
                               "; they run on this machine without a CPU mask, and the program plans its own threads from "
                               "the variables");
    }
    interrupt::install();
    progress_line progress("tune");
    const std::size_t total = candidates.size() * opts.repeat;
    std::size_t done = 0;
    int status = 0;
    // Pass 0 is a warm-up of the first candidate (file cache, page cache, the
    // dynamic loader's work); it is not counted.
    for (unsigned rep = 0; rep <= opts.repeat && status == 0 && !interrupt::requested(); ++rep) {
        for (auto& c : candidates) {
            if (rep == 0 && &c != &candidates.front()) {
                break;
            }
            progress.update(done, total, c.label);
            launch_spec spec;
            spec.argv = opts.command;
            if (c.places.empty()) {
                for (const char* v : k_variables) {
                    spec.env[v] = std::nullopt;
                }
            } else {
                spec.env = placement_environment(c.places, c.bind, c.threads);
            }
            spec.cpus = c.cpus;
            const child_output out = opts.show_output ? child_output::inherit : child_output::discard;
            const child_output err = opts.show_output ? child_output::inherit : child_output::capture;
            const child_result r = run_child(spec, out, err);
            if (r.interrupted || interrupt::requested()) {
                break;
            }
            done += rep == 0 ? 0 : 1;
            if (!r.start_error.empty() || r.status != 0) {
                progress.clear();
                const std::string what = r.start_error.empty()
                                             ? "exited with status " + std::to_string(r.status)
                                             : "did not start: " + r.start_error;
                report_error("tune: candidate '" + c.label + "' (" + export_line(c) + "): " + opts.command.front() + " " +
                             what);
                if (!r.captured.empty()) {
                    std::cerr << "topos: the program's last error output:\n" << r.captured;
                    if (r.captured.back() != '\n') {
                        std::cerr << '\n';
                    }
                }
                report.context_extra["failed_candidate"] = c.label;
                report.context_extra["failed_status"] = r.status;
                status = k_exit_internal;
                break;
            }
            if (rep > 0) {
                c.seconds.push_back(r.seconds);
            }
        }
    }
    progress.clear();
    report.interrupted = interrupt::requested();

    // Ranked by median; candidates without a finished run go last.
    std::vector<const candidate*> ranked;
    for (const auto& c : candidates) {
        if (!c.seconds.empty()) {
            ranked.push_back(&c);
        }
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const candidate* a, const candidate* b) { return median(a->seconds) < median(b->seconds); });
    const auto def = std::find_if(candidates.begin(), candidates.end(), [](const candidate& c) { return c.places.empty(); });
    const double default_median = def != candidates.end() && !def->seconds.empty() ? median(def->seconds) : 0.0;

    std::ostringstream table;
    table << "Placements of '" << opts.command.front() << "' ranked by median wall time (" << opts.repeat
          << " run(s) each)\n";
    table << pad_right("rank", 6) << pad_right("candidate", 26) << pad_right("threads", 9) << pad_right("places", 22)
          << pad_right("bind", 8) << pad_right("median s", 11) << pad_right("min s", 11) << pad_right("max s", 11)
          << "vs default\n";
    json ranking = json::array();
    for (std::size_t i = 0; i < ranked.size(); ++i) {
        const candidate& c = *ranked[i];
        const double med = median(c.seconds);
        const auto [lo, hi] = std::minmax_element(c.seconds.begin(), c.seconds.end());
        table << pad_right(std::to_string(i + 1), 6) << pad_right(c.label, 26)
              << pad_right(c.threads == 0 ? "-" : std::to_string(c.threads), 9)
              << pad_right(c.places.empty() ? "-" : c.places, 22) << pad_right(c.bind.empty() ? "-" : c.bind, 8)
              << pad_right(fixed(med, 4), 11) << pad_right(fixed(*lo, 4), 11) << pad_right(fixed(*hi, 4), 11)
              << (default_median > 0 ? fixed(default_median / med, 2) + "x" : "-") << '\n';
        json env = json::object();
        if (!c.places.empty()) {
            for (const auto& [name, value] : placement_environment(c.places, c.bind, c.threads)) {
                env[name] = value.value_or("");
            }
        }
        ranking.push_back({{"rank", i + 1},
                           {"candidate", c.label},
                           {"places", c.places},
                           {"bind", c.bind},
                           {"threads", c.threads},
                           {"cpus", format_cpu_list(c.cpus)},
                           {"median_seconds", med},
                           {"seconds", c.seconds},
                           {"speedup_vs_default", default_median > 0 ? default_median / med : 0.0},
                           {"environment", env}});
        for (std::size_t k = 0; k < c.seconds.size(); ++k) {
            bench_record r;
            r.name = "tune/" + c.label;
            r.real_time = c.seconds[k] * 1e3;
            r.cpu_time = r.real_time;
            r.time_unit = "ms";
            r.threads = std::max(1U, c.threads);
            r.repetitions = static_cast<unsigned>(c.seconds.size());
            r.repetition_index = static_cast<unsigned>(k);
            report.records.push_back(r);
        }
        bench_record agg;
        agg.name = "tune/" + c.label;
        agg.run_type = "aggregate";
        agg.aggregate_name = "median";
        agg.real_time = med * 1e3;
        agg.cpu_time = agg.real_time;
        agg.time_unit = "ms";
        agg.threads = std::max(1U, c.threads);
        agg.repetitions = static_cast<unsigned>(c.seconds.size());
        report.records.push_back(agg);
    }
    json tune;
    tune["program"] = opts.command;
    tune["repeat"] = opts.repeat;
    tune["ranking"] = ranking;
    if (!ranked.empty()) {
        const candidate& best = *ranked.front();
        tune["best"] = best.label;
        tune["export"] = export_line(best);
        table << "\nbest: " << best.label;
        if (default_median > 0) {
            table << " (" << fixed(default_median / median(best.seconds), 2) << "x the default's speed)";
        }
        table << "\n" << export_line(best) << '\n';
        if (report.interrupted || status != 0) {
            table << "(from the runs that finished)\n";
        }
    }
    report.extra["tune"] = tune;
    return finish_report(report, topo, opts.json, table.str(), status);
}

} // namespace topos::cli
