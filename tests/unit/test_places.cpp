// Tests for parse_places: the OMP_PLACES grammar expanded on synthetic and
// XML machines, including the examples the OpenMP specification gives.
#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using places = std::vector<topos::place>;

// {first, first+1, ..., first+count-1}
topos::place run(int first, int count) {
    topos::place p;
    for (int i = 0; i < count; ++i) {
        p.push_back(first + i);
    }
    return p;
}

// `count` places of `size` consecutive PUs each, starting at 0.
places blocks(int count, int size) {
    places out;
    for (int i = 0; i < count; ++i) {
        out.push_back(run(i * size, size));
    }
    return out;
}

// 16 PUs: 2 packages x 4 cores x 2 hardware threads, one NUMA node, no caches.
const topos::topology& machine16() {
    static const auto topo = topos::topology::synthetic("pack:2 core:4 pu:2");
    return topo;
}

// 32 PUs: 2 packages x 2 NUMA nodes, one L3 per node, 4 cores x 2 threads per L3.
const topos::topology& machine32() {
    static const auto topo = topos::topology::synthetic("pack:2 numa:2 l3:1 core:4 pu:2");
    return topo;
}

places parse16(std::string_view text) { return topos::parse_places(machine16(), text); }
places parse32(std::string_view text) { return topos::parse_places(machine32(), text); }

// asym4.xml with PUs 0-3 (all of NUMA node 0) taken out of the allowed set,
// as taskset or a cgroup would; written to a temporary file.
std::filesystem::path restricted_xml() {
    const std::filesystem::path source = std::filesystem::path(TOPOS_TEST_DATA_DIR) / "asym4.xml";
    if (!std::filesystem::exists(source)) {
        return {};
    }
    std::ifstream in(source);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string xml = buffer.str();
    const std::string from = "allowed_cpuset=\"0x0000ffff\"";
    const auto at = xml.find(from);
    if (at == std::string::npos) {
        return {};
    }
    xml.replace(at, from.size(), "allowed_cpuset=\"0x0000fff0\"");
    // The process id keeps concurrent runs (ctest -j, several build trees) apart.
    const auto out = std::filesystem::temp_directory_path() /
                     ("topos_places_restricted_" + std::to_string(::getpid()) + ".xml");
    std::ofstream(out) << xml;
    return out;
}

TEST(PlacesTest, SpecThreadsIsOnePlacePerHardwareThread) {
    EXPECT_EQ(parse16("threads"), blocks(16, 1));
}

TEST(PlacesTest, SpecThreadsWithCountTakesTheFirstPlaces) {
    EXPECT_EQ(parse16("threads(4)"), blocks(4, 1));
}

TEST(PlacesTest, SpecExplicitListResourceIntervalsAndPlaceIntervalAreEqual) {
    const auto explicit_list = parse16("{0,1,2,3},{4,5,6,7},{8,9,10,11},{12,13,14,15}");
    const auto intervals = parse16("{0:4},{4:4},{8:4},{12:4}");
    const auto place_interval = parse16("{0:4}:4:4");
    EXPECT_EQ(explicit_list, blocks(4, 4));
    EXPECT_EQ(intervals, explicit_list);
    EXPECT_EQ(place_interval, explicit_list);
}

TEST(PlacesTest, CoresGroupHardwareThreadsOfOneCore) {
    EXPECT_EQ(parse16("cores"), blocks(8, 2));
    EXPECT_EQ(parse32("cores"), blocks(16, 2));
}

TEST(PlacesTest, CoresWithoutCoreObjectsFallBackToThreads) {
    const auto topo = topos::topology::synthetic("numa:2 pu:4");
    ASSERT_TRUE(topo.cores().empty());
    EXPECT_EQ(topos::parse_places(topo, "cores"), blocks(8, 1));
}

TEST(PlacesTest, LlCachesOnePlacePerLastLevelCache) {
    EXPECT_EQ(parse32("ll_caches"), blocks(4, 8));
    // Two L3 caches per NUMA node: the places are the caches, not the nodes.
    const auto topo = topos::topology::synthetic("pack:2 numa:2 l3:2 core:2 pu:2");
    EXPECT_EQ(topos::parse_places(topo, "ll_caches"), blocks(8, 4));
    EXPECT_EQ(topos::parse_places(topo, "numa_domains"), blocks(4, 8));
}

