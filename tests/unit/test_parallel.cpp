// parallel_for, parallel_reduce, parallel_invoke.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/parallel.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::scaled;
using topos::test::with_timeout;

topos::runtime_options threads(unsigned n) { return {.places = {}, .bind = {}, .threads = n, .topology = {}}; }

TEST(ParallelFor, VisitsEveryIndexExactlyOnce) {
    topos::runtime rt(threads(2));
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}, scaled(1'000'003)}) {
        std::vector<std::atomic<std::uint8_t>> hits(n);
        topos::parallel_for(rt, std::size_t{0}, n, [&](std::size_t i) { hits[i].fetch_add(1); });
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(hits[i].load(), 1) << "n " << n << " index " << i;
        }
    }
}

TEST(ParallelFor, SignedBoundsAndExplicitGrain) {
    topos::runtime rt(threads(2));
    std::vector<std::atomic<int>> hits(200);
    topos::parallel_for(
        rt, -100, 100,
        [&](int i) {
            const int slot = i + 100;
            hits[static_cast<std::size_t>(slot)].fetch_add(1);
        },
        1);
    for (auto& h : hits) {
        EXPECT_EQ(h.load(), 1);
    }
    int calls = 0;
    topos::parallel_for(rt, 5, 5, [&](int) { ++calls; });
    topos::parallel_for(rt, 5, 2, [&](int) { ++calls; });
    EXPECT_EQ(calls, 0);
}

// parallel_for(rt, 0, n, f) with a std::size_t n: the int 0 and n meet in
// their common type, which is what the body receives.
TEST(ParallelFor, MixedIntegerBounds) {
    topos::runtime rt(threads(2));
    const std::size_t n = 1000;
    std::vector<std::atomic<int>> hits(n);
    topos::parallel_for(rt, 0, n, [&](auto i) {
        static_assert(std::is_same_v<decltype(i), std::size_t>);
        hits[i].fetch_add(1);
    });
    for (auto& h : hits) {
        ASSERT_EQ(h.load(), 1);
    }
    std::atomic<long long> sum{0};
    topos::parallel_for(rt, 0U, 100LL, [&](auto i) {
        static_assert(std::is_same_v<decltype(i), long long>);
        sum += i;
    });
    EXPECT_EQ(sum.load(), 99LL * 100 / 2);
    const auto total = topos::parallel_reduce(rt, 0, n, std::size_t{0}, [](std::size_t i) { return i; }, std::plus<>{});
    EXPECT_EQ(total, (n - 1) * n / 2);
    std::atomic<int> calls{0};
    topos::parallel_for(0, std::size_t{10}, [&](std::size_t) { ++calls; }); // the default runtime too
    EXPECT_EQ(calls.load(), 10);
}

// A negative bound with an unsigned one would wrap around in the unsigned
// common type: a typed error naming the bounds, and no iteration runs.
TEST(ParallelFor, NegativeBoundWithUnsignedIsAnIndexError) {
    topos::runtime rt(threads(2));
    std::atomic<int> calls{0};
    try {
        topos::parallel_for(rt, -1, std::size_t{5}, [&](std::size_t) { ++calls; });
        FAIL() << "no index_error";
    } catch (const topos::index_error& e) {
        EXPECT_NE(std::string(e.what()).find("[-1, 5)"), std::string::npos) << e.what();
    }
    EXPECT_THROW(topos::parallel_for(rt, 3U, -2, [&](unsigned) { ++calls; }), topos::error);
    EXPECT_THROW((void)topos::parallel_reduce(rt, -10, 10U, 0U, [](unsigned i) { return i; }, std::plus<>{}),
                 topos::index_error);
    EXPECT_EQ(calls.load(), 0);
    // Same signedness never throws: an empty or reversed range is just empty.
    topos::parallel_for(rt, -1, -5, [&](int) { ++calls; });
    EXPECT_EQ(calls.load(), 0);
}

