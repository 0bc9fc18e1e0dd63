// Unit tests of topos::mpi, run as 1, 2 and 4 ranks (tests/components/mpi.cmake)
// over shared memory and TCP, and without mpirun (a singleton). Every rank
// runs every test; collectives keep them in step.
#include <topos/mpi.hpp>
#include <topos/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace tmpi = topos::mpi;

namespace {

tmpi::environment* g_env = nullptr;

int world_rank() {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int world_size() {
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

std::string processor_name() {
    std::array<char, MPI_MAX_PROCESSOR_NAME> name{};
    int len = 0;
    MPI_Get_processor_name(name.data(), &len);
    return {name.data(), static_cast<std::size_t>(len)};
}

// Every rank's processor name, gathered independently of rank_map.
std::vector<std::string> all_names() {
    std::array<char, MPI_MAX_PROCESSOR_NAME> mine{};
    std::string me = processor_name();
    std::memcpy(mine.data(), me.data(), me.size());
    std::vector<char> all(mine.size() * static_cast<std::size_t>(world_size()));
    MPI_Allgather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                  MPI_COMM_WORLD);
    std::vector<std::string> out;
    for (int r = 0; r < world_size(); ++r) {
        out.emplace_back(all.data() + static_cast<std::ptrdiff_t>(r) * MPI_MAX_PROCESSOR_NAME);
    }
    return out;
}

} // namespace

TEST(MpiEnvironment, GivesAtLeastTheLevelAsked) {
    ASSERT_NE(g_env, nullptr);
    EXPECT_GE(static_cast<int>(g_env->provided()), static_cast<int>(tmpi::threading::funneled));
    EXPECT_TRUE(tmpi::environment::initialized());
    int provided = 0;
    MPI_Query_thread(&provided);
    EXPECT_EQ(tmpi::from_mpi(provided), g_env->provided());
}

TEST(MpiEnvironment, ASecondEnvironmentIsAnErrorNamingTheCall) {
    try {
        tmpi::environment again;
        FAIL() << "a second environment was made";
    } catch (const tmpi::mpi_error& e) {
        EXPECT_EQ(e.call(), "MPI_Init_thread");
        EXPECT_NE(std::string(e.what()).find("already initialized"), std::string::npos) << e.what();
    }
}

TEST(MpiEnvironment, ALowerLevelThanAskedThrowsNamingBoth) {
    EXPECT_NO_THROW(tmpi::detail::require_level(tmpi::threading::funneled, tmpi::threading::multiple));
    EXPECT_NO_THROW(tmpi::detail::require_level(tmpi::threading::serialized, tmpi::threading::serialized));
    try {
        tmpi::detail::require_level(tmpi::threading::multiple, tmpi::threading::funneled);
        FAIL() << "no error";
    } catch (const topos::error& e) { // mpi_error is a topos::error
        std::string what = e.what();
        EXPECT_NE(what.find("'multiple'"), std::string::npos) << what;
        EXPECT_NE(what.find("'funneled'"), std::string::npos) << what;
        EXPECT_NE(what.find("MPI_Init_thread"), std::string::npos) << what;
    }
    EXPECT_THROW((void)tmpi::from_mpi(12345), tmpi::mpi_error);
    for (auto level : {tmpi::threading::single, tmpi::threading::funneled, tmpi::threading::serialized,
                       tmpi::threading::multiple}) {
        EXPECT_EQ(tmpi::from_mpi(tmpi::to_mpi(level)), level);
    }
}

TEST(MpiErrors, FailedCallsAreTypedErrorsNamingTheCall) {
    try {
        tmpi::check(MPI_ERR_COMM, "MPI_Example_call");
        FAIL() << "no error";
    } catch (const tmpi::mpi_error& e) {
        EXPECT_EQ(e.call(), "MPI_Example_call");
        EXPECT_EQ(e.code(), MPI_ERR_COMM);
        EXPECT_EQ(std::string(e.what()).rfind("MPI_Example_call failed: ", 0), 0U) << e.what();
    }
    // A real failure: MPI_COMM_NULL is no communicator. MPI returns the error
    // (the environment set MPI_ERRORS_RETURN) and topos names the call.
    tmpi::communicator null_comm;
    try {
        (void)null_comm.size();
        FAIL() << "no error";
    } catch (const tmpi::mpi_error& e) {
        EXPECT_EQ(e.call(), "MPI_Comm_size");
        EXPECT_NE(e.code(), MPI_SUCCESS);
    }
    EXPECT_THROW((void)tmpi::node_comm(MPI_COMM_NULL), tmpi::mpi_error);
}

TEST(MpiErrors, AWindowEpochMisuseIsNamed) {
    auto host = tmpi::node_comm();
    tmpi::shared_array<int> a(host, 16);
    auto epoch = a.lock_all();
    try {
        auto again = a.lock_all(); // a second lock_all on the same window is an RMA sync error
        FAIL() << "no error";
    } catch (const tmpi::mpi_error& e) {
        EXPECT_EQ(e.call(), "MPI_Win_lock_all");
    }
    epoch.barrier();
}

TEST(MpiCommunicators, NodeCommGroupsTheRanksOfOneHost) {
    auto names = all_names();
    std::string me = processor_name();
    std::vector<int> same_host;
    for (int r = 0; r < world_size(); ++r) {
        if (names[static_cast<std::size_t>(r)] == me) {
            same_host.push_back(r);
        }
    }
    auto host = tmpi::node_comm();
    ASSERT_EQ(host.size(), static_cast<int>(same_host.size()));
    // Ranks keep their world order: this rank's place among its host's ranks.
    auto it = std::find(same_host.begin(), same_host.end(), world_rank());
    EXPECT_EQ(host.rank(), static_cast<int>(it - same_host.begin()));
    // Its members are exactly those ranks.
    MPI_Group world_group;
    MPI_Group host_group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Comm_group(host, &host_group);
    std::vector<int> local(same_host.size());
    std::iota(local.begin(), local.end(), 0);
    std::vector<int> in_world(same_host.size());
    MPI_Group_translate_ranks(host_group, static_cast<int>(local.size()), local.data(), world_group, in_world.data());
    EXPECT_EQ(in_world, same_host);
    MPI_Group_free(&host_group);
    MPI_Group_free(&world_group);
}

// Run by tests/mpi/two_hosts: ranks on two hosts (UTS namespaces) of this machine.
TEST(MpiCommunicators, TwoHostsGiveTwoNodeComms) {
    const char* expect = std::getenv("TOPOS_MPI_EXPECT_HOSTS");
    if (expect == nullptr) {
        GTEST_SKIP() << "TOPOS_MPI_EXPECT_HOSTS is not set (only tests/mpi/two_hosts sets it)";
    }
    auto map = tmpi::rank_map::gather(topos::topology::host());
    auto hosts = map.hosts();
    ASSERT_EQ(hosts.size(), static_cast<std::size_t>(std::atoi(expect)));
    auto host = tmpi::node_comm();
    const auto& me = map.at(world_rank());
    EXPECT_EQ(me.host, processor_name());
    EXPECT_EQ(host.size(), static_cast<int>(map.ranks_on(me.host).size()));
    EXPECT_EQ(host.size(), world_size() / static_cast<int>(hosts.size()));
    EXPECT_EQ(me.local_rank, host.rank());
}

TEST(MpiCommunicators, RankMapSaysHostLocalRankAndNodes) {
    auto topo = topos::topology::host();
    auto map = tmpi::rank_map::gather(topo);
    ASSERT_EQ(map.size(), static_cast<std::size_t>(world_size()));
    auto names = all_names();
    auto host = tmpi::node_comm();
    for (int r = 0; r < world_size(); ++r) {
        EXPECT_EQ(map.at(r).rank, r);
        EXPECT_EQ(map.at(r).host, names[static_cast<std::size_t>(r)]);
    }
    const auto& me = map.at(world_rank());
    EXPECT_EQ(me.local_rank, host.rank());
    EXPECT_EQ(me.os_nodes, tmpi::os_nodes_of(topo));
    EXPECT_FALSE(me.os_nodes.empty());
    EXPECT_EQ(map.ranks_on(me.host).size(), static_cast<std::size_t>(host.size()));
    std::size_t total = 0;
    for (const auto& h : map.hosts()) {
        total += map.ranks_on(h).size();
    }
    EXPECT_EQ(total, map.size());
    EXPECT_THROW((void)map.at(-1), topos::index_error);
    EXPECT_THROW((void)map.at(world_size()), topos::index_error);
}

TEST(MpiCommunicators, NumaCommGroupsRanksWithTheSameNodes) {
    topos::runtime_options one;
    one.threads = 1;
    topos::runtime rt(one);
    auto numa = tmpi::numa_comm(rt);
    auto map = tmpi::rank_map::gather(rt);
    auto mine = tmpi::os_nodes_of(rt);
    const std::string& me = map.at(world_rank()).host;
    int expected = 0;
    for (const auto& info : map.ranks()) {
        if (info.host == me && info.os_nodes == mine) {
            ++expected;
        }
    }
    EXPECT_EQ(numa.size(), expected);
    EXPECT_LE(numa.size(), tmpi::node_comm().size());
}

TEST(MpiSharedArray, SlicesCoverTheHostArrayAndIndexingReachesEveryRank) {
    auto host = tmpi::node_comm();
    const int k = host.size();
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, static_cast<std::size_t>(k) + 1, std::size_t{1003},
                          std::size_t{100000}}) {
        tmpi::shared_array<long> a(host, n);
        ASSERT_EQ(a.size(), n);
        ASSERT_EQ(a.ranks(), k);
        std::size_t covered = 0;
        for (int r = 0; r < k; ++r) {
            EXPECT_EQ(a.begin_of(r), covered);
            covered += a.slice(r).size();
        }
        EXPECT_EQ(covered, n);
        for (std::size_t i = 0; i < n; i += std::max<std::size_t>(1, n / 97)) {
            int o = a.owner(i);
            EXPECT_LE(a.begin_of(o), i);
            EXPECT_LT(i, a.begin_of(o) + a.slice(o).size());
        }
        auto epoch = a.lock_all();
        // Value-initialised by each owner.
        for (long x : a.local()) {
            ASSERT_EQ(x, 0);
        }
        std::size_t first = a.begin_of(a.rank());
        auto mine = a.local();
        for (std::size_t j = 0; j < mine.size(); ++j) {
            mine[j] = static_cast<long>(3 * (first + j) + 1);
        }
        epoch.barrier();
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(a[i], static_cast<long>(3 * i + 1)) << "index " << i << " of rank " << a.owner(i);
        }
        epoch.barrier(); // nobody frees while another still reads
        if (n > 0) {
            EXPECT_NO_THROW((void)a.at(n - 1));
        }
        EXPECT_THROW((void)a.at(n), topos::index_error);
    }
}

