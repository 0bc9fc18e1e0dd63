// Cancellation reaching nested groups (task_group.hpp, "Cancellation"):
// deep chains cancelled from inside and from outside, groups created after
// the cancel, a throwing task, groups on the heap destroyed elsewhere,
// unrelated groups left alone, and random trees cancelled under load.
#include "test_sched_support.hpp"

#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::with_timeout;

topos::runtime_options threads(unsigned n) { return {.places = {}, .bind = {}, .threads = n, .topology = {}}; }

constexpr int k_depth = 64;
constexpr int k_late = 8; // tasks spawned after the cancel, per level

struct chain_counters {
    std::atomic<int> late_ran{0};      ///< tasks spawned after cancel() returned that ran: must stay 0
    std::atomic<int> late_skipped{0};  ///< ... and that were skipped
    std::atomic<int> not_cancelling{0}; ///< levels whose group did not say is_cancelling()
};

// Level `level` runs in group `outer`: it creates a nested group, descends in
// it, and once the descent returns (after the cancel), spawns k_late tasks
// into `outer` - still cancelled, as its wait has not returned - and into a
// fresh nested group, which must start cancelled.
void level(topos::runtime& rt, topos::task_group& outer, int depth, chain_counters& c,
           const std::function<void()>& at_bottom) {
    if (depth == 0) {
        at_bottom(); // returns once the root was cancelled
    } else {
        topos::task_group inner(rt);
        inner.run([&rt, &inner, depth, &c, &at_bottom] { level(rt, inner, depth - 1, c, at_bottom); });
        inner.wait();
    }
    if (!outer.is_cancelling()) {
        c.not_cancelling.fetch_add(1);
    }
    topos::task_group fresh(rt);
    if (!fresh.is_cancelling()) {
        c.not_cancelling.fetch_add(1);
    }
    for (int i = 0; i < k_late; ++i) {
        outer.run([&c] { c.late_ran.fetch_add(1); });
        fresh.run([&c] { c.late_ran.fetch_add(1); });
    }
    fresh.wait();
}

TEST(NestedCancel, CancelFromInsideReachesEveryLevelOfADeepChain) {
    with_timeout(120s, "NestedCancel.FromInside", [] {
        topos::runtime rt(threads(2));
        chain_counters c;
        topos::task_group root(rt);
        root.run([&] { level(rt, root, k_depth, c, [&] { root.cancel(); }); });
        root.wait();
        EXPECT_EQ(c.late_ran.load(), 0);
        EXPECT_EQ(c.not_cancelling.load(), 0);
        EXPECT_FALSE(root.is_cancelling()); // wait() ended the root's cancellation
        // The runtime and the root group still work afterwards.
        std::atomic<int> ran{0};
        root.run([&] { ran.fetch_add(1); });
        root.wait();
        EXPECT_EQ(ran.load(), 1);
    });
}

TEST(NestedCancel, CancelFromOutsideReachesEveryLevelOfADeepChain) {
    with_timeout(120s, "NestedCancel.FromOutside", [] {
        topos::runtime rt(threads(2));
        chain_counters c;
        std::atomic<bool> at_bottom{false};
        std::atomic<bool> cancelled{false};
        topos::task_group root(rt);
        root.run([&] {
            level(rt, root, k_depth, c, [&] {
                at_bottom.store(true);
                while (!cancelled.load()) {
                    std::this_thread::yield();
                }
            });
        });
        while (!at_bottom.load()) {
            std::this_thread::yield();
        }
        root.cancel(); // from a thread outside the runtime
        cancelled.store(true);
        root.wait();
        EXPECT_EQ(c.late_ran.load(), 0);
        EXPECT_EQ(c.not_cancelling.load(), 0);
    });
}

TEST(NestedCancel, CancellingANestedGroupLeavesItsParentAndSiblingsAlone) {
    with_timeout(60s, "NestedCancel.Siblings", [] {
        topos::runtime rt(threads(2));
        std::atomic<int> ran_a{0};
        std::atomic<int> ran_b{0};
        std::atomic<int> ran_parent{0};
        topos::task_group root(rt);
        root.run([&] {
            topos::task_group a(rt);
            topos::task_group b(rt);
            a.cancel();
            for (int i = 0; i < 10; ++i) {
                a.run([&] { ran_a.fetch_add(1); });
                b.run([&] { ran_b.fetch_add(1); });
                root.run([&] { ran_parent.fetch_add(1); });
            }
            a.wait();
            b.wait();
        });
        root.wait();
        EXPECT_EQ(ran_a.load(), 0);
        EXPECT_EQ(ran_b.load(), 10);
        EXPECT_EQ(ran_parent.load(), 10);
    });
}

TEST(NestedCancel, AThrowingTaskCancelsTheGroupsNestedInItsGroup) {
    with_timeout(60s, "NestedCancel.Throw", [] {
        topos::runtime rt(threads(2));
        std::atomic<bool> nested_saw_cancel{false};
        std::atomic<bool> nested_ready{false};
        topos::task_group root(rt);
        root.run([&] {
            topos::task_group nested(rt);
            nested.run([&] {
                topos::task_group deeper(rt);
                nested_ready.store(true);
                // Poll until the sibling's throw reaches us (the watchdog fails a hang).
                while (!deeper.is_cancelling()) {
                    std::this_thread::yield();
                }
                nested_saw_cancel.store(true);
            });
            nested.wait();
        });
        while (!nested_ready.load()) {
            std::this_thread::yield();
        }
        root.run([] { throw std::runtime_error("boom"); });
        EXPECT_THROW(root.wait(), std::runtime_error);
        EXPECT_TRUE(nested_saw_cancel.load());
    });
}

