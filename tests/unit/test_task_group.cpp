// task_group: every spawned task runs exactly once (random spawn trees),
// exceptions reach wait(), cancellation, nested groups and waits inside tasks,
// outside threads, run_on_node and its bad input.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::scaled;
using topos::test::with_timeout;

topos::runtime_options threads(unsigned n) { return {.places = {}, .bind = {}, .threads = n, .topology = {}}; }

// A random spawn tree: every task takes a unique id, marks it run, and spawns
// 0..4 children (into its own nested group, or flat into the root group).
struct tree {
    explicit tree(std::size_t capacity) : m_ran(capacity), m_capacity(capacity) {}

    void node(topos::runtime& rt, topos::task_group& root, std::uint64_t seed, int depth) {
        const std::uint64_t id = m_next_id.fetch_add(1, std::memory_order_relaxed);
        if (id < m_capacity) {
            m_ran[id].fetch_add(1, std::memory_order_relaxed);
        }
        std::mt19937_64 rng(seed);
        if (depth == 0 || m_next_id.load(std::memory_order_relaxed) >= m_capacity) {
            return;
        }
        const auto children = static_cast<int>(rng() % 5);
        const bool nested = rng() % 2 == 0;
        if (nested) {
            topos::task_group g(rt);
            for (int c = 0; c < children; ++c) {
                m_spawned.fetch_add(1, std::memory_order_relaxed);
                const std::uint64_t s = rng();
                g.run([this, &rt, &root, s, depth] { node(rt, root, s, depth - 1); });
            }
            g.wait();
        } else {
            for (int c = 0; c < children; ++c) {
                m_spawned.fetch_add(1, std::memory_order_relaxed);
                const std::uint64_t s = rng();
                root.run([this, &rt, &root, s, depth] { node(rt, root, s, depth - 1); });
            }
        }
    }

    std::vector<std::atomic<std::uint8_t>> m_ran;
    std::size_t m_capacity;
    std::atomic<std::uint64_t> m_next_id{0};
    std::atomic<std::uint64_t> m_spawned{0};
};

TEST(TaskGroup, EverySpawnedTaskRunsExactlyOnce) {
    with_timeout(100s, "TaskGroup.EverySpawnedTaskRunsExactlyOnce", [] {
        topos::runtime rt(threads(3));
        const std::size_t target = scaled(2'000'000, 10);
        auto t = std::make_unique<tree>(target + 64);
        std::uint64_t seed = 7;
        std::uint64_t roots = 0;
        while (t->m_next_id.load() < target) {
            topos::task_group root(rt);
            for (int r = 0; r < 16; ++r) {
                ++roots;
                t->m_spawned.fetch_add(1);
                const std::uint64_t s = seed++;
                root.run([&, s] { t->node(rt, root, s * 0x9E3779B97F4A7C15ULL, 12); });
            }
            root.wait();
        }
        const std::uint64_t spawned = t->m_spawned.load();
        EXPECT_EQ(t->m_next_id.load(), spawned) << "tasks run vs tasks spawned";
        const auto n = std::min<std::uint64_t>(spawned, t->m_capacity);
        std::uint64_t wrong = 0;
        for (std::uint64_t i = 0; i < n; ++i) {
            wrong += t->m_ran[i].load() == 1 ? 0U : 1U;
        }
        EXPECT_EQ(wrong, 0U);
        EXPECT_GE(spawned, target);
        EXPECT_EQ(rt.stats().tasks_run, spawned);
        RecordProperty("tasks", std::to_string(spawned));
    });
}

TEST(TaskGroup, WaitRethrowsTheFirstExceptionOnce) {
    topos::runtime rt(threads(2));
    topos::task_group g(rt);
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i) {
        g.run([&, i] {
            ++ran;
            if (i % 10 == 3) {
                throw std::runtime_error("task " + std::to_string(i));
            }
        });
    }
    try {
        g.wait();
        FAIL() << "wait() should rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("task ", 0), 0U) << e.what();
    }
    EXPECT_FALSE(g.is_cancelling()) << "wait resets cancellation";
    EXPECT_NO_THROW(g.wait()) << "the exception is reported once";
    // The group is reusable after an exception.
    std::atomic<int> again{0};
    g.run([&] { ++again; });
    g.wait();
    EXPECT_EQ(again.load(), 1);
}

TEST(TaskGroup, ExceptionCrossesNestedWaits) {
    topos::runtime rt(threads(2));
    topos::task_group outer(rt);
    outer.run([&] {
        topos::task_group inner(rt);
        inner.run([] { throw std::logic_error("deep"); });
        inner.wait(); // rethrows inside the outer task
    });
    EXPECT_THROW(outer.wait(), std::logic_error);
}

