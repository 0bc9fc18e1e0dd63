// Tests for plan_placement: OpenMP close/spread/primary distribution, unbound
// workers, worker nodes and the tiered steal order.
#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace {

using topos::proc_bind;
using topos::steal_level;
using ids = std::vector<unsigned>;

// 8 cores of 2 PUs, so "cores" gives 8 places.
const topos::topology& eight_cores() {
    static const auto topo = topos::topology::synthetic("pack:2 core:4 pu:2");
    return topo;
}

// 2 packages x 2 NUMA nodes x 4 cores x 2 PUs; no caches; derived distances
// 10 local, 12 inside a package, 20 across packages.
const topos::topology& four_nodes() {
    static const auto topo = topos::topology::synthetic("pack:2 numa:2 core:4 pu:2");
    return topo;
}

ids places_of(const topos::placement_plan& plan) {
    ids out;
    for (const auto& w : plan.workers) {
        out.push_back(w.place);
    }
    return out;
}

ids places_for(proc_bind bind, unsigned threads) {
    return places_of(topos::plan_placement(eight_cores(), {.places = "cores", .bind = bind, .threads = threads}));
}

ids range(unsigned first, unsigned last) {
    ids out;
    for (unsigned i = first; i <= last; ++i) {
        out.push_back(i);
    }
    return out;
}