TEST(ParallelFor, FromInsideATaskAndNested) {
    with_timeout(60s, "ParallelFor.FromInsideATaskAndNested", [] {
        topos::runtime rt(threads(2));
        std::atomic<long> sum{0};
        topos::parallel_for(rt, 0, 64, [&](int i) {
            topos::parallel_for(rt, 0, 100, [&](int j) { sum += i * 100 + j; });
        });
        EXPECT_EQ(sum.load(), 6400L * 6399 / 2);
    });
}

TEST(ParallelFor, ExceptionPropagates) {
    topos::runtime rt(threads(2));
    std::atomic<int> ran{0};
    EXPECT_THROW(topos::parallel_for(
                     rt, 0, 100'000,
                     [&](int i) {
                         ++ran;
                         if (i == 4321) {
                             throw std::runtime_error("body");
                         }
                     },
                     10),
                 std::runtime_error);
    // The runtime is fine afterwards.
    std::atomic<int> after{0};
    topos::parallel_for(rt, 0, 1000, [&](int) { ++after; });
    EXPECT_EQ(after.load(), 1000);
}

TEST(ParallelFor, DefaultRuntimeOverload) {
    std::atomic<int> n{0};
    topos::parallel_for(0, 100, [&](int) { ++n; });
    EXPECT_EQ(n.load(), 100);
}

// On a synthetic two-node machine (layout only, workers unpinned): every index
// is visited once and every iteration is counted on or off its data's node.
// The split decisions of parallel_for (loop_pace): a half is handed to a
// thief only when it holds at least k_min_stolen_work_ns at the loop's pace.
using topos::detail::loop_pace;

TEST(LoopPace, WithoutAPaceOrAHintTheFirstSplitIsMade) {
    std::atomic<std::int64_t> grain_ns{0};
    loop_pace pace(0);
    EXPECT_EQ(pace.decide(grain_ns, 0, 0, 16, 1), loop_pace::choice::split);
    EXPECT_EQ(grain_ns.load(), 0); // nothing ran, nothing measured
}

TEST(LoopPace, AMeasuredPaceDecidesSplitOrNever) {
    constexpr std::int64_t min = loop_pace::k_min_stolen_work_ns;
    loop_pace pace(0);
    std::atomic<std::int64_t> grain_ns{min / 4}; // 8 grains: 2 * min in all, 1 * min in the half
    EXPECT_EQ(pace.decide(grain_ns, 0, 0, 8, 1), loop_pace::choice::split);
    EXPECT_EQ(pace.decide(grain_ns, 0, 0, 7, 1), loop_pace::choice::never); // the half is short of min
    grain_ns = min * 10;
    EXPECT_EQ(pace.decide(grain_ns, 0, 0, 2, 1), loop_pace::choice::split);
}

TEST(LoopPace, ASmallHintFromTheLastCallWaitsForAMeasurementInsteadOfGivingUp) {
    std::atomic<std::int64_t> grain_ns{0};
    loop_pace pace(0);
    EXPECT_EQ(pace.decide(grain_ns, 1, 0, 4, 1), loop_pace::choice::later);
    EXPECT_EQ(pace.decide(grain_ns, loop_pace::k_min_stolen_work_ns, 0, 4, 1), loop_pace::choice::split);
    // A grain ran (slowly): the measurement replaces the hint.
    std::this_thread::sleep_for(5ms);
    EXPECT_EQ(pace.decide(grain_ns, 1, 1, 4, 1), loop_pace::choice::split);
    EXPECT_GE(grain_ns.load(), std::chrono::nanoseconds(5ms).count());
}

TEST(LoopPace, APieceThatEndsRecordsThePaceOnlyWhenTheLoopHasNone) {
    std::atomic<std::int64_t> grain_ns{0};
    loop_pace first(0);
    std::this_thread::sleep_for(2ms);
    first.finish(grain_ns, 2, 1); // two grains in at least 2 ms
    EXPECT_GE(grain_ns.load(), std::chrono::nanoseconds(1ms).count());
    grain_ns = 7;
    loop_pace second(0);
    second.finish(grain_ns, 2, 1);
    EXPECT_EQ(grain_ns.load(), 7);
}