TEST(TaskGroup, ExceptionFromOutsideThreadGroup) {
    topos::runtime rt(threads(2));
    std::thread outside([&] {
        topos::task_group g(rt);
        g.run([] { throw std::out_of_range("x"); });
        EXPECT_THROW(g.wait(), std::out_of_range);
    });
    outside.join();
}

TEST(TaskGroup, CancelSkipsTasksNotStarted) {
    topos::runtime rt(threads(2));
    topos::task_group g(rt);
    g.cancel();
    EXPECT_TRUE(g.is_cancelling());
    std::atomic<int> ran{0};
    for (int i = 0; i < 1000; ++i) {
        g.run([&] { ++ran; });
    }
    EXPECT_NO_THROW(g.wait());
    EXPECT_EQ(ran.load(), 0);
    EXPECT_FALSE(g.is_cancelling());
    g.run([&] { ++ran; });
    g.wait();
    EXPECT_EQ(ran.load(), 1);
}

TEST(TaskGroup, CancelFromATaskStopsTheRest) {
    with_timeout(60s, "TaskGroup.CancelFromATaskStopsTheRest", [] {
        topos::runtime rt(threads(2));
        topos::task_group g(rt);
        std::atomic<int> ran{0};
        std::atomic<bool> cancelled{false};
        const int n = 20'000;
        g.run([&] {
            // Spawned from a worker: all land in its deque before the cancel.
            for (int i = 0; i < n; ++i) {
                g.run([&] { ++ran; });
            }
            g.cancel();
            cancelled = true;
        });
        while (!cancelled.load()) { // not wait(): a waiting caller would help run the children
            std::this_thread::yield();
        }
        g.wait();
        EXPECT_LT(ran.load(), n);
    });
}

TEST(TaskGroup, ThrowingTaskCancelsItsGroup) {
    // One worker thread of its own (the caller a guest): with the caller as
    // worker 0 and one worker, nothing would run before wait().
    auto options = threads(1);
    options.caller = topos::caller_role::guest;
    topos::runtime rt(options);
    topos::task_group g(rt);
    std::atomic<int> ran{0};
    std::atomic<bool> thrown{false};
    g.run([&] {
        for (int i = 0; i < 1000; ++i) {
            g.run([&] { ++ran; });
        }
        thrown = true;
        throw std::runtime_error("stop");
    });
    // Not wait() yet: a waiting caller would help run the children. The group
    // cancels itself when the exception reaches the scheduler.
    while (!thrown.load() || !g.is_cancelling()) {
        std::this_thread::yield();
    }
    EXPECT_THROW(g.wait(), std::runtime_error);
    EXPECT_EQ(ran.load(), 0) << "one worker: the children were queued behind the throwing task";
}

long fib(topos::runtime& rt, int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
    topos::task_group g(rt);
    g.run([&] { a = fib(rt, n - 1); });
    const long b = fib(rt, n - 2);
    g.wait();
    return a + b;
}

TEST(TaskGroup, NestedGroupsWaitInsideTasks) {
    with_timeout(60s, "TaskGroup.NestedGroupsWaitInsideTasks", [] {
        topos::runtime rt(threads(2));
        long result = 0;
        topos::task_group g(rt);
        g.run([&] { result = fib(rt, topos::test::k_sanitized ? 18 : 24); });
        g.wait();
        EXPECT_EQ(result, topos::test::k_sanitized ? 2584 : 46368);
    });
}

TEST(TaskGroup, OneWorkerDeepNestingDoesNotDeadlock) {
    with_timeout(60s, "TaskGroup.OneWorkerDeepNestingDoesNotDeadlock", [] {
        topos::runtime rt(threads(1));
        long result = 0;
        topos::task_group g(rt);
        g.run([&] { result = fib(rt, 16); });
        g.wait();
        EXPECT_EQ(result, 987);
    });
}

TEST(TaskGroup, WaitingTwiceAndEmptyWait) {
    topos::runtime rt(threads(2));
    topos::task_group g(rt);
    EXPECT_NO_THROW(g.wait());
    std::atomic<int> ran{0};
    g.run([&] { ++ran; });
    g.wait();
    g.wait();
    EXPECT_EQ(ran.load(), 1);
}

TEST(TaskGroup, DestructorWaitsForPendingTasks) {
    topos::runtime rt(threads(2));
    std::atomic<int> ran{0};
    {
        topos::task_group g(rt);
        for (int i = 0; i < 100; ++i) {
            g.run([&] {
                std::this_thread::sleep_for(20us);
                ++ran;
            });
        }
        g.run([] { throw std::runtime_error("nobody waits for me"); });
    }
    EXPECT_EQ(ran.load(), 100);
}

