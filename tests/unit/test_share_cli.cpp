// `topos places --ranks K --rank I`, the "share:" line of `topos info` and
// `topos places`, and their bad input (exit status 2, one line on stderr,
// nothing on stdout). Runs the real binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

const std::string k_four_nodes = "synthetic:pack:2 numa:2 core:4 pu:2";

struct result {
    int status = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs `argv` (argv[0] a path) with our environment less TOPOS_* and the
// launchers' variables, plus `extra`.
result run(std::vector<std::string> argv, const std::map<std::string, std::string>& extra = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view v(*e);
        if (v.starts_with("TOPOS_") || v.starts_with("OMPI_") || v.starts_with("MPI_LOCAL") || v.starts_with("SLURM_")) {
            continue;
        }
        env.emplace_back(v);
    }
    for (const auto& [k, v] : extra) {
        env.push_back(k + "=" + v);
    }
    const auto dir = std::filesystem::temp_directory_path();
    const std::string tag = std::to_string(getpid());
    const auto out_path = dir / ("topos-share-cli-" + tag + ".out");
    const auto err_path = dir / ("topos-share-cli-" + tag + ".err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    for (auto& a : argv) {
        args.push_back(a.data());
    }
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    pid_t pid = 0;
    result r;
    if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data()) == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    posix_spawn_file_actions_destroy(&actions);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    std::filesystem::remove(out_path);
    std::filesystem::remove(err_path);
    return r;
}

result topos(std::vector<std::string> args, const std::map<std::string, std::string>& extra = {}) {
    args.insert(args.begin(), TOPOS_CLI);
    return run(std::move(args), extra);
}

std::string first_line_with(const std::string& text, std::string_view prefix) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(prefix)) {
            return line;
        }
    }
    return {};
}

void expect_usage_error(const result& r, std::string_view mentions) {
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << r.err;
}

TEST(ShareCli, RanksShowEachRanksShareOnASyntheticMachine) {
    for (int rank = 0; rank < 4; ++rank) {
        const auto r = topos({"places", "--topology", k_four_nodes, "--ranks", "4", "--rank", std::to_string(rank)});
        ASSERT_EQ(r.status, 0) << r.err;
        const std::string line = first_line_with(r.out, "share: ");
        EXPECT_NE(line.find("local rank " + std::to_string(rank) + " of 4"), std::string::npos) << r.out;
        EXPECT_NE(line.find("NUMA node " + std::to_string(rank)), std::string::npos) << line;
        const auto j = topos({"places", "--topology", k_four_nodes, "--ranks", "4", "--rank", std::to_string(rank),
                              "--json"});
        ASSERT_EQ(j.status, 0) << j.err;
        const auto doc = nlohmann::json::parse(j.out);
        EXPECT_TRUE(doc["share"]["taken"].get<bool>());
        EXPECT_EQ(doc["share"]["nodes"], nlohmann::json::array({rank}));
        ASSERT_EQ(doc["workers"].size(), 4U) << "one worker per core of the node";
        for (const auto& w : doc["workers"]) {
            for (const auto& pu : w["pus"]) {
                EXPECT_GE(pu.get<int>(), 8 * rank);
                EXPECT_LT(pu.get<int>(), 8 * rank + 8);
            }
        }
    }
    const auto crowded = topos({"places", "--topology", k_four_nodes, "--ranks", "64", "--rank", "63"});
    ASSERT_EQ(crowded.status, 0) << crowded.err;
    EXPECT_NE(first_line_with(crowded.out, "note: ").find("ranks share"), std::string::npos) << crowded.out;
    const auto explicit_places =
        topos({"places", "--topology", k_four_nodes, "--ranks", "4", "--rank", "1", "--places", "numa_domains"});
    ASSERT_EQ(explicit_places.status, 0) << explicit_places.err;
    EXPECT_NE(first_line_with(explicit_places.out, "share: ").find("not taken"), std::string::npos);
}

TEST(ShareCli, BadRanksExitTwoWithOneLine) {
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--ranks", "4", "--rank", "4"}), "--rank");
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--ranks", "0", "--rank", "0"}), "--ranks");
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--ranks", "four", "--rank", "0"}), "four");
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--ranks", "4", "--rank", "-1"}), "--rank");
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--rank", "1"}), "--ranks");
    expect_usage_error(topos({"places", "--topology", k_four_nodes, "--ranks", "2"}), "--rank");
    expect_usage_error(topos({"places"}, {{"TOPOS_SHARE", "garbage"}}), "TOPOS_SHARE");
    expect_usage_error(topos({"info"}, {{"TOPOS_SHARE", "garbage"}}), "garbage");
}

TEST(ShareCli, LaunchersVariablesGiveTheShareLine) {
    const std::map<std::string, std::string> rank2 = {{"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                                                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}};
    const auto places = topos({"places", "--topology", k_four_nodes}, rank2);
    ASSERT_EQ(places.status, 0) << places.err;
    EXPECT_NE(first_line_with(places.out, "share: ").find("local rank 2 of 4 (Open MPI"), std::string::npos)
        << places.out;
    const auto info = topos({"info", "--topology", k_four_nodes}, rank2);
    ASSERT_EQ(info.status, 0) << info.err;
    EXPECT_NE(first_line_with(info.out, "share: ").find("NUMA node 2"), std::string::npos) << info.out;
    const auto none = topos({"info", "--topology", k_four_nodes});
    EXPECT_TRUE(first_line_with(none.out, "share: ").empty()) << "no rank, no line";
    const auto garbage = topos({"places", "--topology", k_four_nodes},
                               {{"MPI_LOCALRANKID", "x"}, {"MPI_LOCALNRANKS", "2"}});
    ASSERT_EQ(garbage.status, 0) << garbage.err;
    EXPECT_NE(first_line_with(garbage.out, "note: ").find("MPI_LOCALRANKID='x'"), std::string::npos) << garbage.out;
}

// A process the launcher bound already keeps its binding (auto); with
// TOPOS_SHARE=on it is shared again.
TEST(ShareCli, ABoundProcessKeepsItsBinding) {
    if (run({"taskset", "-c", "0", "true"}).status != 0) {
        GTEST_SKIP() << "taskset is not available";
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        GTEST_SKIP() << "needs two CPUs to bind to one of them";
    }
    const std::map<std::string, std::string> rank1 = {{"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}};
    const auto bound = run({"taskset", "-c", "0", TOPOS_CLI, "places"}, rank1);
    ASSERT_EQ(bound.status, 0) << bound.err;
    EXPECT_NE(first_line_with(bound.out, "share: ").find("the launcher bound this process already"),
              std::string::npos)
        << bound.out;
    auto on = rank1;
    on["TOPOS_SHARE"] = "on";
    const auto shared = run({"taskset", "-c", "0", TOPOS_CLI, "places"}, on);
    ASSERT_EQ(shared.status, 0) << shared.err;
    EXPECT_NE(first_line_with(shared.out, "share: ").find("(shared)"), std::string::npos) << shared.out;
}

} // namespace
