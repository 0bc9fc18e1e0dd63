// Scheduler soak: random spawn trees that mix everything task_group and
// parallel_for offer, checked task by task.
//
// Each round, three outside threads each build a tree under a group of their
// own and wait on it at the same time. A task, when it runs, spends a budget
// of further tasks in random ways: run() into its own group, run_on_node() to
// a random node, a nested group it waits on (sometimes cancelled), a
// parallel_for; and now and then it throws. Recorded per task: its group and
// how often it ran; per group: whether a task may have been skipped (the
// group was cancelled, or a task threw) and how many tasks threw. Checked:
//  - every task ran at most once, and exactly once unless its group may skip;
//  - a wait() rethrows exactly when a task of its group threw, exactly one
//    of that group's exceptions, and no exception surfaces twice;
//  - every parallel_for iteration ran exactly once.
// TOPOS_SOAK_TASKS and TOPOS_SOAK_SECONDS make it longer (scripts/soak).
#include "tests/soak/soak_support.hpp"
#include "tests/unit/test_sched_support.hpp"

#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Tasks per round, over the three outside threads' trees.
constexpr std::uint32_t k_round_budget = 3 * 20000;

// A task's exception: which task threw it.
struct soak_error : std::runtime_error {
    explicit soak_error(std::uint32_t t) : std::runtime_error("soak task " + std::to_string(t)), task(t) {}
    std::uint32_t task;
};

// xorshift64*: each task draws from its own stream, seeded by its id.
struct rng {
    explicit rng(std::uint64_t seed) : state(seed * 0x9e3779b97f4a7c15ULL + 1) {}
    std::uint32_t operator()() {
        state ^= state >> 12U;
        state ^= state << 25U;
        state ^= state >> 27U;
        return static_cast<std::uint32_t>((state * 0x2545f4914f6cdd1dULL) >> 32U);
    }
    std::uint32_t below(std::uint32_t n) { return (*this)() % n; }
    std::uint64_t state;
};

// A group, and the group whose task created it (k_no_parent for an outside
// thread's). Cancelling a group cancels the groups nested in its tasks, so a
// task may be skipped when its group or any group above it was cancelled.
constexpr std::uint32_t k_no_parent = ~std::uint32_t{0};
struct group_record {
    std::uint32_t parent = k_no_parent; // written by the creator before any task of the group exists
    std::atomic<bool> may_skip{false};
    std::atomic<std::uint32_t> thrown{0};
};

// Totals over all rounds, for the report line.
struct totals {
    std::uint64_t tasks_spawned = 0;
    std::uint64_t tasks_run = 0;
    std::uint64_t thrown = 0;
    std::uint64_t surfaced = 0;
    std::uint64_t cancels = 0;
    std::uint64_t nested_groups = 0;
    std::uint64_t on_node = 0;
    std::uint64_t loops = 0;
    std::uint64_t iterations = 0;
    std::uint64_t rounds = 0;
    std::uint64_t wrong = 0;
};

// One round: ids are dense, so the records are plain arrays sized by the
// round's budget.
class round_state {
public:
    round_state(topos::runtime& rt, std::uint32_t budget, std::uint64_t seed)
        : m_rt(rt), m_nodes(static_cast<int>(rt.topology().node_count())), m_seed(seed), m_capacity(budget + 8),
          m_runs(new std::atomic<std::uint8_t>[m_capacity]), m_group_of(new std::uint32_t[m_capacity]),
          m_threw(new std::atomic<std::uint8_t>[m_capacity]), m_surfaced(new std::atomic<std::uint8_t>[m_capacity]),
          m_groups(new group_record[m_capacity]) {
        for (std::uint32_t i = 0; i < m_capacity; ++i) {
            m_runs[i].store(0, std::memory_order_relaxed);
            m_threw[i].store(0, std::memory_order_relaxed);
            m_surfaced[i].store(0, std::memory_order_relaxed);
        }
    }

