// `topos bench`, `topos tune` and `topos run` from the outside: quick runs of
// every subcommand with their JSON checked, exit statuses, one-line errors,
// partial results after a failure or Ctrl-C, and what `run` hands the program.
#include "test_bench_cli_support.hpp"

#include <topos/topology.hpp>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

namespace {

using nlohmann::json;
using topos::test::finished_run;
using topos::test::run_topos;
using topos::test::scratch_dir;
using topos::test::show;

// Sanitizer builds run only topos's own STREAM variant: OpenMP's and oneTBB's
// runtimes are not built with the sanitizer.
#ifdef TOPOS_TEST_SANITIZED
const std::string k_stream_impls = "topos";
#else
const std::string k_stream_impls = "topos,omp,tbb";
#endif

std::size_t host_nodes() { return topos::topology::host().node_count(); }

// A usage error: status 2, one line on stderr, nothing on stdout.
void expect_usage_error(const std::vector<std::string>& args, const std::string& mentions) {
    const finished_run r = run_topos(args);
    EXPECT_EQ(r.status, 2) << show(args, r);
    EXPECT_EQ(r.out, "") << show(args, r);
    EXPECT_TRUE(r.err.starts_with("topos: error: ")) << show(args, r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << show(args, r);
    EXPECT_NE(r.err.find(mentions), std::string::npos) << "expected '" << mentions << "' in: " << show(args, r);
}

std::vector<json> rows_named(const json& doc, const std::string& prefix) {
    std::vector<json> out;
    for (const auto& b : doc["benchmarks"]) {
        if (b["name"].get<std::string>().starts_with(prefix)) {
            out.push_back(b);
        }
    }
    return out;
}

TEST(BenchCli, LatencyQuickGivesACurveForEveryNodePair) {
    scratch_dir dir;
    const std::vector<std::string> args{"bench", "latency", "--quick", "--size", "256K", "--json", dir.file("lat.json")};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    EXPECT_NE(r.out.find("Latency matrix"), std::string::npos) << r.out;
    const json doc = topos::test::read_json(dir.file("lat.json"));
    topos::test::expect_google_benchmark_shape(doc);
    const std::vector<std::size_t> sizes{16384, 65536, 262144};
    EXPECT_EQ(doc["context"]["latency_sizes"].get<std::vector<std::size_t>>(), sizes);
    const std::size_t nodes = host_nodes();
    EXPECT_EQ(doc["benchmarks"].size(), sizes.size() * nodes * nodes);
    std::set<std::string> names;
    for (const auto& b : doc["benchmarks"]) {
        names.insert(b["name"].get<std::string>());
        EXPECT_EQ(b["time_unit"], "ns");
        EXPECT_GT(b["ns_per_load"].get<double>(), 0.0);
        EXPECT_EQ(b["ns_per_load"], b["real_time"]);
        // The chase stopped on a slot of the chain.
        EXPECT_LT(b["chain_end_slot"].get<double>(), b["working_set_bytes"].get<double>() / 64);
    }
    for (std::size_t i = 0; i < nodes; ++i) {
        for (std::size_t j = 0; j < nodes; ++j) {
            for (std::size_t s : sizes) {
                const std::string name = "latency/from:" + std::to_string(i) + "/to:" + std::to_string(j) +
                                         "/size:" + std::to_string(s);
                EXPECT_EQ(names.count(name), 1U) << name;
            }
        }
    }
    EXPECT_EQ(rows_named(doc, "latency/from:0/to:0/").size(), sizes.size());
    ASSERT_EQ(doc["latency_matrix"]["ns"].size(), nodes);
    EXPECT_EQ(doc["latency_matrix"]["size_bytes"], 262144);
}

TEST(BenchCli, BandwidthQuickChecksItsReadsAndFillsTheMatrix) {
    scratch_dir dir;
    const std::vector<std::string> args{"bench", "bandwidth", "--quick", "--size", "1M", "--json", dir.file("bw.json")};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    const json doc = topos::test::read_json(dir.file("bw.json"));
    topos::test::expect_google_benchmark_shape(doc);
    const std::size_t nodes = host_nodes();
    EXPECT_EQ(doc["benchmarks"].size(), nodes * nodes);
    for (const auto& b : doc["benchmarks"]) {
        EXPECT_GT(b["gb_per_s"].get<double>(), 0.0) << b.dump();
        EXPECT_EQ(b["bytes"].get<double>(), 1048576.0);
        EXPECT_GE(b["threads"].get<int>(), 1);
    }
    const json m = doc["bandwidth_matrix"]["gb_per_s"];
    ASSERT_EQ(m.size(), nodes);
    for (const auto& row : m) {
        ASSERT_EQ(row.size(), nodes);
        for (const auto& v : row) {
            EXPECT_GT(v.get<double>(), 0.0);
        }
    }
}

TEST(BenchCli, StreamQuickRunsEveryKernelUnderEachPlacement) {
    scratch_dir dir;
    const std::vector<std::string> args{"bench", "stream", "--quick", "--size", "256K", "--impl", k_stream_impls,
                                        "--json", dir.file("stream.json")};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    const json doc = topos::test::read_json(dir.file("stream.json"));
    topos::test::expect_google_benchmark_shape(doc);
    std::vector<std::string> placements{"first_touch", "interleave", "one_node"};
    if (host_nodes() > 1) {
        placements.emplace_back("remote");
    } else {
        EXPECT_NE(r.out.find("note: placement remote needs two NUMA nodes"), std::string::npos) << r.out;
    }
    std::vector<std::string> impls{"topos"};
#ifndef TOPOS_TEST_SANITIZED
    impls = {"topos", "omp_static", "tbb"};
#endif
    std::set<std::string> names;
    for (const auto& b : doc["benchmarks"]) {
        names.insert(b["name"].get<std::string>());
        EXPECT_GT(b["gb_per_s"].get<double>(), 0.0);
        EXPECT_EQ(b["iterations"], 2); // --quick counts two passes after the discarded one
    }
    for (const auto& p : placements) {
        for (const char* k : {"copy", "scale", "add", "triad"}) {
            for (const auto& impl : impls) {
                EXPECT_EQ(names.count("stream/" + std::string(k) + "/" + impl + "/" + p), 1U) << k << " " << impl << " " << p;
            }
        }
    }
    EXPECT_EQ(names.size(), placements.size() * 4 * impls.size());
    // Two peers per kernel and placement.
    EXPECT_EQ(doc["ratios"].size(), placements.size() * 4 * (impls.size() - 1));
}

TEST(BenchCli, JsonDashGoesToStdoutInsteadOfTheTable) {
    const std::vector<std::string> args{"bench", "stream", "--quick", "--size", "64K", "--impl", "topos",
                                        "--placement", "interleave", "--json", "-"};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    const json doc = json::parse(r.out);
    EXPECT_EQ(doc["benchmarks"].size(), 4U);
    EXPECT_EQ(doc["context"]["topos_command"], "bench stream");
}

TEST(BenchCli, SchedRunsThePeerSuiteOrSaysItWasNotBuilt) {
    scratch_dir dir;
    const std::vector<std::string> args{"bench", "sched", "--quick", "--json", dir.file("sched.json")};
#ifdef TOPOS_TEST_HAVE_BENCH
    const finished_run r = run_topos(args, std::chrono::seconds(300));
    ASSERT_EQ(r.status, 0) << show(args, r);
    const json doc = topos::test::read_json(dir.file("sched.json"));
    topos::test::expect_google_benchmark_shape(doc);
    std::set<std::string> ratios;
    for (const auto& x : doc["ratios"]) {
        ratios.insert(x["workload"].get<std::string>().substr(0, x["workload"].get<std::string>().find('/')) + " " +
                      x["ratio"].get<std::string>());
        EXPECT_GT(x["value"].get<double>(), 0.0);
    }
    for (const char* want : {"fib topos/tbb", "fib topos/gomp", "nqueens topos/tbb", "nqueens topos/gomp",
                             "sort topos/tbb", "sort topos/gomp", "triad topos/tbb", "triad topos/omp_static"}) {
        EXPECT_EQ(ratios.count(want), 1U) << want;
    }
    EXPECT_FALSE(rows_named(doc, "fib/topos/").empty());
#else
    expect_usage_error(args, "-DTOPOS_BUILD_BENCH=ON");
#endif
}

TEST(BenchCli, BadInputIsAOneLineUsageError) {
    expect_usage_error({"bench", "nosuch"}, "unknown benchmark 'nosuch'; expected latency, bandwidth, stream, sched or data");
    expect_usage_error({"bench"}, "no benchmark named");
    expect_usage_error({"bench", "latency", "--size", "0"}, "--size: '0' is too small");
    expect_usage_error({"bench", "latency", "--size", "1e30"}, "--size: '1e30' is too large");
    expect_usage_error({"bench", "bandwidth", "--size", "lots"}, "--size: 'lots' is not a size");
    expect_usage_error({"bench", "stream", "--size", "12Q"}, "unknown unit");
    expect_usage_error({"bench", "latency", "--size", "64"}, "too small for a pointer chain");
    expect_usage_error({"bench", "stream", "--impl", "cilk"}, "--impl: unknown name 'cilk'");
    expect_usage_error({"bench", "stream", "--placement", "moon"}, "--placement: unknown name 'moon'");
    expect_usage_error({"bench", "latency", "--repetitions", "0"}, "--repetitions");
    expect_usage_error({"bench", "sched", "--bench-dir", "/nonexistent/topos"}, "--bench-dir");
    expect_usage_error({"bench", "sched", "--size", "1M"}, "--size");
    expect_usage_error({"tune", "--repeat", "0", "--", "true"}, "--repeat");
    expect_usage_error({"tune", "--", "/nonexistent/program"}, "does not exist");
    expect_usage_error({"tune", "--", "no-such-program-anywhere"}, "was not found in PATH");
    expect_usage_error({"tune"}, "no program given");
    expect_usage_error({"tune", "--threads", "0", "--", "true"}, "--threads");
    expect_usage_error({"run"}, "no program given");
    expect_usage_error({"run", "--membind", "99", "--", "true"}, "--membind: '99' names node 99");
    expect_usage_error({"run", "--interleave", "x", "--", "true"}, "--interleave");
    expect_usage_error({"run", "--membind", "0", "--interleave", "0", "--", "true"}, "excludes");
    expect_usage_error({"run", "--bind", "sideways", "--", "true"}, "--bind");
    expect_usage_error({"run", "--places", "{9999}", "--", "true"}, "--places");
}

TEST(BenchCli, EverySubcommandHasHelp) {
    for (const auto& sub : std::vector<std::vector<std::string>>{{"bench"}, {"bench", "latency"}, {"bench", "bandwidth"},
                                                                 {"bench", "stream"}, {"bench", "sched"}, {"tune"}, {"run"}}) {
        auto args = sub;
        args.emplace_back("--help");
        const finished_run r = run_topos(args);
        EXPECT_EQ(r.status, 0) << show(args, r);
        EXPECT_NE(r.out.find("--"), std::string::npos) << show(args, r);
    }
    const finished_run r = run_topos({"bench", "stream", "--help"});
    EXPECT_NE(r.out.find("--json"), std::string::npos);
    EXPECT_NE(r.out.find("--quick"), std::string::npos);
}

// A tiny program for tune: records the variables it was given, one line a run.
std::vector<std::string> recorder(const std::string& file) {
    return {"sh", "-c",
            "echo \"$TOPOS_NUM_THREADS|$TOPOS_PLACES|$TOPOS_PROC_BIND|$OMP_NUM_THREADS|$OMP_PLACES|$OMP_PROC_BIND\" >> " + file};
}

TEST(TuneCli, RunsEveryCandidateWithTheVariablesAndRanksThem) {
    scratch_dir dir;
    std::vector<std::string> args{"tune", "--repeat", "2", "--json", dir.file("tune.json"), "--"};
    const auto prog = recorder(dir.file("env.txt"));
    args.insert(args.end(), prog.begin(), prog.end());
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    EXPECT_NE(r.out.find("\nbest: "), std::string::npos) << r.out;
    const json doc = topos::test::read_json(dir.file("tune.json"));
    topos::test::expect_google_benchmark_shape(doc);
    const json ranking = doc["tune"]["ranking"];
    ASSERT_GE(ranking.size(), 2U);
    double last = 0;
    bool saw_default = false;
    for (const auto& c : ranking) {
        EXPECT_EQ(c["seconds"].size(), 2U) << c.dump();
        EXPECT_GE(c["median_seconds"].get<double>(), last);
        last = c["median_seconds"].get<double>();
        saw_default = saw_default || c["candidate"] == "default";
    }
    EXPECT_TRUE(saw_default);
    const std::string exported = doc["tune"]["export"];
    EXPECT_TRUE(exported.starts_with("export ") || exported.starts_with("unset ")) << exported;
    EXPECT_NE(r.out.find(exported), std::string::npos);

    // One line per run plus the warm-up; TOPOS_* and OMP_* agree on each.
    const std::string lines = topos::test::slurp(dir.file("env.txt"));
    std::map<std::string, int> seen;
    std::istringstream in(lines);
    for (std::string line; std::getline(in, line);) {
        ++seen[line];
        const std::regex shape(R"(^([^|]*)\|([^|]*)\|([^|]*)\|\1\|\2\|\3$)");
        EXPECT_TRUE(std::regex_match(line, shape)) << line;
    }
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), static_cast<long>(2 * ranking.size() + 1));
    EXPECT_EQ(seen["|||||"], 3) << lines; // the default, twice, and the warm-up
    EXPECT_EQ(seen["1|cores|close|1|cores|close"], 2) << lines;
}