// A loop that was tiny at its last call and is heavy now still spreads over
// the workers: the hint from the last call only delays the first split by a
// grain.
TEST(ParallelFor, ALoopThatWasTinyLastTimeStillSpreadsWhenItIsHeavy) {
    topos::runtime rt(threads(2));
    with_timeout(60s, "a loop that was tiny, then heavy", [&] {
        bool heavy = false;
        std::vector<std::atomic<int>> by_worker(2);
        const auto loop = [&] {
            topos::parallel_for(
                rt, 0, 16,
                [&](int) {
                    if (heavy) {
                        std::this_thread::sleep_for(2ms);
                    }
                    const int w = topos::this_worker::index();
                    if (w >= 0 && w < 2) {
                        by_worker[static_cast<std::size_t>(w)].fetch_add(1);
                    }
                },
                1);
        };
        for (int round = 0; round < 20; ++round) {
            loop(); // tiny: teaches the loop site a pace far below a steal's worth
        }
        heavy = true;
        by_worker[0] = 0;
        by_worker[1] = 0;
        loop();
        EXPECT_EQ(by_worker[0].load() + by_worker[1].load(), 16);
        EXPECT_GT(by_worker[0].load(), 0);
        EXPECT_GT(by_worker[1].load(), 0) << "the second worker never got a piece of a 32-ms loop";
    });
}

TEST(ParallelForNodeArray, VisitsEveryIndexAndCountsLocality) {
    with_timeout(60s, "ParallelForNodeArray.VisitsEveryIndexAndCountsLocality", [] {
        const auto topo = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1");
        topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {}, .topology = topo});
        const std::size_t n = scaled(200'000);
        topos::node_array<std::atomic<std::uint8_t>> hits(n, topo);
        ASSERT_EQ(hits.block_count(), 2U);
        const auto before = rt.stats();
        topos::parallel_for(rt, hits, [&](std::size_t i) { hits[i].fetch_add(1); });
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(hits[i].load(), 1) << "index " << i;
        }
        const auto after = rt.stats();
        EXPECT_EQ((after.iterations_on_data_node - before.iterations_on_data_node) +
                      (after.iterations_off_data_node - before.iterations_off_data_node),
                  n);
        EXPECT_GT(after.iterations_on_data_node, 0U);
        // An empty array does nothing.
        topos::node_array<int> none(0, topo);
        topos::parallel_for(rt, none, [](std::size_t) { FAIL(); });
    });
}

TEST(ParallelForNodeArray, ExceptionPropagates) {
    const auto topo = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1");
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {}, .topology = topo});
    topos::node_array<int> a(10'000, topo);
    EXPECT_THROW(topos::parallel_for(rt, a,
                                     [](std::size_t i) {
                                         if (i == 7777) {
                                             throw std::runtime_error("block");
                                         }
                                     }),
                 std::runtime_error);
}

// Bodies write the array, so parallel_for takes it by (non-const) reference;
// a const array still works, and both run on the default runtime as well.
TEST(ParallelForNodeArray, TakesTheArrayByReferenceAndRunsOnTheDefaultRuntime) {
    using body = void (*)(std::size_t);
    void (*by_reference)(topos::runtime&, topos::node_array<int>&, const body&, std::size_t) =
        &topos::parallel_for<int, body>;
    void (*on_default)(topos::node_array<int>&, const body&, std::size_t) = &topos::parallel_for<int, body>;
    EXPECT_NE(by_reference, nullptr);
    EXPECT_NE(on_default, nullptr);

    topos::node_array<int> a(1000);
    topos::parallel_for(a, [&](std::size_t i) { a[i] = static_cast<int>(i); });
    const topos::node_array<int>& view = a;
    std::atomic<long> sum{0};
    topos::parallel_for(view, [&](std::size_t i) { sum += view[i]; });
    EXPECT_EQ(sum.load(), 999L * 1000 / 2);
}