TEST(PlacesTest, LlCachesUseTheDeepestLevel) {
    const auto topo = topos::topology::synthetic("pack:1 l3:2 l2:2 core:1 pu:2");
    EXPECT_EQ(topos::parse_places(topo, "ll_caches"), blocks(2, 4));
}

TEST(PlacesTest, LlCachesWithoutCachesFallBackToCores) {
    ASSERT_TRUE(machine16().caches().empty());
    EXPECT_EQ(parse16("ll_caches"), parse16("cores"));
    const auto flat = topos::topology::synthetic("numa:1 pu:3");
    EXPECT_EQ(topos::parse_places(flat, "ll_caches"), blocks(3, 1));
}

TEST(PlacesTest, NumaDomainsOnePlacePerNode) {
    EXPECT_EQ(parse32("numa_domains"), blocks(4, 8));
    EXPECT_EQ(parse16("numa_domains"), blocks(1, 16));
}

TEST(PlacesTest, SocketsOnePlacePerPackage) {
    EXPECT_EQ(parse32("sockets"), blocks(2, 16));
    EXPECT_EQ(parse16("sockets"), blocks(2, 8));
}

// A machine of tests/data/machines (see its README).
topos::topology machine(const char* name) {
    return topos::topology::from_xml(std::filesystem::path(TOPOS_TEST_DATA_DIR) / "machines" / name);
}

