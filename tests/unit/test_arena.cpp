// Arenas (runtime::arena, task_arena) and task priorities
// (task_group::run(priority, f)): confinement by worker index, node and
// sched_getcpu, nested spawns, max_threads, waiters outside the arena, bad
// input, and high tasks taken before normal ones.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>

namespace {

using namespace std::chrono_literals;

// Two nodes of two cores on paper: workers 0 and 1 on node 0, 2 and 3 on
// node 1 (not pinned: the topology is not this machine's). With the caller
// a guest every worker has a thread of its own; an outside thread that waits
// borrows a guest slot, and guests never run an arena's tasks.
topos::runtime_options two_nodes(unsigned threads, topos::caller_role caller = topos::caller_role::guest) {
    return {.places = "cores", .bind = topos::proc_bind::close, .threads = threads,
            .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1"), .caller = caller};
}

// Records which worker ran each task.
struct who_ran {
    std::mutex m;
    std::vector<int> index;
    std::vector<int> node;
    std::vector<int> cpu;
    void note() {
        const int i = topos::this_worker::index();
        const int n = topos::this_worker::node();
        const int c = sched_getcpu();
        std::lock_guard lock(m);
        index.push_back(i);
        node.push_back(n);
        cpu.push_back(c);
    }
    std::set<int> indices() {
        std::lock_guard lock(m);
        return {index.begin(), index.end()};
    }
};

void expect_plan_nodes(topos::runtime& rt) {
    const auto& w = rt.plan().workers;
    ASSERT_EQ(w.size(), 4U);
    EXPECT_EQ(w[0].node, 0);
    EXPECT_EQ(w[1].node, 0);
    EXPECT_EQ(w[2].node, 1);
    EXPECT_EQ(w[3].node, 1);
}

TEST(Arena, MembersFollowNodesAndMaxThreads) {
    topos::runtime rt(two_nodes(4));
    expect_plan_nodes(rt);
    EXPECT_EQ(rt.arena().workers(), (std::vector<unsigned>{0, 1, 2, 3}));
    EXPECT_EQ(rt.arena({.nodes = {1}}).workers(), (std::vector<unsigned>{2, 3}));
    EXPECT_EQ(rt.arena({.nodes = {1}}).nodes(), (std::vector<int>{1}));
    EXPECT_EQ(rt.arena({.nodes = {1}, .max_threads = 1}).workers(), (std::vector<unsigned>{2}));
    EXPECT_EQ(rt.arena({.nodes = {1, 0}, .max_threads = 3}).workers(), (std::vector<unsigned>{0, 1, 2}));
    EXPECT_EQ(rt.arena({.max_threads = 2}).thread_count(), 2U);
    EXPECT_EQ(&rt.arena({.nodes = {1}}).owner_runtime(), &rt);
    EXPECT_FALSE(rt.arena().is_member()); // this thread is no worker
}

TEST(Arena, TasksRunOnlyOnTheArenasNode) {
    topos::test::with_timeout(60s, "TasksRunOnlyOnTheArenasNode", [] {
        topos::runtime rt(two_nodes(4));
        expect_plan_nodes(rt);
        const topos::task_arena near1 = rt.arena({.nodes = {1}});
        who_ran ran;
        // Two tasks must run at once (the latch), so both members take part;
        // the others block a little so idle non-members would take some.
        std::latch both(2);
        topos::task_group g(near1);
        g.run([&] { ran.note(); both.arrive_and_wait(); });
        g.run([&] { ran.note(); both.arrive_and_wait(); });
        for (int i = 0; i < 200; ++i) {
            g.run([&] {
                ran.note();
                std::this_thread::sleep_for(50us);
            });
        }
        g.wait();
        ASSERT_EQ(ran.index.size(), 202U);
        EXPECT_EQ(ran.indices(), (std::set<int>{2, 3}));
        for (int n : ran.node) {
            EXPECT_EQ(n, 1);
        }
    });
}

TEST(Arena, NestedSpawnsStayInTheArena) {
    topos::test::with_timeout(60s, "NestedSpawnsStayInTheArena", [] {
        topos::runtime rt(two_nodes(4));
        const topos::task_arena near1 = rt.arena({.nodes = {1}});
        who_ran ran;
        std::atomic<long> sum{0};
        topos::task_group g(near1);
        for (int i = 0; i < 8; ++i) {
            g.run([&] {
                ran.note();
                topos::task_group inner(rt); // a plain group inside an arena task: inherits the arena
                for (int j = 0; j < 16; ++j) {
                    inner.run([&] {
                        ran.note();
                        std::this_thread::sleep_for(20us);
                    });
                }
                topos::parallel_for(rt, 0, 256, [&](int k) {
                    ran.note();
                    sum.fetch_add(k, std::memory_order_relaxed);
                });
                inner.wait();
            });
        }
        g.wait();
        EXPECT_EQ(sum.load(), 8L * (255 * 256 / 2));
        EXPECT_EQ(ran.index.size(), 8U + 8U * 16U + 8U * 256U);
        const std::set<int> who = ran.indices();
        EXPECT_TRUE(std::includes(std::set<int>{2, 3}.begin(), std::set<int>{2, 3}.end(), who.begin(), who.end()))
            << "a task of the arena ran on worker " << *who.begin();
    });
}

TEST(Arena, MaxThreadsIsRespected) {
    topos::test::with_timeout(60s, "MaxThreadsIsRespected", [] {
        topos::runtime rt(two_nodes(4));
        for (unsigned k = 1; k <= 3; ++k) {
            const topos::task_arena a = rt.arena({.max_threads = k});
            who_ran ran;
            // k tasks meet at a latch: the arena really runs k at once.
            std::latch together(k);
            topos::task_group g(a);
            for (unsigned i = 0; i < k; ++i) {
                g.run([&] { ran.note(); together.arrive_and_wait(); });
            }
            // Blocking tasks: four threads would share them if they could.
            for (int i = 0; i < 100; ++i) {
                g.run([&] {
                    ran.note();
                    std::this_thread::sleep_for(100us);
                });
            }
            g.wait();
            std::set<int> expected;
            for (unsigned i = 0; i < k; ++i) {
                expected.insert(static_cast<int>(i));
            }
            EXPECT_EQ(ran.indices(), expected) << "max_threads " << k;
        }
    });
}

TEST(Arena, LoopsOnAnArenaStayThere) {
    topos::test::with_timeout(60s, "LoopsOnAnArenaStayThere", [] {
        topos::runtime rt(two_nodes(4));
        const topos::task_arena a = rt.arena({.nodes = {0}, .max_threads = 1});
        who_ran ran;
        topos::parallel_for(a, 0, 1000, [&](int) { ran.note(); });
        const long s = topos::parallel_reduce(
            a, 0, 1000, 0L, [&](int i) { ran.note(); return static_cast<long>(i); }, std::plus<>{});
        EXPECT_EQ(s, 999L * 1000 / 2);
        topos::parallel_for(a, topos::range(0, 500, 10), [&](topos::range) { ran.note(); });
        topos::parallel_invoke(a, [&] { ran.note(); }, [&] { ran.note(); });
        EXPECT_EQ(ran.indices(), (std::set<int>{0}));
    });
}

// The caller is worker 0 (slot 0, node 0); the arena is node 1's. An outside
// thread that waits on the arena's group holds slot 0 but must not run the
// arena's tasks, nor may worker 0 steal them.
TEST(Arena, AnOutsideWaiterInSlotZeroDoesNotRunArenaTasks) {
    topos::test::with_timeout(60s, "AnOutsideWaiterInSlotZeroDoesNotRunArenaTasks", [] {
        topos::runtime rt({.places = "cores", .bind = topos::proc_bind::close, .threads = 2,
                           .topology = topos::topology::synthetic("pack:2 numa:1 core:1 pu:1"),
                           .caller = topos::caller_role::worker});
        ASSERT_EQ(rt.plan().workers[0].node, 0);
        ASSERT_EQ(rt.plan().workers[1].node, 1);
        const topos::task_arena near1 = rt.arena({.nodes = {1}});
        EXPECT_EQ(near1.workers(), (std::vector<unsigned>{1}));
        who_ran ran;
        topos::task_group g(near1);
        for (int i = 0; i < 100; ++i) {
            g.run([&] {
                ran.note();
                topos::task_group inner(rt);
                inner.run([&] { ran.note(); });
                inner.wait();
            });
        }
        g.wait();
        topos::parallel_for(near1, 0, 300, [&](int) { ran.note(); });
        EXPECT_EQ(ran.index.size(), 500U);
        EXPECT_EQ(ran.indices(), (std::set<int>{1}));
        // Slot 0 still runs work outside the arena.
        who_ran plain;
        topos::parallel_for(rt, 0, 100, [&](int) { plain.note(); });
        EXPECT_EQ(plain.index.size(), 100U);
    });
}

// A worker outside the arena waits for an arena group from inside its own task.
TEST(Arena, AWorkerOutsideTheArenaWaitsForIt) {
    topos::test::with_timeout(60s, "AWorkerOutsideTheArenaWaitsForIt", [] {
        topos::runtime rt(two_nodes(4));
        const topos::task_arena near1 = rt.arena({.nodes = {1}, .max_threads = 1});
        const topos::task_arena near0 = rt.arena({.nodes = {0}, .max_threads = 1});
        who_ran ran;
        topos::task_group outer(near0);
        outer.run([&] {
            EXPECT_EQ(topos::this_worker::index(), 0);
            topos::task_group g(near1); // an explicit arena wins over the inherited one
            for (int i = 0; i < 50; ++i) {
                g.run([&] { ran.note(); });
            }
            g.wait();
        });
        outer.wait();
        EXPECT_EQ(ran.indices(), (std::set<int>{2}));
    });
}

// On this machine, workers pinned: arena tasks run on the member's CPUs.
TEST(Arena, ConfinementHoldsOnTheCpus) {
    topos::test::with_timeout(60s, "ConfinementHoldsOnTheCpus", [] {
        const topos::topology topo = topos::topology::from_env();
        const unsigned threads = std::min<unsigned>(2, static_cast<unsigned>(topo.cores().size()));
        topos::runtime rt({.places = "cores", .bind = topos::proc_bind::close, .threads = threads,
                           .topology = std::nullopt, .caller = topos::caller_role::guest});
        const auto stats = rt.stats();
        if (!stats.workers[0].bound) {
            GTEST_SKIP() << "workers are not pinned here";
        }
        const topos::task_arena a = rt.arena({.max_threads = 1});
        ASSERT_EQ(a.workers(), (std::vector<unsigned>{0}));
        who_ran ran;
        topos::task_group g(a);
        for (int i = 0; i < 200; ++i) {
            g.run([&] {
                ran.note();
                std::this_thread::sleep_for(20us);
            });
        }
        g.wait();
        const auto& pus = rt.plan().workers[0].pus;
        for (int cpu : ran.cpu) {
            EXPECT_NE(std::find(pus.begin(), pus.end(), cpu), pus.end()) << "an arena task ran on CPU " << cpu;
        }
        EXPECT_EQ(ran.indices(), (std::set<int>{0}));
    });
}

template <class E>
std::string error_of(topos::runtime& rt, const topos::arena_options& o) {
    try {
        (void)rt.arena(o);
    } catch (const E& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        return what;
    }
    ADD_FAILURE() << "expected an exception";
    return {};
}

TEST(Arena, BadInputIsATypedErrorNamingIt) {
    topos::runtime rt(two_nodes(4));
    std::string what = error_of<topos::node_error>(rt, {.nodes = {7}});
    EXPECT_NE(what.find("node 7 does not exist"), std::string::npos) << what;
    what = error_of<topos::node_error>(rt, {.nodes = {-1}});
    EXPECT_NE(what.find("node -1"), std::string::npos) << what;
    what = error_of<topos::config_error>(rt, {.nodes = {1}, .max_threads = 0});
    EXPECT_NE(what.find("max_threads 0"), std::string::npos) << what;
    what = error_of<topos::config_error>(rt, {.nodes = {1}, .max_threads = 3});
    EXPECT_NE(what.find("max_threads 3"), std::string::npos) << what;
    EXPECT_NE(what.find("2 worker(s) on node(s) 1"), std::string::npos) << what;
    what = error_of<topos::config_error>(rt, {.max_threads = 5});
    EXPECT_NE(what.find("max_threads 5"), std::string::npos) << what;

    topos::runtime one({.places = "cores", .bind = topos::proc_bind::close, .threads = 1,
                        .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
    what = error_of<topos::node_error>(one, {.nodes = {1}});
    EXPECT_NE(what.find("node 1 has no worker"), std::string::npos) << what;
    EXPECT_NE(what.find("on node(s) 0"), std::string::npos) << what;

    topos::runtime unbound({.places = {}, .bind = topos::proc_bind::disabled, .threads = 2,
                            .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
    what = error_of<topos::node_error>(unbound, {.nodes = {0}});
    EXPECT_NE(what.find("not bound"), std::string::npos) << what;
    EXPECT_EQ(unbound.arena({.max_threads = 1}).workers(), (std::vector<unsigned>{0}));
}

TEST(Arena, SameWorkersGiveTheSameArena) {
    topos::runtime rt(two_nodes(4));
    // Many requests for the same workers do not pile up state; the arenas work.
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i) {
        topos::task_group g(rt.arena({.nodes = {1}, .max_threads = 2}));
        g.run([&] {
            EXPECT_EQ(topos::this_worker::node(), 1);
            ++ran;
        });
        g.wait();
    }
    EXPECT_EQ(ran.load(), 100);
}

// One worker thread, blocked; the outside thread queues normal tasks, then
// high ones. Released, the worker runs every high task before any normal one.
TEST(Priority, HighTasksRunBeforeNormalOnes) {
    topos::test::with_timeout(60s, "HighTasksRunBeforeNormalOnes", [] {
        topos::runtime rt({.places = "cores", .bind = topos::proc_bind::close, .threads = 1,
                           .topology = topos::topology::synthetic("pack:1 numa:1 core:2 pu:1"),
                           .caller = topos::caller_role::guest});
        std::mutex m;
        std::vector<char> order;
        std::atomic<bool> release{false};
        std::atomic<bool> started{false};
        topos::task_group g(rt);
        g.run([&] {
            started = true;
            while (!release.load()) {
                std::this_thread::yield();
            }
        });
        while (!started.load()) {
            std::this_thread::yield();
        }
        for (int i = 0; i < 5; ++i) {
            g.run(topos::priority::normal, [&] {
                std::lock_guard lock(m);
                order.push_back('n');
            });
        }
        for (int i = 0; i < 5; ++i) {
            g.run(topos::priority::high, [&] {
                std::lock_guard lock(m);
                order.push_back('h');
            });
        }
        release = true;
        g.wait(); // guests are not admitted (one core of two): nobody else runs them
        EXPECT_EQ(std::string(order.begin(), order.end()), "hhhhhnnnnn");
    });
}

// High tasks of an arena group, from outside and from a member: the arena's
// high queue comes before the outside queue and the arena's normal queue.
TEST(Priority, HighTasksFromAWorkerAndInAnArena) {
    topos::test::with_timeout(60s, "HighTasksFromAWorkerAndInAnArena", [] {
        topos::runtime rt({.places = "cores", .bind = topos::proc_bind::close, .threads = 1,
                           .topology = topos::topology::synthetic("pack:1 numa:1 core:2 pu:1"),
                           .caller = topos::caller_role::guest});
        std::mutex m;
        std::string order;
        const auto note = [&](char c) {
            std::lock_guard lock(m);
            order.push_back(c);
        };
        std::atomic<bool> release{false};
        std::atomic<bool> started{false};
        topos::task_group outside(rt);
        topos::task_group inner(rt.arena());
        outside.run([&] {
            started = true;
            while (!release.load()) {
                std::this_thread::yield();
            }
            // From a member: into the arena's high queue too, after the 'h'.
            inner.run(topos::priority::high, [&] { note('H'); });
        });
        while (!started.load()) {
            std::this_thread::yield();
        }
        for (int i = 0; i < 3; ++i) {
            outside.run([&] { note('n'); });
        }
        for (int i = 0; i < 2; ++i) {
            inner.run(topos::priority::normal, [&] { note('a'); });
        }
        inner.run(topos::priority::high, [&] { note('h'); });
        release = true;
        outside.wait();
        inner.wait();
        // The arena's high queue (FIFO), the outside queue, the arena's queue.
        EXPECT_EQ(order.size(), 7U) << order;
        EXPECT_EQ(order.substr(0, 2), "hH") << order;
        EXPECT_EQ(order.substr(2), "nnnaa") << order;
    });
}

} // namespace
