// Process-shared primitives: first between threads of this process (so the
// sanitizers see both sides), then between real processes started from
// topos_shm_peer: a message ring, a barrier over many rounds, a robust mutex
// whose owner is killed, and semaphores under contention.
#include "../shm/shm_test_layout.hpp"
#include "../shm/shm_test_support.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace topos;
using namespace std::chrono_literals;
using topos::test::child_process;
using topos::test::shm_test;

static_assert(std::is_standard_layout_v<process_mutex> && !std::is_copy_constructible_v<process_mutex> &&
              !std::is_move_constructible_v<process_mutex>);
static_assert(std::is_standard_layout_v<process_barrier> && !std::is_copy_assignable_v<process_barrier>);

// A primitive made in place in a segment, destroyed at scope exit.
template <class T>
class in_segment {
public:
    template <class... Args>
    explicit in_segment(const shared_segment& seg, Args&&... args)
        : m_obj(::new (seg.data()) T(std::forward<Args>(args)...)) {}
    in_segment(const in_segment&) = delete;
    in_segment& operator=(const in_segment&) = delete;
    ~in_segment() { m_obj->~T(); }
    T* operator->() const { return m_obj; }
    T& operator*() const { return *m_obj; }

private:
    T* m_obj;
};

class SyncThreadsTest : public shm_test {
protected:
    void SetUp() override {
        shm_test::SetUp();
        m_name = unique_name("sync");
        m_seg = shared_segment::create(m_name, 64 * 1024);
    }
    void TearDown() override {
        m_seg = shared_segment();
        shared_segment::remove_if_exists(m_name);
        shm_test::TearDown();
    }
    std::string m_name;
    shared_segment m_seg;
};

TEST_F(SyncThreadsTest, MutexExcludesThreads) {
    struct area {
        process_mutex m;
        long counter = 0;
    };
    in_segment<area> a(m_seg);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                std::lock_guard<process_mutex> hold(a->m);
                ++a->counter;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(a->counter, 80000);
    EXPECT_TRUE(a->m.try_lock());
    lock_result how = lock_result::owner_died;
    std::thread([&] { EXPECT_FALSE(a->m.try_lock(&how)); }).join();
    std::thread([&] { EXPECT_FALSE(a->m.try_lock_for(20ms, &how)); }).join();
    a->m.unlock();
    EXPECT_TRUE(a->m.try_lock_for(20ms, &how));
    EXPECT_EQ(how, lock_result::acquired);
    EXPECT_THROW((void)a->m.lock(), sync_error) << "relocking an owned robust mutex is EDEADLK";
    a->m.unlock();
}

// nanoseconds::max() is a common way to say "forever": the deadline must
// saturate, not overflow into the past (which timed out at once).
TEST_F(SyncThreadsTest, ForeverTimeoutsWaitInsteadOfOverflowing) {
    struct area {
        process_mutex m;
        process_condition cv;
        process_semaphore s{0};
        process_barrier b{2};
        bool ready = false;
    };
    in_segment<area> a(m_seg);
    constexpr auto forever = std::chrono::nanoseconds::max();
    lock_result how = lock_result::owner_died;
    ASSERT_TRUE(a->m.try_lock_for(forever, &how)) << "a free mutex";
    EXPECT_EQ(how, lock_result::acquired);
    bool got = false;
    std::thread waiter([&] {
        got = a->m.try_lock_for(forever);
        if (got) {
            a->m.unlock();
        }
    });
    std::this_thread::sleep_for(50ms); // let the waiter find the mutex held
    a->m.unlock();
    waiter.join();
    EXPECT_TRUE(got) << "a held mutex: 'forever' waits for the unlock";

    std::thread poster([&] {
        std::this_thread::sleep_for(50ms);
        a->s.post();
    });
    EXPECT_TRUE(a->s.wait_for(forever));
    poster.join();

    std::thread notifier([&] {
        std::this_thread::sleep_for(50ms);
        std::lock_guard<process_mutex> hold(a->m);
        a->ready = true;
        a->cv.notify_all();
    });
    (void)a->m.lock();
    bool woke = true;
    while (!a->ready && woke) {
        woke = a->cv.wait_for(a->m, forever);
    }
    a->m.unlock();
    notifier.join();
    EXPECT_TRUE(woke);

    std::thread partner([&] {
        std::this_thread::sleep_for(50ms);
        (void)a->b.arrive_and_wait();
    });
    EXPECT_TRUE(a->b.arrive_and_wait_for(forever).has_value());
    partner.join();
}

