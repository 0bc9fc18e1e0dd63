// The runtime: workers from the plan, options and bad input, parking (no CPU
// when idle), stats, several runtimes at once, destruction with work in flight.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/runtime.hpp>
#include <topos/parallel.hpp>
#include <topos/task_group.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <sched.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::scaled;
using topos::test::with_timeout;

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Sets an environment variable for the scope, restoring the old value after.
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

TEST(Runtime, StartsOneWorkerPerPlanEntry) {
    topos::runtime rt({.places = "threads", .bind = topos::proc_bind::close, .threads = 3, .topology = {}});
    EXPECT_EQ(rt.thread_count(), 3U);
    EXPECT_EQ(rt.plan().workers.size(), 3U);
    const auto s = rt.stats();
    ASSERT_EQ(s.workers.size(), 3U);
    for (unsigned i = 0; i < 3; ++i) {
        EXPECT_EQ(s.workers[i].index, i);
        EXPECT_EQ(s.workers[i].pus, rt.plan().workers[i].pus);
        EXPECT_TRUE(s.workers[i].bound) << "worker " << i << ": " << (rt.degraded().empty() ? "" : rt.degraded()[0]);
    }
}

TEST(Runtime, UnboundWorkersAreNotPinned) {
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::disabled, .threads = 2, .topology = {}});
    for (const auto& w : rt.stats().workers) {
        EXPECT_FALSE(w.bound);
        EXPECT_EQ(w.node, -1);
    }
    EXPECT_TRUE(rt.nodes().empty());
}

TEST(Runtime, TaskSeesItsWorker) {
    topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
    EXPECT_EQ(topos::this_worker::index(), -1);
    EXPECT_EQ(topos::this_worker::node(), -1);
    EXPECT_EQ(topos::this_worker::current_runtime(), nullptr);
    std::atomic<int> index{-2};
    std::atomic<topos::runtime*> where{nullptr};
    std::atomic<bool> done{false};
    topos::task_group g(rt);
    g.run([&] {
        index = topos::this_worker::index();
        where = topos::this_worker::current_runtime();
        done = true;
    });
    while (!done.load()) { // not wait(): a waiting caller may run the task itself
        std::this_thread::yield();
    }
    g.wait();
    EXPECT_GE(index.load(), 0);
    EXPECT_LT(index.load(), 2);
    EXPECT_EQ(where.load(), &rt);

    // A waiting outside thread may run tasks as a guest: it then belongs to the
    // runtime but is none of its workers.
    std::atomic<int> guest_or_worker{-2};
    g.run([&] { guest_or_worker = topos::this_worker::index(); });
    g.wait();
    EXPECT_GE(guest_or_worker.load(), -1);
    EXPECT_LT(guest_or_worker.load(), 2);
}

TEST(Runtime, DefaultRuntimeIsCreatedOnceOnFirstUse) {
    topos::runtime& a = topos::runtime::default_runtime();
    topos::runtime& b = topos::runtime::default_runtime();
    EXPECT_EQ(&a, &b);
    EXPECT_GE(a.thread_count(), 1U);
    std::atomic<int> ran{0};
    topos::task_group g; // on the default runtime
    g.run([&] { ++ran; });
    g.wait();
    EXPECT_EQ(ran.load(), 1);
}

TEST(Runtime, BadOptionsThrowTypedErrorsAndStartNothing) {
    EXPECT_THROW(topos::runtime({.places = {}, .bind = {}, .threads = 0, .topology = {}}), topos::config_error);
    EXPECT_THROW(topos::runtime({.places = {}, .bind = {}, .threads = topos::k_max_threads + 1, .topology = {}}),
                 topos::config_error);
    EXPECT_THROW(topos::runtime({.places = "{0:2", .bind = {}, .threads = {}, .topology = {}}), topos::places_error);
    EXPECT_THROW(topos::runtime({.places = "{9999}", .bind = {}, .threads = {}, .topology = {}}), topos::places_error);
    try {
        topos::runtime rt({.places = {}, .bind = {}, .threads = 100000, .topology = {}});
        FAIL() << "expected config_error";
    } catch (const topos::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("100000"), std::string::npos) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
}