    // Called by an outside thread: a group of its own with `budget` tasks
    // under it, waited on while the other outside threads wait on theirs.
    void root(std::uint32_t budget, std::uint64_t stream) {
        rng r(m_seed ^ (stream * 0x51ed27ULL));
        topos::task_group g(m_rt);
        const std::uint32_t gid = new_group();
        spawn_children(g, gid, budget, r, 0);
        if (r.below(16) == 0) {
            // Cancel from outside while the tree runs.
            std::this_thread::yield();
            m_groups[gid].may_skip.store(true);
            m_cancels.fetch_add(1, std::memory_order_relaxed);
            g.cancel();
        }
        wait_and_check(g, gid);
    }

    // After every root returned: the per-task checks. Returns the first problem.
    std::string check(totals& t) const {
        std::string problem;
        const std::uint32_t spawned = m_next_task.load();
        std::uint64_t ran = 0;
        for (std::uint32_t id = 0; id < spawned; ++id) {
            const unsigned runs = m_runs[id].load();
            ran += runs;
            if (runs > 1 && problem.empty()) {
                problem = "task " + std::to_string(id) + " ran " + std::to_string(runs) + " times";
            }
            if (runs == 0 && !skippable(m_group_of[id]) && problem.empty()) {
                problem = "task " + std::to_string(id) +
                          " never ran and neither its group nor a group above it was cancelled or failed";
            }
        }
        // A loop inside a cancelled tree may stop early: only then may it run fewer iterations.
        std::uint64_t cut_short = 0;
        for (const auto& [gid, missing] : m_cut_loops) {
            if (!skippable(gid) && problem.empty()) {
                problem = "a parallel_for in group " + std::to_string(gid) + " skipped " + std::to_string(missing) +
                          " iterations and no group above it was cancelled or failed";
            }
            cut_short += missing;
        }
        if (m_iterations_run.load() + cut_short != m_iterations_expected.load() && problem.empty()) {
            problem = "parallel_for ran " + std::to_string(m_iterations_run.load()) + " iterations of " +
                      std::to_string(m_iterations_expected.load());
        }
        if (m_wrong.load() != 0 && problem.empty()) {
            std::lock_guard lock(m_mutex);
            problem = m_first_wrong;
        }
        t.tasks_spawned += spawned;
        t.tasks_run += ran;
        t.thrown += m_thrown.load();
        t.surfaced += m_surfaced_count.load();
        t.cancels += m_cancels.load();
        t.nested_groups += m_nested.load();
        t.on_node += m_on_node.load();
        t.loops += m_loops.load();
        t.iterations += m_iterations_run.load();
        t.wrong += m_wrong.load();
        ++t.rounds;
        return problem;
    }

private:
    std::uint32_t new_group() { return m_next_group.fetch_add(1, std::memory_order_relaxed); }

    // Whether gid's tasks may be skipped: it or a group above it was cancelled or failed.
    bool skippable(std::uint32_t gid) const {
        for (std::uint32_t g = gid; g != k_no_parent && g < m_capacity; g = m_groups[g].parent) {
            if (m_groups[g].may_skip.load()) {
                return true;
            }
        }
        return false;
    }

    void wrong(const std::string& what) {
        if (m_wrong.fetch_add(1) == 0) {
            std::lock_guard lock(m_mutex);
            m_first_wrong = what;
        }
    }

    // Spawns tasks into g worth `budget` ids in all: each child gets a share.
    void spawn_children(topos::task_group& g, std::uint32_t gid, std::uint32_t budget, rng& r, int depth) {
        while (budget > 0) {
            const std::uint32_t share = 1 + r.below(std::min<std::uint32_t>(budget, 64));
            budget -= share;
            spawn(g, gid, share, r, depth);
        }
    }

    void spawn(topos::task_group& g, std::uint32_t gid, std::uint32_t share, rng& r, int depth) {
        const std::uint32_t id = m_next_task.fetch_add(1, std::memory_order_relaxed);
        if (id >= m_capacity) {
            wrong("the round spawned more tasks than its budget");
            return;
        }
        // Written before run(), which publishes it to the task and to check().
        m_group_of[id] = gid;
        auto body = [this, &g, gid, id, share, depth] { run_task(g, gid, id, share, depth); };
        if (r.below(4) == 0) {
            m_on_node.fetch_add(1, std::memory_order_relaxed);
            g.run_on_node(static_cast<int>(r.below(static_cast<std::uint32_t>(m_nodes))), body);
        } else {
            g.run(body);
        }
    }

