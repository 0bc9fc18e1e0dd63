// The work-stealing deque: against a sequential oracle with random operations,
// under contention with many thieves, and with a watchdog so a hang fails.
#include "test_sched_support.hpp"

#include <topos/detail/deque.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using topos::detail::chase_lev_deque;
using topos::detail::steal_status;
using topos::test::scaled;
using topos::test::with_timeout;
using namespace std::chrono_literals;

TEST(Deque, EmptyDequeSaysEmpty) {
    chase_lev_deque<int> d(2);
    EXPECT_FALSE(d.pop().has_value());
    const auto r = d.steal();
    EXPECT_EQ(r.status, steal_status::empty);
    EXPECT_FALSE(static_cast<bool>(r));
    EXPECT_TRUE(d.empty_hint());
}

TEST(Deque, OwnerIsLifoThievesAreFifo) {
    chase_lev_deque<int> d(2);
    for (int i = 0; i < 5; ++i) {
        d.push(i);
    }
    EXPECT_EQ(d.size_hint(), 5);
    EXPECT_EQ(d.pop(), 4);
    const auto r = d.steal();
    ASSERT_EQ(r.status, steal_status::success);
    EXPECT_EQ(r.value, 0);
    EXPECT_EQ(d.pop(), 3);
    EXPECT_EQ(d.steal().value, 1);
    EXPECT_EQ(d.pop(), 2);
    EXPECT_FALSE(d.pop().has_value());
}

TEST(Deque, GrowsInsteadOfOverflowing) {
    chase_lev_deque<std::uint32_t> d(2);
    constexpr std::uint32_t k_items = 100'000;
    for (std::uint32_t i = 0; i < k_items; ++i) {
        d.push(i);
    }
    EXPECT_GE(d.capacity(), static_cast<std::int64_t>(k_items));
    for (std::uint32_t i = k_items; i-- > 0;) {
        ASSERT_EQ(d.pop(), i);
    }
}

// Random push / pop / steal on one thread, compared step by step with std::deque.
TEST(Deque, MatchesSequentialOracle) {
    for (unsigned seed = 1; seed <= 20; ++seed) {
        std::mt19937 rng(seed);
        chase_lev_deque<int> d(2);
        std::deque<int> oracle;
        int next = 0;
        for (int step = 0; step < 20'000; ++step) {
            // Bias towards pushes in phases so the ring grows and shrinks back.
            const auto op = static_cast<unsigned>(rng() % 10);
            const bool push_phase = (step / 2000) % 2 == 0;
            if (op < (push_phase ? 6U : 3U)) {
                d.push(next);
                oracle.push_back(next);
                ++next;
            } else if (op < 8) {
                const auto got = d.pop();
                if (oracle.empty()) {
                    ASSERT_FALSE(got.has_value()) << "seed " << seed << " step " << step;
                } else {
                    ASSERT_EQ(got, oracle.back()) << "seed " << seed << " step " << step;
                    oracle.pop_back();
                }
            } else {
                const auto got = d.steal();
                if (oracle.empty()) {
                    ASSERT_EQ(got.status, steal_status::empty) << "seed " << seed << " step " << step;
                } else {
                    ASSERT_EQ(got.status, steal_status::success) << "seed " << seed << " step " << step;
                    ASSERT_EQ(got.value, oracle.front()) << "seed " << seed << " step " << step;
                    oracle.pop_front();
                }
            }
            ASSERT_EQ(d.size_hint(), static_cast<std::int64_t>(oracle.size()));
        }
    }
}

