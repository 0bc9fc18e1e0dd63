// cohort_lock: mutual exclusion under contention (more threads than cores),
// try_lock and the standard lock helpers, and the cohort logic on synthetic
// multi-node topologies, where each thread's node is injected through
// cohort_lock_options::node_of_caller.
#include <topos/error.hpp>
#include <topos/numa_lock.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// Four nodes of one CPU each; the CPUs are never used, only the node count.
topos::topology four_nodes() {
    return topos::topology::synthetic("pack:2 numa:2 core:1 pu:1");
}

// The node each test thread pretends to be on.
thread_local int t_fake_node = 0;

topos::cohort_lock_options fake_nodes(std::uint32_t max_local_handoffs) {
    return {.max_local_handoffs = max_local_handoffs, .node_of_caller = [] { return t_fake_node; }};
}

// Runs fn(i) on `count` threads, started together, and joins them.
void run_threads(int count, const std::function<void(int)>& fn) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&, i] {
            ready.fetch_add(1, std::memory_order_relaxed);
            while (ready.load(std::memory_order_relaxed) < count) {
                std::this_thread::yield();
            }
            fn(i);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
}

// A critical section that notices overlap and, now and then, gives its CPU
// away while holding the lock so that other threads pile up behind it.
struct guarded_work {
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::uint64_t counter = 0; // protected by the lock under test

    void run(std::uint64_t iteration) {
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0) {
            overlaps.fetch_add(1, std::memory_order_relaxed);
        }
        ++counter;
        if (iteration % 16 == 0) {
            std::this_thread::yield();
        }
        inside.fetch_sub(1, std::memory_order_relaxed);
    }
};

template <class Lock>
void hammer(Lock& lock, guarded_work& work, int threads, std::uint64_t iterations, const std::function<void(int)>& setup) {
    run_threads(threads, [&](int index) {
        setup(index);
        for (std::uint64_t i = 0; i < iterations; ++i) {
            std::lock_guard guard(lock);
            work.run(i);
        }
    });
}

constexpr std::uint64_t k_iterations = 5000;

