// Placement on the machines of tests/data/machines (hwloc exports of real and
// hand-made machines, see its README): for every machine, every abstract
// place kind, the close, spread and primary policies and the thread counts
// 1, 2, 3, P-1, P, P+1 and 2P+3 (P places), the plan either exists and obeys
// the rules below or is refused with a topos::error, never a crash.
//
//   - every worker's PUs are allowed and are exactly its place;
//   - close, spread and primary put workers where OpenMP 5.1 (2.6.2) says,
//     starting at place 0;
//   - threads, cores and ll_caches places hold every allowed PU exactly once;
//     places of every kind are distinct;
//   - with threads places, spread over k <= cores workers never puts two on one core;
//   - each place reports the nodes behind it, and a worker's node is the first.
//
// The same combinations run through the `topos places` binary for a share of
// the plans, so that a signal is seen as one, and its JSON must match the
// library's plan. Finally, on this machine, the plan is compared with what
// libgomp does for the same OMP_PLACES and OMP_PROC_BIND.
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> k_kinds = {"threads", "cores", "ll_caches", "numa_domains", "sockets"};
// One combination in k_cli_share also goes through the binary: a prime, so
// the share rotates over kinds, policies and counts. Each start of the
// binary costs about 0.2 s under the sanitizers, so fewer go there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t k_cli_share = 61;
#else
constexpr std::size_t k_cli_share = 19;
#endif
const std::vector<topos::proc_bind> k_binds = {topos::proc_bind::close, topos::proc_bind::spread,
                                               topos::proc_bind::primary};