TEST(TuneCli, AFailingRunNamesTheCandidateAndKeepsWhatFinished) {
    scratch_dir dir;
    const std::vector<std::string> args{"tune", "--repeat", "1", "--json", dir.file("tune.json"), "--", "sh", "-c",
                                        "echo broken >&2; [ \"$TOPOS_NUM_THREADS\" != 1 ] || exit 3"};
    const finished_run r = run_topos(args);
    EXPECT_EQ(r.status, 1) << show(args, r);
    EXPECT_NE(r.err.find("topos: error: tune: candidate 'cores/close/1'"), std::string::npos) << show(args, r);
    EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << show(args, r);
    EXPECT_NE(r.err.find("broken"), std::string::npos) << show(args, r);
    const json doc = topos::test::read_json(dir.file("tune.json"));
    EXPECT_EQ(doc["context"]["failed_candidate"], "cores/close/1");
    ASSERT_EQ(doc["tune"]["ranking"].size(), 1U); // the default ran before it
    EXPECT_EQ(doc["tune"]["ranking"][0]["candidate"], "default");
}

TEST(TuneCli, CtrlCStopsAndWritesThePartialResults) {
    scratch_dir dir;
    const std::string mark = dir.file("started");
    const std::vector<std::string> args{
        "tune", "--repeat", "1", "--json", dir.file("tune.json"), "--", "sh", "-c",
        "if [ \"$TOPOS_NUM_THREADS\" = 1 ]; then touch " + mark + "; exec sleep 60; fi"};
    topos::test::topos_process p(args);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!std::filesystem::exists(mark) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(std::filesystem::exists(mark));
    p.signal(SIGINT);
    const finished_run r = p.wait(std::chrono::seconds(30));
    EXPECT_EQ(r.status, 130) << show(args, r);
    EXPECT_NE(r.err.find("interrupted"), std::string::npos) << show(args, r);
    const json doc = topos::test::read_json(dir.file("tune.json"));
    EXPECT_EQ(doc["context"]["interrupted"], true);
    ASSERT_EQ(doc["tune"]["ranking"].size(), 1U);
    EXPECT_EQ(doc["tune"]["ranking"][0]["candidate"], "default");
}

