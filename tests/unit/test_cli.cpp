// The `topos` command-line contract: exit statuses, one-line errors on stderr
// with nothing on stdout, the JSON shape scripts rely on, and the text a
// person reads. Every test runs the real binary in a child process.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;

constexpr auto k_timeout = std::chrono::seconds(60);
const std::string k_two_by_two = "synthetic:pack:2 numa:2 core:4 pu:2";

struct cli_result {
    int status = -1; ///< exit status, or 128 + signal when killed
    std::string out;
    std::string err;
    bool timed_out = false;
};

struct run_options {
    std::map<std::string, std::string> env; ///< added to the environment, which has no TOPOS_* variable
    bool close_stdout = false;
};

run_options with_env(std::map<std::string, std::string> env) {
    run_options opts;
    opts.env = std::move(env);
    return opts;
}

// Environment of the child: ours without TOPOS_*, so a developer's settings
// cannot change the results, plus `extra`.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        if (std::string_view(*e).starts_with("TOPOS_")) {
            continue;
        }
        env.emplace_back(*e);
    }
    for (const auto& [name, value] : extra) {
        env.push_back(name + "=" + value);
    }
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

// Runs the topos binary with `args`, capturing stdout and stderr separately.
// A child still running after k_timeout is killed and reported as timed out,
// so a hang fails the test instead of stalling the suite.
cli_result run_cli(const std::vector<std::string>& args, const run_options& opts = {}) {
    cli_result result;
    std::array<int, 2> out_pipe{};
    std::array<int, 2> err_pipe{};
    if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0 || ::pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
        ADD_FAILURE() << "pipe2: " << std::strerror(errno);
        return result;
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (opts.close_stdout) {
        posix_spawn_file_actions_addclose(&actions, STDOUT_FILENO);
    } else {
        posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    }
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

    std::vector<std::string> argv_strings{TOPOS_CLI};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings = child_environment(opts.env);
    auto argv = c_strings(argv_strings);
    auto envp = c_strings(env_strings);

    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, TOPOS_CLI, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (spawned != 0) {
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        ADD_FAILURE() << "cannot start " << TOPOS_CLI << ": " << std::strerror(spawned);
        return result;
    }

    const auto deadline = std::chrono::steady_clock::now() + k_timeout;
    std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open_streams = 2;
    while (open_streams > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
            ADD_FAILURE() << "poll: " << std::strerror(errno);
            ::kill(pid, SIGKILL);
            break;
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            std::array<char, 4096> buf{};
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n > 0) {
                sinks[i]->append(buf.data(), static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_streams;
            }
        }
    }
    for (const auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }

    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return result;
}

std::string describe(const std::vector<std::string>& args, const cli_result& r) {
    std::string cmd = "topos";
    for (const auto& a : args) {
        cmd += " '" + a + "'";
    }
    return cmd + "\n  status " + std::to_string(r.status) + "\n  stdout: " + r.out.substr(0, 2000) +
           "\n  stderr: " + r.err;
}

// Runs a command that must succeed and print JSON; returns the document.
json run_json(const std::vector<std::string>& args, const run_options& opts = {}) {
    const cli_result r = run_cli(args, opts);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(r.err, "") << describe(args, r);
    try {
        return json::parse(r.out);
    } catch (const json::exception& e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "): " << describe(args, r);
        return json::object();
    }
}

std::vector<int> ints(const json& array) { return array.get<std::vector<int>>(); }

std::vector<int> range(int first, int count) {
    std::vector<int> v(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        v[static_cast<std::size_t>(i)] = first + i;
    }
    return v;
}

// Checks that `object` has `key` and that the value has the expected JSON type.
void expect_key(const json& object, const std::string& key, json::value_t type) {
    ASSERT_TRUE(object.contains(key)) << "missing key '" << key << "' in " << object.dump();
    EXPECT_EQ(object.at(key).type(), type) << "key '" << key << "' in " << object.dump();
}

void expect_int_array(const json& object, const std::string& key) {
    expect_key(object, key, json::value_t::array);
    for (const auto& v : object.at(key)) {
        EXPECT_TRUE(v.is_number_integer()) << "key '" << key << "' in " << object.dump();
    }
}

// An integer, or null where the value may be unknown.
void expect_int_or_null(const json& object, const std::string& key) {
    ASSERT_TRUE(object.contains(key)) << "missing key '" << key << "' in " << object.dump();
    EXPECT_TRUE(object.at(key).is_number_integer() || object.at(key).is_null())
        << "key '" << key << "' in " << object.dump();
}