// Listed once per process: test registration names every machine (a scan
// per name was a tenth of each test process's time under ASan).
const std::vector<fs::path>& machines() {
    static const std::vector<fs::path> list = [] {
        std::vector<fs::path> out;
        for (const auto& e : fs::directory_iterator(fs::path(TOPOS_TEST_DATA_DIR) / "machines")) {
            if (e.path().extension() == ".xml") {
                out.push_back(e.path());
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }();
    return list;
}

std::vector<unsigned> thread_counts(std::size_t places) {
    const auto p = static_cast<long>(places);
    std::set<unsigned> counts;
    for (long t : {1L, 2L, 3L, p - 1, p, p + 1, 2 * p + 3}) {
        if (t >= 1) {
            counts.insert(static_cast<unsigned>(t));
        }
    }
    return {counts.begin(), counts.end()};
}

// The place of each worker by the OpenMP rules, starting at place 0.
std::vector<unsigned> expected_places(topos::proc_bind bind, unsigned threads, unsigned places) {
    std::vector<unsigned> out;
    if (bind == topos::proc_bind::primary) {
        return std::vector<unsigned>(threads, 0);
    }
    if (bind == topos::proc_bind::spread && threads <= places) {
        // T subpartitions of consecutive places, ceil(P/T) places in the first P mod T.
        unsigned first = 0;
        for (unsigned i = 0; i < threads; ++i) {
            out.push_back(first);
            first += places / threads + (i < places % threads ? 1 : 0);
        }
        return out;
    }
    if (threads <= places) {
        for (unsigned i = 0; i < threads; ++i) {
            out.push_back(i);
        }
        return out;
    }
    // T > P: consecutive workers share a place, floor(T/P) or ceil(T/P) each.
    for (unsigned p = 0; p < places; ++p) {
        const unsigned n = threads / places + (p < threads % places ? 1 : 0);
        out.insert(out.end(), n, p);
    }
    return out;
}

std::vector<int> allowed(const topos::topology& topo) {
    std::vector<int> out;
    for (const auto& p : topo.pus()) {
        out.push_back(p.os_index);
    }
    return out;
}

// The core of a PU; a PU that hwloc puts under no core (s390, fake
// machines) is a core of its own, numbered below zero.
int core_of(const topos::pu_info& p) { return p.core >= 0 ? p.core : -1 - p.os_index; }

int core_of(const topos::topology& topo, int pu) {
    for (const auto& p : topo.pus()) {
        if (p.os_index == pu) {
            return core_of(p);
        }
    }
    ADD_FAILURE() << "PU " << pu << " is not in the topology";
    return 0;
}

std::size_t cores_with_pus(const topos::topology& topo) {
    std::set<int> cores;
    for (const auto& p : topo.pus()) {
        cores.insert(core_of(p));
    }
    return cores.size();
}

// Checks the place list of one kind; returns false (after reporting) when it is unusable.
void check_places(const topos::topology& topo, const std::string& kind, const std::vector<topos::place>& places,
                  const std::string& where) {
    std::set<topos::place> distinct(places.begin(), places.end());
    EXPECT_EQ(distinct.size(), places.size()) << where << ": a place is listed twice";
    if (kind == "threads" || kind == "cores" || kind == "ll_caches") {
        std::vector<int> all;
        for (const auto& p : places) {
            all.insert(all.end(), p.begin(), p.end());
        }
        std::sort(all.begin(), all.end());
        EXPECT_EQ(all, allowed(topo)) << where << ": the places do not hold every allowed PU exactly once";
    }
    for (const auto& p : places) {
        EXPECT_FALSE(p.empty()) << where;
        for (int pu : p) {
            EXPECT_TRUE(topo.has_pu(pu)) << where << ": PU " << pu << " is not allowed";
        }
    }
}

struct corpus_counts {
    std::size_t plans = 0;
    std::size_t refused = 0;
    std::size_t cli_runs = 0;
};

void check_plan(const topos::topology& topo, const std::string& kind, topos::proc_bind bind, unsigned threads,
                const topos::placement_plan& plan, const std::string& where) {
    ASSERT_FALSE(plan.places.empty()) << where;
    ASSERT_EQ(plan.workers.size(), threads) << where;
    ASSERT_EQ(plan.place_nodes.size(), plan.places.size()) << where;
    const auto expected = expected_places(bind, threads, static_cast<unsigned>(plan.places.size()));
    for (const auto& w : plan.workers) {
        ASSERT_LT(w.place, plan.places.size()) << where;
        EXPECT_EQ(w.place, expected[w.id]) << where << ": worker " << w.id;
        EXPECT_EQ(w.pus, plan.places[w.place]) << where << ": worker " << w.id << " does not run on its place";
        const auto& nodes = plan.place_nodes[w.place];
        EXPECT_EQ(w.node, nodes.empty() ? -1 : nodes.front()) << where << ": worker " << w.id;
    }
    if (kind == "threads" && bind == topos::proc_bind::spread && threads <= cores_with_pus(topo)) {
        std::set<int> cores;
        for (const auto& w : plan.workers) {
            EXPECT_TRUE(cores.insert(core_of(topo, w.pus.front())).second)
                << where << ": worker " << w.id << " shares a core with another";
        }
    }
}

// Runs `program` with stdout and stderr to files and `extra` added to the
// environment; returns the wait status.
int run_program(const std::string& program, const std::vector<std::string>& args, std::string& out,
                std::string& err, const std::map<std::string, std::string>& extra = {}) {
    const fs::path dir = fs::temp_directory_path();
    const std::string out_file = (dir / ("topos-corpus-out-" + std::to_string(::getpid()))).string();
    const std::string err_file = (dir / ("topos-corpus-err-" + std::to_string(::getpid()))).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> argv_strings{program};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        env_strings.emplace_back(*e);
    }
    for (const auto& [name, value] : extra) {
        env_strings.push_back(name + "=" + value);
    }
    const auto c_strings = [](std::vector<std::string>& strings) {
        std::vector<char*> v;
        for (auto& a : strings) {
            v.push_back(a.data());
        }
        v.push_back(nullptr);
        return v;
    };
    auto argv = c_strings(argv_strings);
    auto envp = c_strings(env_strings);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        ADD_FAILURE() << "cannot start " << program;
        return -1;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    const auto slurp = [](const std::string& f) {
        std::ifstream in(f);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    };
    out = slurp(out_file);
    err = slurp(err_file);
    fs::remove(out_file);
    fs::remove(err_file);
    return status;
}

int run_cli(const std::vector<std::string>& args, std::string& out, std::string& err) {
    return run_program(TOPOS_CLI, args, out, err);
}

class MachineCorpus : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MachineCorpus, EveryPlanFollowsTheRules) {
    ASSERT_EQ(std::getenv("TOPOS_PLACES"), nullptr) << "the corpus test expects no TOPOS_* placement variables";
    const fs::path file = machines().at(GetParam());
    const auto topo = topos::topology::from_xml(file);
#if defined(__SANITIZE_THREAD__)
    // The planner runs on one thread, so TSan has nothing to find here, and
    // under it the largest machines take seconds each; the default and ASan
    // builds check them.
    if (topo.pus().size() > 64) {
        GTEST_SKIP() << file.filename().string() << " has " << topo.pus().size() << " PUs; checked in the other builds";
    }
#endif
    corpus_counts counts;
    // Offset by the machine's number, so each machine sends different
    // combinations through the binary.
    std::size_t combination = GetParam();
    for (const auto& kind : k_kinds) {
        std::vector<topos::place> places;
        try {
            places = topos::parse_places(topo, kind);
        } catch (const topos::places_error& e) {
            // Only numa_domains may give no place (nodes without allowed CPUs).
            EXPECT_EQ(kind, "numa_domains") << e.what();
            ++counts.refused;
            EXPECT_THROW((void)topos::plan_placement(topo, {.places = kind, .bind = {}, .threads = 2}),
                         topos::places_error);
            continue;
        }
        const std::string where = file.filename().string() + " " + kind;
        check_places(topo, kind, places, where);
        for (auto bind : k_binds) {
            for (unsigned threads : thread_counts(places.size())) {
                const std::string what =
                    where + " " + std::string(topos::to_string(bind)) + " " + std::to_string(threads);
                const auto plan = topos::plan_placement(topo, {.places = kind, .bind = bind, .threads = threads});
                ++counts.plans;
                EXPECT_EQ(plan.places, places) << what;
                check_plan(topo, kind, bind, threads, plan, what);
                if (combination++ % k_cli_share != 0) {
                    continue;
                }
                std::string out;
                std::string err;
                const int status = run_cli({"places", "--json", "--topology", file.string(), "--places", kind,
                                            "--bind", std::string(topos::to_string(bind)), "--threads",
                                            std::to_string(threads)},
                                           out, err);
                ++counts.cli_runs;
                ASSERT_TRUE(WIFEXITED(status)) << what << ": killed by signal " << WTERMSIG(status);
                ASSERT_EQ(WEXITSTATUS(status), 0) << what << ": " << err;
                EXPECT_EQ(err, "") << what;
                const json doc = json::parse(out);
                ASSERT_EQ(doc["workers"].size(), plan.workers.size()) << what;
                for (std::size_t i = 0; i < plan.workers.size(); ++i) {
                    EXPECT_EQ(doc["workers"][i]["pus"].get<std::vector<int>>(), plan.workers[i].pus) << what;
                }
                EXPECT_EQ(doc["place_nodes"].get<std::vector<std::vector<int>>>(), plan.place_nodes) << what;
            }
        }
    }
    EXPECT_GT(counts.cli_runs, 0U);
    std::printf("%s: %zu plans checked, %zu place lists refused, %zu through the CLI\n",
                file.filename().string().c_str(), counts.plans, counts.refused, counts.cli_runs);
}

