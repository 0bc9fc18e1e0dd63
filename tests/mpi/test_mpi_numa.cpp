// NUMA tests of topos::mpi, judged by the kernel: run by tests/mpi/numa_launch
// inside the emulated machines (tests/numa-vm/run --shape 2n|4n) with one or
// two ranks per node. On a one-node machine every test skips with the reason.
//
//   TOPOS_MPI_BINDING=numa   the launcher bound each rank to a node (--bind-to numa)
//   TOPOS_MPI_BINDING=none   no binding (--bind-to none): the share rule must
//                            give each rank its own node
#include <topos/mpi.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>

#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace tmpi = topos::mpi;

namespace {

int world_rank() {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

std::string binding() {
    const char* b = std::getenv("TOPOS_MPI_BINDING");
    return b == nullptr ? std::string() : std::string(b);
}

class mpi_numa_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto topo = topos::topology::host();
        // Every node of the machine, whatever this rank may use.
        if (topo.node_count() < 2) {
            const char* shape = std::getenv("TOPOS_NUMA_VM_SHAPE");
            if (shape != nullptr) {
                FAIL() << "TOPOS_NUMA_VM_SHAPE=" << shape << " but hwloc sees " << topo.node_count() << " node(s)";
            }
            GTEST_SKIP() << "needs a multi-node NUMA machine (run under tests/numa-vm/run); this one has "
                         << topo.node_count() << " node(s)";
        }
        if (binding().empty()) {
            GTEST_SKIP() << "TOPOS_MPI_BINDING is not set (tests/mpi/numa_launch sets it)";
        }
    }
};

// The kernel node of every CPU a runtime's workers actually ran on.
std::set<int> nodes_run_on(topos::runtime& rt) {
    const auto& topo = rt.topology();
    std::mutex m;
    std::set<int> out;
    topos::parallel_for(
        rt, 0, 1000,
        [&](int) {
            int cpu = sched_getcpu();
            int node = topo.numa_nodes()[static_cast<std::size_t>(topo.node_of_pu(cpu))].os_index;
            std::lock_guard lock(m);
            out.insert(node);
        },
        1);
    return out;
}

} // namespace

// --map-by numa --bind-to numa: each rank's workers run on its node only,
// and the ranks of the host are spread over all nodes.
TEST_F(mpi_numa_test, EachRanksWorkersAreOnItsNode) {
    topos::runtime rt;
    auto mine = tmpi::os_nodes_of(rt);
    ASSERT_EQ(mine.size(), 1U) << "this rank's runtime spans " << mine.size() << " nodes";
    const int node = mine.front();
    for (const auto& w : rt.stats().workers) {
        for (int pu : w.pus) {
            int n = rt.topology().numa_nodes()[static_cast<std::size_t>(rt.topology().node_of_pu(pu))].os_index;
            EXPECT_EQ(n, node) << "worker " << w.index << " is planned on PU " << pu << " of node " << n;
        }
    }
    auto ran = nodes_run_on(rt);
    EXPECT_EQ(ran, std::set<int>{node}) << "the kernel ran this rank's workers on other nodes";
    // Every node of the machine got ranks, evenly.
    auto map = tmpi::rank_map::gather(rt);
    std::map<int, int> per_node;
    for (const auto& info : map.ranks()) {
        per_node[info.os_node()] += 1;
    }
    EXPECT_EQ(per_node.size(), rt.topology().node_count());
    EXPECT_EQ(per_node.count(-1), 0U);
    for (auto [n, count] : per_node) {
        EXPECT_EQ(count, per_node.begin()->second) << "node " << n;
    }
    // numa_comm groups exactly the ranks of this node.
    auto numa = tmpi::numa_comm(rt);
    EXPECT_EQ(numa.size(), per_node[node]);
    if (world_rank() == 0 && !HasFailure()) {
        std::printf("mpi numa: %zu ranks over %zu nodes, %d per node; workers on their node\n", map.size(),
                    per_node.size(), per_node[node]);
    }
}

// Each rank's slice of a shared_array lies on its rank's node, as move_pages
// sees it from every rank (the others' slices through the shared mapping).
TEST_F(mpi_numa_test, SharedArraySlicesLieOnTheirRanksNodes) {
    topos::runtime rt;
    auto host = tmpi::node_comm();
    auto map = tmpi::rank_map::gather(rt, host);
    tmpi::shared_array<double> a(host, std::size_t{1} << 17, rt);
    ASSERT_TRUE(a.placement().bound) << a.placement().note;
    auto epoch = a.lock_all();
    for (int r = 0; r < a.ranks(); ++r) {
        int want = map.at(r).os_node();
        ASSERT_GE(want, 0);
        auto pages = a.page_os_nodes(r);
        ASSERT_FALSE(pages.empty());
        std::size_t wrong = 0;
        for (int p : pages) {
            wrong += p == want ? 0 : 1;
        }
        EXPECT_EQ(wrong, 0U) << "rank " << r << "'s slice: " << wrong << " of " << pages.size()
                             << " pages not on kernel node " << want;
    }
    // And the array works as one: each rank writes its slice, all read all.
    auto mine = a.local();
    for (std::size_t j = 0; j < mine.size(); ++j) {
        mine[j] = static_cast<double>(a.begin_of(a.rank()) + j);
    }
    epoch.barrier();
    for (std::size_t i = 0; i < a.size(); i += 509) {
        ASSERT_EQ(a[i], static_cast<double>(i));
    }
    epoch.barrier();
    if (world_rank() == 0 && !HasFailure()) {
        std::printf("mpi numa: shared_array of %zu doubles, every rank's slice on its node\n", a.size());
    }
}

// --bind-to none: every rank may use every CPU, and the environment says it is
// one of K ranks on this host. The share rule (topos's default plan for such
// a rank) gives each rank its own node.
TEST_F(mpi_numa_test, UnboundRanksTakeTheirShare) {
    if (binding() != "none") {
        GTEST_SKIP() << "only with --bind-to none";
    }
    topos::runtime rt;
    auto mine = tmpi::os_nodes_of(rt);
    ASSERT_EQ(mine.size(), 1U) << "an unbound rank's runtime should take one node's share, it has " << mine.size();
    auto map = tmpi::rank_map::gather(rt);
    std::set<int> nodes;
    for (const auto& info : map.ranks()) {
        nodes.insert(info.os_node());
    }
    EXPECT_EQ(nodes.size(), map.size()) << "two ranks took the same node";
    auto ran = nodes_run_on(rt);
    EXPECT_EQ(ran, std::set<int>{mine.front()});
}

int main(int argc, char** argv) {
    try {
        tmpi::environment env(argc, argv);
        ::testing::InitGoogleTest(&argc, argv);
        int rc = RUN_ALL_TESTS();
        int worst = 0;
        MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return worst;
    } catch (const topos::error& e) {
        std::fprintf(stderr, "test_mpi_numa: %s\n", e.what());
        return 2;
    }
}
