// Topology on six machines, each checked against what hwloc's own tools
// (hwloc-calc, hwloc-info) report for the same input.
#include <topos/error.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Runs a shell command and returns its standard output (stderr is discarded).
std::string run(const std::string& cmd) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((cmd + " 2>/dev/null").c_str(), "r"), pclose);
    if (!pipe) {
        ADD_FAILURE() << "cannot run " << cmd;
        return {};
    }
    std::string out;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) {
        out.append(buf.data(), n);
    }
    return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// What hwloc's tools say about one input (a synthetic description or XML path).
class hwloc_reference {
public:
    explicit hwloc_reference(std::string input) : m_input(quote(std::move(input))) {}

    int count(const std::string& type) const {
        const std::string out =
            run(std::string(TOPOS_HWLOC_CALC) + " -i " + m_input + " --number-of " + type + " machine:0");
        return std::atoi(out.c_str());
    }

    // OS indices of the PUs inside logical object `obj` (e.g. "numa:1").
    std::vector<int> pus_of(const std::string& obj) const {
        const std::string out = run(std::string(TOPOS_HWLOC_CALC) + " -i " + m_input +
                                    " --physical-output --intersect pu " + obj);
        std::vector<int> pus;
        std::stringstream ss(out);
        std::string item;
        while (std::getline(ss, item, ',')) {
            if (!item.empty() && item != "\n") {
                pus.push_back(std::atoi(item.c_str()));
            }
        }
        return pus;
    }

    // The NUMA latency matrix lstopo prints, or empty when it prints none.
    std::vector<int> distances() const {
        const std::string out = run("lstopo-no-graphics -i " + m_input + " --distances");
        std::vector<int> values;
        std::stringstream ss(out);
        std::string line;
        bool in_matrix = false;
        while (std::getline(ss, line)) {
            if (line.find("latency matrix") != std::string::npos && line.find("NUMANode") != std::string::npos) {
                in_matrix = true;
                continue;
            }
            if (!in_matrix || line.find("index") != std::string::npos) {
                continue;
            }
            std::stringstream row(line);
            int v = 0;
            if (!(row >> v)) {
                break; // end of the matrix
            }
            while (row >> v) { // first number was the row index
                values.push_back(v);
            }
        }
        return values;
    }

private:
    std::string m_input;
};

struct machine_case {
    const char* name;
    std::string input; // synthetic description, or XML file path
    bool is_xml;
    topos::memory_architecture architecture;
};

// gtest prints parameters into test names; name them instead of dumping bytes.
void PrintTo(const machine_case& m, std::ostream* os) { *os << m.name; }

topos::topology load(const machine_case& m) {
    return m.is_xml ? topos::topology::from_xml(m.input) : topos::topology::synthetic(m.input);
}

std::vector<machine_case> machines() {
    using topos::memory_architecture;
    return {
        {"laptop_one_node", "pack:1 l3:1 l2:4 l1d:1 core:1 pu:2", false, memory_architecture::uma},
        {"two_sockets_two_nodes", "pack:2 [numa] l3:1 l2:8 core:1 pu:2", false, memory_architecture::numa},
        {"two_sockets_snc", "pack:2 numa:2 l3:1 core:4 pu:2", false, memory_architecture::numa},
        {"four_nodes", "pack:4 [numa] l3:1 core:4 pu:1", false, memory_architecture::numa},
        {"eight_nodes_multi_l3", "pack:2 numa:4 l3:2 core:2 pu:2", false, memory_architecture::numa},
        {"xml_asymmetric", std::string(TOPOS_TEST_DATA_DIR) + "/asym4.xml", true, memory_architecture::numa},
    };
}

class TopologyMachineTest : public ::testing::TestWithParam<machine_case> {};