ids concat(std::initializer_list<ids> parts) {
    ids out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// Properties every bound or unbound plan keeps, whatever the machine.
void check_steal_orders(const topos::placement_plan& plan) {
    const auto count = static_cast<unsigned>(plan.workers.size());
    for (const auto& w : plan.workers) {
        SCOPED_TRACE("worker " + std::to_string(w.id));
        ids flattened;
        for (const auto& tier : w.steal_tiers) {
            EXPECT_FALSE(tier.workers.empty());
            flattened.insert(flattened.end(), tier.workers.begin(), tier.workers.end());
            // Within a tier, victims come in order from the thief's id + 1, wrapping.
            for (std::size_t i = 1; i < tier.workers.size(); ++i) {
                EXPECT_LT((tier.workers[i - 1] + count - w.id) % count, (tier.workers[i] + count - w.id) % count);
            }
            if (tier.level != steal_level::remote) {
                EXPECT_EQ(tier.distance, 10);
            }
        }
        EXPECT_EQ(flattened, w.steal_order);
        for (std::size_t i = 1; i < w.steal_tiers.size(); ++i) {
            const auto& before = w.steal_tiers[i - 1];
            const auto& after = w.steal_tiers[i];
            EXPECT_LE(static_cast<int>(before.level), static_cast<int>(after.level));
            if (before.level == after.level) {
                EXPECT_EQ(after.level, steal_level::remote);
                EXPECT_LT(before.distance, after.distance);
            }
        }
        ids expected;
        for (unsigned v = 0; v < count; ++v) {
            if (v != w.id) {
                expected.push_back(v);
            }
        }
        ids sorted = w.steal_order;
        std::sort(sorted.begin(), sorted.end());
        EXPECT_EQ(sorted, expected) << "every other worker exactly once";
    }
}

TEST(PlacementTest, CloseWithFewerThreadsThanPlaces) {
    EXPECT_EQ(places_for(proc_bind::close, 4), (ids{0, 1, 2, 3}));
    EXPECT_EQ(places_for(proc_bind::close, 3), (ids{0, 1, 2}));
    EXPECT_EQ(places_for(proc_bind::close, 5), (ids{0, 1, 2, 3, 4}));
    EXPECT_EQ(places_for(proc_bind::close, 1), (ids{0}));
}

TEST(PlacementTest, CloseWithAsManyThreadsAsPlaces) {
    EXPECT_EQ(places_for(proc_bind::close, 8), range(0, 7));
}

TEST(PlacementTest, CloseWithMoreThreadsThanPlaces) {
    // OpenMP example: 16 threads on 8 places, two consecutive threads per place.
    EXPECT_EQ(places_for(proc_bind::close, 16), (ids{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}));
    // 12 on 8: the first 12 mod 8 = 4 places get the extra thread.
    EXPECT_EQ(places_for(proc_bind::close, 12), (ids{0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7}));
    EXPECT_EQ(places_for(proc_bind::close, 9), (ids{0, 0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(places_for(proc_bind::close, 17), (ids{0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}));
}

TEST(PlacementTest, SpreadWithFewerThreadsThanPlaces) {
    // OpenMP example: 4 threads on 8 places use places 0, 2, 4 and 6.
    EXPECT_EQ(places_for(proc_bind::spread, 4), (ids{0, 2, 4, 6}));
    // 3 on 8: subpartitions of 3, 3 and 2 places.
    EXPECT_EQ(places_for(proc_bind::spread, 3), (ids{0, 3, 6}));
    // 5 on 8: subpartitions of 2, 2, 2, 1 and 1 places.
    EXPECT_EQ(places_for(proc_bind::spread, 5), (ids{0, 2, 4, 6, 7}));
    EXPECT_EQ(places_for(proc_bind::spread, 7), (ids{0, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(places_for(proc_bind::spread, 2), (ids{0, 4}));
    EXPECT_EQ(places_for(proc_bind::spread, 1), (ids{0}));
}

TEST(PlacementTest, SpreadWithAsManyThreadsAsPlaces) {
    EXPECT_EQ(places_for(proc_bind::spread, 8), range(0, 7));
}

TEST(PlacementTest, SpreadWithMoreThreadsThanPlacesDistributesAsClose) {
    EXPECT_EQ(places_for(proc_bind::spread, 16), places_for(proc_bind::close, 16));
    EXPECT_EQ(places_for(proc_bind::spread, 12), (ids{0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7}));
}

TEST(PlacementTest, TrueDistributesAsClose) {
    for (unsigned threads : {3U, 8U, 12U}) {
        EXPECT_EQ(places_for(proc_bind::enabled, threads), places_for(proc_bind::close, threads));
    }
}

TEST(PlacementTest, PrimaryPutsEveryWorkerOnTheFirstPlace) {
    const auto plan = topos::plan_placement(eight_cores(), {.places = "cores", .bind = proc_bind::primary, .threads = 5});
    EXPECT_EQ(places_of(plan), (ids{0, 0, 0, 0, 0}));
    for (const auto& w : plan.workers) {
        EXPECT_EQ(w.pus, (std::vector<int>{0, 1}));
        ASSERT_EQ(w.steal_tiers.size(), 1U);
        EXPECT_EQ(w.steal_tiers[0].level, steal_level::core);
    }
    check_steal_orders(plan);
}

TEST(PlacementTest, WorkersRunOnTheirPlacesPus) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "{0:4}:4:8", .bind = proc_bind::spread, .threads = 2});
    ASSERT_EQ(plan.places.size(), 4U);
    ASSERT_EQ(plan.workers.size(), 2U);
    for (const auto& w : plan.workers) {
        EXPECT_EQ(w.pus, plan.places[w.place]);
    }
    EXPECT_EQ(plan.workers[0].pus, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(plan.workers[1].pus, (std::vector<int>{16, 17, 18, 19}));
    EXPECT_EQ(plan.workers[1].node, 2);
}

TEST(PlacementTest, DefaultsAreCoresCloseOneWorkerPerPlace) {
    const auto plan = topos::plan_placement(four_nodes());
    EXPECT_EQ(plan.bind, proc_bind::close);
    EXPECT_EQ(plan.places_text, "cores");
    EXPECT_EQ(plan.places, topos::parse_places(four_nodes(), "cores"));
    ASSERT_EQ(plan.workers.size(), 16U);
    for (unsigned i = 0; i < 16; ++i) {
        EXPECT_EQ(plan.workers[i].id, i);
        EXPECT_EQ(plan.workers[i].place, i);
    }
}

TEST(PlacementTest, DefaultThreadCountIsThePlaceCount) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "numa_domains", .bind = proc_bind::spread, .threads = {}});
    EXPECT_EQ(plan.workers.size(), 4U);
    EXPECT_EQ(plan.places_text, "numa_domains");
}

TEST(PlacementTest, DisabledLeavesWorkersUnpinned) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "numa_domains", .bind = proc_bind::disabled, .threads = {}});
    EXPECT_EQ(plan.bind, proc_bind::disabled);
    EXPECT_EQ(plan.places_text, "numa_domains");
    // The requested list still sets the default count: one per NUMA domain.
    ASSERT_EQ(plan.workers.size(), 4U);
    std::vector<int> all;
    for (int pu = 0; pu < 32; ++pu) {
        all.push_back(pu);
    }
    ASSERT_EQ(plan.places.size(), 1U);
    EXPECT_EQ(plan.places[0], all);
    for (const auto& w : plan.workers) {
        EXPECT_EQ(w.place, 0U);
        EXPECT_EQ(w.pus, all);
        EXPECT_EQ(w.node, -1);
        ASSERT_EQ(w.steal_tiers.size(), 1U);
        EXPECT_EQ(w.steal_tiers[0].level, steal_level::node);
    }
    EXPECT_EQ(plan.workers[2].steal_order, (ids{3, 0, 1}));
    EXPECT_TRUE(plan.nodes().empty());
    EXPECT_TRUE(plan.workers_on_node(0).empty());
    EXPECT_EQ(plan.workers_on_node(-1), (ids{0, 1, 2, 3}));
    check_steal_orders(plan);
}