// An unbound runtime has no nodes: node_array(n, rt.nodes()) then spreads
// over every node, as node_array(n) does.
TEST(NodeArray, EmptyNodeListMeansEveryNode) {
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::disabled, .threads = 2, .topology = {}});
    ASSERT_TRUE(rt.nodes().empty());
    topos::node_array<int> a(100, rt.nodes());
    const topos::node_array<int> every(100);
    EXPECT_EQ(a.blocks(), every.blocks());
    EXPECT_EQ(a.block_count(), topos::get_memory_status().node_count);
    topos::parallel_for(rt, a, [&](std::size_t i) { a[i] = 1; });
    for (int v : a) {
        ASSERT_EQ(v, 1);
    }
}

// Out-of-range accessors throw topos::index_error, a topos::error.
TEST(NodeArray, OutOfRangeIsAnIndexError) {
    topos::node_array<int> a(10);
    a.at(9) = 3;
    EXPECT_EQ(std::as_const(a).at(9), 3);
    try {
        (void)a.at(10);
        FAIL() << "no index_error";
    } catch (const topos::index_error& e) {
        EXPECT_NE(std::string(e.what()).find("index 10"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)std::as_const(a).at(11), topos::error);
    EXPECT_THROW((void)a.node_of_index(10), topos::index_error);
    EXPECT_THROW((void)a.block(a.block_count()), topos::index_error);
}

TEST(ParallelReduce, SumsMatchSequential) {
    topos::runtime rt(threads(2));
    const std::size_t n = scaled(1'000'000);
    std::vector<double> x(n);
    std::iota(x.begin(), x.end(), 1.0);
    const double expect = static_cast<double>(n) * static_cast<double>(n + 1) / 2;
    const double got = topos::parallel_reduce(
        rt, std::size_t{0}, n, 0.0, [&](std::size_t i) { return x[i]; }, std::plus<>{});
    EXPECT_DOUBLE_EQ(got, expect);
    // Same grain, same grouping: bit-identical results run to run.
    const auto run = [&] {
        return topos::parallel_reduce(
            rt, std::size_t{0}, n, 0.0, [&](std::size_t i) { return 1.0 / (1.0 + x[i]); }, std::plus<>{}, 1000);
    };
    EXPECT_EQ(run(), run());
}

TEST(ParallelReduce, InitIsUsedOnceAndEmptyRangeGivesInit) {
    topos::runtime rt(threads(2));
    const long got = topos::parallel_reduce(rt, 0, 1000, 5L, [](int i) { return static_cast<long>(i); }, std::plus<>{}, 7);
    EXPECT_EQ(got, 5 + 999L * 1000 / 2);
    EXPECT_EQ(topos::parallel_reduce(rt, 3, 3, 42, [](int) { return 1; }, std::plus<>{}), 42);
    // Non-commutative but associative: order is kept.
    const std::string s = topos::parallel_reduce(
        rt, 0, 26, std::string(">"), [](int i) { return std::string(1, static_cast<char>('a' + i)); },
        [](const std::string& a, const std::string& b) { return a + b; }, 3);
    EXPECT_EQ(s, ">abcdefghijklmnopqrstuvwxyz");
}

TEST(ParallelReduce, ExceptionPropagates) {
    topos::runtime rt(threads(2));
    EXPECT_THROW(topos::parallel_reduce(
                     rt, 0, 1000, 0,
                     [](int i) {
                         if (i == 500) {
                             throw std::domain_error("map");
                         }
                         return i;
                     },
                     std::plus<>{}),
                 std::domain_error);
}

TEST(ParallelInvoke, RunsEveryFunction) {
    topos::runtime rt(threads(2));
    std::atomic<int> mask{0};
    topos::parallel_invoke(
        rt, [&] { mask |= 1; }, [&] { mask |= 2; }, [&] { mask |= 4; });
    EXPECT_EQ(mask.load(), 7);
    EXPECT_THROW(topos::parallel_invoke(
                     rt, [] {}, [] { throw std::runtime_error("one"); }),
                 std::runtime_error);
}

TEST(ParallelInvoke, DefaultRuntimeOverload) {
    std::atomic<int> mask{0};
    topos::parallel_invoke([&] { mask |= 1; }, [&] { mask |= 2; });
    EXPECT_EQ(mask.load(), 3);
}

} // namespace