    void run_task(topos::task_group& g, std::uint32_t gid, std::uint32_t id, std::uint32_t share, int depth) {
        m_runs[id].fetch_add(1, std::memory_order_relaxed);
        rng r(m_seed ^ (std::uint64_t{id} << 20U));
        std::uint32_t rest = share - 1; // ids this task still spawns
        while (rest > 0) {
            const std::uint32_t pick = r.below(8);
            if (pick < 5 || depth >= 3 || rest < 4) {
                // Into its own group.
                const std::uint32_t child = 1 + r.below(rest);
                rest -= child;
                spawn(g, gid, child, r, depth);
            } else if (pick < 7) {
                const std::uint32_t chunk = 2 + r.below(rest - 1);
                rest -= chunk;
                nested(gid, chunk, r, depth + 1);
            } else {
                loop(gid, r);
                rest -= 1;
                spawn(g, gid, 1, r, depth);
            }
        }
        // Rarely in the outside threads' big groups, where a throw cancels a
        // whole tree; often in nested groups, whose trees are small.
        if (r.below(depth == 0 ? 4096 : 64) == 0) {
            // Before the throw, which cancels the group: its pending tasks may skip.
            m_groups[gid].may_skip.store(true);
            m_groups[gid].thrown.fetch_add(1, std::memory_order_relaxed);
            m_threw[id].store(1, std::memory_order_relaxed);
            m_thrown.fetch_add(1, std::memory_order_relaxed);
            throw soak_error(id);
        }
    }

    // A nested group inside a task: filled, sometimes cancelled, waited on here.
    void nested(std::uint32_t parent, std::uint32_t budget, rng& r, int depth) {
        m_nested.fetch_add(1, std::memory_order_relaxed);
        topos::task_group inner(m_rt);
        const std::uint32_t gid = new_group();
        if (gid >= m_capacity) {
            wrong("more groups than the round has room for");
            return;
        }
        m_groups[gid].parent = parent;
        spawn_children(inner, gid, budget, r, depth);
        if (r.below(16) == 0) {
            m_groups[gid].may_skip.store(true);
            m_cancels.fetch_add(1, std::memory_order_relaxed);
            inner.cancel();
        }
        wait_and_check(inner, gid);
    }

    // A loop inside a task of group gid: its own group is nested in gid, so
    // it stops early (fewer iterations) only when gid's tree is cancelled.
    void loop(std::uint32_t gid, rng& r) {
        m_loops.fetch_add(1, std::memory_order_relaxed);
        const std::size_t n = 1 + r.below(256);
        m_iterations_expected.fetch_add(n, std::memory_order_relaxed);
        std::atomic<std::size_t> ran{0};
        topos::parallel_for(m_rt, std::size_t{0}, n, [this, &ran](std::size_t) {
            ran.fetch_add(1, std::memory_order_relaxed);
            m_iterations_run.fetch_add(1, std::memory_order_relaxed);
        });
        if (ran.load() != n) {
            const std::lock_guard lock(m_mutex);
            m_cut_loops.emplace_back(gid, n - ran.load());
        }
    }

    // wait() must rethrow exactly when a task of the group threw: one of the
    // group's own exceptions, surfacing for the first and only time.
    void wait_and_check(topos::task_group& g, std::uint32_t gid) {
        bool caught = false;
        try {
            g.wait();
        } catch (const soak_error& e) {
            caught = true;
            m_surfaced_count.fetch_add(1, std::memory_order_relaxed);
            if (e.task >= m_capacity || m_group_of[e.task] != gid || m_threw[e.task].load() == 0) {
                wrong("wait() of group " + std::to_string(gid) + " rethrew task " + std::to_string(e.task) +
                      "'s exception, which no task of that group threw");
            } else if (m_surfaced[e.task].exchange(1) != 0) {
                wrong("task " + std::to_string(e.task) + "'s exception surfaced twice");
            }
        } catch (const std::exception& e) {
            wrong(std::string("wait() threw an unexpected exception: ") + e.what());
        }
        // acquire through wait(): every task of the group has finished.
        const std::uint32_t thrown = m_groups[gid].thrown.load();
        if (caught != (thrown > 0)) {
            wrong("group " + std::to_string(gid) + ": " + std::to_string(thrown) + " tasks threw but wait() " +
                  (caught ? "rethrew" : "returned normally"));
        }
        // Waiting again returns at once, without the exception.
        try {
            g.wait();
        } catch (...) {
            wrong("a second wait() threw again");
        }
    }

