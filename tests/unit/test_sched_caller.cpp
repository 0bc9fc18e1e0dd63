// The calling thread is worker 0 (caller_role::worker, the default): a
// runtime of N workers starts N-1 threads, a loop from main runs on exactly N
// threads with main as worker 0, pinned to slot 0's place from its first call
// until the runtime ends (or another thread takes slot 0); guests (caller_role::guest, or slot 0 taken) still work;
// nested and concurrent outside callers, one worker (no thread at all),
// exceptions, TOPOS_CALLER.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::with_timeout;

topos::runtime_options options(unsigned n, topos::caller_role role = topos::caller_role::worker) {
    topos::runtime_options o{.places = {}, .bind = {}, .threads = n, .topology = {}};
    o.caller = role;
    return o;
}

// Threads of this process now (the kernel's list).
std::size_t process_threads() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        ++n;
    }
    return n;
}

std::vector<int> thread_affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_EQ(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
    std::vector<int> out;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(static_cast<std::size_t>(cpu), &set)) {
            out.push_back(cpu);
        }
    }
    return out;
}

bool set_thread_affinity(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) {
        CPU_SET(static_cast<std::size_t>(cpu), &set);
    }
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

class scoped_env {
public:
    scoped_env(const char* name, const char* value) : m_name(name) {
        if (const char* old = std::getenv(name)) {
            m_old = old;
        }
        setenv(name, value, 1);
    }
    ~scoped_env() {
        if (m_old) {
            setenv(m_name, m_old->c_str(), 1);
        } else {
            unsetenv(m_name);
        }
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

// The threads that ran a loop's iterations, and which worker each was.
struct who_ran {
    std::mutex lock;
    std::set<std::thread::id> threads;
    std::set<int> workers;
    void note() {
        const std::lock_guard guard(lock);
        threads.insert(std::this_thread::get_id());
        workers.insert(topos::this_worker::index());
    }
    std::size_t distinct() {
        const std::lock_guard guard(lock);
        return threads.size();
    }
};

TEST(Caller, RuntimeStartsOneThreadFewerThanItsWorkers) {
    // A first thread makes the sanitizers start their own background thread,
    // which would otherwise be counted as the runtime's.
    std::thread([] {}).join();
    for (unsigned n : {1U, 2U, 3U}) {
        const std::size_t before = process_threads();
        {
            topos::runtime rt(options(n));
            EXPECT_EQ(rt.thread_count(), n);
            EXPECT_EQ(rt.caller(), topos::caller_role::worker);
            EXPECT_EQ(process_threads() - before, n - 1) << n << " workers";
            EXPECT_EQ(rt.stats().workers.size(), n);
        }
        {
            topos::runtime rt(options(n, topos::caller_role::guest));
            EXPECT_EQ(rt.caller(), topos::caller_role::guest);
            EXPECT_EQ(process_threads() - before, n) << n << " workers, caller a guest";
        }
    }
}

// Every iteration waits until N distinct threads have been seen (or a
// deadline passes), so all N must take part; none beyond them may.
TEST(Caller, LoopFromMainUsesExactlyNThreadsIncludingTheCaller) {
    with_timeout(120s, "Caller.LoopFromMainUsesExactlyNThreadsIncludingTheCaller", [] {
        for (unsigned n : {2U, 3U}) {
            topos::runtime rt(options(n));
            who_ran seen;
            std::atomic<bool> main_was_worker0{false};
            const auto main_id = std::this_thread::get_id();
            topos::parallel_for(
                rt, 0, static_cast<int>(8 * n),
                [&](int) {
                    seen.note();
                    if (std::this_thread::get_id() == main_id && topos::this_worker::index() == 0 &&
                        topos::this_worker::current_runtime() == &rt) {
                        main_was_worker0 = true;
                    }
                    const auto deadline = std::chrono::steady_clock::now() + 10s;
                    while (seen.distinct() < n && std::chrono::steady_clock::now() < deadline) {
                        std::this_thread::yield();
                    }
                },
                1);
            EXPECT_EQ(seen.threads.size(), n) << n << " workers";
            EXPECT_TRUE(seen.threads.contains(main_id));
            EXPECT_TRUE(main_was_worker0.load());
            EXPECT_EQ(seen.workers, [n] {
                std::set<int> all;
                for (int i = 0; i < static_cast<int>(n); ++i) {
                    all.insert(i);
                }
                return all;
            }()) << "every iteration runs on a worker, 0 .. N-1";
            EXPECT_EQ(rt.stats().caller_tasks_run, 0U) << "no guest ran anything";
        }
        EXPECT_EQ(topos::this_worker::index(), -1) << "main is no worker once the loop returned";
        EXPECT_EQ(topos::this_worker::current_runtime(), nullptr);
    });
}

// The mask main sees from inside a loop of `rt` (on main itself).
std::vector<int> mask_inside_loop(topos::runtime& rt) {
    std::vector<int> inside;
    const auto main_id = std::this_thread::get_id();
    topos::parallel_for(rt, 0, 64, [&](int) {
        if (std::this_thread::get_id() == main_id && inside.empty()) {
            inside = thread_affinity();
        }
    });
    return inside;
}

topos::runtime_options bound_threads(unsigned n) {
    return {.places = "threads", .bind = topos::proc_bind::close, .threads = n, .topology = {}};
}

// Tests of slot 0's sticky pin: they need two allowed CPUs to tell slot 0's
// place from the rest, and note main's mask as it was before.
class CallerPin : public ::testing::Test {
protected:
    void SetUp() override {
        if (topos::topology::host().pus().size() < 2) {
            GTEST_SKIP() << "needs two allowed CPUs to tell slot 0's place from the rest";
        }
        before = thread_affinity();
    }
    std::vector<int> before;
};

TEST_F(CallerPin, CallerStaysOnSlotZerosPlaceBetweenCallsAndGetsItsMaskBackAtTheEnd) {
    {
        topos::runtime rt(bound_threads(2));
        const std::vector<int> slot0 = rt.plan().workers[0].pus;
        ASSERT_NE(before, slot0) << "main starts unpinned";
        EXPECT_EQ(mask_inside_loop(rt), slot0);
        EXPECT_EQ(thread_affinity(), slot0) << "main stays on slot 0's place after the loop, as in OpenMP";

        const auto main_id = std::this_thread::get_id();
        std::vector<int> inside_wait;
        topos::task_group g(rt);
        std::atomic<bool> release{false};
        g.run([&] { // keeps the group pending until main has looked at itself
            while (!release.load()) {
                std::this_thread::yield();
            }
        });
        g.run([&] {
            if (std::this_thread::get_id() == main_id) {
                inside_wait = thread_affinity();
            }
            release = true;
        });
        g.wait();
        EXPECT_EQ(thread_affinity(), slot0) << "and after a wait";
        if (!inside_wait.empty()) { // main ran the second task itself
            EXPECT_EQ(inside_wait, slot0);
        }

        // Another thread takes slot 0: main gets its own mask back, the
        // other thread is pinned in its turn.
        std::vector<int> other_inside;
        std::thread other([&] {
            std::vector<int> seen;
            const auto me = std::this_thread::get_id();
            topos::parallel_for(rt, 0, 64, [&](int) {
                if (std::this_thread::get_id() == me && seen.empty()) {
                    seen = thread_affinity();
                }
            });
            other_inside = seen;
        });
        other.join();
        EXPECT_EQ(other_inside, slot0);
        EXPECT_EQ(thread_affinity(), before) << "main's mask is back once another thread holds the pin";

        EXPECT_EQ(mask_inside_loop(rt), slot0);
        EXPECT_EQ(thread_affinity(), slot0);
        for (const auto& line : rt.degraded()) {
            EXPECT_EQ(line.find("calling thread"), std::string::npos) << line;
        }
    }
    EXPECT_EQ(thread_affinity(), before) << "the runtime's end puts main's own mask back";

    // A caller pinned elsewhere by the program gets that pinning back.
    std::vector<int> elsewhere;
    {
        topos::runtime rt(bound_threads(2));
        elsewhere = rt.plan().workers[1].pus;
        ASSERT_TRUE(set_thread_affinity(elsewhere));
        EXPECT_EQ(mask_inside_loop(rt), rt.plan().workers[0].pus);
    }
    EXPECT_EQ(thread_affinity(), elsewhere);
    EXPECT_TRUE(set_thread_affinity(before));
}

TEST_F(CallerPin, ASecondBindingRuntimePinsPerCallAndItsUnboundWorkersGetTheCallersOwnMask) {
    {
        topos::runtime rt(bound_threads(2));
        const std::vector<int> slot0 = rt.plan().workers[0].pus;
        EXPECT_EQ(mask_inside_loop(rt), slot0);
        ASSERT_EQ(thread_affinity(), slot0);

        // Slot 0 of another binding runtime on the other PU: pinned there
        // for the call, and back on rt's place after it.
        topos::runtime_options reversed = bound_threads(2);
        reversed.places = "{" + std::to_string(rt.plan().workers[1].pus.front()) + "},{" +
                          std::to_string(slot0.front()) + "}";
        topos::runtime second(reversed);
        const std::vector<int> second_slot0 = second.plan().workers[0].pus;
        ASSERT_NE(second_slot0, slot0);
        EXPECT_EQ(mask_inside_loop(second), second_slot0);
        EXPECT_EQ(thread_affinity(), slot0) << "per call in the second runtime: rt's pin is back";

        // An unbound runtime started by main: its threads run on main's own
        // mask, not on the place main carries for rt.
        topos::runtime unbound({.places = {}, .bind = topos::proc_bind::disabled, .threads = 3, .topology = {}});
        std::mutex lock;
        std::vector<std::vector<int>> worker_masks;
        const auto main_id = std::this_thread::get_id();
        topos::task_group g(unbound);
        std::atomic<int> arrived{0};
        for (int i = 0; i < 2; ++i) {
            g.run([&] {
                ++arrived;
                while (arrived.load() < 2) { // two tasks at once: two threads
                    std::this_thread::yield();
                }
                if (std::this_thread::get_id() != main_id) {
                    const std::lock_guard guard(lock);
                    worker_masks.push_back(thread_affinity());
                }
            });
        }
        g.wait();
        ASSERT_FALSE(worker_masks.empty());
        for (const auto& m : worker_masks) {
            EXPECT_EQ(m, before);
        }
    }
    EXPECT_EQ(thread_affinity(), before);
}

TEST(Caller, UnboundRuntimeLeavesTheCallersMaskAlone) {
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::disabled, .threads = 2, .topology = {}});
    const auto before = thread_affinity();
    const auto main_id = std::this_thread::get_id();
    std::vector<int> inside;
    topos::parallel_for(rt, 0, 64, [&](int) {
        if (std::this_thread::get_id() == main_id) {
            inside = thread_affinity();
        }
    });
    if (!inside.empty()) {
        EXPECT_EQ(inside, before);
    }
    EXPECT_EQ(thread_affinity(), before);
}