// Every key `topos info --json` promises, with its type.
void expect_topology_contract(const json& doc) {
    ASSERT_TRUE(doc.is_object());
    expect_key(doc, "topos_version", json::value_t::string);
    expect_key(doc, "source", json::value_t::string);
    expect_key(doc, "architecture", json::value_t::string);
    expect_key(doc, "distances_derived", json::value_t::boolean);
    expect_int_array(doc, "pus");
    for (const char* key : {"packages", "cores", "numa_nodes", "distances", "caches", "cpu_kinds"}) {
        expect_key(doc, key, json::value_t::array);
    }
    if (testing::Test::HasFatalFailure()) {
        return;
    }
    for (const auto& p : doc["packages"]) {
        expect_key(p, "id", json::value_t::number_unsigned);
        expect_int_or_null(p, "os_index");
        expect_int_array(p, "numa_nodes");
        expect_int_array(p, "pus");
    }
    for (const auto& c : doc["cores"]) {
        expect_key(c, "id", json::value_t::number_unsigned);
        expect_int_or_null(c, "os_index");
        expect_int_or_null(c, "package");
        expect_int_or_null(c, "node");
        expect_int_array(c, "pus");
    }
    for (const auto& n : doc["numa_nodes"]) {
        expect_key(n, "id", json::value_t::number_unsigned);
        expect_key(n, "os_index", json::value_t::number_unsigned);
        expect_key(n, "memory_bytes", json::value_t::number_unsigned);
        expect_int_or_null(n, "free_bytes");
        expect_int_or_null(n, "package");
        expect_int_array(n, "pus");
    }
    for (const auto& row : doc["distances"]) {
        EXPECT_TRUE(row.is_array());
        EXPECT_EQ(row.size(), doc["numa_nodes"].size());
        for (const auto& d : row) {
            EXPECT_TRUE(d.is_number_integer());
        }
    }
    for (const auto& c : doc["caches"]) {
        expect_key(c, "id", json::value_t::number_unsigned);
        expect_key(c, "level", json::value_t::number_unsigned);
        expect_key(c, "type", json::value_t::string);
        expect_key(c, "size_bytes", json::value_t::number_unsigned);
        expect_int_or_null(c, "line_bytes");
        expect_int_array(c, "pus");
    }
    for (const auto& k : doc["cpu_kinds"]) {
        expect_int_or_null(k, "efficiency");
        expect_key(k, "name", json::value_t::string);
        expect_int_array(k, "pus");
    }
}

