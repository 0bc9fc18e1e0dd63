// Observers and traces: callback counts against stats(), start/stop once per
// worker, labels, skipped tasks, removal; TOPOS_TRACE's file parsed as JSON in
// the Trace Event format (one track per worker, task slices matching stats(),
// flows paired, counters exact), its escaping, its drop count, bad input.
#include "test_sched_support.hpp"

#include <topos/error.hpp>
#include <topos/observer.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
using topos::test::with_timeout;

topos::runtime_options threads(unsigned n) { return {.places = {}, .bind = {}, .threads = n, .topology = {}}; }

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

constexpr const char* k_label = "leaf";

// Counts every callback; worker slots up to 64.
struct counting_observer : topos::observer {
    std::array<std::atomic<int>, 64> starts{};
    std::array<std::atomic<int>, 64> stops{};
    std::atomic<std::uint64_t> begins{0};
    std::atomic<std::uint64_t> ends{0};
    std::atomic<std::uint64_t> labelled{0};
    std::atomic<std::uint64_t> skipped{0};
    std::atomic<std::uint64_t> steals{0};
    std::atomic<std::uint64_t> parks{0};
    std::atomic<std::uint64_t> wakes{0};
    std::atomic<int> bad_info{0};
    std::atomic<std::uint64_t> calls_after_reset{0};
    std::atomic<bool> reset_done{false};

    void touch() {
        if (reset_done.load(std::memory_order_relaxed)) {
            calls_after_reset.fetch_add(1, std::memory_order_relaxed);
        }
    }
    void on_worker_start(const topos::worker_info& w) override {
        touch();
        starts.at(w.index).fetch_add(1);
    }
    void on_worker_stop(const topos::worker_info& w) override {
        touch();
        stops.at(w.index).fetch_add(1);
    }
    void on_task_begin(const topos::task_info& t) override {
        touch();
        begins.fetch_add(1, std::memory_order_relaxed);
        if (t.label == k_label) {
            labelled.fetch_add(1, std::memory_order_relaxed);
        } else if (t.label != nullptr) {
            bad_info.fetch_add(1);
        }
        if (t.skipped) {
            skipped.fetch_add(1, std::memory_order_relaxed);
        }
    }
    void on_task_end(const topos::task_info& /*t*/) override {
        touch();
        ends.fetch_add(1, std::memory_order_relaxed);
    }
    void on_steal(const topos::steal_info& s) override {
        touch();
        steals.fetch_add(1, std::memory_order_relaxed);
        if (s.thief == static_cast<unsigned>(s.victim) || (s.remote && s.victim_node == s.thief_node)) {
            bad_info.fetch_add(1);
        }
    }
    void on_park(unsigned /*worker*/) override {
        touch();
        parks.fetch_add(1, std::memory_order_relaxed);
    }
    void on_wake(unsigned /*worker*/) override {
        touch();
        wakes.fetch_add(1, std::memory_order_relaxed);
    }
};