TEST(Caller, GuestRoleStillHelpsAsAGuest) {
    with_timeout(60s, "Caller.GuestRoleStillHelpsAsAGuest", [] {
        topos::runtime rt(options(2, topos::caller_role::guest));
        std::atomic<long> sum{0};
        topos::parallel_for(rt, 0, 10000, [&](int i) { sum += i; });
        EXPECT_EQ(sum.load(), 10000L * 9999 / 2);
        std::atomic<int> main_index{-2};
        const auto main_id = std::this_thread::get_id();
        topos::parallel_for(
            rt, 0, 1000,
            [&](int) {
                if (std::this_thread::get_id() == main_id) {
                    main_index = topos::this_worker::index();
                }
            },
            1);
        // Main never is a worker here: a guest (-1) when it ran anything.
        EXPECT_TRUE(main_index.load() == -2 || main_index.load() == -1) << main_index.load();
    });
}

// A second outside thread while the first holds slot 0: it joins as a guest
// or sleeps; both loops finish with every index visited once.
TEST(Caller, ConcurrentOutsideCallersShareTheRuntime) {
    with_timeout(120s, "Caller.ConcurrentOutsideCallersShareTheRuntime", [] {
        for (unsigned n : {1U, 2U}) {
            topos::runtime rt(options(n));
            constexpr int k_callers = 4;
            constexpr int k_rounds = topos::test::k_sanitized ? 10 : 50;
            std::vector<std::atomic<int>> hits(k_callers * 1000);
            std::atomic<int> slot0_by_caller{0};
            std::vector<std::thread> callers;
            for (int c = 0; c < k_callers; ++c) {
                callers.emplace_back([&, c] {
                    for (int r = 0; r < k_rounds; ++r) {
                        topos::parallel_for(rt, c * 1000, (c + 1) * 1000, [&](int i) { ++hits[static_cast<std::size_t>(i)]; });
                        topos::task_group g(rt);
                        for (int t = 0; t < 8; ++t) {
                            g.run([&] {
                                if (topos::this_worker::index() == 0) {
                                    ++slot0_by_caller;
                                }
                            });
                        }
                        g.wait();
                    }
                });
            }
            for (auto& t : callers) {
                t.join();
            }
            for (const auto& h : hits) {
                ASSERT_EQ(h.load(), k_rounds);
            }
        }
    });
}