std::size_t line_count(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// ---- info ------------------------------------------------------------------

TEST(CliTest, InfoJsonOnSyntheticMachineHasTheContractShape) {
    const json doc = run_json({"info", "--json", "--topology", k_two_by_two});
    expect_topology_contract(doc);
    if (HasFailure()) {
        return;
    }
    EXPECT_EQ(doc["source"], k_two_by_two);
    EXPECT_EQ(doc["architecture"], "numa");
    EXPECT_TRUE(doc["distances_derived"].get<bool>());
    // pack:2 numa:2 core:4 pu:2 -> 2 packages, 4 nodes, 16 cores, 32 PUs.
    ASSERT_EQ(doc["packages"].size(), 2U);
    ASSERT_EQ(doc["numa_nodes"].size(), 4U);
    ASSERT_EQ(doc["cores"].size(), 16U);
    EXPECT_EQ(ints(doc["pus"]), range(0, 32));

    for (int p = 0; p < 2; ++p) {
        const auto& pkg = doc["packages"][static_cast<std::size_t>(p)];
        EXPECT_EQ(pkg["id"], p);
        EXPECT_EQ(ints(pkg["numa_nodes"]), range(2 * p, 2));
        EXPECT_EQ(ints(pkg["pus"]), range(16 * p, 16));
    }
    for (int n = 0; n < 4; ++n) {
        const auto& node = doc["numa_nodes"][static_cast<std::size_t>(n)];
        EXPECT_EQ(node["id"], n);
        EXPECT_EQ(node["package"], n / 2);
        EXPECT_TRUE(node["free_bytes"].is_null()) << "a synthetic machine has no free memory to report";
        EXPECT_EQ(ints(node["pus"]), range(8 * n, 8));
    }
    for (int c = 0; c < 16; ++c) {
        const auto& core = doc["cores"][static_cast<std::size_t>(c)];
        EXPECT_EQ(core["id"], c);
        EXPECT_EQ(core["node"], c / 4);
        EXPECT_EQ(core["package"], c / 8);
        EXPECT_EQ(ints(core["pus"]), range(2 * c, 2));
    }

    const auto& dist = doc["distances"];
    ASSERT_EQ(dist.size(), 4U);
    for (std::size_t i = 0; i < 4; ++i) {
        for (std::size_t j = 0; j < 4; ++j) {
            const int d = dist[i][j].get<int>();
            if (i == j) {
                EXPECT_EQ(d, 10);
            } else {
                EXPECT_GT(d, 10);
                EXPECT_EQ(d, dist[j][i].get<int>()) << "distances are symmetric";
                if (i / 2 != j / 2) {
                    EXPECT_GT(d, dist[i][i ^ 1U].get<int>()) << "another package is further than a sibling node";
                }
            }
        }
    }
}

TEST(CliTest, InfoJsonListsCaches) {
    const json doc = run_json({"info", "--json", "--topology", "synthetic:pack:2 numa:2 l3:1 core:4 pu:2"});
    expect_topology_contract(doc);
    if (HasFailure()) {
        return;
    }
    std::vector<json> l3;
    for (const auto& c : doc["caches"]) {
        if (c["level"] == 3) {
            l3.push_back(c);
        }
    }
    ASSERT_EQ(l3.size(), 4U);
    for (std::size_t i = 0; i < l3.size(); ++i) {
        EXPECT_EQ(l3[i]["type"], "unified");
        EXPECT_GT(l3[i]["size_bytes"].get<std::uint64_t>(), 0U);
        EXPECT_EQ(ints(l3[i]["pus"]), range(8 * static_cast<int>(i), 8));
    }
}

TEST(CliTest, InfoJsonOnHostIsConsistent) {
    const json doc = run_json({"info", "--json", "--topology", "host"});
    expect_topology_contract(doc);
    if (HasFailure()) {
        return;
    }
    EXPECT_EQ(doc["source"], "host");
    EXPECT_FALSE(doc["pus"].empty());
    // The allocator's degradation report comes with the host, and only with it.
    ASSERT_TRUE(doc.contains("memory"));
    EXPECT_TRUE(doc["memory"]["numa_syscalls"].is_boolean());
    EXPECT_TRUE(doc["memory"]["huge_pages"].is_boolean());
    EXPECT_GT(doc["memory"]["page_size"].get<std::size_t>(), 0U);
    EXPECT_TRUE(doc["memory"]["notes"].is_array());
    if (doc["numa_nodes"].size() == 1) {
        EXPECT_FALSE(doc["memory"]["notes"].empty()) << "a one-node machine says placement has no effect";
    }
    EXPECT_FALSE(run_json({"info", "--json", "--topology", "synthetic:pack:2 core:1 pu:1"}).contains("memory"));
    EXPECT_TRUE(std::is_sorted(doc["pus"].begin(), doc["pus"].end()));
    const std::size_t nodes = doc["numa_nodes"].size();
    ASSERT_GE(nodes, 1U);
    ASSERT_EQ(doc["distances"].size(), nodes);
    bool all_equal = true;
    for (const auto& row : doc["distances"]) {
        for (const auto& d : row) {
            all_equal = all_equal && d == doc["distances"][0][0];
        }
    }
    if (nodes == 1 || all_equal) {
        EXPECT_EQ(doc["architecture"], "uma");
    } else {
        EXPECT_EQ(doc["architecture"], "numa");
    }
    // Every allowed PU belongs to exactly one node.
    std::vector<int> node_pus;
    for (const auto& n : doc["numa_nodes"]) {
        const auto pus = ints(n["pus"]);
        node_pus.insert(node_pus.end(), pus.begin(), pus.end());
    }
    std::sort(node_pus.begin(), node_pus.end());
    EXPECT_EQ(node_pus, ints(doc["pus"]));
}

TEST(CliTest, InfoTextShowsNumactlSummaryTreeAndArchitecture) {
    const std::vector<std::string> args{"info", "--topology", "synthetic:pack:2 numa:2 l3:1 core:4 pu:2"};
    const cli_result r = run_cli(args);
    ASSERT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(r.err, "");
    for (const char* expected : {"available: 4 nodes (0-3)\n", "node 0 cpus: 0 1 2 3 4 5 6 7\n", "node 3 size: ",
                                 "node distances:\n", "node   0   1   2   3\n", "  0:  10  ",
                                 "(derived from the package hierarchy: no firmware distances)", "Package L#1",
                                 "NUMANode L#3", "L3 ", "Core L#15 (P#15): PU 30-31",
                                 "architecture: NUMA (cache-coherent), 4 nodes\n",
                                 "counts: 2 packages, 4 NUMA nodes, 16 cores, 32 PUs\n"}) {
        EXPECT_NE(r.out.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << r.out;
    }
}

TEST(CliTest, InfoTextOnHost) {
    const cli_result r = run_cli({"info"});
    ASSERT_EQ(r.status, 0) << describe({"info"}, r);
    EXPECT_EQ(r.err, "");
    for (const char* expected : {"available:", "node distances:", "Machine (", "architecture: ", "source: host"}) {
        EXPECT_NE(r.out.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << r.out;
    }
}

TEST(CliTest, InfoHonoursTopologyVariableAndFlagWins) {
    const run_options three_packages = with_env({{"TOPOS_TOPOLOGY", "synthetic:pack:3 core:1 pu:1"}});
    const json from_env = run_json({"info", "--json"}, three_packages);
    EXPECT_EQ(from_env["packages"].size(), 3U);
    EXPECT_EQ(from_env["source"], "synthetic:pack:3 core:1 pu:1");

    const json from_flag = run_json({"info", "--json", "--topology", "synthetic:pack:1 core:2 pu:1"}, three_packages);
    EXPECT_EQ(from_flag["packages"].size(), 1U);
    EXPECT_EQ(from_flag["source"], "synthetic:pack:1 core:2 pu:1");

    // The flag wins so completely that a broken variable is never read.
    const run_options broken = with_env({{"TOPOS_TOPOLOGY", "synthetic:nonsense"}});
    const json despite = run_json({"info", "--json", "--topology", "synthetic:pack:1 core:2 pu:1"}, broken);
    EXPECT_EQ(despite["cores"].size(), 2U);
}

TEST(CliTest, InfoReadsHwlocXml) {
    const std::filesystem::path xml = std::filesystem::path(testing::TempDir()) /
                                      ("topos_cli_" + std::to_string(::getpid()) + ".xml");
    const std::string export_cmd =
        "lstopo-no-graphics -i 'pack:2 numa:1 core:2 pu:1' --of xml '" + xml.string() + "' >/dev/null 2>&1";
    if (std::system(export_cmd.c_str()) != 0) {
        GTEST_SKIP() << "lstopo-no-graphics cannot export XML here";
    }
    const json doc = run_json({"info", "--json", "--topology", xml.string()});
    std::filesystem::remove(xml);
    expect_topology_contract(doc);
    EXPECT_EQ(doc["source"], xml.string());
    EXPECT_EQ(doc["packages"].size(), 2U);
    EXPECT_EQ(doc["numa_nodes"].size(), 2U);
    EXPECT_EQ(ints(doc["pus"]), range(0, 4));
}

// ---- places ----------------------------------------------------------------

TEST(CliTest, PlacesJsonSpreadsFourWorkersOverTheNodes) {
    const json topo = run_json({"info", "--json", "--topology", k_two_by_two});
    const json doc = run_json(
        {"places", "--json", "--topology", k_two_by_two, "--places", "cores", "--bind", "spread", "--threads", "4"});
    ASSERT_TRUE(doc.is_object());
    EXPECT_EQ(doc["places"], "cores");
    EXPECT_EQ(doc["bind"], "spread");
    EXPECT_EQ(doc["threads"], 4);
    ASSERT_EQ(doc["place_list"].size(), 16U);
    for (std::size_t p = 0; p < 16; ++p) {
        EXPECT_EQ(ints(doc["place_list"][p]), range(2 * static_cast<int>(p), 2));
    }

    const auto& workers = doc["workers"];
    ASSERT_EQ(workers.size(), 4U);
    for (unsigned i = 0; i < 4; ++i) {
        const auto& w = workers[i];
        SCOPED_TRACE("worker " + std::to_string(i));
        EXPECT_EQ(w["id"], i);
        // 16 core places spread over 4 workers: every fourth core, one per node.
        EXPECT_EQ(w["place"], 4 * i);
        EXPECT_EQ(w["node"], i);
        EXPECT_EQ(ints(w["pus"]), range(8 * static_cast<int>(i), 2));

        std::vector<unsigned> order = w["steal_order"].get<std::vector<unsigned>>();
        std::vector<unsigned> others;
        for (unsigned j = 0; j < 4; ++j) {
            if (j != i) {
                others.push_back(j);
            }
        }
        std::vector<unsigned> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        EXPECT_EQ(sorted, others) << "steal order must hold every other worker once";

        // Nearest first: victims' node distances never decrease.
        int previous = 0;
        for (unsigned victim : order) {
            const int d = topo["distances"][i][workers[victim]["node"].get<std::size_t>()].get<int>();
            EXPECT_GE(d, previous) << "victim " << victim;
            previous = d;
        }

        // The tiers are the steal order, grouped.
        std::vector<unsigned> flattened;
        for (const auto& tier : w["steal_tiers"]) {
            expect_key(tier, "level", json::value_t::string);
            expect_key(tier, "distance", json::value_t::number_unsigned);
            const auto ids = tier["workers"].get<std::vector<unsigned>>();
            flattened.insert(flattened.end(), ids.begin(), ids.end());
        }
        EXPECT_EQ(flattened, order);
    }
}

TEST(CliTest, PlacesTextShowsHeaderPlaceTableAndWorkerTable) {
    const std::vector<std::string> args{"places", "--topology", "synthetic:pack:2 numa:2 core:2 pu:2",
                                        "--bind",  "spread",     "--threads",
                                        "4"};
    const cli_result r = run_cli(args);
    ASSERT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(r.err, "");
    for (const char* expected : {"places:   cores (8 places)", "bind:     spread", "threads:  4", "worker", "node",
                                 "pus", "steal order", "remote(20):"}) {
        EXPECT_NE(r.out.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << r.out;
    }
    EXPECT_NE(r.out.find("from:     places default, bind --bind, threads --threads\n"), std::string::npos) << r.out;
    // 5 header lines and a blank, the place table (a title and 8 places) and
    // a blank, the worker table (a title and 4 workers).
    EXPECT_EQ(line_count(r.out), 6U + 10U + 5U) << r.out;
    EXPECT_NE(r.out.find("\nplace  pus"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nodes\n0      0-1"), std::string::npos) << r.out;
}

// Memory nodes over the same CPUs (DDR and slower tiers) are one
// numa_domains place, shown with the nodes behind it, nearest first; the
// worker's node is the nearest (the DRAM node, at distance 10).
TEST(CliTest, PlacesShowTheMemoryNodesBehindEachPlace) {
    const std::string xml = std::string(TOPOS_TEST_DATA_DIR) + "/machines/hetero-memory-tiers.xml";
    const std::vector<std::string> args{"places", "--topology", xml, "--places", "numa_domains"};
    const cli_result text = run_cli(args);
    ASSERT_EQ(text.status, 0) << describe(args, text);
    EXPECT_NE(text.out.find("numa_domains (3 places)"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("0      0-1  0,1"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("1      2-3  2,3,4"), std::string::npos) << text.out;
    const json doc = run_json({"places", "--json", "--topology", xml, "--places", "numa_domains"});
    ASSERT_EQ(doc["place_list"].size(), 3U) << doc.dump();
    EXPECT_EQ(doc["place_nodes"], json::parse("[[0,1],[2,3,4],[5,6]]")) << doc.dump();
    EXPECT_EQ(doc["workers"][1]["node"], 2) << doc.dump();
}

// hwloc's multi-line complaint about an XML whose objects are out of order
// is held back: the command succeeds with nothing on stderr, and the warning
// becomes one note line.
TEST(CliTest, HwlocWarningsOnBadXmlDoNotReachStderr) {
    const std::string xml = std::string(TOPOS_TEST_DATA_DIR) + "/out-of-order.xml";
    const std::vector<std::string> args{"info", "--topology", xml};
    const cli_result r = run_cli(args);
    ASSERT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("note: hwloc warned while reading the XML: hwloc has encountered an out-of-order XML"),
              std::string::npos)
        << r.out;
}

// A newer XML format names the version and the hwloc topos was built with, in one line.
TEST(CliTest, XmlInANewerFormatSaysTheVersionIsNotSupported) {
    const std::string xml = std::string(TOPOS_TEST_DATA_DIR) + "/format-3.0.xml";
    const std::vector<std::string> args{"info", "--topology", xml};
    const cli_result r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(args, r);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("format 3.0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not supported by the hwloc"), std::string::npos) << r.err;
}

// An export whose PUs carry no os_index gave every PU the number -1, one
// place and workers on "PU -1"; the PUs are named by their cpuset bits.
TEST(CliTest, PusWithoutOsIndexArePlacedByTheirCpuset) {
    const std::string xml = std::string(TOPOS_TEST_DATA_DIR) + "/pus-without-os-index.xml";
    const json doc = run_json({"places", "--json", "--topology", xml, "--places", "cores", "--threads", "3"});
    ASSERT_EQ(doc["place_list"].size(), 8U) << doc.dump();
    EXPECT_EQ(doc["workers"][2]["pus"], json::parse("[4,5]")) << doc.dump();
}

// numa_domains on a machine whose NUMA nodes have no allowed CPU: exit 2 and
// one line, with or without a thread count (it crashed, or printed an empty plan).
TEST(CliTest, NumaDomainsWithoutAllowedCpusIsOneLineAndExitTwo) {
    const std::string xml = std::string(TOPOS_TEST_DATA_DIR) + "/machines/cgroup-cpuless-nodes.xml";
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"places", "--topology", xml, "--places", "numa_domains"},
          std::vector<std::string>{"places", "--topology", xml, "--places", "numa_domains", "--threads", "4"}}) {
        const cli_result r = run_cli(args);
        EXPECT_EQ(r.status, 2) << describe(args, r);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_NE(r.err.find("no NUMA node"), std::string::npos) << r.err;
    }
}

TEST(CliTest, PlacesFlagsWinOverEnvironment) {
    const run_options env = with_env({{"TOPOS_NUM_THREADS", "2"},
                                       {"TOPOS_PROC_BIND", "spread"},
                                       {"TOPOS_PLACES", "numa_domains"},
                                       {"TOPOS_TOPOLOGY", k_two_by_two}});
    const json from_env = run_json({"places", "--json"}, env);
    EXPECT_EQ(from_env["threads"], 2);
    EXPECT_EQ(from_env["bind"], "spread");
    EXPECT_EQ(from_env["places"], "numa_domains");
    EXPECT_EQ(from_env["place_list"].size(), 4U);

    const json from_flags =
        run_json({"places", "--json", "--threads", "3", "--bind", "close", "--places", "sockets"}, env);
    EXPECT_EQ(from_flags["threads"], 3);
    EXPECT_EQ(from_flags["bind"], "close");
    EXPECT_EQ(from_flags["places"], "sockets");
    EXPECT_EQ(from_flags["place_list"].size(), 2U);
}

// ---- bad input -------------------------------------------------------------

struct bad_input {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string named; ///< the offending value the message must quote
};

TEST(CliTest, BadInputIsOneLineOnStderrAndExitStatusTwo) {
    const std::vector<bad_input> cases = {
        {{"info", "--topology", "synthetic:pack:x"}, {}, "pack:x"},
        {{"info", "--topology", "/nonexistent.xml"}, {}, "/nonexistent.xml"},
        {{"info", "--topology", "bogus"}, {}, "bogus"},
        {{"places", "--topology", "synthetic:pack:x"}, {}, "pack:x"},
        {{"places", "--topology", k_two_by_two, "--places", "{0:4"}, {}, "{0:4"},
        {{"places", "--topology", k_two_by_two, "--places", "{999}"}, {}, "999"},
        {{"places", "--topology", k_two_by_two, "--bind", "sideways"}, {}, "sideways"},
        {{"places", "--topology", k_two_by_two, "--threads", "0"}, {}, "'0'"},
        {{"places", "--topology", k_two_by_two, "--threads", "-3"}, {}, "-3"},
        {{"places", "--topology", k_two_by_two, "--threads=-3"}, {}, "-3"},
        {{"places", "--topology", k_two_by_two, "--threads", "abc"}, {}, "abc"},
        {{"places", "--topology", k_two_by_two, "--threads"}, {}, "--threads"},
        {{"info", "--frobnicate"}, {}, "--frobnicate"},
        {{"places", "--frobnicate"}, {}, "--frobnicate"},
        {{"--frobnicate"}, {}, "--frobnicate"},
        {{"info", "stray"}, {}, "stray"},
        {{"frobnicate"}, {}, "frobnicate"},
        {{"places", "--topology", k_two_by_two}, {{"TOPOS_PROC_BIND", "diagonal"}}, "diagonal"},
        {{"places", "--topology", k_two_by_two}, {{"TOPOS_NUM_THREADS", "zero"}}, "zero"},
        {{"places", "--topology", k_two_by_two}, {{"TOPOS_PLACES", "{1:}"}}, "{1:}"},
        {{"info"}, {{"TOPOS_TOPOLOGY", "synthetic:nonsense"}}, "nonsense"},
        {{"places"}, {{"TOPOS_TOPOLOGY", "synthetic:nonsense"}}, "nonsense"},
        {{"info"}, {{"TOPOS_TOPOLOGY", "/nonexistent.xml"}}, "TOPOS_TOPOLOGY"},
    };
    for (const auto& c : cases) {
        const cli_result r = run_cli(c.args, with_env(c.env));
        std::string trace = describe(c.args, r);
        for (const auto& [name, value] : c.env) {
            trace = name + "=" + value + " " + trace;
        }
        SCOPED_TRACE(trace);
        EXPECT_FALSE(r.timed_out);
        EXPECT_EQ(r.status, 2);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(line_count(r.err), 1U);
        EXPECT_TRUE(r.err.starts_with("topos: error: "));
        EXPECT_TRUE(r.err.ends_with("\n"));
        EXPECT_NE(r.err.find(c.named), std::string::npos) << "the message should name '" << c.named << "'";
    }
}

TEST(CliTest, ErrorNamesTheFlagOrVariableItCameFrom) {
    const cli_result flag = run_cli({"places", "--topology", k_two_by_two, "--bind", "sideways"});
    EXPECT_NE(flag.err.find("--bind"), std::string::npos) << flag.err;
    const cli_result var =
        run_cli({"places", "--topology", k_two_by_two}, with_env({{"TOPOS_PROC_BIND", "diagonal"}}));
    EXPECT_NE(var.err.find("TOPOS_PROC_BIND"), std::string::npos) << var.err;
    const cli_result places = run_cli({"places", "--topology", k_two_by_two, "--places", "{0:4"});
    EXPECT_NE(places.err.find("--places"), std::string::npos) << places.err;
    const cli_result env_places = run_cli({"places", "--topology", k_two_by_two}, with_env({{"TOPOS_PLACES", "{1:}"}}));
    EXPECT_NE(env_places.err.find("TOPOS_PLACES"), std::string::npos) << env_places.err;
}

// ---- help, version, no command, closed stdout ------------------------------

TEST(CliTest, HelpOfEachCommandMentionsItsFlags) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"--help"}, {"info", "places", "--version", "TOPOS_TOPOLOGY"}},
        {{"info", "--help"}, {"--topology", "--json", "TOPOS_TOPOLOGY"}},
        {{"places", "--help"}, {"--places", "--bind", "--threads", "--topology", "--json", "TOPOS_PLACES"}},
    };
    for (const auto& [args, mentions] : cases) {
        const cli_result r = run_cli(args);
        SCOPED_TRACE(describe(args, r));
        EXPECT_EQ(r.status, 0);
        EXPECT_EQ(r.err, "");
        for (const auto& m : mentions) {
            EXPECT_NE(r.out.find(m), std::string::npos) << "help should mention " << m;
        }
    }
}

TEST(CliTest, VersionPrintsTheVersion) {
    const cli_result r = run_cli({"--version"});
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.out.starts_with("topos ")) << r.out;
    EXPECT_EQ(line_count(r.out), 1U);
    const json doc = run_json({"info", "--json", "--topology", k_two_by_two});
    EXPECT_NE(r.out.find(doc["topos_version"].get<std::string>()), std::string::npos);
}

TEST(CliTest, NoCommandPrintsHelpToStderrAndExitsTwo) {
    const cli_result r = run_cli({});
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("info"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("places"), std::string::npos) << r.err;
}

TEST(CliTest, ClosedStdoutIsReportedNotACrash) {
    run_options closed_stdout;
    closed_stdout.close_stdout = true;
    const cli_result r = run_cli({"info", "--topology", k_two_by_two}, closed_stdout);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(line_count(r.err), 1U) << r.err;
    EXPECT_TRUE(r.err.starts_with("topos: error: ")) << r.err;
}

} // namespace