TEST(PlacementTest, DisabledStillRejectsABadPlacesList) {
    EXPECT_THROW((void)topos::plan_placement(four_nodes(), {.places = "{99}", .bind = proc_bind::disabled, .threads = 2}),
                 topos::places_error);
}

TEST(PlacementTest, SingleWorkerHasNoVictims) {
    for (auto bind : {proc_bind::close, proc_bind::disabled}) {
        const auto plan = topos::plan_placement(four_nodes(), {.places = "cores", .bind = bind, .threads = 1});
        ASSERT_EQ(plan.workers.size(), 1U);
        EXPECT_TRUE(plan.workers[0].steal_order.empty());
        EXPECT_TRUE(plan.workers[0].steal_tiers.empty());
    }
}

TEST(PlacementTest, WorkerNodeHoldsMostOfItsPus) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "{6:4},{7:3},{14:6},{0:4,8:5}", .bind = proc_bind::close, .threads = 4});
    ASSERT_EQ(plan.workers.size(), 4U);
    EXPECT_EQ(plan.workers[0].node, 0); // 6-7 on node 0, 8-9 on node 1: tie, lowest id
    EXPECT_EQ(plan.workers[1].node, 1); // 7 on node 0, 8-9 on node 1
    EXPECT_EQ(plan.workers[2].node, 2); // 14-15 on node 1, 16-19 on node 2
    EXPECT_EQ(plan.workers[3].node, 1); // 0-3 on node 0, 8-12 on node 1
}

topos::topology machine(const char* name) {
    return topos::topology::from_xml(std::filesystem::path(TOPOS_TEST_DATA_DIR) / "machines" / name);
}

// Spread over threads places never puts two workers on one core of a
// machine whose hyperthreads are numbered i and i+8; close fills a core first.
TEST(PlacementTest, SpreadOverThreadsUsesSeparateCoresWithLinuxHtNumbering) {
    const auto topo = machine("4s2c2t-ht-os-numbering.xml");
    const auto core_of = [&](int pu) {
        for (const auto& p : topo.pus()) {
            if (p.os_index == pu) {
                return p.core;
            }
        }
        return -1;
    };
    for (unsigned threads = 2; threads <= 8; ++threads) {
        const auto plan = topos::plan_placement(topo, {.places = "threads", .bind = proc_bind::spread, .threads = threads});
        std::set<int> cores;
        for (const auto& w : plan.workers) {
            EXPECT_TRUE(cores.insert(core_of(w.pus.front())).second) << threads << " threads: worker " << w.id;
        }
    }
    const auto close = topos::plan_placement(topo, {.places = "threads", .bind = proc_bind::close, .threads = 2});
    EXPECT_EQ(core_of(close.workers[0].pus.front()), core_of(close.workers[1].pus.front()));
    EXPECT_EQ(close.workers[0].node, close.workers[1].node);
}

