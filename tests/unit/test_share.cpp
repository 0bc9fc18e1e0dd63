// The ranks' share of a host (topos/share.hpp), computed on synthetic
// machines: whole nodes when the ranks divide them, K/M ranks per node, a
// contiguous share of cores otherwise, more ranks than cores; each
// launcher's variables (Open MPI, MPICH/Hydra, Slurm), their precedence and
// garbage; TOPOS_SHARE; explicit places and ranks in code; the runtime's plan.
#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/runtime.hpp>
#include <topos/share.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

const char* const k_launcher_variables[] = {
    "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
    "SLURM_LOCALID", "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE",
    "SLURM_NTASKS_PER_NODE", "SLURM_NODEID", "TOPOS_SHARE", "TOPOS_PLACES", "TOPOS_NUM_THREADS",
    "TOPOS_PROC_BIND", "TOPOS_CALLER"};

// Clears every variable the rule reads for the scope, then sets `values`;
// puts everything back afterwards.
class launcher_env {
public:
    explicit launcher_env(const std::map<std::string, std::string>& values = {}) {
        for (const char* name : k_launcher_variables) {
            if (const char* old = std::getenv(name)) {
                m_saved[name] = old;
            }
            unsetenv(name);
        }
        for (const auto& [name, value] : values) {
            setenv(name.c_str(), value.c_str(), 1);
        }
    }
    ~launcher_env() {
        for (const char* name : k_launcher_variables) {
            unsetenv(name);
        }
        for (const auto& [name, value] : m_saved) {
            setenv(name.c_str(), value.c_str(), 1);
        }
    }
    launcher_env(const launcher_env&) = delete;
    launcher_env& operator=(const launcher_env&) = delete;

private:
    std::map<std::string, std::string> m_saved;
};

const topos::topology& four_nodes() { // 4 nodes x 4 cores x 2 PUs: node n holds PUs 8n .. 8n+7
    static const auto topo = topos::topology::synthetic("pack:2 numa:2 core:4 pu:2");
    return topo;
}

std::vector<int> range(int lo, int hi) {
    std::vector<int> out;
    for (int i = lo; i < hi; ++i) {
        out.push_back(i);
    }
    return out;
}

topos::rank_share rule(const topos::topology& topo, unsigned rank, unsigned size) {
    return topos::share_for_rank(topo, {.rank = rank, .size = size}, "test");
}

// The core (logical id) of each PU of a share; every core must be whole.
std::set<int> cores_of(const topos::topology& topo, const std::vector<int>& pus) {
    std::set<int> cores;
    for (int pu : pus) {
        cores.insert(topo.pus()[static_cast<std::size_t>(std::find_if(topo.pus().begin(), topo.pus().end(),
                                                                        [&](const auto& p) {
                                                                            return p.os_index == pu;
                                                                        }) -
                                                           topo.pus().begin())]
                         .core);
    }
    for (int c : cores) {
        const auto& core_pus = topo.cores()[static_cast<std::size_t>(c)].pus;
        for (int pu : core_pus) {
            EXPECT_TRUE(std::binary_search(pus.begin(), pus.end(), pu)) << "core " << c << " is split";
        }
    }
    return cores;
}

TEST(ShareRule, WholeNodesWhenTheRanksDivideThem) {
    for (unsigned r = 0; r < 4; ++r) {
        const auto s = rule(four_nodes(), r, 4);
        EXPECT_TRUE(s.taken);
        EXPECT_EQ(s.nodes, std::vector<int>{static_cast<int>(r)});
        EXPECT_EQ(s.pus, range(8 * static_cast<int>(r), 8 * static_cast<int>(r) + 8));
        EXPECT_TRUE(s.problems.empty());
        EXPECT_NE(s.summary.find("local rank " + std::to_string(r) + " of 4 (test): NUMA node " + std::to_string(r)),
                  std::string::npos)
            << s.summary;
    }
    const auto second_half = rule(four_nodes(), 1, 2);
    EXPECT_EQ(second_half.nodes, (std::vector<int>{2, 3}));
    EXPECT_EQ(second_half.pus, range(16, 32));
}