TEST(Caller, NestedCallsFromTheCallerAndIntoAnotherRuntime) {
    with_timeout(60s, "Caller.NestedCallsFromTheCallerAndIntoAnotherRuntime", [] {
        topos::runtime a(options(2));
        topos::runtime b(options(2));
        std::atomic<long> sum{0};
        std::atomic<int> back_in_a{0};
        topos::parallel_for(a, 0, 16, [&](int i) {
            // Nested on the same runtime: the caller is a worker of `a` now.
            topos::parallel_for(a, 0, 100, [&](int j) { sum += i * 100 + j; });
            // Into another runtime: a's worker 0 (or thread) may take b's slot 0,
            // and is a's again afterwards.
            topos::runtime* mine = topos::this_worker::current_runtime();
            const int my_index = topos::this_worker::index();
            topos::parallel_for(b, 0, 10, [&](int) { EXPECT_EQ(topos::this_worker::current_runtime(), &b); });
            if (topos::this_worker::current_runtime() == mine && topos::this_worker::index() == my_index) {
                ++back_in_a;
            }
        });
        EXPECT_EQ(sum.load(), 1600L * 1599 / 2);
        EXPECT_EQ(back_in_a.load(), 16);
        const long r = topos::parallel_reduce(a, 0, 1000, 0L, [](int i) { return static_cast<long>(i); }, std::plus<>{});
        EXPECT_EQ(r, 1000L * 999 / 2);
        std::atomic<int> invoked{0};
        topos::parallel_invoke(a, [&] { ++invoked; }, [&] { ++invoked; }, [&] { ++invoked; });
        EXPECT_EQ(invoked.load(), 3);
    });
}

