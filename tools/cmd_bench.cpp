// tools/cmd_bench.cpp - the `topos bench`, `topos tune` and `topos run`
// subcommands: their flags and help. The work is in bench_*.cpp,
// tune_command.cpp and run_command.cpp.
#include "bench_commands.hpp"
#include "command_set.hpp"

#include <topos/error.hpp>

#include <memory>

namespace topos::cli {
namespace {

// What the command line asked for, filled by CLI11; lives as long as main's commands.
struct bench_args {
    bench_common_options latency;
    bench_common_options bandwidth;
    stream_options stream;
    sched_options sched;
    bench_common_options data;
    tune_options tune;
    run_options run;
    std::optional<std::string> bench_name; ///< a positional that is no benchmark's name
};

constexpr const char* k_json_help =
    "Write the results to FILE in Google Benchmark's JSON format ('-': to stdout instead of the table)";

void add_common(CLI::App* sub, bench_common_options& o, const std::string& size_help, const std::string& reps_help) {
    sub->add_flag("--quick", o.quick, "A short smoke run (small sizes, few repetitions; well under 30 s)");
    sub->add_option("--json", o.json, k_json_help)->type_name("FILE");
    if (!size_help.empty()) {
        sub->add_option("--size", o.size, size_help)->type_name("BYTES");
    }
    sub->add_option("--repetitions", o.repetitions, reps_help)->type_name("N");
}

constexpr const char* k_bench_footer =
    "Output: a table on stdout; with --json FILE, Google Benchmark's JSON ({\"context\": {...}, \"benchmarks\":\n"
    "[{name, run_name, run_type, iterations, real_time, cpu_time, time_unit, counters...}]}), which\n"
    "tools/topos-plot draws and Google Benchmark's compare.py reads. A progress line is shown on a terminal.\n"
    "Exit status: 0; 2 for bad input; 1 when a measurement fails its check; 130 after Ctrl-C (results\n"
    "measured so far are still printed and written).";

} // namespace

void add_bench_commands(CLI::App& app, command_set& out) {
    auto args = std::make_shared<bench_args>();

    CLI::App* bench = app.add_subcommand("bench", "Measure memory latency, bandwidth, STREAM and the scheduler against peers");
    bench->require_subcommand(0, 1);
    // Catches an unknown name, so the error can list the benchmarks.
    bench->add_option("name", args->bench_name, "latency, bandwidth, stream, sched or data")->type_name("BENCHMARK");
    bench->footer("Subcommands: latency, bandwidth, stream, sched, data. Run 'topos bench <name> --help' for each.");

    CLI::App* latency = bench->add_subcommand(
        "latency", "Node x node load latency: a thread on node i chases a random pointer chain in node j's memory");
    add_common(latency, args->latency,
               "Largest working set (default: 4x the last-level caches, at most a quarter of free memory; "
               "--quick: 4M). Sizes run from 4K up to it",
               "Timed chases per point, best counts (default 3; --quick 2)");
    latency->footer(std::string("Each point: a random cyclic chain over 64-byte slots (one cache line each), 4M\n"
                                "dependent loads (--quick: 32K), ns per load. Rows need a node with CPUs.\n") +
                    k_bench_footer);

    CLI::App* bandwidth = bench->add_subcommand(
        "bandwidth", "Node x node read bandwidth: one thread per core of node i reads a buffer on node j");
    add_common(bandwidth, args->bandwidth,
               "Buffer per node (default: 4x the last-level caches, at least 256M, at most a quarter of free "
               "memory; --quick: 16M)",
               "Timed reads per pair, best counts (default 5; --quick 2)");
    bandwidth->footer(std::string("GB/s = bytes read / best time; every read's checksum is verified.\n") + k_bench_footer);

    CLI::App* stream = bench->add_subcommand(
        "stream", "STREAM copy/scale/add/triad under four placements, topos vs OpenMP static vs oneTBB");
    add_common(stream, args->stream.common,
               "Bytes per array (default: 4x the sum of the last-level caches, at least 16M, at most a sixth "
               "of free memory; --quick: 8M)",
               "Counted passes after the discarded first (default 10; --quick 2)");
    stream->add_option("--impl", args->stream.impls, "Comma list of topos, omp, tbb (default: all)")->type_name("LIST");
    stream->add_option("--placement", args->stream.placements,
                       "Comma list of first_touch, interleave, one_node, remote (default: all; remote needs 2 nodes)")
        ->type_name("LIST");
    stream->footer(std::string("Ratios are topos's best time over the peer's (below 1: topos faster); results are\n"
                               "checked against STREAM's expected values after the timed passes.\n") +
                   k_bench_footer);

    CLI::App* sched = bench->add_subcommand(
        "sched", "Scheduler suite: fib, nqueens, mergesort, triad vs oneTBB and OpenMP (runs bench/ programs)");
    add_common(sched, args->sched.common, "", "Google Benchmark repetitions, best counts (default 3; --quick 1)");
    sched->add_option("--bench-dir", args->sched.bench_dir,
                      "Folder holding topos_bench_fib etc. (default: $TOPOS_BENCH_DIR, ../libexec/topos next to "
                      "this binary, then the build tree)")
        ->type_name("DIR");
    sched->footer(std::string("Needs the Google Benchmark programs of bench/ (-DTOPOS_BUILD_BENCH=ON); exits 2 when\n"
                              "they cannot be found. --quick runs the smallest 2-thread configurations once.\n"
                              "The JSON's \"benchmarks\" are the programs' own rows; \"ratios\" lists topos/peer.\n") +
                  k_bench_footer);

    CLI::App* data = bench->add_subcommand(
        "data", "Data that moves: replicated vs node-0 vs interleaved lookups, phase change with next-touch, "
                "next-touch cost per page vs move_pages");
    add_common(data, args->data, "Table, array and moved bytes (default 4M; --quick: 256K)",
               "Runs per figure, best counts (default 3; --quick 1)");
    data->footer(std::string("Runs on a topos runtime over every allowed core; on one node it measures overheads only.\n") +
                 k_bench_footer);

    CLI::App* tune = app.add_subcommand("tune", "Run a program under each candidate placement and rank them");
    tune->add_option("--repeat", args->tune.repeat, "Runs per candidate; the median counts (default 3)")
        ->type_name("N");
    tune->add_option("--topology", args->tune.topology,
                     "Plan candidates for this machine ('host', 'synthetic:...', an .xml); runs stay on this host")
        ->type_name("SPEC");
    tune->add_option("--threads", args->tune.threads,
                     "Comma list of thread counts to try (default: 1, one node's cores, all cores, all PUs)")
        ->type_name("LIST");
    tune->add_option("--json", args->tune.json, k_json_help)->type_name("FILE");
    tune->add_flag("--show-output", args->tune.show_output, "Let the program's output through (default: discarded)");
    tune->add_option("command", args->tune.command, "The program and its arguments, after --")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->type_name("PROGRAM ARGS");
    tune->footer("Usage: topos tune [OPTIONS] -- PROGRAM [ARGS...]\n"
                 "Each candidate sets TOPOS_NUM_THREADS/TOPOS_PLACES/TOPOS_PROC_BIND and OMP_NUM_THREADS/OMP_PLACES/\n"
                 "OMP_PROC_BIND and restricts the CPUs to its plan's PUs; 'default' runs with none set. Prints a\n"
                 "ranked table and the export line for the best.\n"
                 "Exit status: 0; 2 for bad input or a program that does not exist; 1 when a run fails (the\n"
                 "candidate and its status are reported; runs so far are still printed); 130 after Ctrl-C.");

    CLI::App* run = app.add_subcommand("run", "Start a program with a placement and memory policy (like numactl)");
    run->add_option("--places", args->run.places, "OMP_PLACES list (default: $TOPOS_PLACES, else cores)")
        ->type_name("LIST");
    run->add_option("--bind", args->run.bind, "close, spread, primary, true or false (default: $TOPOS_PROC_BIND, else close)")
        ->type_name("POLICY");
    run->add_option("--threads", args->run.threads, "Number of threads (default: $TOPOS_NUM_THREADS, else one per place)")
        ->type_name("N");
    auto* membind = run->add_option("--membind", args->run.membind, "Allocate only on these nodes, e.g. 0 or 0,1 (set_mempolicy MPOL_BIND)")
                        ->type_name("NODES");
    auto* interleave = run->add_option("--interleave", args->run.interleave,
                                       "Interleave pages over these nodes, or 'all' (MPOL_INTERLEAVE)")
                           ->type_name("NODES");
    membind->excludes(interleave);
    run->add_flag("--dry-run", args->run.dry_run, "Print the variables, CPUs and memory policy instead of running");
    run->add_option("command", args->run.command, "The program and its arguments, after --")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->type_name("PROGRAM ARGS");
    run->footer("Usage: topos run [OPTIONS] -- PROGRAM [ARGS...]\n"
                "Sets TOPOS_* and OMP_* to the placement, pins the process to the union of the plan's PUs\n"
                "(unless --bind false) and execs the program, so everything is inherited.\n"
                "Exit status: the program's own (a shell shows 128+N when signal N killed it); 127 when the\n"
                "program is not found, 126 when it cannot be executed; 2 for bad options.");

    // One entry for `bench`, so main lists it (not its benchmarks) among the commands.
    out.push_back({bench, [args, latency, bandwidth, stream, sched, data] {
                       if (latency->parsed()) {
                           return run_bench_latency(args->latency);
                       }
                       if (bandwidth->parsed()) {
                           return run_bench_bandwidth(args->bandwidth);
                       }
                       if (stream->parsed()) {
                           return run_bench_stream(args->stream);
                       }
                       if (sched->parsed()) {
                           return run_bench_sched(args->sched);
                       }
                       if (data->parsed()) {
                           return run_bench_data(args->data);
                       }
                       const std::string expected =
                           "expected latency, bandwidth, stream, sched or data (see 'topos bench --help')";
                       if (args->bench_name) {
                           throw error("bench: unknown benchmark '" + *args->bench_name + "'; " + expected);
                       }
                       throw error("bench: no benchmark named; " + expected);
                   }});
    out.push_back({tune, [args] { return run_tune(args->tune); }});
    out.push_back({run, [args] { return run_run(args->run); }});
}

} // namespace topos::cli