// A spawn tree of nested groups: 4^depth leaves, labelled.
void spawn_tree(topos::runtime& rt, int depth, std::atomic<std::uint64_t>& leaves) {
    if (depth == 0) {
        leaves.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    topos::task_group g(rt);
    for (int i = 0; i < 4; ++i) {
        if (depth == 1) {
            g.run(k_label, [&] { spawn_tree(rt, 0, leaves); });
        } else {
            g.run([&rt, depth, &leaves] { spawn_tree(rt, depth - 1, leaves); });
        }
    }
    g.wait();
}

// Runs a tree from an outside thread (whose tasks count as caller tasks).
std::uint64_t run_tree(topos::runtime& rt, int depth) {
    std::atomic<std::uint64_t> leaves{0};
    topos::task_group root(rt);
    root.run([&] { spawn_tree(rt, depth, leaves); });
    root.wait();
    return leaves.load();
}

TEST(Observer, CountsMatchStatsAndEachWorkerStartsAndStopsOnce) {
    with_timeout(120s, "Observer.CountsMatchStats", [] {
        counting_observer obs;
        unsigned n = 0;
        topos::observation watch; // declared first: it outlives the runtime
        {
            topos::runtime rt(threads(3));
            n = rt.thread_count();
            watch = rt.observe(obs);
            EXPECT_TRUE(watch.active());
            const std::uint64_t leaves = run_tree(rt, 5);
            EXPECT_EQ(leaves, 1024U);
            // Skipped tasks are tasks too.
            topos::task_group g(rt);
            g.cancel();
            for (int i = 0; i < 10; ++i) {
                g.run([] { ADD_FAILURE() << "a task of a cancelled group ran"; });
            }
            g.wait();
            const auto s = rt.stats();
            EXPECT_EQ(obs.begins.load(), s.tasks_run);
            EXPECT_EQ(obs.ends.load(), s.tasks_run);
            EXPECT_EQ(obs.labelled.load(), 1024U);
            EXPECT_EQ(obs.skipped.load(), 10U);
            EXPECT_EQ(obs.steals.load(), s.steals_local + s.steals_remote);
            EXPECT_LE(obs.parks.load(), s.parks); // a worker may have parked before observe()
            // The runtime is destroyed while observed: each worker says stop.
        }
        EXPECT_EQ(obs.bad_info.load(), 0);
        EXPECT_EQ(obs.parks.load(), obs.wakes.load());
        for (unsigned i = 0; i < 64; ++i) {
            EXPECT_EQ(obs.starts[i].load(), i < n ? 1 : 0) << "worker " << i;
            EXPECT_EQ(obs.stops[i].load(), i < n ? 1 : 0) << "worker " << i;
        }
    });
}

TEST(Observer, ResetStopsCallbacksAndReportsRunningWorkersStopped) {
    with_timeout(120s, "Observer.Reset", [] {
        topos::runtime rt(threads(2));
        counting_observer obs;
        topos::observation watch = rt.observe(obs);
        run_tree(rt, 3);
        const auto tasks_seen = obs.begins.load();
        EXPECT_GT(tasks_seen, 0U);
        watch.reset();
        obs.reset_done.store(true);
        EXPECT_FALSE(watch.active());
        for (unsigned i = 0; i < rt.thread_count(); ++i) {
            EXPECT_EQ(obs.starts[i].load(), 1) << "worker " << i;
            EXPECT_EQ(obs.stops[i].load(), 1) << "worker " << i;
        }
        run_tree(rt, 3);
        EXPECT_EQ(obs.calls_after_reset.load(), 0U);
        EXPECT_EQ(obs.begins.load(), tasks_seen);
        watch.reset(); // twice: nothing
    });
}

TEST(Observer, TwoObserversAndAnObservationThatOutlivesItsRuntime) {
    with_timeout(120s, "Observer.Two", [] {
        counting_observer a;
        counting_observer b;
        topos::observation keep;
        {
            topos::runtime rt(threads(2));
            keep = rt.observe(a);
            {
                topos::observation short_lived = rt.observe(b);
                run_tree(rt, 2);
            }
            run_tree(rt, 2);
            EXPECT_EQ(a.begins.load(), rt.stats().tasks_run);
            EXPECT_LT(b.begins.load(), a.begins.load());
        }
        EXPECT_TRUE(keep.active());
        keep.reset(); // the runtime is gone: nothing to do, no crash
        EXPECT_EQ(a.stops[0].load(), 1);
    });
}

// Removal while workers deliver events all the time: reset() must wait for
// them, so that the observer can die right after.
TEST(Observer, ResetWhileBusyWaitsForCallbacksInFlight) {
    with_timeout(120s, "Observer.ResetWhileBusy", [] {
        topos::runtime rt(threads(2));
        std::atomic<bool> stop{false};
        topos::task_group load(rt);
        load.run([&] {
            while (!stop.load()) {
                std::atomic<std::uint64_t> leaves{0};
                spawn_tree(rt, 3, leaves);
            }
        });
        for (int round = 0; round < 50; ++round) {
            auto obs = std::make_unique<counting_observer>();
            topos::observation watch = rt.observe(*obs);
            std::this_thread::sleep_for(1ms);
            watch.reset();
            obs->reset_done.store(true);
            std::this_thread::sleep_for(100us);
            EXPECT_EQ(obs->calls_after_reset.load(), 0U);
        } // obs destroyed: ASan would see a late call
        stop.store(true);
        load.wait();
    });
}

// ---- TOPOS_TRACE -----------------------------------------------------------------

std::string temp_path(const char* stem) {
    return (std::filesystem::temp_directory_path() / (std::string(stem) + "-" + std::to_string(getpid()) + ".json"))
        .string();
}

// The n-th runtime of a process that traces writes stem.n.json (n > 1), and
// the tests of this program create several: find the one file this test wrote.
std::string written_path(const std::string& path) {
    const std::filesystem::path p(path);
    const std::string stem = p.stem().string();
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(p.parent_path())) {
        const std::string name = entry.path().filename().string();
        if (name == p.filename().string() || (name.rfind(stem + ".", 0) == 0 && name.size() > 5 &&
                                              name.substr(name.size() - 5) == ".json")) {
            found.push_back(entry.path().string());
        }
    }
    EXPECT_EQ(found.size(), 1U) << "trace files for " << path;
    return found.empty() ? path : found.front();
}

