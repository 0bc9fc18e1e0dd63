// cohort_lock on a multi-node kernel: threads pinned to nodes 0 and 1 are
// sorted into their node's cohort by sched_getcpu() and the host topology,
// exclude each other, and hand the lock around within their node.
// Skips on one-node hosts.
#include "numa_test_support.hpp"

#include <topos/numa_lock.hpp>
#include <topos/topology.hpp>

#include <numa.h>
#include <sched.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using topos::test::numa_machine_test;

class NumaLockTest : public numa_machine_test {};

bool pin_to(const std::vector<int>& pus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int pu : pus) {
        CPU_SET(static_cast<std::size_t>(pu), &set);
    }
    return sched_setaffinity(0, sizeof(set), &set) == 0;
}

// Two threads on each of nodes 0 and 1 start together and take the lock.
// Now and then a holder waits (boundedly) inside until its node-mate has
// called lock(), so that the mate queues behind it: the emulated guest's
// vCPUs may otherwise take turns so coarsely that no thread ever waits.
void run_pinned(topos::cohort_lock& lock, const topos::topology& topo, std::uint64_t iterations,
                std::uint64_t& counter, std::atomic<int>& overlaps, std::vector<int>& seen_node) {
    std::atomic<int> inside{0};
    std::atomic<int> ready{0};
    std::array<std::atomic<bool>, 4> in_lock{};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const int node = t % 2;
            if (!pin_to(topo.pus_of_node(node))) {
                seen_node[static_cast<std::size_t>(t)] = -2;
                ready.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            seen_node[static_cast<std::size_t>(t)] = lock.node_of_caller();
            ready.fetch_add(1, std::memory_order_relaxed);
            while (ready.load(std::memory_order_relaxed) < 4) {
                std::this_thread::yield();
            }
            const auto me = static_cast<std::size_t>(t);
            const auto mate = static_cast<std::size_t>((t + 2) % 4);
            for (std::uint64_t i = 0; i < iterations; ++i) {
                in_lock[me].store(true, std::memory_order_relaxed);
                std::lock_guard guard(lock);
                in_lock[me].store(false, std::memory_order_relaxed);
                if (inside.fetch_add(1, std::memory_order_relaxed) != 0) {
                    overlaps.fetch_add(1, std::memory_order_relaxed);
                }
                ++counter;
                if (i % 8 == 0) {
                    for (int poll = 0; poll < 1000 && !in_lock[mate].load(std::memory_order_relaxed); ++poll) {
                        std::this_thread::yield();
                    }
                    for (int poll = 0; poll < 20; ++poll) { // time for it to reach the local lock
                        std::this_thread::yield();
                    }
                }
                inside.fetch_sub(1, std::memory_order_relaxed);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
}

TEST_F(NumaLockTest, PinnedThreadsExcludeAndHandOffWithinTheirNode) {
    const auto topo = topos::topology::host();
    ASSERT_GE(topo.node_count(), 2U);
    ASSERT_FALSE(topo.pus_of_node(0).empty());
    ASSERT_FALSE(topo.pus_of_node(1).empty());
    topos::cohort_lock lock(topo);
    ASSERT_EQ(lock.node_count(), topo.node_count());

    constexpr std::uint64_t k_iterations = 3000;
    std::uint64_t counter = 0;
    std::atomic<int> overlaps{0};
    std::vector<int> seen_node(4, -1);
    run_pinned(lock, topo, k_iterations, counter, overlaps, seen_node);

    for (int t = 0; t < 4; ++t) {
        EXPECT_EQ(seen_node[static_cast<std::size_t>(t)], t % 2) << "thread " << t << " (-2: could not pin)";
    }
    EXPECT_EQ(counter, 4 * k_iterations);
    EXPECT_EQ(overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_EQ(stats.acquisitions(), 4 * k_iterations);
    for (std::size_t n = 0; n < 2; ++n) {
        EXPECT_GT(stats.nodes[n].global_acquisitions, 0U) << "node " << n;
        EXPECT_EQ(stats.nodes[n].global_acquisitions + stats.nodes[n].local_handoffs, 2 * k_iterations) << "node " << n;
    }
    EXPECT_GT(stats.local_handoffs(), 0U);
    EXPECT_LE(stats.longest_tenure(), std::uint64_t{lock.max_local_handoffs()} + 1);
    for (std::size_t n = 2; n < stats.nodes.size(); ++n) {
        EXPECT_EQ(stats.nodes[n].global_acquisitions + stats.nodes[n].local_handoffs, 0U)
            << "node " << n << " has no thread of ours";
    }
}

TEST_F(NumaLockTest, SmallBoundHoldsOnRealNodes) {
    const auto topo = topos::topology::host();
    topos::cohort_lock lock(topo, {.max_local_handoffs = 2, .node_of_caller = {}});
    constexpr std::uint64_t k_iterations = 2000;
    std::uint64_t counter = 0;
    std::atomic<int> overlaps{0};
    std::vector<int> seen_node(4, -1);
    run_pinned(lock, topo, k_iterations, counter, overlaps, seen_node);
    EXPECT_EQ(counter, 4 * k_iterations);
    EXPECT_EQ(overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_GT(stats.local_handoffs(), 0U);
    EXPECT_LE(stats.longest_tenure(), 3U);
    EXPECT_GE(stats.global_acquisitions(), stats.acquisitions() / 3);
}

} // namespace