TEST(TaskGroup, ManyOutsideThreadsShareARuntime) {
    with_timeout(60s, "TaskGroup.ManyOutsideThreadsShareARuntime", [] {
        topos::runtime rt(threads(2));
        std::atomic<long> total{0};
        std::vector<std::thread> users;
        users.reserve(4);
        for (int u = 0; u < 4; ++u) {
            users.emplace_back([&] {
                for (int round = 0; round < 50; ++round) {
                    topos::task_group g(rt);
                    for (int i = 0; i < 20; ++i) {
                        g.run([&] { ++total; });
                    }
                    g.wait();
                }
            });
        }
        for (auto& u : users) {
            u.join();
        }
        EXPECT_EQ(total.load(), 4 * 50 * 20);
    });
}

TEST(TaskGroup, LargeCallablesAreBoxed) {
    topos::runtime rt(threads(2));
    topos::task_group g(rt);
    std::array<long, 16> big{};
    big.fill(3);
    std::atomic<long> sum{0};
    for (int i = 0; i < 100; ++i) {
        g.run([big, &sum] {
            long s = 0;
            for (long v : big) {
                s += v;
            }
            sum += s;
        });
    }
    g.wait();
    EXPECT_EQ(sum.load(), 100 * 48);
}

TEST(TaskGroup, RunOnNodeRejectsUnknownNodes) {
    topos::runtime rt(threads(2));
    topos::task_group g(rt);
    const auto nodes = static_cast<int>(rt.topology().node_count());
    EXPECT_THROW(g.run_on_node(nodes, [] {}), topos::node_error);
    EXPECT_THROW(g.run_on_node(-1, [] {}), topos::node_error);
    try {
        g.run_on_node(1000, [] {});
        FAIL();
    } catch (const topos::node_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("1000"), std::string::npos) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    g.wait(); // nothing half-done: no task was counted
    std::atomic<int> ran{0};
    g.run_on_node(0, [&] { ++ran; });
    g.wait();
    EXPECT_EQ(ran.load(), 1);
}

// On a synthetic two-node machine (workers unpinned, but the scheduler's
// node logic is the same): run_on_node tasks run on that node's workers while
// that node has idle workers.
TEST(TaskGroup, RunOnNodeUsesThatNodesWorkers) {
    with_timeout(60s, "TaskGroup.RunOnNodeUsesThatNodesWorkers", [] {
        topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {},
                           .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
        ASSERT_EQ(rt.nodes(), (std::vector<int>{0, 1}));
        for (int node : {1, 0, 1}) {
            for (int i = 0; i < 20; ++i) {
                std::atomic<int> seen{-2};
                topos::task_group g(rt);
                g.run_on_node(node, [&] { seen = topos::this_worker::node(); });
                g.wait();
                EXPECT_EQ(seen.load(), node);
            }
        }
        // From a worker on the other node, too.
        topos::task_group g(rt);
        std::atomic<int> wrong{0};
        g.run_on_node(0, [&] {
            topos::task_group inner(rt);
            for (int i = 0; i < 10; ++i) {
                inner.run_on_node(1, [&] { wrong += topos::this_worker::node() == 1 ? 0 : 1; });
            }
            inner.wait();
        });
        g.wait();
        EXPECT_EQ(wrong.load(), 0);
    });
}

// When every worker of a node is busy, other nodes steal its work (counted as
// remote steals), one crossing thief per node at a time.
TEST(TaskGroup, SaturatedNodeIsHelpedByRemoteSteals) {
    with_timeout(60s, "TaskGroup.SaturatedNodeIsHelpedByRemoteSteals", [] {
        topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {},
                           .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
        std::atomic<int> ran{0};
        std::atomic<bool> release{false};
        topos::task_group g(rt);
        // Occupy both node-1 workers until node-0 workers have taken some of its queue.
        for (int i = 0; i < 2; ++i) {
            g.run_on_node(1, [&] {
                while (!release.load()) {
                    std::this_thread::yield();
                }
            });
        }
        for (int i = 0; i < 200; ++i) {
            g.run_on_node(1, [&] {
                if (topos::this_worker::node() == 0) {
                    release = true;
                }
                ++ran;
            });
        }
        g.wait();
        EXPECT_EQ(ran.load(), 200);
        EXPECT_GE(rt.stats().steals_remote, 1U);
    });
}

// A task counted as finished more often than it was run would wrap the
// group's pending count around and make wait() hang or return early;
// TOPOS_ASSERT stops the process at the decrement instead.
TEST(TaskGroupDeathTest, PendingCountUnderflowIsCaught) {
#if defined(TOPOS_ENABLE_ASSERTS)
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            topos::detail::group_core core(nullptr);
            core.finish_one(); // nothing was added
        },
        "pending count underflow");
#else
    GTEST_SKIP() << "TOPOS_ASSERT is off in this build (TOPOS_ENABLE_ASSERTS undefined)";
#endif
}

} // namespace