TEST(ShareRule, TheOnlyRankKeepsEverything) {
    const auto s = rule(four_nodes(), 0, 1);
    EXPECT_FALSE(s.taken);
    EXPECT_TRUE(s.pus.empty());
    EXPECT_NE(s.summary.find("the only rank"), std::string::npos) << s.summary;
}

TEST(ShareRule, MoreRanksThanNodesSplitEachNodesCores) {
    // 8 ranks on 4 nodes: 2 per node, 2 cores (4 PUs) each.
    for (unsigned r = 0; r < 8; ++r) {
        const auto s = rule(four_nodes(), r, 8);
        EXPECT_TRUE(s.taken);
        EXPECT_TRUE(s.nodes.empty());
        EXPECT_EQ(s.pus, range(4 * static_cast<int>(r), 4 * static_cast<int>(r) + 4)) << "rank " << r;
        EXPECT_TRUE(s.problems.empty());
    }
}

TEST(ShareRule, UnevenRanksGetContiguousBalancedCores) {
    // 3 ranks, 16 cores: 5, 5 and 6 cores, contiguous, disjoint, covering all.
    std::vector<int> all;
    std::size_t expected_cores[] = {5, 5, 6};
    for (unsigned r = 0; r < 3; ++r) {
        const auto s = rule(four_nodes(), r, 3);
        EXPECT_TRUE(s.taken);
        EXPECT_TRUE(s.nodes.empty());
        EXPECT_EQ(cores_of(four_nodes(), s.pus).size(), expected_cores[r]);
        all.insert(all.end(), s.pus.begin(), s.pus.end());
        EXPECT_EQ(s.pus.back() - s.pus.front() + 1, static_cast<int>(s.pus.size())) << "contiguous";
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, range(0, 32));
}

TEST(ShareRule, EveryRankCountPartitionsTheMachineInWholeCores) {
    const std::vector<topos::topology> machines = {
        four_nodes(), topos::topology::synthetic("numa:3 core:5 pu:1"), topos::topology::synthetic("core:6 pu:2"),
        topos::topology::synthetic("pack:2 numa:3 l3:1 core:2 pu:4")};
    for (const auto& topo : machines) {
        const auto cores = topo.cores().size();
        for (unsigned k = 1; k <= cores; ++k) {
            std::vector<int> seen;
            for (unsigned r = 0; r < k; ++r) {
                const auto s = rule(topo, r, k);
                const auto got = k == 1 ? std::vector<int>{} : s.pus;
                if (k > 1) {
                    EXPECT_FALSE(cores_of(topo, got).empty());
                    EXPECT_TRUE(s.problems.empty()) << s.problems.front();
                }
                seen.insert(seen.end(), got.begin(), got.end());
            }
            if (k == 1) {
                continue;
            }
            std::sort(seen.begin(), seen.end());
            EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end()) == seen.end())
                << topo.source_spec() << " k=" << k << ": shares overlap";
            EXPECT_EQ(seen.size(), topo.pus().size()) << topo.source_spec() << " k=" << k << ": PUs left out";
        }
    }
}

