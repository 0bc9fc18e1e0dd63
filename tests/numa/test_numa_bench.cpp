// `topos bench` and `topos run` on a multi-node kernel (tests/numa-vm/run):
// the latency and bandwidth matrices cover every node pair, each buffer's
// pages sit on the node the column names, and `run` hands the program the
// CPUs and memory policy asked for. Timings under emulation are meaningless:
// only shape, completeness and placement are checked. Skips on one node.
#include "numa_test_support.hpp"

#include "../unit/test_bench_cli_support.hpp"

#include <topos/topology.hpp>

#include <set>
#include <string>

namespace {

using topos::test::finished_run;
using topos::test::run_topos;
using topos::test::show;

class NumaBench : public topos::test::numa_machine_test {};

TEST_F(NumaBench, LatencyMatrixCoversEveryNodePair) {
    topos::test::scratch_dir dir;
    const std::vector<std::string> args{"bench", "latency", "--quick", "--size", "64K", "--repetitions", "1",
                                        "--json", dir.file("lat.json")};
    const finished_run r = run_topos(args, std::chrono::seconds(240));
    ASSERT_EQ(r.status, 0) << show(args, r);
    const auto doc = topos::test::read_json(dir.file("lat.json"));
    topos::test::expect_google_benchmark_shape(doc);
    const auto nodes = static_cast<std::size_t>(topos::test::kernel_node_count());
    if (!topos::test::booted_shape().empty()) {
        EXPECT_EQ(nodes, topos::test::booted_shape() == "4n" ? 4U : 2U);
    }
    const auto& m = doc["latency_matrix"]["ns"];
    ASSERT_EQ(m.size(), nodes) << r.out;
    for (const auto& row : m) {
        ASSERT_EQ(row.size(), nodes);
        for (const auto& v : row) {
            EXPECT_GT(v.get<double>(), 0.0);
        }
    }
    std::set<std::pair<int, int>> pairs;
    for (const auto& b : doc["benchmarks"]) {
        const int from = static_cast<int>(b["from_node"].get<double>());
        const int to = static_cast<int>(b["to_node"].get<double>());
        pairs.emplace(from, to);
        ASSERT_TRUE(b.contains("pages_on_node_pct")) << b.dump();
        EXPECT_EQ(b["pages_on_node_pct"].get<double>(), 100.0) << b.dump();
    }
    EXPECT_EQ(pairs.size(), nodes * nodes);
}

TEST_F(NumaBench, BandwidthMatrixCoversEveryNodePair) {
    topos::test::scratch_dir dir;
    const std::vector<std::string> args{"bench", "bandwidth", "--quick", "--size", "256K", "--repetitions", "1",
                                        "--json", dir.file("bw.json")};
    const finished_run r = run_topos(args, std::chrono::seconds(240));
    ASSERT_EQ(r.status, 0) << show(args, r);
    const auto doc = topos::test::read_json(dir.file("bw.json"));
    const auto nodes = static_cast<std::size_t>(topos::test::kernel_node_count());
    EXPECT_EQ(doc["benchmarks"].size(), nodes * nodes);
    for (const auto& b : doc["benchmarks"]) {
        EXPECT_EQ(b["pages_on_node_pct"].get<double>(), 100.0) << b.dump();
    }
}

TEST_F(NumaBench, RunBindsMemoryAndCpusToTheNodesAskedFor) {
    const finished_run mem = run_topos({"run", "--membind", "1", "--", "sh", "-c", "head -n 1 /proc/self/numa_maps"});
    ASSERT_EQ(mem.status, 0) << mem.err;
    EXPECT_NE(mem.out.find(" bind:1 "), std::string::npos) << mem.out;
    const auto topo = topos::topology::host();
    const finished_run cpus = run_topos({"run", "--places", "numa_domains", "--threads", "1", "--", "grep",
                                         "Cpus_allowed_list", "/proc/self/status"});
    ASSERT_EQ(cpus.status, 0) << cpus.err;
    EXPECT_NE(cpus.out.find("\t" + topos::format_cpu_list(topo.pus_of_node(0)) + "\n"), std::string::npos) << cpus.out;
}

} // namespace