nlohmann::json read_json(const std::string& requested) {
    const std::string path = written_path(requested);
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    nlohmann::json doc = nlohmann::json::parse(in); // throws (failing the test) on invalid JSON or UTF-8
    std::filesystem::remove(path);
    return doc;
}

TEST(Trace, WritesTraceEventJsonWithOneTrackPerWorkerAndTasksMatchingStats) {
    with_timeout(120s, "Trace.Writes", [] {
        const std::string path = temp_path("topos-trace");
        topos::runtime_stats s;
        unsigned n = 0;
        {
            scoped_env env("TOPOS_TRACE", path.c_str());
            topos::runtime rt(threads(3));
            n = rt.thread_count();
            run_tree(rt, 5);
            topos::task_group g(rt);
            g.cancel();
            g.run([] {});
            g.wait();
            std::this_thread::sleep_for(50ms); // let the workers park, so there is idle time to show
            run_tree(rt, 2);
            s = rt.stats();
        }
        const nlohmann::json trace = read_json(path);
        ASSERT_TRUE(trace.contains("traceEvents"));
        const auto& events = trace["traceEvents"];
        ASSERT_TRUE(events.is_array());
        std::set<std::pair<int, int>> worker_tracks;
        std::map<int, std::string> process_names;
        std::uint64_t tasks = 0;
        std::uint64_t skipped = 0;
        std::uint64_t leaf_slices = 0;
        std::map<std::uint64_t, int> flow_ends; // id -> s minus f
        std::uint64_t remote_flows = 0;
        std::map<int, std::uint64_t> last_tasks_counter;
        for (const auto& e : events) {
            ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("tid") && e.contains("name")) << e.dump();
            const std::string ph = e["ph"];
            const int pid = e["pid"];
            const int tid = e["tid"];
            if (ph == "M") {
                if (e["name"] == "thread_name" && pid != 1001) {
                    EXPECT_TRUE(worker_tracks.insert({pid, tid}).second) << "two names for one track";
                }
                if (e["name"] == "process_name") {
                    process_names[pid] = e["args"]["name"];
                }
                continue;
            }
            ASSERT_TRUE(e.contains("ts")) << e.dump();
            EXPECT_GE(e["ts"].get<double>(), 0.0);
            if (ph == "X") {
                EXPECT_GE(e["dur"].get<double>(), 0.0);
                const std::string cat = e["cat"];
                if (cat.rfind("task", 0) == 0) {
                    ++tasks;
                    EXPECT_TRUE(worker_tracks.count({pid, tid}) != 0 || pid == 1001) << "a task off every track";
                    skipped += cat == "task,skipped" ? 1U : 0U;
                    leaf_slices += e["name"] == k_label ? 1U : 0U;
                }
            } else if (ph == "s" || ph == "f") {
                flow_ends[e["id"].get<std::uint64_t>()] += ph == "s" ? 1 : -1;
                if (ph == "f" && e["cat"] == "steal,remote") {
                    ++remote_flows;
                }
            } else if (ph == "C" && e["name"] == "tasks_run") {
                last_tasks_counter[pid] = e["args"]["tasks_run"];
            }
        }
        EXPECT_EQ(worker_tracks.size(), n);
        EXPECT_EQ(tasks, s.tasks_run);
        EXPECT_EQ(skipped, 1U);
        EXPECT_EQ(leaf_slices, 1024U + 16U);
        for (const auto& [id, balance] : flow_ends) {
            EXPECT_EQ(balance, 0) << "flow " << id << " is not one s and one f";
        }
        EXPECT_EQ(flow_ends.size(), s.steals_local + s.steals_remote);
        std::uint64_t counted = 0;
        for (const auto& [pid, value] : last_tasks_counter) {
            counted += value;
        }
        EXPECT_EQ(counted, s.tasks_run);
        EXPECT_FALSE(process_names.empty());
        const auto& other = trace["otherData"];
        EXPECT_EQ(other["dropped_events"], 0);
        EXPECT_EQ(other["stats"]["tasks_run"], s.tasks_run);
        EXPECT_EQ(other["threads"], n);
    });
}