TEST_F(SyncThreadsTest, ConditionHandsOverValues) {
    struct area {
        process_mutex m;
        process_condition cv;
        int value = -1;
        bool taken = true;
    };
    in_segment<area> a(m_seg);
    constexpr int k_values = 2000;
    std::thread consumer([&] {
        for (int expect = 0; expect < k_values; ++expect) {
            (void)a->m.lock();
            (void)a->cv.wait(a->m, [&] { return !a->taken; });
            EXPECT_EQ(a->value, expect);
            a->taken = true;
            a->m.unlock();
            a->cv.notify_all();
        }
    });
    for (int v = 0; v < k_values; ++v) {
        (void)a->m.lock();
        (void)a->cv.wait(a->m, [&] { return a->taken; });
        a->value = v;
        a->taken = false;
        a->m.unlock();
        a->cv.notify_all();
    }
    consumer.join();
    (void)a->m.lock();
    EXPECT_FALSE(a->cv.wait_for(a->m, 10ms)) << "nobody notifies: times out, owning the mutex again";
    a->m.unlock();
}

TEST_F(SyncThreadsTest, SemaphoreCountsAndTimesOut) {
    in_segment<process_semaphore> s(m_seg, 2U);
    EXPECT_EQ(s->value(), 2);
    EXPECT_TRUE(s->try_wait());
    EXPECT_TRUE(s->try_wait());
    EXPECT_FALSE(s->try_wait());
    EXPECT_FALSE(s->wait_for(10ms));
    std::thread poster([&] {
        for (int i = 0; i < 1000; ++i) {
            s->post();
        }
    });
    for (int i = 0; i < 1000; ++i) {
        s->wait();
    }
    poster.join();
    EXPECT_EQ(s->value(), 0);
    EXPECT_THROW(process_semaphore bad(0x80000000U), sync_error);
}