TEST(ShareRule, MoreRanksThanCoresShareCoresAndSaySo) {
    // 40 ranks on 16 cores: 10 per node of 4 cores; each rank one core, no
    // core under more than ceil(10/4) = 3 ranks; every rank says so.
    std::map<std::vector<int>, int> per_core;
    for (unsigned r = 0; r < 40; ++r) {
        const auto s = rule(four_nodes(), r, 40);
        EXPECT_TRUE(s.taken);
        EXPECT_EQ(cores_of(four_nodes(), s.pus).size(), 1U);
        ASSERT_EQ(s.problems.size(), 1U);
        EXPECT_NE(s.problems[0].find("10 ranks share 4 cores on NUMA node"), std::string::npos) << s.problems[0];
        ++per_core[s.pus];
    }
    EXPECT_EQ(per_core.size(), 16U);
    for (const auto& [pus, ranks] : per_core) {
        EXPECT_LE(ranks, 3);
    }
    // 20 ranks on 6 cores (not a multiple of the node count): contiguous, crowded.
    const auto six = topos::topology::synthetic("core:6 pu:1");
    const auto s = rule(six, 19, 20);
    EXPECT_EQ(s.pus, std::vector<int>{5});
    ASSERT_EQ(s.problems.size(), 1U);
    EXPECT_NE(s.problems[0].find("up to 4 ranks"), std::string::npos) << s.problems[0];
}

TEST(ShareRule, RankOutOfRangeIsAConfigErrorNamingItsSource) {
    try {
        (void)rule(four_nodes(), 4, 4);
        FAIL() << "expected config_error";
    } catch (const topos::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("test"), std::string::npos) << what;
        EXPECT_NE(what.find("local rank 4 is not below the local size 4"), std::string::npos) << what;
    }
    EXPECT_THROW((void)rule(four_nodes(), 0, 0), topos::config_error);
}

TEST(ShareLaunchers, EachLaunchersVariables) {
    std::string source;
    std::vector<std::string> problems;
    {
        const launcher_env env;
        EXPECT_FALSE(topos::local_rank_from_environment(source, problems));
        EXPECT_TRUE(problems.empty());
    }
    {
        const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
        const auto r = topos::local_rank_from_environment(source, problems);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->rank, 2U);
        EXPECT_EQ(r->size, 4U);
        EXPECT_NE(source.find("Open MPI"), std::string::npos) << source;
    }
    {
        const launcher_env env({{"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "3"}});
        const auto r = topos::local_rank_from_environment(source, problems);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->rank, 1U);
        EXPECT_EQ(r->size, 3U);
        EXPECT_NE(source.find("MPICH"), std::string::npos) << source;
    }
    {
        // Slurm: the step's tasks on this node (SLURM_NODEID picks the entry).
        const launcher_env env({{"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"},
                                {"SLURM_STEP_TASKS_PER_NODE", "4(x2),2"}, {"SLURM_NODEID", "2"}});
        const auto r = topos::local_rank_from_environment(source, problems);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->rank, 1U);
        EXPECT_EQ(r->size, 2U);
        EXPECT_NE(source.find("Slurm"), std::string::npos) << source;
    }
    {
        const launcher_env env({{"SLURM_LOCALID", "3"}, {"SLURM_STEPID", "1"}, {"SLURM_TASKS_PER_NODE", "8(x3)"}});
        const auto r = topos::local_rank_from_environment(source, problems);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->size, 8U) << "the first entry without SLURM_NODEID";
    }
    {
        const launcher_env env({{"SLURM_LOCALID", "0"}, {"SLURM_STEP_ID", "0"}, {"SLURM_NTASKS_PER_NODE", "2"}});
        const auto r = topos::local_rank_from_environment(source, problems);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->size, 2U);
    }
    {
        // A batch script has SLURM_LOCALID but is no step: no rank.
        const launcher_env env({{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "4"}, {"SLURM_NTASKS_PER_NODE", "4"}});
        EXPECT_FALSE(topos::local_rank_from_environment(source, problems));
    }
    EXPECT_TRUE(problems.empty());
}

TEST(ShareLaunchers, OpenMpiWinsOverTheAllocationItRunsIn) {
    const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                            {"SLURM_LOCALID", "0"}, {"SLURM_STEP_ID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "1"},
                            {"MPI_LOCALRANKID", "0"}, {"MPI_LOCALNRANKS", "5"}});
    std::string source;
    std::vector<std::string> problems;
    const auto r = topos::local_rank_from_environment(source, problems);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size, 2U);
    EXPECT_NE(source.find("Open MPI"), std::string::npos);
}

