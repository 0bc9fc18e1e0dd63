// process_semaphore and process_barrier with participants SIGKILLed: the
// survivors get the documented result (sync.hpp) and never hang. Every
// participant is a forked child, reaped with a timeout, so a hang fails the
// test instead of stalling CI.
//
//   TOPOS_SHM_BARRIER_KILLS   rounds of the random-instant barrier test (default 40)
#include "../shm/shm_test_support.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <thread>

namespace {

using namespace topos;
using namespace std::chrono_literals;
using topos::test::shm_test;

pid_t spawn(const std::function<int()>& fn) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        int rc = 98;
        try {
            rc = fn();
        } catch (...) { // NOLINT(bugprone-empty-catch): reported as 98
        }
        ::_exit(rc);
    }
    return pid;
}

/// Exit status (128 + signal when killed), or -1 after `timeout` (then killed).
int reap(pid_t pid, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 || std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(1ms);
    }
}

void wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
}

struct sem_board {
    explicit sem_board(unsigned n) : sem(n) {}
    process_semaphore sem;
    std::atomic<int> waiting{0};
    std::atomic<int> holding{0};
};

class ShmSyncKillTest : public shm_test {};

// Waiters killed while blocked in wait() take nothing: after two of three
// are killed, one post wakes the survivor, and the count then is exactly
// what was posted since.
TEST_F(ShmSyncKillTest, SemaphoreWaitersKilledWhileBlockedTakeNothing) {
    const std::string name = unique_name("sem-wait");
    const shared_segment seg = shared_segment::create(name, sizeof(sem_board));
    auto* b = ::new (seg.data()) sem_board(0);
    pid_t waiters[3];
    for (pid_t& w : waiters) {
        w = spawn([b] {
            b->waiting.fetch_add(1);
            b->sem.wait();
            return 0;
        });
    }
    wait_until([&] { return b->waiting.load() == 3; });
    std::this_thread::sleep_for(50ms); // into sem_wait
    ::kill(waiters[0], SIGKILL);
    ::kill(waiters[1], SIGKILL);
    EXPECT_EQ(reap(waiters[0]), 128 + SIGKILL);
    EXPECT_EQ(reap(waiters[1]), 128 + SIGKILL);
    b->sem.post();
    EXPECT_EQ(reap(waiters[2], 10s), 0) << "the surviving waiter must be woken by one post";
    EXPECT_EQ(b->sem.value(), 0);
    b->sem.post();
    b->sem.post();
    EXPECT_EQ(b->sem.value(), 2) << "the killed waiters took nothing";
    EXPECT_TRUE(b->sem.wait_for(100ms));
    EXPECT_TRUE(b->sem.wait_for(100ms));
    EXPECT_FALSE(b->sem.wait_for(50ms)) << "an empty semaphore times out, it does not hang";
    b->~sem_board();
    shared_segment::remove(name);
}

// A holder killed between wait() and post() takes its permit with it (a
// semaphore has no owner to recover it from): the count stays one lower,
// and a wait for the lost permit times out rather than hanging.
TEST_F(ShmSyncKillTest, SemaphoreHolderKilledTakesItsPermit) {
    const std::string name = unique_name("sem-hold");
    const shared_segment seg = shared_segment::create(name, sizeof(sem_board));
    auto* b = ::new (seg.data()) sem_board(2);
    const pid_t holder = spawn([b]() -> int {
        b->sem.wait();
        b->holding.store(1);
        for (;;) {
            ::pause();
        }
    });
    wait_until([&] { return b->holding.load() == 1; });
    ::kill(holder, SIGKILL);
    EXPECT_EQ(reap(holder), 128 + SIGKILL);
    EXPECT_EQ(b->sem.value(), 1) << "the dead holder's permit is gone";
    EXPECT_TRUE(b->sem.wait_for(100ms));
    EXPECT_FALSE(b->sem.wait_for(50ms));
    b->sem.post();
    EXPECT_EQ(b->sem.value(), 1);
    b->~sem_board();
    shared_segment::remove(name);
}

struct barrier_board {
    explicit barrier_board(unsigned n) : barrier(n) {}
    process_barrier barrier;
    std::atomic<int> started{0};
};

