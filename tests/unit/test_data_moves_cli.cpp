// `topos bench data` from the outside: a quick run with its JSON checked,
// and one-line errors for bad input.
#include "test_bench_cli_support.hpp"

#include <algorithm>
#include <set>

namespace {

using topos::test::finished_run;
using topos::test::run_topos;
using topos::test::scratch_dir;
using topos::test::show;

TEST(BenchDataCli, QuickRunWritesEveryRow) {
    scratch_dir dir;
    const std::vector<std::string> args{"bench", "data", "--quick", "--json", dir.file("data.json")};
    const finished_run r = run_topos(args, std::chrono::seconds(240));
    ASSERT_EQ(r.status, 0) << show(args, r);
    EXPECT_NE(r.out.find("Read-mostly lookups"), std::string::npos) << show(args, r);
    EXPECT_NE(r.out.find("Phase change"), std::string::npos) << show(args, r);
    const auto doc = topos::test::read_json(dir.file("data.json"));
    topos::test::expect_google_benchmark_shape(doc);
    EXPECT_EQ(doc["context"]["topos_command"], "bench data");
    std::set<std::string> names;
    for (const auto& b : doc["benchmarks"]) {
        names.insert(b["name"].get<std::string>());
        EXPECT_GT(b["real_time"].get<double>(), 0.0) << b.dump();
    }
    for (const char* want : {"data/lookups/replicated", "data/lookups/node0", "data/lookups/interleaved",
                             "data/phase/static", "data/phase/next_touch", "data/move/next_touch_page",
                             "data/move/next_touch_group16", "data/move/move_pages_all", "data/move/move_pages_each"}) {
        EXPECT_TRUE(names.contains(want)) << want;
    }
}

TEST(BenchDataCli, BadInputIsOneLineAndStatus2) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"bench", "data", "--size", "1"}, {"bench", "data", "--size", "0"}, {"bench", "data", "--repetitions", "0"}}) {
        const finished_run r = run_topos(args);
        EXPECT_EQ(r.status, 2) << show(args, r);
        EXPECT_TRUE(r.err.starts_with("topos: error: ")) << show(args, r);
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << show(args, r);
    }
}

} // namespace