    topos::runtime& m_rt;
    int m_nodes;
    std::uint64_t m_seed;
    std::uint32_t m_capacity;
    std::unique_ptr<std::atomic<std::uint8_t>[]> m_runs;
    std::unique_ptr<std::uint32_t[]> m_group_of;
    std::unique_ptr<std::atomic<std::uint8_t>[]> m_threw;
    std::unique_ptr<std::atomic<std::uint8_t>[]> m_surfaced;
    std::unique_ptr<group_record[]> m_groups;
    std::atomic<std::uint32_t> m_next_task{0};
    std::atomic<std::uint32_t> m_next_group{0};
    std::atomic<std::uint64_t> m_thrown{0}, m_surfaced_count{0}, m_cancels{0}, m_nested{0}, m_on_node{0}, m_loops{0};
    std::atomic<std::uint64_t> m_iterations_expected{0}, m_iterations_run{0};
    std::atomic<std::uint64_t> m_wrong{0};
    mutable std::mutex m_mutex;
    std::string m_first_wrong;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> m_cut_loops; // (group, iterations skipped), under m_mutex
};

TEST(SoakScheduler, RandomSpawnTreesRunEveryTaskOnceAndSurfaceEveryException) {
    // Four workers on four NUMA nodes (a synthetic machine: planned by node,
    // not pinned), so run_on_node has somewhere to go on any host.
    topos::runtime rt({.places = {}, .bind = {}, .threads = 4,
                       .topology = topos::topology::synthetic("pack:2 numa:2 core:1 pu:1")});
    ASSERT_EQ(rt.topology().node_count(), 4U);
    const topos::soak::budget budget("TOPOS_SOAK_TASKS", topos::test::scaled(60000, 4));
    totals t;
    const auto limit = std::chrono::seconds(600 + budget.seconds() * 2);
    topos::test::with_timeout(std::chrono::duration_cast<std::chrono::seconds>(limit), "scheduler soak", [&] {
        for (std::uint64_t seed = 1; budget.more(t.tasks_run); ++seed) {
            round_state round(rt, k_round_budget, seed);
            std::vector<std::thread> waiters;
            for (std::uint64_t w = 0; w < 3; ++w) {
                waiters.emplace_back([&round, w] { round.root(k_round_budget / 3, w + 1); });
            }
            for (auto& th : waiters) {
                th.join();
            }
            const std::string problem = round.check(t);
            ASSERT_TRUE(problem.empty()) << "round " << seed << ": " << problem;
        }
    });
    std::printf("soak scheduler: %llu rounds, %llu tasks spawned, %llu run (the rest skipped by cancellation), "
                "%llu exceptions thrown, %llu surfaced (one per failed wait), %llu cancels, %llu nested groups, "
                "%llu run_on_node, %llu parallel_for with %llu iterations, %llu wrong\n",
                static_cast<unsigned long long>(t.rounds), static_cast<unsigned long long>(t.tasks_spawned),
                static_cast<unsigned long long>(t.tasks_run), static_cast<unsigned long long>(t.thrown),
                static_cast<unsigned long long>(t.surfaced), static_cast<unsigned long long>(t.cancels),
                static_cast<unsigned long long>(t.nested_groups), static_cast<unsigned long long>(t.on_node),
                static_cast<unsigned long long>(t.loops), static_cast<unsigned long long>(t.iterations),
                static_cast<unsigned long long>(t.wrong));
    EXPECT_EQ(t.wrong, 0U);
    EXPECT_GT(t.thrown, 0U);
    EXPECT_GT(t.surfaced, 0U);
    EXPECT_LE(t.surfaced, t.thrown);
}

} // namespace
