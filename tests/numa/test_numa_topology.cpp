// The host topology topos sees, checked against the kernel (libnuma, numactl)
// and against the shape the emulated machine was booted with.
#include "numa_test_support.hpp"

#include <topos/topology.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using topos::test::numa_machine_test;

std::string run(const std::string& cmd) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    std::string out;
    if (!pipe) {
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) {
        out.append(buf.data(), n);
    }
    return out;
}

// The kernel's CPUs of a node, through libnuma.
std::vector<int> kernel_cpus_of(int os_node) {
    std::unique_ptr<bitmask, void (*)(bitmask*)> mask(numa_allocate_cpumask(), numa_free_cpumask);
    std::vector<int> cpus;
    if (numa_node_to_cpus(os_node, mask.get()) != 0) {
        ADD_FAILURE() << "numa_node_to_cpus(" << os_node << ") failed";
        return cpus;
    }
    for (unsigned i = 0; i < mask->size; ++i) {
        if (numa_bitmask_isbitset(mask.get(), i) != 0) {
            cpus.push_back(static_cast<int>(i));
        }
    }
    return cpus;
}

class NumaTopologyTest : public numa_machine_test {};

TEST_F(NumaTopologyTest, HostTopologyMatchesTheKernel) {
    const auto topo = topos::topology::host();
    ASSERT_EQ(static_cast<int>(topo.node_count()), topos::test::kernel_node_count());
    EXPECT_EQ(topo.architecture(), topos::memory_architecture::numa);
    EXPECT_FALSE(topo.distances_derived()) << "the kernel reports a distance table";
    for (const auto& a : topo.numa_nodes()) {
        EXPECT_EQ(a.pus, kernel_cpus_of(a.os_index)) << "node " << a.id;
        long long free_bytes = 0;
        const long long total = numa_node_size64(a.os_index, &free_bytes);
        EXPECT_EQ(static_cast<long long>(a.memory_bytes), total) << "node " << a.id;
        for (const auto& b : topo.numa_nodes()) {
            EXPECT_EQ(topo.distance(a.id, b.id), numa_distance(a.os_index, b.os_index))
                << "distance " << a.id << "->" << b.id;
        }
    }
}

TEST_F(NumaTopologyTest, HostTopologyHasTheBootedShape) {
    const std::string shape = topos::test::booted_shape();
    if (shape.empty()) {
        GTEST_SKIP() << "TOPOS_NUMA_VM_SHAPE is not set: not running under tests/numa-vm/run";
    }
    const auto topo = topos::topology::host();
    if (shape == "2n") {
        ASSERT_EQ(topo.node_count(), 2u);
        EXPECT_EQ(topo.pus_of_node(0), (std::vector<int>{0, 1}));
        EXPECT_EQ(topo.pus_of_node(1), (std::vector<int>{2, 3}));
        EXPECT_EQ(topo.distance(0, 1), 21);
        EXPECT_EQ(topo.distance(1, 0), 21);
        EXPECT_EQ(topo.packages().size(), 2u);
    } else if (shape == "4n") {
        ASSERT_EQ(topo.node_count(), 4u);
        for (int n = 0; n < 4; ++n) {
            EXPECT_EQ(topo.pus_of_node(n), (std::vector<int>{2 * n, 2 * n + 1})) << "node " << n;
        }
        // Neighbours (0-1, 2-3) at 21, the rest at 31: distance order matters here.
        EXPECT_EQ(topo.distance(0, 1), 21);
        EXPECT_EQ(topo.distance(2, 3), 21);
        EXPECT_EQ(topo.distance(0, 2), 31);
        EXPECT_EQ(topo.distance(1, 3), 31);
        EXPECT_EQ(topo.nodes_by_distance(2), (std::vector<int>{2, 3, 0, 1}));
        EXPECT_EQ(topo.packages().size(), 4u);
    } else {
        FAIL() << "unknown TOPOS_NUMA_VM_SHAPE '" << shape << "'";
    }
}

// What `numactl --hardware` prints: cpus and size per node, and the distance table.
struct numactl_report {
    std::map<int, std::vector<int>> cpus;
    std::map<int, long long> size_mb;
    std::vector<std::vector<int>> distances;
};

numactl_report parse_numactl(const std::string& text) {
    numactl_report r;
    std::stringstream ss(text);
    std::string line;
    const std::regex cpus_re(R"(^node (\d+) cpus:(.*)$)");
    const std::regex size_re(R"(^node (\d+) size: (\d+) MB$)");
    const std::regex row_re(R"(^\s*(\d+):((\s+\d+)+)\s*$)");
    std::smatch m;
    while (std::getline(ss, line)) {
        if (std::regex_match(line, m, cpus_re)) {
            std::stringstream cs(m[2].str());
            int cpu = 0;
            auto& v = r.cpus[std::stoi(m[1].str())];
            while (cs >> cpu) {
                v.push_back(cpu);
            }
        } else if (std::regex_match(line, m, size_re)) {
            r.size_mb[std::stoi(m[1].str())] = std::stoll(m[2].str());
        } else if (std::regex_match(line, m, row_re)) {
            std::stringstream rs(m[2].str());
            std::vector<int> row;
            int v = 0;
            while (rs >> v) {
                row.push_back(v);
            }
            r.distances.push_back(row);
        }
    }
    return r;
}

TEST_F(NumaTopologyTest, InfoJsonAgreesWithNumactl) {
    const std::string numactl = run("numactl --hardware 2>&1");
    ASSERT_NE(numactl.find("available:"), std::string::npos) << numactl;
    const auto expected = parse_numactl(numactl);
    const auto info = nlohmann::json::parse(run(std::string(TOPOS_CLI) + " info --json --topology host"));
    const auto& nodes = info.at("numa_nodes");
    ASSERT_EQ(nodes.size(), expected.cpus.size());
    EXPECT_EQ(info.at("architecture"), "numa");
    for (const auto& node : nodes) {
        const int os = node.at("os_index").get<int>();
        ASSERT_TRUE(expected.cpus.count(os)) << "numactl has no node " << os;
        EXPECT_EQ(node.at("pus").get<std::vector<int>>(), expected.cpus.at(os)) << "node " << os;
        EXPECT_EQ(node.at("memory_bytes").get<long long>() / (1024 * 1024), expected.size_mb.at(os)) << "node " << os;
    }
    // numactl orders the table by OS node number; topos by logical id. Compare through os_index.
    const auto& dist = info.at("distances");
    ASSERT_EQ(expected.distances.size(), nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        for (std::size_t j = 0; j < nodes.size(); ++j) {
            const auto oi = nodes[i].at("os_index").get<std::size_t>();
            const auto oj = nodes[j].at("os_index").get<std::size_t>();
            EXPECT_EQ(dist[i][j].get<int>(), expected.distances.at(oi).at(oj)) << i << "->" << j;
        }
    }
}

} // namespace