// Several memory nodes behind one place: the plan lists them nearest first,
// and the worker's node is the nearest (the DRAM node of those CPUs).
TEST(PlacementTest, PlaceNodesListTheMemoryTiersBehindAPlace) {
    const auto topo = machine("hetero-memory-tiers.xml");
    const auto plan = topos::plan_placement(topo, {.places = "numa_domains", .bind = proc_bind::spread, .threads = 3});
    ASSERT_EQ(plan.places.size(), 3U);
    EXPECT_EQ(plan.place_nodes, (std::vector<std::vector<int>>{{0, 1}, {2, 3, 4}, {5, 6}}));
    EXPECT_EQ(plan.workers[0].node, 0);
    EXPECT_EQ(plan.workers[1].node, 2);
    EXPECT_EQ(plan.workers[2].node, 5);
    EXPECT_EQ(plan.nodes(), (std::vector<int>{0, 2, 5}));
}

// No usable place is a places_error for every policy and thread count (it
// was a division by zero, or an empty plan when no count was given).
TEST(PlacementTest, NoPlaceIsAPlacesErrorNotACrash) {
    const auto topo = machine("cgroup-cpuless-nodes.xml");
    for (auto bind : {proc_bind::close, proc_bind::spread, proc_bind::primary, proc_bind::disabled}) {
        EXPECT_THROW((void)topos::plan_placement(topo, {.places = "numa_domains", .bind = bind, .threads = 4}),
                     topos::places_error);
        EXPECT_THROW((void)topos::plan_placement(topo, {.places = "numa_domains", .bind = bind, .threads = {}}),
                     topos::places_error);
    }
}

