// tools/run_command.cpp - `topos run`: starts a program with a placement, as
// numactl and taskset do. The plan's PUs become the process's CPU mask, the
// placement goes into TOPOS_* and OMP_* variables so topos and OpenMP inside
// the program follow it, and --membind/--interleave set the memory policy
// (set_mempolicy); all three are inherited across exec, which replaces topos
// by the program, so the exit status is the program's own.
#include "bench_commands.hpp"
#include "launch.hpp"

#include "command_set.hpp"
#include "commands.hpp"

#include <topos/error.hpp>
#include <topos/placement.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

namespace topos::cli {
namespace {

constexpr int k_exit_cannot_execute = 126;
constexpr int k_exit_not_found = 127;

std::string omp_bind_word(const std::string& bind) {
    if (bind == "enabled") {
        return "true";
    }
    if (bind == "disabled") {
        return "false";
    }
    return bind;
}

} // namespace

std::map<std::string, std::optional<std::string>> placement_environment(const std::string& places,
                                                                        const std::string& bind, unsigned threads) {
    std::map<std::string, std::optional<std::string>> env;
    env["TOPOS_PLACES"] = places;
    env["OMP_PLACES"] = places;
    env["TOPOS_PROC_BIND"] = omp_bind_word(bind);
    env["OMP_PROC_BIND"] = omp_bind_word(bind);
    if (threads > 0) {
        env["TOPOS_NUM_THREADS"] = std::to_string(threads);
        env["OMP_NUM_THREADS"] = std::to_string(threads);
    }
    return env;
}

std::vector<int> parse_node_list(const topology& topo, std::string_view text, std::string_view flag, bool allow_all) {
    const std::string s(text);
    const auto bad = [&](const std::string& why) {
        return error(std::string(flag) + ": '" + s + "' " + why + "; expected NUMA node ids such as 0,1 or 0-" +
                     std::to_string(topo.node_count() - 1) + (allow_all ? " or 'all'" : ""));
    };
    const int count = static_cast<int>(topo.node_count());
    std::vector<int> out;
    if (s == "all") {
        if (!allow_all) {
            throw bad("is not allowed here");
        }
        for (int i = 0; i < count; ++i) {
            out.push_back(i);
        }
        return out;
    }
    std::istringstream in(s);
    std::string part;
    const auto number = [&](const std::string& word) {
        if (word.empty() || !std::all_of(word.begin(), word.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) ||
            word.size() > 6) {
            throw bad("is not a node list");
        }
        const int v = std::stoi(word);
        if (v >= count) {
            throw bad("names node " + word + ", which this machine does not have (it has " + std::to_string(count) + ")");
        }
        return v;
    };
    while (std::getline(in, part, ',')) {
        const auto dash = part.find('-');
        if (dash == std::string::npos) {
            out.push_back(number(part));
        } else {
            const int lo = number(part.substr(0, dash));
            const int hi = number(part.substr(dash + 1));
            if (hi < lo) {
                throw bad("has a decreasing range");
            }
            for (int v = lo; v <= hi; ++v) {
                out.push_back(v);
            }
        }
    }
    if (out.empty()) {
        throw bad("is empty");
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

int run_run(const run_options& opts) {
    if (opts.command.empty()) {
        throw error("run: no program given; expected 'topos run [OPTIONS] -- PROGRAM [ARGS...]'");
    }
    const topology topo = topology::host();
    placement_options options;
    options.places = opts.places;
    if (opts.bind) {
        try {
            options.bind = parse_proc_bind(*opts.bind);
        } catch (const config_error& e) {
            throw config_error("--bind: " + std::string(e.what()));
        }
    }
    if (opts.threads) {
        options.threads = parse_thread_count(*opts.threads, "--threads");
    }
    options = with_environment(options);
    placement_plan plan;
    try {
        plan = plan_placement(topo, options);
    } catch (const places_error& e) {
        throw places_error(std::string(opts.places ? "--places: " : "") + e.what());
    }

    launch_spec spec;
    spec.argv = opts.command;
    spec.env = placement_environment(plan.places_text, std::string(to_string(plan.bind)),
                                     static_cast<unsigned>(plan.workers.size()));
    if (plan.bind != proc_bind::disabled) {
        for (const auto& w : plan.workers) {
            spec.cpus.insert(spec.cpus.end(), w.pus.begin(), w.pus.end());
        }
        std::sort(spec.cpus.begin(), spec.cpus.end());
        spec.cpus.erase(std::unique(spec.cpus.begin(), spec.cpus.end()), spec.cpus.end());
    }
    std::vector<int> mem_nodes;
    if (opts.membind) {
        mem_nodes = parse_node_list(topo, *opts.membind, "--membind", false);
        spec.memory = launch_spec::mem_mode::bind;
    } else if (opts.interleave) {
        mem_nodes = parse_node_list(topo, *opts.interleave, "--interleave", true);
        spec.memory = launch_spec::mem_mode::interleave;
    }
    for (int n : mem_nodes) {
        spec.memory_os_nodes.push_back(topo.numa_nodes()[static_cast<std::size_t>(n)].os_index);
    }

    std::string why;
    bool not_executable = false;
    const auto path = find_program(opts.command.front(), &why, &not_executable);

    if (opts.dry_run) {
        std::ostringstream out;
        out << "env";
        for (const auto& [name, value] : spec.env) {
            out << ' ' << name << '=' << value.value_or("");
        }
        out << "\ncpus " << (spec.cpus.empty() ? std::string("inherited") : format_cpu_list(spec.cpus)) << '\n';
        out << "memory "
            << (spec.memory == launch_spec::mem_mode::bind         ? "bind "
                : spec.memory == launch_spec::mem_mode::interleave ? "interleave "
                                                                   : "inherited")
            << (mem_nodes.empty() ? std::string() : format_cpu_list(mem_nodes)) << '\n';
        out << "program " << path.value_or(opts.command.front()) << '\n';
        return write_stdout(out.str());
    }
    if (!path) {
        report_error("run: cannot start the program: " + why);
        return not_executable ? k_exit_cannot_execute : k_exit_not_found;
    }

    // Each part is applied on its own so one the kernel refuses (a container
    // that forbids set_mempolicy, say) leaves the others in force.
    launch_spec env_and_cpus = spec;
    env_and_cpus.memory = launch_spec::mem_mode::inherit;
    if (const std::string failed = apply_launch_spec(env_and_cpus); !failed.empty()) {
        std::cerr << "topos: warning: " << failed << "; the program runs on the CPUs topos was given" << std::endl;
    }
    if (spec.memory != launch_spec::mem_mode::inherit) {
        launch_spec memory_only;
        memory_only.memory = spec.memory;
        memory_only.memory_os_nodes = spec.memory_os_nodes;
        if (const std::string failed = apply_launch_spec(memory_only); !failed.empty()) {
            std::cerr << "topos: warning: " << failed << "; the program runs with the default memory policy" << std::endl;
        }
    }
    std::vector<std::string> args = opts.command;
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::cout.flush();
    ::execv(path->c_str(), argv.data());
    const int err = errno;
    report_error("run: cannot start '" + *path + "': " + std::strerror(err));
    return err == ENOENT ? k_exit_not_found : k_exit_cannot_execute;
}

} // namespace topos::cli