TEST_P(TopologyMachineTest, CountsMatchHwlocTools) {
    const auto& m = GetParam();
    const auto topo = load(m);
    const hwloc_reference ref(m.input);
    EXPECT_EQ(static_cast<int>(topo.numa_nodes().size()), ref.count("numa"));
    EXPECT_EQ(static_cast<int>(topo.packages().size()), ref.count("package"));
    EXPECT_EQ(static_cast<int>(topo.cores().size()), ref.count("core"));
    EXPECT_EQ(static_cast<int>(topo.pus().size()), ref.count("pu"));
    const int l3 = ref.count("l3cache");
    EXPECT_EQ(static_cast<int>(topo.cache_groups(3).size()), l3);
    EXPECT_EQ(topo.architecture(), m.architecture);
}

TEST_P(TopologyMachineTest, NodePusMatchHwlocTools) {
    const auto& m = GetParam();
    const auto topo = load(m);
    const hwloc_reference ref(m.input);
    std::vector<int> seen;
    for (const auto& node : topo.numa_nodes()) {
        const auto expected = ref.pus_of("numa:" + std::to_string(node.id));
        EXPECT_EQ(topo.pus_of_node(node.id), expected) << "node " << node.id;
        for (int pu : node.pus) {
            EXPECT_EQ(topo.node_of_pu(pu), node.id) << "pu " << pu;
            seen.push_back(pu);
        }
    }
    // Every PU belongs to exactly one node.
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), topo.pus().size());
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i], topo.pus()[i].os_index);
    }
}

TEST_P(TopologyMachineTest, DistancesMatchHwlocOrAreDerived) {
    const auto& m = GetParam();
    const auto topo = load(m);
    const hwloc_reference ref(m.input);
    const auto reported = ref.distances();
    const auto n = topo.node_count();
    ASSERT_EQ(topo.distance_matrix().size(), n * n);
    if (reported.empty()) {
        EXPECT_TRUE(topo.distances_derived());
    } else {
        EXPECT_FALSE(topo.distances_derived());
        EXPECT_EQ(std::vector<int>(topo.distance_matrix().begin(), topo.distance_matrix().end()), reported);
    }
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(topo.distance(static_cast<int>(i), static_cast<int>(i)), 10);
        const auto order = topo.nodes_by_distance(static_cast<int>(i));
        ASSERT_EQ(order.size(), n);
        EXPECT_EQ(order.front(), static_cast<int>(i));
        for (std::size_t k = 2; k < n; ++k) {
            EXPECT_LE(topo.distance(static_cast<int>(i), order[k - 1]), topo.distance(static_cast<int>(i), order[k]));
        }
    }
}

TEST_P(TopologyMachineTest, CoresAndCachesAreConsistent) {
    const auto topo = load(GetParam());
    std::size_t pus_in_cores = 0;
    for (const auto& core : topo.cores()) {
        ASSERT_FALSE(core.pus.empty());
        pus_in_cores += core.pus.size();
        for (int pu : core.pus) {
            EXPECT_EQ(topo.node_of_pu(pu), core.node);
        }
    }
    EXPECT_EQ(pus_in_cores, topo.pus().size());
    for (const auto& c : topo.caches()) {
        EXPECT_GT(c.size_bytes, 0u);
        EXPECT_GE(c.level, 1);
        EXPECT_FALSE(c.pus.empty());
    }
}