std::string test_name(const ::testing::TestParamInfo<std::size_t>& info) {
    std::string name = machines().at(info.param).stem().string();
    for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            c = '_';
        }
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(Machines, MachineCorpus, ::testing::Range<std::size_t>(0, machines().size()), test_name);

TEST(MachineCorpusFiles, AtLeastEightyMachines) { EXPECT_GE(machines().size(), 80U); }

// A refused list goes through the CLI as exit 2 with one line, not a signal
// or an empty plan: the machines whose NUMA nodes have no allowed CPU.
TEST(MachineCorpusFiles, RefusedListsExitTwoWithOneLine) {
    std::size_t refused = 0;
    for (const auto& file : machines()) {
        const auto topo = topos::topology::from_xml(file);
        try {
            (void)topos::parse_places(topo, "numa_domains");
            continue;
        } catch (const topos::places_error&) {
        }
        ++refused;
        for (const char* threads : {"", "4"}) {
            std::vector<std::string> args{"places", "--topology", file.string(), "--places", "numa_domains"};
            if (*threads != '\0') {
                args.insert(args.end(), {"--threads", threads});
            }
            std::string out;
            std::string err;
            const int status = run_cli(args, out, err);
            ASSERT_TRUE(WIFEXITED(status)) << file << ": killed by signal " << WTERMSIG(status);
            EXPECT_EQ(WEXITSTATUS(status), 2) << file;
            EXPECT_EQ(out, "") << file;
            EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
            EXPECT_NE(err.find("numa_domains"), std::string::npos) << err;
        }
    }
    EXPECT_GE(refused, 1U) << "the corpus should hold a machine whose nodes have no allowed CPU";
}

} // namespace