TEST_F(SyncThreadsTest, BarrierRoundsWithThreads) {
    in_segment<process_barrier> b(m_seg, 3U);
    std::atomic<int> arrived[100] = {};
    std::atomic<int> serial{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&] {
            for (int r = 0; r < 100; ++r) {
                arrived[r].fetch_add(1, std::memory_order_relaxed); // relaxed: the barrier orders it
                if (b->arrive_and_wait()) {
                    serial.fetch_add(1, std::memory_order_relaxed);
                }
                if (arrived[r].load(std::memory_order_relaxed) != 3) {
                    errors.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(serial.load(), 100);
    // A lone arrival times out and withdraws; the next full round still works.
    EXPECT_FALSE(b->arrive_and_wait_for(10ms).has_value());
    std::thread other([&] { (void)b->arrive_and_wait(); });
    std::thread third([&] { (void)b->arrive_and_wait(); });
    const auto done = b->arrive_and_wait_for(30s);
    other.join();
    third.join();
    EXPECT_TRUE(done.has_value());
    EXPECT_THROW(process_barrier none(0), sync_error);
}

// ---- between processes -----------------------------------------------------------------

class SyncProcessTest : public shm_test {};

TEST_F(SyncProcessTest, RingDeliversEveryMessageOnceInOrder) {
    const std::string name = unique_name("ring");
    const shared_segment seg = shared_segment::create(name, sizeof(topos::test::message_ring));
    in_segment<topos::test::message_ring> r(seg);
    constexpr unsigned k_producers = 2;
    constexpr unsigned k_count = 20000;
    std::vector<child_process> producers;
    for (unsigned p = 0; p < k_producers; ++p) {
        producers.emplace_back(std::vector<std::string>{TOPOS_SHM_PEER, "ring-produce", name, std::to_string(p),
                                                        std::to_string(k_count)});
    }
    std::vector<unsigned> next(k_producers, 0);
    unsigned bad = 0;
    for (unsigned got = 0; got < k_producers * k_count; ++got) {
        (void)r->mutex.lock();
        while (r->tail == r->head) {
            if (!r->not_empty.wait_for(r->mutex, 30s) && r->tail == r->head) {
                r->mutex.unlock();
                FAIL() << "no message for 30 s after " << got;
            }
        }
        const topos::test::message m = r->slots[r->head % topos::test::message_ring::k_slots];
        ++r->head;
        r->mutex.unlock();
        r->not_full.notify_one();
        if (m.producer >= k_producers || m.seq != next[m.producer]) {
            ++bad;
        } else {
            ++next[m.producer];
        }
    }
    for (auto& p : producers) {
        EXPECT_EQ(p.wait(), 0);
    }
    EXPECT_EQ(bad, 0U) << "messages out of order, repeated or from nowhere";
    EXPECT_EQ(next, std::vector<unsigned>(k_producers, k_count));
    EXPECT_EQ(r->head, r->tail);
    shared_segment::remove(name);
}

TEST_F(SyncProcessTest, BarrierAcrossProcessesManyRounds) {
    const std::string name = unique_name("barrier");
    constexpr unsigned k_procs = 4;
    constexpr unsigned k_rounds = 300;
    const shared_segment seg = shared_segment::create(name, sizeof(topos::test::barrier_rounds));
    in_segment<topos::test::barrier_rounds> b(seg, k_procs);
    std::vector<child_process> peers;
    for (unsigned p = 0; p < k_procs; ++p) {
        peers.emplace_back(std::vector<std::string>{TOPOS_SHM_PEER, "barrier", name, std::to_string(k_rounds)});
    }
    for (auto& p : peers) {
        EXPECT_EQ(p.wait(), 0);
    }
    EXPECT_EQ(b->errors.load(), 0U) << "a participant left a round before all arrived";
    for (unsigned r = 0; r < k_rounds; ++r) {
        ASSERT_EQ(b->arrived[r].load(), k_procs) << "round " << r;
        ASSERT_EQ(b->serial[r].load(), 1U) << "round " << r;
    }
    shared_segment::remove(name);
}

TEST_F(SyncProcessTest, KilledOwnerIsReportedAndRecovered) {
    const std::string name = unique_name("robust");
    const shared_segment seg = shared_segment::create(name, sizeof(topos::test::lock_victim));
    in_segment<topos::test::lock_victim> v(seg);
    child_process owner({TOPOS_SHM_PEER, "lock-hold", name});
    ASSERT_TRUE(v->locked.wait_for(30s)) << "the peer never took the mutex";
    EXPECT_FALSE(v->mutex.try_lock()) << "the peer holds it";
    owner.kill(); // SIGKILL while holding the mutex

    EXPECT_EQ(v->mutex.lock(), lock_result::owner_died);
    EXPECT_NE(v->a, v->b) << "the dead owner left the data half-updated";
    v->b = v->a; // the repair the survivor is told to make
    v->mutex.unlock();
    EXPECT_EQ(v->mutex.lock(), lock_result::acquired) << "consistent again: an ordinary lock";
    EXPECT_EQ(v->a, v->b);
    v->mutex.unlock();
    shared_segment::remove(name);
}

TEST_F(SyncProcessTest, SemaphoresUnderContentionConserveCounts) {
    const std::string name = unique_name("sem");
    constexpr unsigned k_procs = 4;
    constexpr unsigned k_iterations = 3000;
    const shared_segment seg = shared_segment::create(name, sizeof(topos::test::semaphore_load));
    in_segment<topos::test::semaphore_load> s(seg, 2U);
    std::vector<child_process> peers;
    for (unsigned p = 0; p < k_procs; ++p) {
        peers.emplace_back(std::vector<std::string>{TOPOS_SHM_PEER, "sem-work", name, std::to_string(k_iterations)});
    }
    for (auto& p : peers) {
        EXPECT_EQ(p.wait(), 0);
    }
    EXPECT_EQ(s->sem.value(), 2) << "permits lost or made";
    EXPECT_EQ(s->mutex_sem.value(), 1);
    EXPECT_EQ(s->entries.load(), std::uint64_t{k_procs} * k_iterations);
    EXPECT_EQ(s->plain, std::uint64_t{k_procs} * k_iterations) << "the binary semaphore let two in at once";
    EXPECT_LE(s->most_inside.load(), 2) << "more holders than permits";
    EXPECT_GE(s->most_inside.load(), 1);
    EXPECT_EQ(s->inside.load(), 0);
    shared_segment::remove(name);
}

} // namespace