TEST(ShareLaunchers, GarbageAndInconsistentVariablesGiveNoRankAndSaySo) {
    const std::vector<std::map<std::string, std::string>> bad = {
        {{"OMPI_COMM_WORLD_LOCAL_RANK", "abc"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}},
        {{"OMPI_COMM_WORLD_LOCAL_RANK", "5"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}},
        {{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}},
        {{"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "0"}},
        {{"MPI_LOCALRANKID", "-1"}, {"MPI_LOCALNRANKS", "2"}},
        {{"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x"}},
        {{"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"}},
    };
    for (const auto& vars : bad) {
        const launcher_env env(vars);
        std::string source;
        std::vector<std::string> problems;
        EXPECT_FALSE(topos::local_rank_from_environment(source, problems)) << vars.begin()->first;
        ASSERT_EQ(problems.size(), 1U) << vars.begin()->first;
        EXPECT_NE(problems[0].find(vars.begin()->first), std::string::npos) << problems[0];
        EXPECT_EQ(problems[0].find('\n'), std::string::npos);
        // The runtime takes no share and says why in degraded().
        topos::runtime rt({.places = {}, .bind = {}, .threads = 1, .topology = four_nodes()});
        EXPECT_FALSE(rt.share().taken);
        const auto lines = rt.degraded();
        EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l == problems[0]; }))
            << problems[0];
    }
}

TEST(ShareDecision, ModesPlacesAndRanksInCode) {
    const auto& topo = four_nodes();
    {
        const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
        const auto automatic = topos::decide_share(topo, std::nullopt, std::nullopt, false);
        EXPECT_TRUE(automatic.taken);
        EXPECT_EQ(automatic.nodes, std::vector<int>{3});
        EXPECT_EQ(automatic.mode, topos::share_mode::automatic);
        const auto off = topos::decide_share(topo, topos::share_mode::off, std::nullopt, false);
        EXPECT_FALSE(off.taken);
        EXPECT_NE(off.summary.find("sharing is off"), std::string::npos) << off.summary;
        const auto places = topos::decide_share(topo, std::nullopt, std::nullopt, true);
        EXPECT_FALSE(places.taken);
        EXPECT_NE(places.summary.find("places were given explicitly"), std::string::npos) << places.summary;
        const auto in_code = topos::decide_share(topo, std::nullopt, topos::local_rank{.rank = 0, .size = 2}, false);
        EXPECT_EQ(in_code.nodes, (std::vector<int>{0, 1})) << "a rank in code wins over the variables";
        EXPECT_EQ(in_code.source, "runtime_options::rank");
    }
    {
        const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                {"TOPOS_SHARE", "OFF"}});
        EXPECT_FALSE(topos::decide_share(topo, std::nullopt, std::nullopt, false).taken);
        EXPECT_TRUE(topos::decide_share(topo, topos::share_mode::automatic, std::nullopt, false).taken)
            << "the mode in code wins over TOPOS_SHARE";
    }
    {
        const launcher_env env(std::map<std::string, std::string>{{"TOPOS_SHARE", "on"}});
        const auto on = topos::decide_share(topo, std::nullopt, std::nullopt, false);
        EXPECT_FALSE(on.taken);
        ASSERT_EQ(on.problems.size(), 1U) << "on without a rank says so";
        EXPECT_NE(on.problems[0].find("no local rank is known"), std::string::npos);
    }
    for (const char* garbage : {"sometimes", "", " maybe\n"}) {
        const launcher_env env(std::map<std::string, std::string>{{"TOPOS_SHARE", garbage}});
        if (*garbage == '\0') {
            EXPECT_NO_THROW((void)topos::decide_share(topo, std::nullopt, std::nullopt, false)) << "empty is unset";
            continue;
        }
        try {
            (void)topos::decide_share(topo, std::nullopt, std::nullopt, false);
            FAIL() << "expected config_error for TOPOS_SHARE=" << garbage;
        } catch (const topos::config_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("TOPOS_SHARE"), std::string::npos) << what;
            EXPECT_NE(what.find(std::string(garbage).find("maybe") != std::string::npos ? "maybe" : "sometimes"),
                      std::string::npos)
                << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        }
    }
    EXPECT_EQ(topos::parse_share_mode("Auto"), topos::share_mode::automatic);
    EXPECT_EQ(topos::parse_share_mode("1"), topos::share_mode::on);
    EXPECT_EQ(topos::to_string(topos::share_mode::automatic), "auto");
}