namespace {

// Parses "0-3,8,10-11" (libgomp's %A) into PU numbers.
std::vector<int> parse_cpu_list(const std::string& text) {
    std::vector<int> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        const auto dash = item.find('-');
        const int first = std::stoi(item.substr(0, dash));
        const int last = dash == std::string::npos ? first : std::stoi(item.substr(dash + 1));
        for (int pu = first; pu <= last; ++pu) {
            out.push_back(pu);
        }
    }
    return out;
}

// On this machine, libgomp and topos agree on where each thread runs for the
// same OMP_PLACES and OMP_PROC_BIND. Where T <= P the OpenMP rules leave no
// choice and the PU sets must be equal thread by thread; where T > P the
// standard lets the implementation choose which places take the extra
// threads (libgomp wraps the last ones back to place 0, topos gives them to
// the first places), so there the number of threads per place must agree.
TEST(LibgompOnThisMachine, PlacesThreadsWhereLibgompDoes) {
#ifndef TOPOS_OMP_PROBE
    GTEST_SKIP() << "OpenMP was not found, so there is no libgomp program to compare with";
#else
    const auto topo = topos::topology::host();
    std::size_t compared = 0;
    std::size_t gomp_refused = 0;
    for (const auto& kind : k_kinds) {
        std::vector<topos::place> places;
        try {
            places = topos::parse_places(topo, kind);
        } catch (const topos::places_error&) {
            continue;
        }
        for (auto bind : k_binds) {
            for (unsigned threads : thread_counts(places.size())) {
                if (threads < 2) {
                    continue; // libgomp displays no affinity for a team of one
                }
                const std::string what = kind + " " + std::string(topos::to_string(bind)) + " " + std::to_string(threads);
                std::string out;
                std::string err;
                const int status = run_program(TOPOS_OMP_PROBE, {}, out, err,
                                               {{"OMP_PLACES", kind},
                                                {"OMP_PROC_BIND", std::string(topos::to_string(bind))},
                                                {"OMP_NUM_THREADS", std::to_string(threads)},
                                                {"OMP_DYNAMIC", "false"},
                                                {"OMP_DISPLAY_AFFINITY", "true"},
                                                {"OMP_AFFINITY_FORMAT", "%n %A"}});
                ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << what << ": " << err;
                if (err.find("libgomp:") != std::string::npos) {
                    // libgomp could not build these places here (for example "Error reading
                    // core/socket topology" for ll_caches when the kernel exports no cache ids)
                    // and fell back to its own default, so it has no answer to compare with.
                    ++gomp_refused;
                    std::printf("libgomp refused %s: %s", what.c_str(), err.substr(err.find("libgomp:")).c_str());
                    continue;
                }
                std::map<int, std::vector<int>> gomp;
                std::stringstream lines(err);
                for (std::string line; std::getline(lines, line);) {
                    const auto space = line.find(' ');
                    if (space == std::string::npos) {
                        continue;
                    }
                    gomp[std::stoi(line.substr(0, space))] = parse_cpu_list(line.substr(space + 1));
                }
                ASSERT_EQ(gomp.size(), threads) << what << ": libgomp said\n" << err;
                const auto plan = topos::plan_placement(topo, {.places = kind, .bind = bind, .threads = threads});
                if (threads <= places.size() || bind == topos::proc_bind::primary) {
                    for (const auto& w : plan.workers) {
                        EXPECT_EQ(w.pus, gomp[static_cast<int>(w.id)]) << what << ": thread " << w.id;
                    }
                } else {
                    std::map<std::vector<int>, int> theirs;
                    std::map<std::vector<int>, int> ours;
                    for (const auto& [id, pus] : gomp) {
                        ++theirs[pus];
                    }
                    for (const auto& w : plan.workers) {
                        ++ours[w.pus];
                    }
                    EXPECT_EQ(ours, theirs) << what;
                }
                ++compared;
            }
        }
    }
    std::printf("libgomp: %zu settings compared on this machine (%zu PUs), %zu refused by libgomp\n", compared,
                topo.pus().size(), gomp_refused);
    EXPECT_GT(compared, 0U);
#endif
}

} // namespace