// Every allowed PU, each once, across `list`.
void expect_exact_cover(const topos::topology& topo, const places& list) {
    std::vector<int> all;
    for (const auto& p : list) {
        all.insert(all.end(), p.begin(), p.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> allowed;
    for (const auto& p : topo.pus()) {
        allowed.push_back(p.os_index);
    }
    EXPECT_EQ(all, allowed);
}

// Linux numbers the hyperthreads of core i as PU i and PU i+8 on this
// 4-socket machine; `threads` follows the layout, as libgomp does, so the
// siblings of a core are neighbours and core order is the machine's.
TEST(PlacesTest, ThreadsFollowTheTopologyNotTheOsNumbering) {
    const auto topo = machine("4s2c2t-ht-os-numbering.xml");
    const auto list = topos::parse_places(topo, "threads");
    ASSERT_EQ(list.size(), 16U);
    EXPECT_EQ(list[0], topos::place{0});
    EXPECT_EQ(list[1], topos::place{8});
    // Places 2k and 2k+1 are the two threads of core k, in the cores' order.
    const auto cores = topos::parse_places(topo, "cores");
    ASSERT_EQ(cores.size(), 8U);
    for (std::size_t k = 0; k < cores.size(); ++k) {
        topos::place pair{list[2 * k][0], list[2 * k + 1][0]};
        std::sort(pair.begin(), pair.end());
        EXPECT_EQ(pair, cores[k]) << "places " << 2 * k << " and " << 2 * k + 1;
    }
    expect_exact_cover(topo, list);
}

// Some cores of this machine have an L2 shared with a sibling, others only
// their own L1: every PU still gets the place of its own highest cache.
TEST(PlacesTest, LlCachesCoverEveryPuWhenCachesAreAsymmetric) {
    const auto topo = machine("2s4c-asymmetric-caches.xml");
    const auto list = topos::parse_places(topo, "ll_caches");
    expect_exact_cover(topo, list);
    EXPECT_EQ(list, (places{{0}, {2, 6}, {4}, {1, 5}, {3, 7}}));
}

// DDR plus HBM/NVM nodes over the same CPUs: one place per CPU set.
TEST(PlacesTest, NumaDomainsAreDistinctWhenMemoryTiersShareCpus) {
    const auto topo = machine("hetero-memory-tiers.xml");
    ASSERT_EQ(topo.node_count(), 7U);
    EXPECT_EQ(topos::parse_places(topo, "numa_domains"), (places{{0, 1}, {2, 3}, {4, 5}}));
}

// The nodes of this cgroup have no allowed CPU: numa_domains gives no place,
// which is an error naming the list, not an empty list.
TEST(PlacesTest, NumaDomainsWithNoAllowedCpuIsAPlacesError) {
    const auto topo = machine("cgroup-cpuless-nodes.xml");
    try {
        (void)topos::parse_places(topo, "numa_domains");
        FAIL() << "no error for numa_domains on CPU-less nodes";
    } catch (const topos::places_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("numa_domains"), std::string::npos) << msg;
        EXPECT_NE(msg.find("no NUMA node"), std::string::npos) << msg;
    }
    expect_exact_cover(topo, topos::parse_places(topo, "cores"));
}

// An export whose PUs carry no os_index: the cpuset bit names each PU.
TEST(PlacesTest, PusWithoutOsIndexAreNamedByTheirCpuset) {
    const auto topo = topos::topology::from_xml(std::filesystem::path(TOPOS_TEST_DATA_DIR) / "pus-without-os-index.xml");
    ASSERT_EQ(topo.pus().size(), 16U);
    EXPECT_EQ(topo.pus().front().os_index, 0);
    EXPECT_EQ(topo.pus().back().os_index, 15);
    EXPECT_EQ(topos::parse_places(topo, "cores"), blocks(8, 2));
    EXPECT_EQ(topos::parse_places(topo, "numa_domains"), blocks(1, 16));
}

TEST(PlacesTest, SocketsWithoutPackagesAreTheWholeMachine) {
    const auto topo = topos::topology::synthetic("numa:2 pu:4");
    ASSERT_TRUE(topo.packages().empty());
    EXPECT_EQ(topos::parse_places(topo, "sockets"), blocks(1, 8));
}

TEST(PlacesTest, AbstractNamesTakeACount) {
    EXPECT_EQ(parse32("cores(3)"), blocks(3, 2));
    EXPECT_EQ(parse32("ll_caches(2)"), blocks(2, 8));
    EXPECT_EQ(parse32("numa_domains(1)"), blocks(1, 8));
    EXPECT_EQ(parse32("sockets(2)"), blocks(2, 16));
    EXPECT_EQ(parse32("threads(32)"), blocks(32, 1));
    EXPECT_EQ(parse32("cores(16)"), parse32("cores"));
}

TEST(PlacesTest, AbstractNamesIgnoreCaseAndWhitespace) {
    EXPECT_EQ(parse32("CORES"), parse32("cores"));
    EXPECT_EQ(parse32("Numa_Domains"), blocks(4, 8));
    EXPECT_EQ(parse32("  threads ( 4 )\t"), blocks(4, 1));
    EXPECT_EQ(parse32("\nSockets\n"), blocks(2, 16));
}

TEST(PlacesTest, ExplicitPlaceListsPusInAscendingOrder) {
    EXPECT_EQ(parse32("{3,1,2}"), (places{{1, 2, 3}}));
    EXPECT_EQ(parse32("{5},{0,31}"), (places{{5}, {0, 31}}));
}

TEST(PlacesTest, ResourceIntervalWithStride) {
    EXPECT_EQ(parse32("{0:4}"), (places{{0, 1, 2, 3}}));
    EXPECT_EQ(parse32("{0:4:2}"), (places{{0, 2, 4, 6}}));
    EXPECT_EQ(parse32("{1:3:10}"), (places{{1, 11, 21}}));
    EXPECT_EQ(parse32("{0:2,16:2}"), (places{{0, 1, 16, 17}}));
}

TEST(PlacesTest, ResourceIntervalWithNegativeStride) {
    EXPECT_EQ(parse32("{7:4:-1}"), (places{{4, 5, 6, 7}}));
    EXPECT_EQ(parse32("{6:4:-2}"), (places{{0, 2, 4, 6}}));
    EXPECT_EQ(parse32("{3:4:-1}"), (places{{0, 1, 2, 3}}));
}

TEST(PlacesTest, ResourceIntervalWithZeroStrideIsOnePu) {
    EXPECT_EQ(parse32("{5:1000000:0}"), (places{{5}}));
}

TEST(PlacesTest, DuplicatesInsideAPlaceAreMerged) {
    EXPECT_EQ(parse32("{1,1,0,0:2}"), (places{{0, 1}}));
    EXPECT_EQ(parse32("{0:4,2:4}"), (places{run(0, 6)}));
}

TEST(PlacesTest, PlacesMayOverlap) {
    EXPECT_EQ(parse32("{0:4},{2:4},{0:4}"), (places{run(0, 4), run(2, 4), run(0, 4)}));
}

TEST(PlacesTest, ExcludedPuIsRemovedWhereverItIsWritten) {
    const places expected{{0, 1, 2, 4, 5, 6, 7}};
    EXPECT_EQ(parse32("{0:8,!3}"), expected);
    EXPECT_EQ(parse32("{!3,0:8}"), expected);
    EXPECT_EQ(parse32("{0:8, ! 3}"), expected);
    EXPECT_EQ(parse32("{0:8,!3,!0,!3}"), (places{{1, 2, 4, 5, 6, 7}}));
}

TEST(PlacesTest, ExcludedPlaceIsRemovedFromTheListBuiltSoFar) {
    EXPECT_EQ(parse32("{0:4}:4:4,!{4:4}"), (places{run(0, 4), run(8, 4), run(12, 4)}));
    // Every earlier copy goes, and the set is compared, not the spelling.
    EXPECT_EQ(parse32("{0},{1},{0},!{0:1}"), (places{{1}}));
    EXPECT_EQ(parse32("{0,1},{2,3},!{1,0}"), (places{{2, 3}}));
    // Places written after the exclusion stay.
    EXPECT_EQ(parse32("{0},{1},!{0},{0}"), (places{{1}, {0}}));
    EXPECT_EQ(parse32("0,1,2,!1"), (places{{0}, {2}}));
}

TEST(PlacesTest, PlaceIntervalStrideDefaultsToOne) {
    EXPECT_EQ(parse32("{0:4}:2"), (places{run(0, 4), run(1, 4)}));
    EXPECT_EQ(parse32("{0,8}:3"), (places{{0, 8}, {1, 9}, {2, 10}}));
}

TEST(PlacesTest, PlaceIntervalWithNegativeStride) {
    EXPECT_EQ(parse32("{12:4}:4:-4"), (places{run(12, 4), run(8, 4), run(4, 4), run(0, 4)}));
}

TEST(PlacesTest, PlaceIntervalWithExcludedPuShiftsTheRemainder) {
    EXPECT_EQ(parse32("{0:4,!1}:2:8"), (places{{0, 2, 3}, {8, 10, 11}}));
}

TEST(PlacesTest, BareNumberIsAOnePuPlace) {
    EXPECT_EQ(parse32("2"), (places{{2}}));
    EXPECT_EQ(parse32("2:3"), (places{{2}, {3}, {4}}));
    EXPECT_EQ(parse32("2:3:2"), (places{{2}, {4}, {6}}));
    EXPECT_EQ(parse32("0,{1:2},{4:2}:2:2"), (places{{0}, {1, 2}, {4, 5}, {6, 7}}));
}

TEST(PlacesTest, WhitespaceBetweenTokensIsIgnored) {
    EXPECT_EQ(parse32(" { 0 : 4 } : 2 : 4 , ! { 4 : 4 } , { 20 : 2 : -1 } "), (places{run(0, 4), {19, 20}}));
    EXPECT_EQ(parse32("\t{0,\n1}"), (places{{0, 1}}));
}

TEST(PlacesTest, PusOnMachinesWithSparseIndices) {
    const auto topo = topos::topology::synthetic("core:2 pu:2(indexes=0,1,4,5)");
    EXPECT_EQ(topos::parse_places(topo, "threads"), (places{{0}, {1}, {4}, {5}}));
    EXPECT_EQ(topos::parse_places(topo, "cores"), (places{{0, 1}, {4, 5}}));
    EXPECT_EQ(topos::parse_places(topo, "{0:2}:2:4"), (places{{0, 1}, {4, 5}}));
    try {
        (void)topos::parse_places(topo, "{0:4}");
        FAIL() << "PU 2 is not on the machine";
    } catch (const topos::places_error& e) {
        EXPECT_NE(std::string(e.what()).find("PU 2 "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("allowed PUs are 0-1,4-5"), std::string::npos) << e.what();
    }
}

TEST(PlacesTest, AbstractNamesKeepOnlyAllowedPusAndSkipEmptyPlaces) {
    const auto file = restricted_xml();
    if (file.empty()) {
        GTEST_SKIP() << "tests/data/asym4.xml is not available";
    }
    const auto topo = topos::topology::from_xml(file);
    std::filesystem::remove(file);
    ASSERT_FALSE(topo.has_pu(0));
    ASSERT_TRUE(topo.has_pu(4));
    places threads;
    for (int pu = 4; pu < 16; ++pu) {
        threads.push_back({pu});
    }
    EXPECT_EQ(topos::parse_places(topo, "threads"), threads);
    // NUMA node 0 and its L3 have no allowed PU left: their places are skipped.
    EXPECT_EQ(topos::parse_places(topo, "numa_domains"), (places{run(4, 4), run(8, 4), run(12, 4)}));
    EXPECT_EQ(topos::parse_places(topo, "ll_caches"), (places{run(4, 4), run(8, 4), run(12, 4)}));
    EXPECT_EQ(topos::parse_places(topo, "cores(2)"), (places{{4, 5}, {6, 7}}));
    EXPECT_EQ(topos::parse_places(topo, "sockets"), (places{run(4, 4), run(8, 8)}));
    EXPECT_EQ(topos::parse_places(topo, "{4:4}:3:4"), (places{run(4, 4), run(8, 4), run(12, 4)}));
    try {
        (void)topos::parse_places(topo, "{0:8}");
        FAIL() << "PU 0 is outside the allowed set";
    } catch (const topos::places_error& e) {
        EXPECT_NE(std::string(e.what()).find("PU 0 "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("allowed PUs are 4-15"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)topos::parse_places(topo, "numa_domains(4)"), topos::places_error);
    EXPECT_THROW((void)topos::parse_places(topo, "{4:4,!2}"), topos::places_error);
}

struct bad_places {
    const char* text;
    const char* says; // a fragment the message must hold
};

// Every entry must throw places_error with a one-line message that quotes the
// whole input and holds the fragment. Machine: 32 PUs, 16 cores, 4 L3, 4 nodes.
const bad_places k_bad_places[] = {
    {"", "empty"},
    {"   ", "empty"},
    {"{", "expected a PU number at position 2, found end of input"},
    {"{0", "expected ',' or '}' at position 3, found end of input"},
    {"{0:4", "expected ',' or '}'"},
    {"{0:4},{4:4", "expected ',' or '}'"},
    {"}", "expected '{' or a PU number at position 1, found '}'"},
    {"{0}}", "expected ',' or end of input at position 4, found '}'"},
    {"{{0}}", "expected a PU number at position 2, found '{'"},
    {"{}", "empty place '{}' at position 1"},
    {"{ }", "empty place"},
    {"{0,}", "expected a PU number at position 4, found '}'"},
    {"{,0}", "expected a PU number at position 2, found ','"},
    {"{0:}", "expected a number of PUs after ':' at position 4"},
    {"{0:0}", "count 0 at position 4"},
    {"{0:4:}", "expected a stride"},
    {"{0:4:-}", "expected a stride"},
    {"{0:4:+1}", "expected a stride"},
    {"{0:4:2:1}", "expected ',' or '}' at position 7, found ':'"},
    {"{0;1}", "expected ',' or '}' at position 3, found ';'"},
    {"{0 1}", "expected ',' or '}' at position 4, found '1'"},
    {"{a}", "expected a PU number at position 2, found 'a'"},
    {"{-1}", "expected a PU number at position 2, found '-'"},
    {"{0}:", "expected a number of places after ':' at position 5, found end of input"},
    {"{0}:0", "count 0 at position 5"},
    {"{0}:-2", "expected a number of places"},
    {"{0}:2:", "expected a stride"},
    {"{0}:2:x", "expected a stride"},
    {"{0}:2:2:2", "expected ',' or end of input at position 8, found ':'"},
    {"{0},", "expected '{' or a PU number at position 5, found end of input"},
    {",{0}", "expected '{' or a PU number at position 1, found ','"},
    {"{0},,{1}", "expected '{' or a PU number at position 5, found ','"},
    {"{0}{1}", "expected ',' or end of input at position 4, found '{'"},
    {"{0} x", "expected ',' or end of input at position 5, found 'x'"},
    {"1 2", "expected ',' or end of input at position 3, found '2'"},
    {"{0},threads", "expected '{' or a PU number at position 5, found 'threads'"},
    {"threads,{0}", "expected end of input after the abstract name at position 8, found ','"},
    {"threads x", "expected end of input after the abstract name"},
    {"threads(4)x", "expected end of input after the abstract name"},
    {"threads(4),cores", "expected end of input after the abstract name"},
    {"threads(", "expected a number of places at position 9, found end of input"},
    {"threads()", "expected a number of places at position 9, found ')'"},
    {"threads(4", "expected ')' at position 10, found end of input"},
    {"threads(4,2)", "expected ')'"},
    {"threads(-1)", "expected a number of places"},
    {"threads(0)", "count 0 at position 9"},
    {"threads(33)", "threads(33) at position 9 asks for 33 places but this machine has 32"},
    {"cores(17)", "asks for 17 places but this machine has 16"},
    {"ll_caches(5)", "asks for 5 places but this machine has 4"},
    {"numa_domains(5)", "asks for 5 places but this machine has 4"},
    {"SOCKETS(3)", "sockets(3) at position 9 asks for 3 places but this machine has 2"},
    {"thread", "unknown abstract name 'thread' at position 1"},
    {"numa", "unknown abstract name 'numa'"},
    {"cores2", "unknown abstract name 'cores2'"},
    {"l3_caches", "unknown abstract name 'l3_caches'"},
    {"x{0}", "unknown abstract name 'x'"},
    {"$", "expected '{' or a PU number at position 1, found '$'"},
    {"{32}", "PU 32 (at position 2) is not on this machine or not allowed; allowed PUs are 0-31"},
    {"32", "PU 32 (at position 1)"},
    {"{0:40}", "PU 32 (at position 2)"},
    {"{30:2:2}", "PU 32 "},
    {"{0,!32}", "PU 32 (at position 5)"},
    {"{28:4}:2", "PU 32 (at position 1)"},
    {"{0:4}:4:10", "PU 32 "},
    {"{2:4:-1}", "reaches PU -1; PU indices cannot be negative"},
    {"{0}:2:-1", "reaches PU -1"},
    {"{8:4}:3:-8", "reaches PU -8"},
    {"{99999999999}", "number 99999999999 at position 2 is too large"},
    {"{0:99999999999}", "is too large"},
    {"{0}:4:99999999999", "is too large"},
    {"threads(99999999999)", "is too large"},
    {"{2147483647}", "PU 2147483647 "},
    {"{2147483647:2}", "PU 2147483647 "},
    {"{!0}", "the place at position 1 is empty once its exclusions are applied"},
    {"{0:2,!0,!1}", "empty once its exclusions"},
    {"!{0}", "'!{0}' at position 1 excludes a place that is not in the list before it"},
    {"{0},!{1}", "'!{1}' at position 5 excludes a place"},
    {"!{0},{0}", "excludes a place that is not in the list"},
    {"{0:2},!{0}", "excludes a place that is not in the list"},
    {"{0},!{0}", "every place is excluded"},
    {"{0:4},!{0:4}:2", "expected ',' or end of input"},
    {"!", "expected '{' or a PU number at position 2, found end of input"},
    {"{0}:2000000000:0", "longer than 65536 places"},
};

TEST(PlacesTest, BadInputIsAOneLinePlacesErrorQuotingTheText) {
    for (const auto& bad : k_bad_places) {
        SCOPED_TRACE(std::string("input '") + bad.text + "'");
        try {
            (void)parse32(bad.text);
            ADD_FAILURE() << "no error";
        } catch (const topos::places_error& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find(std::string("places '") + bad.text + "': "), std::string::npos) << message;
            EXPECT_NE(message.find(bad.says), std::string::npos) << message;
            EXPECT_EQ(message.find('\n'), std::string::npos) << message;
        }
    }
}

TEST(PlacesTest, ControlCharactersAreEscapedInMessages) {
    try {
        (void)parse32("{0}\n{1}");
        FAIL() << "no error";
    } catch (const topos::places_error& e) {
        const std::string message = e.what();
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
        EXPECT_NE(message.find("places '{0}\\x0a{1}'"), std::string::npos) << message;
        EXPECT_NE(message.find("found '{'"), std::string::npos) << message;
    }
}

TEST(PlacesTest, ErrorsAreTopologyAware) {
    // The same text is fine on a larger machine and an error on a smaller one.
    EXPECT_EQ(parse32("{16:16}"), (places{run(16, 16)}));
    EXPECT_THROW((void)parse16("{16:16}"), topos::places_error);
    EXPECT_THROW((void)parse16("threads(17)"), topos::places_error);
}

} // namespace