TEST(ShareRuntime, PlanTakesTheRanksShare) {
    {
        const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
        topos::runtime rt({.places = {}, .bind = {}, .threads = {}, .topology = four_nodes()});
        EXPECT_TRUE(rt.share().taken);
        EXPECT_EQ(rt.thread_count(), 4U) << "one worker per core of node 1";
        EXPECT_EQ(rt.nodes(), std::vector<int>{1});
        for (const auto& w : rt.plan().workers) {
            for (int pu : w.pus) {
                EXPECT_GE(pu, 8);
                EXPECT_LT(pu, 16);
            }
        }
        // An explicit count still distributes over the share's places only.
        topos::runtime spread({.places = {}, .bind = topos::proc_bind::spread, .threads = 2, .topology = four_nodes()});
        EXPECT_EQ(spread.nodes(), std::vector<int>{1});
        // Unbound workers: as many as the share's cores.
        topos::runtime unbound({.places = {}, .bind = topos::proc_bind::disabled, .threads = {}, .topology = four_nodes()});
        EXPECT_EQ(unbound.thread_count(), 4U);
    }
    {
        const launcher_env env({{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
                                {"TOPOS_PLACES", "numa_domains"}});
        topos::runtime rt({.places = {}, .bind = {}, .threads = {}, .topology = four_nodes()});
        EXPECT_FALSE(rt.share().taken) << "TOPOS_PLACES wins";
        EXPECT_EQ(rt.nodes(), (std::vector<int>{0, 1, 2, 3}));
    }
    {
        const launcher_env env;
        topos::runtime_options o{.places = {}, .bind = {}, .threads = {}, .topology = four_nodes()};
        o.rank = topos::local_rank{.rank = 2, .size = 4};
        topos::runtime rt(o);
        EXPECT_EQ(rt.nodes(), std::vector<int>{2});
        o.share = topos::share_mode::off;
        topos::runtime off(o);
        EXPECT_EQ(off.nodes(), (std::vector<int>{0, 1, 2, 3}));
        o.share = std::nullopt;
        o.rank = topos::local_rank{.rank = 4, .size = 4};
        EXPECT_THROW(topos::runtime bad(o), topos::config_error);
    }
    {
        const launcher_env env(std::map<std::string, std::string>{{"TOPOS_SHARE", "sideways"}});
        EXPECT_THROW(topos::runtime rt({.places = {}, .bind = {}, .threads = 1, .topology = four_nodes()}),
                     topos::config_error);
    }
}

TEST(SharePlacement, WithinCutsPlacesDown) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "numa_domains", .bind = {}, .threads = {},
                                                           .within = std::vector<int>{10, 11, 12, 20}});
    ASSERT_EQ(plan.places.size(), 2U);
    EXPECT_EQ(plan.places[0], (std::vector<int>{10, 11, 12}));
    EXPECT_EQ(plan.places[1], std::vector<int>{20});
    EXPECT_EQ(plan.workers.size(), 2U);
    EXPECT_THROW((void)topos::plan_placement(four_nodes(), {.places = "cores", .bind = {}, .threads = {},
                                                            .within = std::vector<int>{}}),
                 topos::places_error);
}

} // namespace