TEST(Caller, ExceptionsReachTheCallerAndLeaveSlotZeroFree) {
    with_timeout(60s, "Caller.ExceptionsReachTheCallerAndLeaveSlotZeroFree", [] {
        topos::runtime rt(options(2));
        topos::parallel_for(rt, 0, 8, [](int) {});
        const auto before = thread_affinity(); // after a loop: pinned or not, as it stays
        EXPECT_THROW(topos::parallel_for(rt, 0, 1000,
                                         [](int i) {
                                             if (i == 500) {
                                                 throw std::runtime_error("body");
                                             }
                                         }),
                     std::runtime_error);
        EXPECT_EQ(thread_affinity(), before);
        EXPECT_EQ(topos::this_worker::index(), -1);
        topos::task_group g(rt);
        g.run([] { throw std::logic_error("task"); });
        EXPECT_THROW(g.wait(), std::logic_error);
        // Slot 0 is free: another thread gets it, and runs the loop's first
        // piece there itself.
        std::atomic<bool> other_was_worker0{false};
        std::thread other([&] {
            const auto me = std::this_thread::get_id();
            topos::parallel_for(
                rt, 0, 64,
                [&](int) {
                    if (std::this_thread::get_id() == me && topos::this_worker::index() == 0) {
                        other_was_worker0 = true;
                    }
                },
                1);
        });
        other.join();
        EXPECT_TRUE(other_was_worker0.load());
    });
}

// One worker: no thread at all. What the caller's tasks leave on slot 0's
// deque runs before the call returns; tasks queued from outside run when
// someone waits, or when the runtime is destroyed.
TEST(Caller, OneWorkerRunsEverythingOnTheCaller) {
    with_timeout(60s, "Caller.OneWorkerRunsEverythingOnTheCaller", [] {
        std::atomic<int> ran{0};
        std::optional<topos::runtime> rt;
        rt.emplace(options(1));
        topos::task_group later(*rt);
        const auto main_id = std::this_thread::get_id();
        std::atomic<bool> all_on_main{true};
        topos::parallel_for(*rt, 0, 100, [&](int) {
            later.run([&] {
                all_on_main = all_on_main && std::this_thread::get_id() == main_id;
                ++ran;
            });
        });
        EXPECT_EQ(ran.load(), 100) << "left on slot 0's deque, run before the loop returned";
        later.wait();
        EXPECT_TRUE(all_on_main.load());

        for (int i = 0; i < 10; ++i) {
            later.run([&] { ++ran; }); // from outside: queued, nobody runs it yet
        }
        rt.reset(); // ~runtime() runs what is queued
        EXPECT_EQ(ran.load(), 110);
        later.wait(); // nothing pending: returns at once
    });
}

TEST(Caller, EnvironmentChoosesTheRoleAndRejectsGarbage) {
    {
        scoped_env env("TOPOS_CALLER", "Guest");
        topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
        EXPECT_EQ(rt.caller(), topos::caller_role::guest);
        topos::runtime in_code(options(2, topos::caller_role::worker));
        EXPECT_EQ(in_code.caller(), topos::caller_role::worker) << "the option in code wins";
    }
    {
        scoped_env env("TOPOS_CALLER", "boss\n");
        try {
            topos::runtime rt;
            FAIL() << "expected config_error";
        } catch (const topos::config_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("TOPOS_CALLER"), std::string::npos) << what;
            EXPECT_NE(what.find("boss"), std::string::npos) << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        }
    }
    EXPECT_EQ(topos::parse_caller_role(" WORKER "), topos::caller_role::worker);
    EXPECT_THROW((void)topos::parse_caller_role(""), topos::config_error);
}

} // namespace