// One owner pushing (and growing the ring) and popping, several thieves
// stealing: every item is taken exactly once, none invented.
void run_many_thieves(unsigned thieves, std::uint32_t items, std::int64_t initial_capacity) {
    chase_lev_deque<std::uint32_t> d(initial_capacity);
    std::unique_ptr<std::atomic<std::uint8_t>[]> taken(new std::atomic<std::uint8_t>[items]);
    for (std::uint32_t i = 0; i < items; ++i) {
        taken[i].store(0, std::memory_order_relaxed);
    }
    std::atomic<bool> owner_done{false};
    std::atomic<std::uint64_t> stolen{0};
    std::atomic<std::uint64_t> lost{0};
    std::atomic<std::uint64_t> bogus{0};
    const auto take = [&](std::uint32_t v) {
        if (v >= items || taken[v].fetch_add(1, std::memory_order_relaxed) != 0) {
            bogus.fetch_add(1, std::memory_order_relaxed);
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(thieves);
    for (unsigned k = 0; k < thieves; ++k) {
        pool.emplace_back([&] {
            for (;;) {
                const auto r = d.steal();
                if (r.status == steal_status::success) {
                    take(r.value);
                    stolen.fetch_add(1, std::memory_order_relaxed);
                } else if (r.status == steal_status::lost) {
                    lost.fetch_add(1, std::memory_order_relaxed);
                } else if (owner_done.load(std::memory_order_acquire)) {
                    break;
                } else {
                    std::this_thread::yield();
                }
            }
        });
    }
    std::mt19937 rng(42);
    std::uint32_t pushed = 0;
    while (pushed < items) {
        const auto burst = static_cast<std::uint32_t>(1 + rng() % 300); // bursts large enough to grow the ring
        for (std::uint32_t i = 0; i < burst && pushed < items; ++i) {
            d.push(pushed++);
        }
        const auto pops = static_cast<std::uint32_t>(rng() % 200);
        for (std::uint32_t i = 0; i < pops; ++i) {
            if (auto v = d.pop()) {
                take(*v);
            } else {
                break;
            }
        }
    }
    while (auto v = d.pop()) {
        take(*v);
    }
    owner_done.store(true, std::memory_order_release);
    for (auto& t : pool) {
        t.join();
    }
    EXPECT_EQ(bogus.load(), 0U);
    std::uint64_t missing = 0;
    for (std::uint32_t i = 0; i < items; ++i) {
        missing += taken[i].load(std::memory_order_relaxed) == 1 ? 0U : 1U;
    }
    EXPECT_EQ(missing, 0U) << "items not taken exactly once";
    ::testing::Test::RecordProperty("stolen", static_cast<int>(stolen.load()));
    ::testing::Test::RecordProperty("lost", static_cast<int>(lost.load()));
}

TEST(Deque, ManyThievesTakeEveryItemExactlyOnce) {
    with_timeout(60s, "Deque.ManyThievesTakeEveryItemExactlyOnce",
                 [] { run_many_thieves(4, static_cast<std::uint32_t>(scaled(400'000, 4)), 2); });
}

TEST(Deque, ThievesRacingForTheLastItem) {
    // Tiny bursts: the owner and thieves keep meeting on a one-item deque.
    with_timeout(60s, "Deque.ThievesRacingForTheLastItem", [] {
        chase_lev_deque<std::uint32_t> d(2);
        const auto items = static_cast<std::uint32_t>(scaled(100'000, 4));
        std::vector<std::atomic<std::uint8_t>> taken(items);
        std::atomic<bool> done{false};
        std::atomic<unsigned> bad{0};
        std::vector<std::thread> pool;
        pool.reserve(3);
        for (int k = 0; k < 3; ++k) {
            pool.emplace_back([&] {
                while (!done.load(std::memory_order_acquire)) {
                    if (auto r = d.steal(); r) {
                        if (taken[r.value].fetch_add(1) != 0) {
                            bad.fetch_add(1);
                        }
                    }
                }
            });
        }
        for (std::uint32_t i = 0; i < items; ++i) {
            d.push(i);
            if (auto v = d.pop()) {
                if (taken[*v].fetch_add(1) != 0) {
                    bad.fetch_add(1);
                }
            }
        }
        while (!d.empty_hint()) {
            std::this_thread::yield();
        }
        done.store(true, std::memory_order_release);
        for (auto& t : pool) {
            t.join();
        }
        EXPECT_EQ(bad.load(), 0U);
        for (std::uint32_t i = 0; i < items; ++i) {
            ASSERT_EQ(taken[i].load(), 1) << "item " << i;
        }
    });
}

// The backoff idle and waiting workers use (detail/spin.hpp).
using topos::detail::backoff;

TEST(Backoff, ColdBackoffSpinsOutAfterItsPausesAndItsYields) {
    backoff b;
    int calls = 0;
    while (!b.spun_out() && calls < 1000) {
        EXPECT_EQ(b.settled(), b.spun_out()); // cold: looking further away waits for the spin-out
        b.pause();
        ++calls;
    }
    // 1, 2, 4 ... 64 pauses (7 calls), then k_yields yields.
    EXPECT_EQ(calls, 7 + static_cast<int>(backoff::k_yields));
    EXPECT_TRUE(b.settled());
    b.reset();
    EXPECT_FALSE(b.spun_out());
    EXPECT_FALSE(b.settled());
}

TEST(Backoff, HotBackoffKeepsPollingUntilItsTimeIsUp) {
    backoff b(std::chrono::hours(1));
    for (int i = 0; i < 20000; ++i) {
        b.pause();
    }
    EXPECT_FALSE(b.spun_out()); // an hour is not over: still polling
    // It has paused at least as long as a cold backoff before it spins out
    // (at most k_hot_pauses per call), so it may look further away.
    EXPECT_TRUE(b.settled());
}

TEST(Backoff, HotBackoffSettlesAfterAsManyPausesAsACold) {
    backoff b(std::chrono::hours(1));
    std::uint32_t pauses = 0;
    std::uint32_t step = 1;
    while (!b.settled()) {
        ASSERT_LT(pauses, 100000U);
        b.pause();
        pauses += step;
        step = std::min(2 * step, backoff::k_hot_pauses);
    }
    EXPECT_EQ(pauses >= 2 * backoff::k_max_pauses - 1 + backoff::k_yields * backoff::k_max_pauses, true);
    EXPECT_LT(pauses, 2 * backoff::k_max_pauses - 1 + backoff::k_yields * backoff::k_max_pauses + backoff::k_hot_pauses);
}

TEST(Backoff, HotBackoffSpinsOutOnceItsTimeIsUp) {
    backoff b(std::chrono::nanoseconds(1));
    int calls = 0;
    while (!b.spun_out() && calls < 1000) {
        b.pause();
        ++calls;
    }
    EXPECT_TRUE(b.spun_out());
    // A few polls (the clock starts at the first, the second finds 1 ns gone),
    // then the k_yields yields.
    EXPECT_LE(calls, 8 + static_cast<int>(backoff::k_yields));
    b.reset(); // polls again, for its time
    EXPECT_FALSE(b.spun_out());
    EXPECT_FALSE(b.settled());
}

} // namespace