TEST(MpiSharedArray, FenceEpochsOrderPutsIntoANeighboursSlice) {
    auto host = tmpi::node_comm();
    const int k = host.size();
    const int me = host.rank();
    tmpi::shared_array<int> a(host, static_cast<std::size_t>(4 * k));
    {
        auto epoch = a.fence();
        int value = 100 + me;
        int right = (me + 1) % k;
        // Displacements are bytes from the target's part of the window.
        tmpi::check(MPI_Put(&value, 1, MPI_INT, right, a.displacement(right), 1, MPI_INT, a.window()), "MPI_Put");
        epoch.fence();
        EXPECT_EQ(a.local()[0], 100 + (me + k - 1) % k);
    }
}

TEST(MpiSharedArray, EachSliceIsBoundToItsRanksNode) {
    auto host = tmpi::node_comm();
    topos::runtime_options one;
    one.threads = 1;
    topos::runtime rt(one);
    tmpi::shared_array<double> a(host, 1 << 18, rt);
    const auto& where = a.placement();
    auto nodes = tmpi::os_nodes_of(rt);
    if (nodes.size() != 1) {
        EXPECT_FALSE(where.bound);
        EXPECT_FALSE(where.note.empty());
        GTEST_SKIP() << "this rank uses several NUMA nodes (" << nodes.size() << "): " << where.note;
    }
    if (!where.bound) {
        GTEST_SKIP() << "slice not bound here: " << where.note;
    }
    EXPECT_EQ(where.os_node, nodes.front());
    auto pages = a.page_os_nodes(a.rank());
    ASSERT_FALSE(pages.empty());
    for (std::size_t p = 0; p < pages.size(); ++p) {
        ASSERT_EQ(pages[p], nodes.front()) << "page " << p << " of rank " << a.rank() << "'s slice";
    }
    EXPECT_THROW((void)a.page_os_nodes(a.ranks()), topos::index_error);
    // The other ranks' slices, seen from here through the shared mapping:
    // on a one-node machine every rank's node is this one.
    if (topos::topology::host().node_count() == 1) {
        auto epoch = a.lock_all();
        for (int r = 0; r < a.ranks(); ++r) {
            for (int node : a.page_os_nodes(r)) {
                ASSERT_EQ(node, nodes.front()) << "a page of rank " << r << "'s slice";
            }
        }
        epoch.barrier();
    }
}

int main(int argc, char** argv) {
    try {
        tmpi::environment env(argc, argv, tmpi::threading::funneled);
        g_env = &env;
        ::testing::InitGoogleTest(&argc, argv);
        int rc = RUN_ALL_TESTS();
        int worst = 0;
        MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        g_env = nullptr;
        return worst;
    } catch (const topos::error& e) {
        std::fprintf(stderr, "test_mpi: %s\n", e.what());
        return 2;
    }
}