TEST(Trace, EscapesLabelsAndReplacesInvalidUtf8) {
    with_timeout(60s, "Trace.Escapes", [] {
        const std::string path = temp_path("topos-trace-escape");
        static const char* const weird = "q\"uote\\back\nline\ttab\x01 caf\xc3\xa9 bad\xff\xfe end";
        {
            scoped_env env("TOPOS_TRACE", path.c_str());
            topos::runtime rt(threads(1));
            topos::task_group g(rt);
            g.run(weird, [] {});
            g.wait();
        }
        const nlohmann::json trace = read_json(path);
        bool found = false;
        for (const auto& e : trace["traceEvents"]) {
            if (e["ph"] == "X" && e["cat"] == "task") {
                EXPECT_EQ(e["name"].get<std::string>(),
                          "q\"uote\\back\nline\ttab\x01 caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd end");
                found = true;
            }
        }
        EXPECT_TRUE(found);
    });
}

TEST(Trace, BoundedBuffersCountWhatTheyDrop) {
    with_timeout(60s, "Trace.Bounded", [] {
        const std::string path = temp_path("topos-trace-small");
        topos::runtime_stats s;
        {
            scoped_env env("TOPOS_TRACE", path.c_str());
            scoped_env limit("TOPOS_TRACE_EVENTS", "20");
            topos::runtime rt(threads(2));
            run_tree(rt, 4);
            s = rt.stats();
        }
        const nlohmann::json trace = read_json(path);
        EXPECT_EQ(trace["otherData"]["events_per_worker_limit"], 20);
        EXPECT_GT(trace["otherData"]["dropped_events"].get<std::uint64_t>(), 0U);
        std::uint64_t tasks = 0;
        for (const auto& e : trace["traceEvents"]) {
            tasks += (e["ph"] == "X" && e["cat"] == "task") ? 1U : 0U;
        }
        EXPECT_LT(tasks, s.tasks_run);
        EXPECT_LE(tasks, 6U * 10U); // a slice takes two events: at most 10 per slot, 2 workers and 4 guest slots
    });
}

TEST(Trace, EachRuntimeOfAProcessWritesItsOwnFile) {
    const std::string path = temp_path("topos-trace-many");
    {
        scoped_env env("TOPOS_TRACE", path.c_str());
        for (int i = 0; i < 2; ++i) {
            topos::runtime rt(threads(1));
            run_tree(rt, 1);
        }
    }
    const std::filesystem::path p(path);
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(p.parent_path())) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(p.stem().string(), 0) == 0) {
            std::ifstream in(entry.path());
            const auto doc = nlohmann::json::parse(in);
            EXPECT_EQ(doc["otherData"]["stats"]["tasks_run"], 5);
            std::filesystem::remove(entry.path());
            ++files;
        }
    }
    EXPECT_EQ(files, 2);
}

TEST(Trace, BadPathOrLimitIsAConfigErrorNamingIt) {
    {
        scoped_env env("TOPOS_TRACE", "/nonexistent-topos-dir/trace.json");
        try {
            topos::runtime rt(threads(1));
            ADD_FAILURE() << "expected config_error";
        } catch (const topos::config_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("TOPOS_TRACE"), std::string::npos) << what;
            EXPECT_NE(what.find("/nonexistent-topos-dir/trace.json"), std::string::npos) << what;
        }
    }
    {
        const std::string path = temp_path("topos-trace-limit");
        scoped_env env("TOPOS_TRACE", path.c_str());
        scoped_env limit("TOPOS_TRACE_EVENTS", "lots");
        try {
            topos::runtime rt(threads(1));
            ADD_FAILURE() << "expected config_error";
        } catch (const topos::config_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("TOPOS_TRACE_EVENTS"), std::string::npos) << what;
            EXPECT_NE(what.find("lots"), std::string::npos) << what;
        }
        std::filesystem::remove(path);
    }
}

} // namespace