INSTANTIATE_TEST_SUITE_P(Machines, TopologyMachineTest, ::testing::ValuesIn(machines()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TopologyTest, DerivedDistancesFollowThePackageHierarchy) {
    // Two packages, two nodes each (sub-NUMA clustering): 12 inside a package, 20 across.
    const auto topo = topos::topology::synthetic("pack:2 numa:2 core:2 pu:1");
    ASSERT_EQ(topo.node_count(), 4u);
    EXPECT_TRUE(topo.distances_derived());
    EXPECT_EQ(topo.distance(0, 1), 12);
    EXPECT_EQ(topo.distance(0, 2), 20);
    EXPECT_EQ(topo.distance(3, 2), 12);
    EXPECT_EQ(topo.nodes_by_distance(2), (std::vector<int>{2, 3, 0, 1}));
    ASSERT_EQ(topo.notes().size(), 1u);
    EXPECT_NE(topo.notes()[0].find("derived"), std::string::npos);
    // A grouping level above the packages adds another step.
    const auto grouped = topos::topology::synthetic("group:2 pack:2 [numa] core:1 pu:1");
    ASSERT_EQ(grouped.node_count(), 4u);
    EXPECT_EQ(grouped.distance(0, 1), 20);
    EXPECT_EQ(grouped.distance(0, 2), 30);
}

TEST(TopologyTest, AsymmetricXmlDistancesKeepTheirDirection) {
    const auto topo = topos::topology::from_xml(std::string(TOPOS_TEST_DATA_DIR) + "/asym4.xml");
    EXPECT_EQ(topo.source(), topos::topology_source::xml);
    EXPECT_EQ(topo.distance(0, 1), 11);
    EXPECT_EQ(topo.distance(1, 0), 13);
    EXPECT_EQ(topo.distance(0, 3), 32);
    EXPECT_EQ(topo.distance(3, 0), 28);
    EXPECT_EQ(topo.nodes_by_distance(0), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(topo.nodes_by_distance(1), (std::vector<int>{1, 0, 3, 2}));
    EXPECT_EQ(topo.nodes_by_distance(3), (std::vector<int>{3, 2, 1, 0}));
    EXPECT_TRUE(topo.notes().empty());
}

TEST(TopologyTest, CacheGroupsByLevel) {
    const auto topo = topos::topology::synthetic("pack:2 numa:4 l3:2 l2:2 core:1 pu:2");
    EXPECT_EQ(topo.last_cache_level(), 3);
    const auto l3 = topo.cache_groups();
    ASSERT_EQ(l3.size(), 16u);
    for (const auto& g : l3) {
        EXPECT_EQ(g.size(), 4u);
    }
    EXPECT_EQ(topo.cache_groups(2).size(), 32u);
    EXPECT_TRUE(topo.cache_groups(4).empty());
}

TEST(TopologyTest, CopiesShareOneValue) {
    const auto a = topos::topology::synthetic("pack:2 [numa] core:2 pu:2");
    const auto b = a; // NOLINT(performance-unnecessary-copy-initialization): copying is the point
    EXPECT_EQ(a.numa_nodes().data(), b.numa_nodes().data());
}

TEST(TopologyTest, HostIsRestrictedToTheAllowedCpuSet) {
    const auto topo = topos::topology::host();
    EXPECT_TRUE(topo.is_this_system());
    EXPECT_GE(topo.node_count(), 1u);
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    EXPECT_EQ(static_cast<int>(topo.pus().size()), CPU_COUNT(&allowed));
    for (const auto& pu : topo.pus()) {
        EXPECT_TRUE(CPU_ISSET(static_cast<std::size_t>(pu.os_index), &allowed)) << pu.os_index;
    }
    for (const auto& node : topo.numa_nodes()) {
        EXPECT_GT(node.memory_bytes, 0u);
    }
}

TEST(TopologyTest, HostHonoursANarrowerAffinityMask) {
    cpu_set_t saved;
    ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
    const auto full = topos::topology::host();
    if (full.pus().size() < 2) {
        GTEST_SKIP() << "needs at least two allowed CPUs to narrow the mask";
    }
    const int only = full.pus().back().os_index;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(static_cast<std::size_t>(only), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    const auto narrowed = topos::topology::host();
    ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
    ASSERT_EQ(narrowed.pus().size(), 1u);
    EXPECT_EQ(narrowed.pus()[0].os_index, only);
    EXPECT_FALSE(narrowed.has_pu(full.pus().front().os_index));
    // Nodes keep their memory even when none of their CPUs is allowed.
    EXPECT_EQ(narrowed.node_count(), full.node_count());
    // And the narrowing is reported, not silent.
    const auto notes = narrowed.notes();
    EXPECT_TRUE(std::any_of(notes.begin(), notes.end(),
                            [](const std::string& n) { return n.find("affinity mask allows 1 of") != std::string::npos; }));
}

TEST(TopologyTest, SpecSelectsTheSource) {
    EXPECT_EQ(topos::topology::from_spec("synthetic:pack:2 [numa] core:2 pu:1").node_count(), 2u);
    EXPECT_EQ(topos::topology::from_spec(std::string(TOPOS_TEST_DATA_DIR) + "/asym4.xml").source(),
              topos::topology_source::xml);
    EXPECT_EQ(topos::topology::from_spec("host").source(), topos::topology_source::host);
}

TEST(TopologyTest, EnvironmentSelectsTheSource) {
    ASSERT_EQ(setenv("TOPOS_TOPOLOGY", "synthetic:pack:4 [numa] core:1 pu:1", 1), 0);
    const auto topo = topos::topology::from_env();
    unsetenv("TOPOS_TOPOLOGY");
    EXPECT_EQ(topo.node_count(), 4u);
    EXPECT_EQ(topo.source(), topos::topology_source::synthetic);
    EXPECT_EQ(topos::topology::from_env().source(), topos::topology_source::host);
}

// The bad-input table: each gets a typed exception whose one-line message names the input.
struct bad_topology {
    const char* name;
    std::string spec;
    std::string must_mention;
};

void PrintTo(const bad_topology& b, std::ostream* os) { *os << b.name; }

class TopologyBadInputTest : public ::testing::TestWithParam<bad_topology> {};

TEST_P(TopologyBadInputTest, ThrowsTopologyErrorNamingTheInput) {
    const auto& c = GetParam();
    try {
        (void)topos::topology::from_spec(c.spec);
        FAIL() << "no exception for " << c.spec;
    } catch (const topos::topology_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(c.must_mention), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TopologyBadInputTest,
    ::testing::Values(
        bad_topology{"synthetic_garbage", "synthetic:pack:x core:2", "pack:x core:2"},
        bad_topology{"synthetic_unknown_type", "synthetic:socketz:2 pu:2", "socketz:2 pu:2"},
        bad_topology{"synthetic_zero", "synthetic:pack:0 pu:2", "pack:0 pu:2"},
        bad_topology{"synthetic_empty", "synthetic:", "empty"},
        bad_topology{"xml_missing", "/nonexistent/machine.xml", "/nonexistent/machine.xml"},
        bad_topology{"xml_not_xml", std::string(TOPOS_TEST_DATA_DIR) + "/not-a-topology.xml", "not-a-topology.xml"},
        bad_topology{"unknown_spec", "bogus", "bogus"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TopologyTest, EnvironmentErrorNamesTheVariable) {
    ASSERT_EQ(setenv("TOPOS_TOPOLOGY", "synthetic:nonsense", 1), 0);
    try {
        (void)topos::topology::from_env();
        unsetenv("TOPOS_TOPOLOGY");
        FAIL() << "no exception";
    } catch (const topos::topology_error& e) {
        unsetenv("TOPOS_TOPOLOGY");
        EXPECT_NE(std::string(e.what()).find("TOPOS_TOPOLOGY"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("nonsense"), std::string::npos);
    }
}

TEST(TopologyTest, UnknownNodesAndPusAreTypedErrors) {
    const auto topo = topos::topology::synthetic("pack:2 [numa] core:2 pu:1");
    EXPECT_THROW((void)topo.distance(0, 2), topos::node_error);
    EXPECT_THROW((void)topo.distance(-1, 0), topos::node_error);
    EXPECT_THROW((void)topo.pus_of_node(7), topos::node_error);
    EXPECT_THROW((void)topo.nodes_by_distance(2), topos::node_error);
    EXPECT_THROW((void)topo.node_of_pu(99), topos::node_error);
}

TEST(TopologyTest, FormatsCpuLists) {
    EXPECT_EQ(topos::format_cpu_list(std::vector<int>{0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
    EXPECT_EQ(topos::format_cpu_list(std::vector<int>{}), "");
    EXPECT_EQ(topos::format_cpu_list(std::vector<int>{5}), "5");
}

} // namespace