TEST(CohortLock, MutualExclusionOnHostTopology) {
    topos::cohort_lock lock;
    EXPECT_GE(lock.node_count(), 1U);
    EXPECT_EQ(lock.max_local_handoffs(), topos::cohort_lock::k_default_max_local_handoffs);
    guarded_work work;
    hammer(lock, work, 8, k_iterations, [](int) {});
    EXPECT_EQ(work.counter, 8 * k_iterations);
    EXPECT_EQ(work.overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_EQ(stats.acquisitions(), 8 * k_iterations);
    EXPECT_LE(stats.longest_tenure(), std::uint64_t{lock.max_local_handoffs()} + 1);
}

TEST(CohortLock, MutualExclusionAcrossFourFakeNodes) {
    topos::cohort_lock lock(four_nodes(), fake_nodes(8));
    ASSERT_EQ(lock.node_count(), 4U);
    guarded_work work;
    hammer(lock, work, 8, k_iterations, [](int index) { t_fake_node = index % 4; });
    EXPECT_EQ(work.counter, 8 * k_iterations);
    EXPECT_EQ(work.overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_EQ(stats.acquisitions(), 8 * k_iterations);
    for (std::size_t n = 0; n < 4; ++n) {
        EXPECT_GT(stats.nodes[n].global_acquisitions, 0U) << "node " << n;
        EXPECT_EQ(stats.nodes[n].global_acquisitions + stats.nodes[n].local_handoffs, 2 * k_iterations) << "node " << n;
    }
}

// Every critical section is logged with its node, so the counters can be
// checked against what happened: a local hand-off always puts a thread of
// the same node next, and no tenure is longer than the bound allows.
TEST(CohortLock, HandoffsStayOnTheNodeUpToTheBound) {
    constexpr std::uint32_t k_bound = 3;
    topos::cohort_lock lock(four_nodes(), fake_nodes(k_bound));
    std::vector<int> log;
    log.reserve(8 * k_iterations);
    guarded_work work;
    run_threads(8, [&](int index) {
        t_fake_node = index % 4;
        for (std::uint64_t i = 0; i < k_iterations; ++i) {
            std::lock_guard guard(lock);
            log.push_back(t_fake_node);
            work.run(i);
        }
    });
    ASSERT_EQ(log.size(), 8 * k_iterations);
    EXPECT_EQ(work.overlaps.load(), 0);

    const auto stats = lock.stats();
    EXPECT_GT(stats.local_handoffs(), 0U) << "threads of a node waited together, yet no hand-off happened";
    EXPECT_LE(stats.longest_tenure(), k_bound + 1);
    std::uint64_t same_node_successions = 0;
    for (std::size_t i = 1; i < log.size(); ++i) {
        same_node_successions += log[i] == log[i - 1] ? 1U : 0U;
    }
    EXPECT_GE(same_node_successions, stats.local_handoffs());
    // Only global acquisitions can move the lock to another node.
    EXPECT_LE(log.size() - 1 - same_node_successions, stats.global_acquisitions());
}

// A thread alone on node 1 asks for the lock while three threads of node 0
// keep it busy and hand it around (each round starts after a hand-off
// there). Counted in critical sections, it waits
// for at most the rest of node 0's current tenure and one more (node 0 may
// have queued for the global lock just before it): 2 * (bound + 1). The
// count starts a few instructions before lock() takes its ticket; a thread
// preempted right there sees more, so two rounds in forty may exceed it.
// Node 0 also stops on its own after a while, so a lock that ignored the
// bound makes this test fail rather than hang.
TEST(CohortLock, RemoteWaiterGetsTheLockWithinTheBound) {
    constexpr std::uint32_t k_bound = 4;
    constexpr int k_remote_rounds = 40;
    constexpr std::uint64_t k_node0_limit = 200000;
    topos::cohort_lock lock(four_nodes(), fake_nodes(k_bound));
    std::atomic<std::uint64_t> sections{0}; // incremented inside the lock
    std::atomic<bool> stop{false};
    std::atomic<int> node0_done{0};
    std::vector<std::uint64_t> waited;
    guarded_work work;
    run_threads(4, [&](int index) {
        if (index < 3) {
            t_fake_node = 0;
            for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed) && i < k_node0_limit; ++i) {
                std::lock_guard guard(lock);
                sections.fetch_add(1, std::memory_order_relaxed);
                work.run(i);
            }
            node0_done.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        t_fake_node = 1;
        std::uint64_t handoffs_seen = 0;
        for (int round = 0; round < k_remote_rounds; ++round) {
            // Each round starts while node 0 is handing the lock around.
            for (;;) {
                const std::uint64_t handoffs = lock.stats().nodes[0].local_handoffs;
                if (handoffs > handoffs_seen || node0_done.load(std::memory_order_relaxed) == 3) {
                    handoffs_seen = handoffs;
                    break;
                }
                std::this_thread::yield();
            }
            const std::uint64_t before = sections.load(std::memory_order_relaxed);
            std::lock_guard guard(lock);
            waited.push_back(sections.load(std::memory_order_relaxed) - before);
            sections.fetch_add(1, std::memory_order_relaxed);
            work.run(1);
        }
        stop.store(true, std::memory_order_relaxed);
    });
    ASSERT_EQ(waited.size(), static_cast<std::size_t>(k_remote_rounds));
    const auto over = std::count_if(waited.begin(), waited.end(), [](std::uint64_t w) { return w > 2 * (std::uint64_t{k_bound} + 1); });
    EXPECT_LE(over, 2) << "longest wait: " << *std::max_element(waited.begin(), waited.end()) << " critical sections";
    EXPECT_EQ(work.overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_GT(stats.nodes[0].local_handoffs, 0U) << "node 0 never handed the lock around: the bound went untested";
    EXPECT_LE(stats.longest_tenure(), k_bound + 1);
    EXPECT_EQ(stats.nodes[1].global_acquisitions, static_cast<std::uint64_t>(k_remote_rounds));
    EXPECT_EQ(stats.nodes[1].local_handoffs, 0U);
}

TEST(CohortLock, ZeroBoundNeverHandsOff) {
    topos::cohort_lock lock(four_nodes(), fake_nodes(0));
    guarded_work work;
    hammer(lock, work, 8, k_iterations / 2, [](int index) { t_fake_node = index % 2; });
    EXPECT_EQ(work.counter, 8 * (k_iterations / 2));
    EXPECT_EQ(work.overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_EQ(stats.local_handoffs(), 0U);
    EXPECT_EQ(stats.global_acquisitions(), 8 * (k_iterations / 2));
    EXPECT_EQ(stats.longest_tenure(), 1U);
}

// The node may change between lock() and unlock() (a thread migrating) and
// may be out of range; neither may break mutual exclusion.
TEST(CohortLock, WrongOrChangingNodesStayCorrect) {
    std::atomic<unsigned> calls{0};
    topos::cohort_lock lock(four_nodes(), {.max_local_handoffs = 2, .node_of_caller = [&calls] {
                                               const unsigned c = calls.fetch_add(1, std::memory_order_relaxed);
                                               return static_cast<int>(c % 7) - 1; // -1 .. 5
                                           }});
    guarded_work work;
    hammer(lock, work, 6, k_iterations / 2, [](int) {});
    EXPECT_EQ(work.counter, 6 * (k_iterations / 2));
    EXPECT_EQ(work.overlaps.load(), 0);
    const auto stats = lock.stats();
    EXPECT_EQ(stats.acquisitions(), 6 * (k_iterations / 2));
    for (std::size_t n = 0; n < 4; ++n) {
        EXPECT_GT(stats.nodes[n].global_acquisitions + stats.nodes[n].local_handoffs, 0U) << "node " << n;
    }
}

TEST(CohortLock, NodeOfCallerIsInRange) {
    topos::cohort_lock host_lock;
    const int node = host_lock.node_of_caller();
    EXPECT_GE(node, 0);
    EXPECT_LT(static_cast<std::size_t>(node), host_lock.node_count());

    topos::cohort_lock fake(four_nodes(), fake_nodes(4));
    t_fake_node = 3;
    EXPECT_EQ(fake.node_of_caller(), 3);
    t_fake_node = 9;
    EXPECT_EQ(fake.node_of_caller(), 0);
    t_fake_node = 0;
}

TEST(CohortLock, TryLockFailsWhileHeldAndSucceedsAfter) {
    for (const bool multi : {false, true}) {
        SCOPED_TRACE(multi ? "four fake nodes" : "host topology");
        auto owned = multi ? std::make_unique<topos::cohort_lock>(four_nodes(), fake_nodes(4))
                           : std::make_unique<topos::cohort_lock>();
        topos::cohort_lock& lock = *owned;
        ASSERT_TRUE(lock.try_lock());
        int other_result = -1; // each writer thread is joined before we read it
        std::thread other([&] {
            t_fake_node = 1; // another node: the global lock refuses it
            other_result = lock.try_lock() ? 1 : 0;
        });
        other.join();
        EXPECT_EQ(other_result, 0);
        std::thread same_node([&] {
            t_fake_node = 0; // the same node: the local lock refuses it
            other_result = lock.try_lock() ? 1 : 0;
        });
        same_node.join();
        EXPECT_EQ(other_result, 0);
        lock.unlock();
        std::thread after([&] {
            t_fake_node = 1;
            other_result = lock.try_lock() ? 1 : 0;
            if (other_result == 1) {
                lock.unlock();
            }
        });
        after.join();
        EXPECT_EQ(other_result, 1);
        std::unique_lock guard(lock, std::try_to_lock);
        EXPECT_TRUE(guard.owns_lock());
    }
}

// std::scoped_lock over two cohort locks taken in opposite orders relies on
// try_lock() to avoid deadlock.
TEST(CohortLock, WorksWithScopedLock) {
    topos::cohort_lock a(four_nodes(), fake_nodes(4));
    topos::cohort_lock b(four_nodes(), fake_nodes(4));
    std::uint64_t both = 0;
    run_threads(4, [&](int index) {
        t_fake_node = index;
        for (std::uint64_t i = 0; i < k_iterations / 2; ++i) {
            if (index % 2 == 0) {
                std::scoped_lock guard(a, b);
                ++both;
            } else {
                std::scoped_lock guard(b, a);
                ++both;
            }
        }
    });
    EXPECT_EQ(both, 4 * (k_iterations / 2));
    EXPECT_TRUE(a.try_lock());
    EXPECT_TRUE(b.try_lock());
    a.unlock();
    b.unlock();
}

TEST(CohortLock, SingleThreadCountsEveryAcquisitionAsGlobal) {
    topos::cohort_lock lock(four_nodes(), fake_nodes(4));
    t_fake_node = 2;
    for (int i = 0; i < 100; ++i) {
        std::lock_guard guard(lock);
    }
    t_fake_node = 0;
    const auto stats = lock.stats();
    EXPECT_EQ(stats.nodes[2].global_acquisitions, 100U);
    EXPECT_EQ(stats.local_handoffs(), 0U);
    EXPECT_EQ(stats.longest_tenure(), 1U);
}

} // namespace
