// run_on_node to a node where the runtime has no worker: node_error naming
// the node and the runtime's nodes, nothing queued (task_group.hpp).
#include <topos/error.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace {

// Two nodes of two cores on paper; one worker, placed on node 0.
topos::runtime_options one_node_of_two() {
    return {.places = "cores", .bind = topos::proc_bind::close, .threads = 1,
            .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")};
}

TEST(RunOnNode, ANodeWithoutWorkersIsANodeErrorNamingIt) {
    topos::runtime rt(one_node_of_two());
    ASSERT_EQ(rt.nodes(), (std::vector<int>{0}));
    topos::task_group g(rt);
    std::atomic<int> ran{0};
    try {
        g.run_on_node(1, [&] { ++ran; });
        FAIL() << "expected node_error";
    } catch (const topos::node_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("node 1 has no worker"), std::string::npos) << what;
        EXPECT_NE(what.find("on node(s) 0"), std::string::npos) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    g.wait(); // nothing was queued
    EXPECT_EQ(ran.load(), 0);
    EXPECT_EQ(rt.stats().tasks_run, 0U);
    g.run_on_node(0, [&] { ++ran; }); // the node it has works
    g.wait();
    EXPECT_EQ(ran.load(), 1);
}

TEST(RunOnNode, UnboundWorkersHaveNoNodeToRunOn) {
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::disabled, .threads = 2,
                       .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
    EXPECT_TRUE(rt.nodes().empty());
    topos::task_group g(rt);
    try {
        g.run_on_node(0, [] {});
        FAIL() << "expected node_error";
    } catch (const topos::node_error& e) {
        EXPECT_NE(std::string(e.what()).find("not bound"), std::string::npos) << e.what();
    }
    g.wait();
}

TEST(RunOnNode, NodesTheTopologyLacksAreStillRejectedFirst) {
    topos::runtime rt(one_node_of_two());
    topos::task_group g(rt);
    try {
        g.run_on_node(7, [] {});
        FAIL() << "expected node_error";
    } catch (const topos::node_error& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
}

} // namespace