TEST(Runtime, BadEnvironmentThrowsConfigError) {
    {
        scoped_env env("TOPOS_NUM_THREADS", "many");
        EXPECT_THROW(topos::runtime{}, topos::config_error);
    }
    {
        scoped_env env("TOPOS_DISPLAY_AFFINITY", "sometimes");
        EXPECT_THROW(topos::runtime{}, topos::config_error);
    }
}

TEST(Runtime, EnvironmentSuppliesUnsetOptions) {
    scoped_env env("TOPOS_NUM_THREADS", "3");
    topos::runtime rt;
    EXPECT_EQ(rt.thread_count(), 3U);
    topos::runtime explicit_wins({.places = {}, .bind = {}, .threads = 1, .topology = {}});
    EXPECT_EQ(explicit_wins.thread_count(), 1U);
}

TEST(Runtime, DisplayAffinityPrintsEachWorker) {
    scoped_env env("TOPOS_DISPLAY_AFFINITY", "TRUE");
    testing::internal::CaptureStderr();
    {
        topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
        topos::task_group g(rt);
        g.run([] {});
        g.wait();
    }
    const std::string out = testing::internal::GetCapturedStderr();
    EXPECT_NE(out.find("worker 0 "), std::string::npos) << out;
    EXPECT_NE(out.find("worker 1 "), std::string::npos) << out;
    EXPECT_NE(out.find("OS proc set {"), std::string::npos) << out;
}

TEST(Runtime, SyntheticTopologyPlansWithoutPinning) {
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {},
                       .topology = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1")});
    EXPECT_EQ(rt.thread_count(), 4U);
    EXPECT_EQ(rt.nodes(), (std::vector<int>{0, 1}));
    for (const auto& w : rt.stats().workers) {
        EXPECT_FALSE(w.bound);
    }
    ASSERT_FALSE(rt.degraded().empty());
    EXPECT_NE(rt.degraded()[0].find("does not describe this machine"), std::string::npos);
}

std::size_t allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return 1;
    }
    return static_cast<std::size_t>(CPU_COUNT(&set));
}

// The wait policy: options, then TOPOS_WAIT_POLICY, then OMP_WAIT_POLICY;
// what each means for the time an idle worker polls.
TEST(Runtime, WaitPolicyComesFromOptionsThenTheEnvironment) {
    using topos::wait_policy;
    const auto one = [](std::optional<wait_policy> w) {
        return topos::runtime_options{.places = {}, .bind = {}, .threads = 1, .topology = {}, .wait = w};
    };
    {
        scoped_env omp("OMP_WAIT_POLICY", "active"); // options win over it
        topos::runtime passive(one(wait_policy::passive));
        EXPECT_EQ(passive.idle_policy(), wait_policy::passive);
        EXPECT_EQ(passive.idle_poll(), std::chrono::nanoseconds(0));
    }
    {
        scoped_env omp("OMP_WAIT_POLICY", "passive");
        topos::runtime active(one(wait_policy::active));
        EXPECT_EQ(active.idle_policy(), wait_policy::active);
        EXPECT_EQ(active.idle_poll(), std::chrono::nanoseconds(topos::k_wait_poll_active));
        topos::runtime automatic(one(wait_policy::automatic)); // one worker: it has a CPU of its own
        EXPECT_EQ(automatic.idle_poll(), std::chrono::nanoseconds(topos::k_wait_poll_auto));
        topos::runtime from_env(one(std::nullopt));
        EXPECT_EQ(from_env.idle_policy(), wait_policy::passive);
        scoped_env topos_var("TOPOS_WAIT_POLICY", " Active ");
        topos::runtime from_topos(one(std::nullopt));
        EXPECT_EQ(from_topos.idle_policy(), wait_policy::active);
    }
    {
        // More workers than CPUs: the automatic policy does not poll.
        const auto over = static_cast<unsigned>(allowed_cpus() + 1);
        topos::runtime crowded({.places = {}, .bind = topos::proc_bind::disabled, .threads = over, .topology = {},
                                .wait = wait_policy::automatic});
        EXPECT_EQ(crowded.idle_poll(), std::chrono::nanoseconds(0));
    }
    scoped_env bad("OMP_WAIT_POLICY", "sometimes");
    try {
        topos::runtime rt(one(std::nullopt));
        ADD_FAILURE() << "no config_error";
    } catch (const topos::config_error& e) {
        EXPECT_STREQ(e.what(), "OMP_WAIT_POLICY: wait policy 'sometimes' is not valid; expected active, passive or auto");
    }
}