TEST(NestedCancel, AHeapGroupDestroyedOnAnotherThreadIsUnregistered) {
    with_timeout(60s, "NestedCancel.Heap", [] {
        topos::runtime rt(threads(2));
        std::unique_ptr<topos::task_group> kept;
        topos::task_group root(rt);
        root.run([&] { kept = std::make_unique<topos::task_group>(rt); }); // nested in root
        root.wait();
        // Its creating task is over; cancelling the root must not touch it
        // wrongly, and destroying it here (outside) unlinks it from its worker.
        std::atomic<int> ran{0};
        kept->run([&] { ran.fetch_add(1); });
        kept->wait();
        EXPECT_EQ(ran.load(), 1);
        root.run([&] { root.cancel(); });
        root.wait();
        kept.reset();
        // The lists are intact: nesting and cancelling still work.
        std::atomic<int> late{0};
        root.run([&] {
            topos::task_group n(rt);
            root.cancel();
            n.run([&] { late.fetch_add(1); });
            n.wait();
        });
        root.wait();
        EXPECT_EQ(late.load(), 0);
    });
}

// Groups nested in a task but living outside its frames (on the heap) are
// "detached" (scheduler/cancel.cpp): the cancel of any group above them
// reaches them too, also through a group in between that lives in a task's
// frames, and also after the task that made them has ended.
TEST(NestedCancel, HeapGroupsAreReachedByTheCancelOfAnyGroupAbove) {
    with_timeout(60s, "NestedCancel.Detached", [] {
        topos::runtime rt(threads(2));
        std::unique_ptr<topos::task_group> direct; // nested in root
        std::unique_ptr<topos::task_group> deep;   // nested in mid, which is nested in root
        std::atomic<bool> made{false};
        std::atomic<bool> cancelled{false};
        std::atomic<bool> mid_saw{false};
        topos::task_group root(rt);
        root.run([&] { direct = std::make_unique<topos::task_group>(rt); });
        root.run([&] {
            topos::task_group mid(rt); // in this task's frames
            mid.run([&] {
                deep = std::make_unique<topos::task_group>(rt);
                made.store(true);
                while (!cancelled.load()) {
                    std::this_thread::yield();
                }
            });
            mid.wait();
            mid_saw.store(mid.is_cancelling());
        });
        while (!made.load()) {
            std::this_thread::yield();
        }
        EXPECT_FALSE(direct->is_cancelling());
        EXPECT_FALSE(deep->is_cancelling());
        root.cancel(); // from outside, while deep's creating task still runs
        EXPECT_TRUE(direct->is_cancelling()); // its creating task has ended
        EXPECT_TRUE(deep->is_cancelling());
        std::atomic<int> ran{0};
        direct->run([&] { ran.fetch_add(1); });
        deep->run([&] { ran.fetch_add(1); });
        cancelled.store(true);
        root.wait();
        direct->wait();
        deep->wait();
        EXPECT_EQ(ran.load(), 0);
        // mid.wait() ended mid's own cancellation, but root's went on: mid
        // still says it is cancelling (a group above it is).
        EXPECT_TRUE(mid_saw.load());
        // wait() ended their cancellation; they work again and unlink cleanly.
        direct->run([&] { ran.fetch_add(1); });
        direct->wait();
        EXPECT_EQ(ran.load(), 1);
        direct.reset();
        deep.reset();
    });
}

// Random trees of nested groups, cancelled at random moments from outside
// and from inside: every wait returns (no task is lost), and every group of a
// cancelled root reports cancelling once the cancel returned.
void random_node(topos::runtime& rt, std::uint64_t seed, int depth, std::atomic<long>& ran,
                 topos::task_group* cancel_me) {
    ran.fetch_add(1, std::memory_order_relaxed);
    std::mt19937_64 rng(seed);
    if (depth == 0) {
        return;
    }
    if (cancel_me != nullptr && rng() % 64 == 0) {
        cancel_me->cancel();
    }
    topos::task_group g(rt);
    const int children = static_cast<int>(rng() % 4);
    for (int i = 0; i < children; ++i) {
        const std::uint64_t s = rng();
        g.run([&rt, s, depth, &ran, cancel_me] { random_node(rt, s, depth - 1, ran, cancel_me); });
    }
    g.wait();
}

TEST(NestedCancel, RandomTreesCancelledUnderLoadFinish) {
    with_timeout(240s, "NestedCancel.Random", [] {
        topos::runtime rt(threads(3));
        const int rounds = topos::test::k_sanitized ? 10 : 60;
        for (int round = 0; round < rounds; ++round) {
            std::atomic<long> ran_a{0};
            std::atomic<long> ran_b{0};
            topos::task_group a(rt);
            topos::task_group b(rt);
            for (int i = 0; i < 4; ++i) {
                a.run([&rt, &ran_a, &a, round, i] {
                    random_node(rt, static_cast<std::uint64_t>(round * 16 + i), 9, ran_a, &a);
                });
                b.run([&rt, &ran_b, round, i] {
                    random_node(rt, static_cast<std::uint64_t>(round * 16 + i + 8), 6, ran_b, nullptr);
                });
            }
            if (round % 2 == 0) {
                std::this_thread::sleep_for(100us);
                a.cancel();
            }
            a.wait();
            b.wait();
            EXPECT_GT(ran_b.load(), 0);
        }
    });
}

} // namespace