TEST(PlacementTest, NodesAndWorkersOnNode) {
    const auto all = topos::plan_placement(four_nodes(), {.places = "cores", .bind = proc_bind::close, .threads = {}});
    EXPECT_EQ(all.nodes(), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(all.workers_on_node(1), range(4, 7));
    EXPECT_EQ(all.workers_on_node(3), range(12, 15));
    EXPECT_TRUE(all.workers_on_node(4).empty());

    const auto first_node = topos::plan_placement(four_nodes(), {.places = "cores", .bind = proc_bind::close, .threads = 4});
    EXPECT_EQ(first_node.nodes(), (std::vector<int>{0}));
    EXPECT_EQ(first_node.workers_on_node(0), range(0, 3));

    const auto spread = topos::plan_placement(four_nodes(), {.places = "cores", .bind = proc_bind::spread, .threads = 2});
    EXPECT_EQ(spread.nodes(), (std::vector<int>{0, 2}));
    EXPECT_EQ(spread.workers_on_node(2), (ids{1}));
}

TEST(PlacementTest, StealTiersOnTwoSocketsFourNodes) {
    const auto plan = topos::plan_placement(four_nodes(), {.places = "threads", .bind = proc_bind::close, .threads = 32});
    check_steal_orders(plan);

    const auto& w0 = plan.workers[0];
    ASSERT_EQ(w0.steal_tiers.size(), 4U);
    EXPECT_EQ(w0.steal_tiers[0].level, steal_level::core);
    EXPECT_EQ(w0.steal_tiers[0].workers, (ids{1}));
    EXPECT_EQ(w0.steal_tiers[1].level, steal_level::node);
    EXPECT_EQ(w0.steal_tiers[1].workers, range(2, 7));
    EXPECT_EQ(w0.steal_tiers[2].level, steal_level::remote);
    EXPECT_EQ(w0.steal_tiers[2].distance, 12);
    EXPECT_EQ(w0.steal_tiers[2].workers, range(8, 15));
    EXPECT_EQ(w0.steal_tiers[3].level, steal_level::remote);
    EXPECT_EQ(w0.steal_tiers[3].distance, 20);
    EXPECT_EQ(w0.steal_tiers[3].workers, range(16, 31));
    EXPECT_EQ(w0.steal_order, range(1, 31));

    // Worker 9 (node 1): victims start after 9 and wrap around.
    const auto& w9 = plan.workers[9];
    ASSERT_EQ(w9.steal_tiers.size(), 4U);
    EXPECT_EQ(w9.steal_tiers[0].workers, (ids{8}));
    EXPECT_EQ(w9.steal_tiers[1].workers, range(10, 15));
    EXPECT_EQ(w9.steal_tiers[2].distance, 12);
    EXPECT_EQ(w9.steal_tiers[2].workers, range(0, 7));
    EXPECT_EQ(w9.steal_tiers[3].distance, 20);
    EXPECT_EQ(w9.steal_tiers[3].workers, range(16, 31));

    // Worker 30 (node 3): its own package's other node is at 12.
    const auto& w30 = plan.workers[30];
    ASSERT_EQ(w30.steal_tiers.size(), 4U);
    EXPECT_EQ(w30.steal_tiers[0].workers, (ids{31}));
    EXPECT_EQ(w30.steal_tiers[1].workers, range(24, 29));
    EXPECT_EQ(w30.steal_tiers[2].workers, range(16, 23));
    EXPECT_EQ(w30.steal_tiers[3].workers, range(0, 15));
    EXPECT_EQ(w30.steal_order, concat({{31}, range(24, 29), range(16, 23), range(0, 15)}));
}

TEST(PlacementTest, StealTiersSeparateCoreCacheAndNode) {
    // Two L3 caches per NUMA node, 4 PUs (2 cores) per L3.
    const auto topo = topos::topology::synthetic("pack:2 numa:2 l3:2 core:2 pu:2");
    const auto plan = topos::plan_placement(topo, {.places = "threads", .bind = proc_bind::close, .threads = 32});
    check_steal_orders(plan);
    const auto& w5 = plan.workers[5];
    ASSERT_EQ(w5.steal_tiers.size(), 5U);
    EXPECT_EQ(w5.steal_tiers[0].level, steal_level::core);
    EXPECT_EQ(w5.steal_tiers[0].workers, (ids{4}));
    EXPECT_EQ(w5.steal_tiers[1].level, steal_level::cache);
    EXPECT_EQ(w5.steal_tiers[1].workers, (ids{6, 7}));
    EXPECT_EQ(w5.steal_tiers[2].level, steal_level::node);
    EXPECT_EQ(w5.steal_tiers[2].workers, (ids{0, 1, 2, 3}));
    EXPECT_EQ(w5.steal_tiers[3].level, steal_level::remote);
    EXPECT_EQ(w5.steal_tiers[3].workers, range(8, 15));
    EXPECT_EQ(w5.steal_tiers[4].workers, range(16, 31));
}

TEST(PlacementTest, WorkersSharingAPlaceAreInTheCoreTier) {
    // Two workers per NUMA domain: a worker's place-mate comes first.
    const auto plan = topos::plan_placement(four_nodes(), {.places = "numa_domains", .bind = proc_bind::close, .threads = 8});
    check_steal_orders(plan);
    const auto& w2 = plan.workers[2];
    EXPECT_EQ(w2.place, 1U);
    ASSERT_EQ(w2.steal_tiers.size(), 3U);
    EXPECT_EQ(w2.steal_tiers[0].level, steal_level::core);
    EXPECT_EQ(w2.steal_tiers[0].workers, (ids{3}));
    EXPECT_EQ(w2.steal_tiers[1].distance, 12);
    EXPECT_EQ(w2.steal_tiers[1].workers, (ids{0, 1}));
    EXPECT_EQ(w2.steal_tiers[2].distance, 20);
    EXPECT_EQ(w2.steal_tiers[2].workers, (ids{4, 5, 6, 7}));

    // Without Core objects only the shared place puts a victim in the core tier.
    const auto coreless = topos::topology::synthetic("numa:2 pu:4");
    ASSERT_TRUE(coreless.cores().empty());
    const auto flat = topos::plan_placement(coreless, {.places = "numa_domains", .bind = proc_bind::close, .threads = 4});
    check_steal_orders(flat);
    const auto& w1 = flat.workers[1];
    ASSERT_EQ(w1.steal_tiers.size(), 2U);
    EXPECT_EQ(w1.steal_tiers[0].level, steal_level::core);
    EXPECT_EQ(w1.steal_tiers[0].workers, (ids{0}));
    EXPECT_EQ(w1.steal_tiers[1].level, steal_level::remote);
    EXPECT_EQ(w1.steal_tiers[1].workers, (ids{2, 3}));
}

TEST(PlacementTest, OverlappingPlacesShareACore) {
    // Places {0,1} and {1,2} are different places on PUs of one core.
    const auto plan = topos::plan_placement(four_nodes(), {.places = "{0,1},{1,2},{4}", .bind = proc_bind::close, .threads = 3});
    check_steal_orders(plan);
    EXPECT_EQ(plan.workers[0].steal_tiers[0].level, steal_level::core);
    EXPECT_EQ(plan.workers[0].steal_tiers[0].workers, (ids{1}));
    EXPECT_EQ(plan.workers[0].steal_tiers[1].level, steal_level::node);
    EXPECT_EQ(plan.workers[0].steal_tiers[1].workers, (ids{2}));
}

TEST(PlacementTest, StealTiersFollowAsymmetricDistances) {
    const std::filesystem::path xml = std::filesystem::path(TOPOS_TEST_DATA_DIR) / "asym4.xml";
    if (!std::filesystem::exists(xml)) {
        GTEST_SKIP() << "tests/data/asym4.xml is not available";
    }
    const auto topo = topos::topology::from_xml(xml);
    ASSERT_EQ(topo.distance(0, 1), 11);
    ASSERT_EQ(topo.distance(1, 0), 13);
    const auto plan = topos::plan_placement(topo, {.places = "numa_domains", .bind = proc_bind::close, .threads = 4});
    check_steal_orders(plan);
    // Each worker's remote tiers follow the row of its own node:
    //   0: 1@11 2@21 3@32   1: 0@13 3@21 2@31   2: 3@12 0@21 1@31   3: 2@12 1@21 0@28
    const std::vector<std::vector<std::pair<int, unsigned>>> expected = {
        {{11, 1}, {21, 2}, {32, 3}},
        {{13, 0}, {21, 3}, {31, 2}},
        {{12, 3}, {21, 0}, {31, 1}},
        {{12, 2}, {21, 1}, {28, 0}},
    };
    for (unsigned w = 0; w < 4; ++w) {
        SCOPED_TRACE("worker " + std::to_string(w));
        const auto& tiers = plan.workers[w].steal_tiers;
        ASSERT_EQ(tiers.size(), 3U);
        for (std::size_t t = 0; t < 3; ++t) {
            EXPECT_EQ(tiers[t].level, steal_level::remote);
            EXPECT_EQ(tiers[t].distance, expected[w][t].first);
            EXPECT_EQ(tiers[t].workers, (ids{expected[w][t].second}));
        }
    }
    // With a worker per PU the L3 (one per node) gives a cache tier.
    const auto dense = topos::plan_placement(topo, {.places = "threads", .bind = proc_bind::close, .threads = 16});
    check_steal_orders(dense);
    const auto& w12 = dense.workers[12];
    ASSERT_EQ(w12.steal_tiers.size(), 5U);
    EXPECT_EQ(w12.steal_tiers[0].workers, (ids{13}));
    EXPECT_EQ(w12.steal_tiers[1].level, steal_level::cache);
    EXPECT_EQ(w12.steal_tiers[1].workers, (ids{14, 15}));
    EXPECT_EQ(w12.steal_tiers[2].distance, 12);
    EXPECT_EQ(w12.steal_tiers[3].distance, 21);
    EXPECT_EQ(w12.steal_tiers[4].distance, 28);
    EXPECT_EQ(w12.steal_tiers[4].workers, (ids{0, 1, 2, 3}));
}

TEST(PlacementTest, StealOrderPropertiesAcrossPoliciesAndCounts) {
    const auto topo = topos::topology::synthetic("pack:2 numa:2 l3:2 core:2 pu:2");
    for (auto bind : {proc_bind::close, proc_bind::spread, proc_bind::primary, proc_bind::enabled, proc_bind::disabled}) {
        for (const char* places : {"threads", "cores", "ll_caches", "numa_domains", "sockets", "{0:3}:5:7"}) {
            for (unsigned threads : {1U, 2U, 3U, 7U, 32U, 45U}) {
                SCOPED_TRACE(std::string(to_string(bind)) + " " + places + " " + std::to_string(threads));
                const auto plan = topos::plan_placement(topo, {.places = places, .bind = bind, .threads = threads});
                ASSERT_EQ(plan.workers.size(), threads);
                for (unsigned i = 0; i < threads; ++i) {
                    EXPECT_EQ(plan.workers[i].id, i);
                    EXPECT_LT(plan.workers[i].place, plan.places.size());
                }
                check_steal_orders(plan);
            }
        }
    }
}

TEST(PlacementTest, BadThreadCountsAreConfigErrors) {
    for (unsigned threads : {0U, topos::k_max_threads + 1, 1000000000U}) {
        try {
            (void)topos::plan_placement(four_nodes(), {.places = "cores", .bind = proc_bind::close, .threads = threads});
            ADD_FAILURE() << threads << " threads accepted";
        } catch (const topos::config_error& e) {
            EXPECT_NE(std::string(e.what()).find(std::to_string(threads)), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("4096"), std::string::npos) << e.what();
        }
    }
    const auto most = topos::plan_placement(four_nodes(), {.places = "cores", .bind = proc_bind::close, .threads = topos::k_max_threads});
    EXPECT_EQ(most.workers.size(), topos::k_max_threads);
    EXPECT_EQ(most.workers.back().place, 15U);
}

TEST(PlacementTest, BadPlacesArePlacesErrors) {
    EXPECT_THROW((void)topos::plan_placement(four_nodes(), {.places = "cores(99)", .bind = {}, .threads = {}}),
                 topos::places_error);
    EXPECT_THROW((void)topos::plan_placement(four_nodes(), {.places = "", .bind = {}, .threads = {}}),
                 topos::places_error);
}

TEST(PlacementTest, ToStringNamesMatchTheEnvironmentSpelling) {
    EXPECT_EQ(topos::to_string(proc_bind::disabled), "false");
    EXPECT_EQ(topos::to_string(proc_bind::enabled), "true");
    EXPECT_EQ(topos::to_string(proc_bind::primary), "primary");
    EXPECT_EQ(topos::to_string(proc_bind::close), "close");
    EXPECT_EQ(topos::to_string(proc_bind::spread), "spread");
    for (auto b : {proc_bind::disabled, proc_bind::enabled, proc_bind::primary, proc_bind::close, proc_bind::spread}) {
        EXPECT_EQ(topos::parse_proc_bind(topos::to_string(b)), b);
    }
    EXPECT_EQ(topos::to_string(steal_level::core), "core");
    EXPECT_EQ(topos::to_string(steal_level::cache), "cache");
    EXPECT_EQ(topos::to_string(steal_level::node), "node");
    EXPECT_EQ(topos::to_string(steal_level::remote), "remote");
}

} // namespace