// Active polls longer but is no spin-forever: the workers still park.
TEST(Runtime, AnActiveRuntimeParksAfterItsPollingTime) {
    with_timeout(60s, "Runtime.AnActiveRuntimeParksAfterItsPollingTime", [] {
        topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}, .wait = topos::wait_policy::active});
        std::atomic<int> ran{0};
        topos::task_group g(rt);
        for (int i = 0; i < 64; ++i) {
            g.run([&] { ++ran; });
        }
        g.wait();
        EXPECT_EQ(ran.load(), 64);
        const auto give_up = std::chrono::steady_clock::now() + 20s;
        while (rt.stats().parks == 0 && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(50ms);
        }
        EXPECT_GE(rt.stats().parks, 1U) << "no worker parked after 20 s of idling (polling time "
                                       << topos::k_wait_poll_active.count() << " ms)";
    });
}

// Parking: once work ends, the workers sleep and the process's CPU time stops
// growing. Not a timing test: 2 spinning workers would burn ~2x the window.
TEST(Runtime, IdleRuntimeUsesNoCpu) {
    with_timeout(60s, "Runtime.IdleRuntimeUsesNoCpu", [] {
        topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
        std::atomic<long> sum{0};
        {
            topos::task_group g(rt);
            for (int i = 0; i < 1000; ++i) {
                g.run([&sum, i] { sum += i; });
            }
            g.wait();
        }
        EXPECT_EQ(sum.load(), 999L * 1000 / 2);
        std::this_thread::sleep_for(100ms); // let the spinning phase end
        const double before = process_cpu_seconds();
        std::this_thread::sleep_for(300ms);
        const double used = process_cpu_seconds() - before;
        EXPECT_LT(used, 0.05) << "idle runtime used " << used << " s of CPU in 0.3 s";
        EXPECT_GE(rt.stats().parks, 1U);

        // Parked workers wake promptly for new work.
        std::atomic<int> ran{0};
        topos::task_group g(rt);
        for (int i = 0; i < 8; ++i) {
            g.run([&] { ++ran; });
        }
        g.wait();
        EXPECT_EQ(ran.load(), 8);
    });
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Waiting for a long task burns no CPU: neither the outside thread in wait()
// nor a worker waiting inside a task nor the idle workers.
TEST(Runtime, WaitersSleepInsteadOfSpinning) {
    with_timeout(60s, "Runtime.WaitersSleepInsteadOfSpinning", [] {
        topos::runtime rt({.places = {}, .bind = {}, .threads = 3, .topology = {}});
        topos::task_group g(rt);
        g.run([&] {
            topos::task_group inner(rt);
            inner.run([] { std::this_thread::sleep_for(300ms); });
            inner.wait(); // a worker waiting inside a task
        });
        std::this_thread::sleep_for(20ms);
        const double process_before = process_cpu_seconds();
        const double thread_before = thread_cpu_seconds();
        g.wait();
        const double thread_used = thread_cpu_seconds() - thread_before;
        const double process_used = process_cpu_seconds() - process_before;
        EXPECT_LT(thread_used, 0.05) << "the outside waiter used " << thread_used << " s of CPU";
        EXPECT_LT(process_used, 0.1) << "the process used " << process_used << " s of CPU while everyone waited";
    });
}

TEST(Runtime, StatsCountTasksAndSteals) {
    topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
    const auto n = static_cast<int>(scaled(20'000));
    topos::task_group outer(rt);
    std::atomic<int> ran{0};
    outer.run([&] {
        topos::task_group g(rt);
        for (int i = 0; i < n; ++i) {
            g.run([&] {
                ++ran;
                topos::test::burn(50);
            });
        }
        g.wait();
    });
    outer.wait();
    EXPECT_EQ(ran.load(), n);
    const auto s = rt.stats();
    EXPECT_EQ(s.tasks_run, static_cast<std::uint64_t>(n) + 1);
    std::uint64_t per_worker = 0;
    for (const auto& w : s.workers) {
        per_worker += w.tasks_run;
    }
    EXPECT_EQ(per_worker + s.caller_tasks_run, s.tasks_run);
    EXPECT_EQ(s.steals_remote, 0U) << "one node: no remote steals";
}

TEST(Runtime, SeveralRuntimesAtOnce) {
    with_timeout(60s, "Runtime.SeveralRuntimesAtOnce", [] {
        constexpr int k_runtimes = 3;
        std::vector<std::unique_ptr<topos::runtime>> rts;
        rts.reserve(k_runtimes);
        for (int r = 0; r < k_runtimes; ++r) {
            rts.push_back(std::make_unique<topos::runtime>(
                topos::runtime_options{.places = {}, .bind = {}, .threads = 2, .topology = {}}));
        }
        std::vector<std::thread> users;
        users.reserve(k_runtimes);
        std::vector<std::atomic<int>> counts(k_runtimes);
        for (int r = 0; r < k_runtimes; ++r) {
            users.emplace_back([&, r] {
                topos::task_group g(*rts[static_cast<std::size_t>(r)]);
                for (int i = 0; i < 2000; ++i) {
                    g.run([&, r] {
                        EXPECT_EQ(topos::this_worker::current_runtime(), rts[static_cast<std::size_t>(r)].get());
                        ++counts[static_cast<std::size_t>(r)];
                    });
                }
                g.wait();
            });
        }
        for (auto& u : users) {
            u.join();
        }
        for (int r = 0; r < k_runtimes; ++r) {
            EXPECT_EQ(counts[static_cast<std::size_t>(r)].load(), 2000);
        }
        // A task of one runtime waiting for a group of another.
        std::atomic<int> inner{0};
        topos::task_group a(*rts[0]);
        a.run([&] {
            topos::task_group b(*rts[1]);
            for (int i = 0; i < 100; ++i) {
                b.run([&] { ++inner; });
            }
            b.wait();
        });
        a.wait();
        EXPECT_EQ(inner.load(), 100);
    });
}

// An outside thread that waits helps only when the runtime spans every
// allowed CPU; a runtime constrained to part of the machine keeps all work on
// its own workers.
TEST(Runtime, ConstrainedRuntimeRunsNoWorkOnOutsideThreads) {
    const auto topo = topos::topology::host();
    if (topo.pus().size() < 2) {
        GTEST_SKIP() << "needs two allowed CPUs";
    }
    const std::string first_pu = "{" + std::to_string(topo.pus()[0].os_index) + "}";
    topos::runtime rt({.places = first_pu, .bind = topos::proc_bind::close, .threads = 2, .topology = {}});
    std::atomic<int> outside{0};
    for (int round = 0; round < 20; ++round) {
        topos::task_group g(rt);
        for (int i = 0; i < 50; ++i) {
            g.run([&] { outside += topos::this_worker::index() < 0 ? 1 : 0; });
        }
        g.wait();
        topos::parallel_for(rt, 0, 1000, [&](int) { outside += topos::this_worker::index() < 0 ? 1 : 0; });
    }
    EXPECT_EQ(outside.load(), 0);
    EXPECT_EQ(rt.stats().caller_tasks_run, 0U);
}

// Documented: ~runtime() lets all queued and running work finish first.
TEST(Runtime, DestructorFinishesWorkInFlight) {
    with_timeout(60s, "Runtime.DestructorFinishesWorkInFlight", [] {
        std::atomic<int> done{0};
        std::optional<topos::runtime> rt(std::in_place,
                                         topos::runtime_options{.places = {}, .bind = {}, .threads = 2, .topology = {}});
        std::optional<topos::task_group> g(std::in_place, *rt);
        for (int i = 0; i < 500; ++i) {
            g->run([&] {
                std::this_thread::sleep_for(10us);
                ++done;
            });
        }
        g->run_on_node(0, [&] { ++done; });
        rt.reset();
        EXPECT_EQ(done.load(), 501);
        g->wait(); // nothing pending: returns at once without the runtime
        g.reset();
    });
}

TEST(Runtime, CreateAndDestroyRepeatedly) {
    with_timeout(60s, "Runtime.CreateAndDestroyRepeatedly", [] {
        for (int i = 0; i < 20; ++i) {
            topos::runtime rt({.places = {}, .bind = {}, .threads = 2, .topology = {}});
            if (i % 2 == 0) {
                topos::task_group g(rt);
                g.run([] {});
                g.wait();
            }
        }
    });
}

} // namespace