TEST(TuneCli, PlansCandidatesForAnotherMachine) {
    const std::vector<std::string> args{"tune", "--repeat", "1", "--topology", "synthetic:pack:2 numa:2 core:2 pu:2",
                                        "--json", "-", "--", "true"};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    const json doc = json::parse(r.out);
    std::set<std::string> names;
    for (const auto& c : doc["tune"]["ranking"]) {
        names.insert(c["candidate"].get<std::string>());
    }
    // 8 cores, 16 PUs, 4 nodes of 2 cores: the counts 1, 2, 8 and 16 and SMT places.
    for (const char* want : {"default", "cores/close/1", "cores/spread/2", "cores/close/8", "threads/close/16",
                             "numa_domains/spread/8"}) {
        EXPECT_EQ(names.count(want), 1U) << want << " in " << r.out;
    }
}

TEST(RunCli, PinsTheProgramAndSetsThePlacementVariables) {
    const auto topo = topos::topology::host();
    const std::vector<std::string> args{"run", "--places", "cores", "--threads", "1", "--bind", "close", "--", "sh", "-c",
                                        "grep Cpus_allowed_list /proc/self/status; echo \"$TOPOS_NUM_THREADS "
                                        "$TOPOS_PLACES $TOPOS_PROC_BIND $OMP_NUM_THREADS $OMP_PLACES $OMP_PROC_BIND\""};
    const finished_run r = run_topos(args);
    ASSERT_EQ(r.status, 0) << show(args, r);
    const std::string first_core = topos::format_cpu_list(topo.cores()[0].pus);
    EXPECT_NE(r.out.find("Cpus_allowed_list:\t" + first_core + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 cores close 1 cores close\n"), std::string::npos) << r.out;
}

TEST(RunCli, UnboundLeavesTheCpusAlone) {
    const finished_run r = run_topos({"run", "--bind", "false", "--dry-run", "--", "true"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("cpus inherited"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("TOPOS_PROC_BIND=false"), std::string::npos) << r.out;
}

TEST(RunCli, AppliesTheMemoryPolicyAcrossExec) {
    if (!std::filesystem::exists("/proc/self/numa_maps")) {
        GTEST_SKIP() << "this kernel has no /proc/self/numa_maps";
    }
    const finished_run bind = run_topos({"run", "--membind", "0", "--", "sh", "-c", "head -n 1 /proc/self/numa_maps"});
    ASSERT_EQ(bind.status, 0) << bind.err;
    EXPECT_NE(bind.out.find(" bind:0 "), std::string::npos) << bind.out;
    const finished_run inter = run_topos({"run", "--interleave", "all", "--", "sh", "-c", "head -n 1 /proc/self/numa_maps"});
    ASSERT_EQ(inter.status, 0) << inter.err;
    EXPECT_NE(inter.out.find(" interleave:"), std::string::npos) << inter.out;
}

TEST(RunCli, ExitStatusIsTheProgramsOwn) {
    EXPECT_EQ(run_topos({"run", "--", "sh", "-c", "exit 7"}).status, 7);
    EXPECT_EQ(run_topos({"run", "--", "sh", "-c", "kill -TERM $$"}).status, 128 + SIGTERM);
    const finished_run missing = run_topos({"run", "--", "no-such-program-anywhere"});
    EXPECT_EQ(missing.status, 127);
    EXPECT_EQ(missing.err, "topos: error: run: cannot start the program: 'no-such-program-anywhere' was not found in PATH\n");
    const finished_run not_exec = run_topos({"run", "--", "/etc/passwd"});
    EXPECT_EQ(not_exec.status, 126) << not_exec.err;
}

} // namespace