/// A participant's loop: `rounds` arrivals with `timeout` each. Exit codes:
/// 0 all rounds passed, 10 + r a timeout (withdrawn) in round r, 50 the
/// barrier broken (sync_error EOWNERDEAD), 97 another error.
int participant(barrier_board* b, int rounds, std::chrono::milliseconds timeout) {
    b->started.fetch_add(1);
    for (int r = 0; r < rounds; ++r) {
        try {
            if (!b->barrier.arrive_and_wait_for(timeout).has_value()) {
                return 10 + (r < 39 ? r : 39);
            }
        } catch (const sync_error& e) {
            return e.sys_errno() == EOWNERDEAD ? 50 : 97;
        }
    }
    return 0;
}

// A participant killed while waiting (not holding the barrier's lock) still
// counts as arrived, as sync.hpp documents: the round it was in completes
// when the others arrive, and in the next round the others time out and
// withdraw. Nobody hangs, and the waking broadcast is not held up by the
// dead waiter.
TEST_F(ShmSyncKillTest, BarrierWaiterKilledWhileWaitingStillCounts) {
    const std::string name = unique_name("bar-wait");
    const shared_segment seg = shared_segment::create(name, sizeof(barrier_board));
    auto* b = ::new (seg.data()) barrier_board(3);
    const pid_t dying = spawn([b] { return b->barrier.arrive_and_wait() ? 1 : 0; });
    wait_until([&] { return b->barrier.arrived() == 1; });
    std::this_thread::sleep_for(50ms); // into the wait
    ::kill(dying, SIGKILL);
    EXPECT_EQ(reap(dying), 128 + SIGKILL);
    EXPECT_EQ(b->barrier.arrived(), 1U) << "its arrival stays counted";
    // Two survivors: round 1 completes with the dead arrival; round 2 times out.
    const pid_t s1 = spawn([b] { return participant(b, 2, 300ms); });
    const pid_t s2 = spawn([b] { return participant(b, 2, 300ms); });
    EXPECT_EQ(reap(s1), 11) << "round 1 passes, round 2 times out";
    EXPECT_EQ(reap(s2), 11);
    EXPECT_FALSE(b->barrier.broken());
    EXPECT_EQ(b->barrier.arrived(), 0U) << "the timed-out arrivals were withdrawn";
    b->~barrier_board();
    shared_segment::remove(name);
}

// Three participants loop over rounds; one is SIGKILLed at a random instant.
// The two survivors must each end within their timeouts with a documented
// result: all rounds passed, a timeout (the dead one never arrives again),
// or the barrier broken (it died holding the barrier's lock). Never a hang,
// never another error.
TEST_F(ShmSyncKillTest, BarrierParticipantKilledAtRandomInstants) {
    const char* env = std::getenv("TOPOS_SHM_BARRIER_KILLS");
    const int kills = env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 40;
    std::mt19937_64 rng(0xba7);
    int passed = 0;
    int timed_out = 0;
    int broken = 0;
    for (int k = 0; k < kills; ++k) {
        const std::string name = unique_name("bar-kill");
        const shared_segment seg = shared_segment::create(name, sizeof(barrier_board));
        auto* b = ::new (seg.data()) barrier_board(3);
        pid_t p[3];
        for (pid_t& pid : p) {
            pid = spawn([b] { return participant(b, 100000, 300ms); });
        }
        wait_until([&] { return b->started.load() == 3; });
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
        const auto victim = static_cast<std::size_t>(rng() % 3);
        ::kill(p[victim], SIGKILL);
        for (std::size_t i = 0; i < 3; ++i) {
            const int rc = reap(p[i], 30s);
            if (i == victim) {
                EXPECT_TRUE(rc == 128 + SIGKILL || rc == 0) << "victim: " << rc;
                continue;
            }
            ASSERT_NE(rc, -1) << "a survivor hung (kill " << k << ")";
            EXPECT_TRUE(rc == 0 || (rc >= 10 && rc < 50) || rc == 50) << "survivor exit " << rc << " (kill " << k << ")";
            passed += rc == 0 ? 1 : 0;
            timed_out += rc >= 10 && rc < 50 ? 1 : 0;
            broken += rc == 50 ? 1 : 0;
        }
        b->~barrier_board();
        shared_segment::remove(name);
        if (HasFatalFailure()) {
            return;
        }
    }
    std::printf("[ barrier ] %d kills: survivors ended %d by timeout, %d on a broken barrier, %d after all rounds\n",
                kills, timed_out, broken, passed);
}

} // namespace
