// What the fuzzers found, as plain tests with the expected outcome spelled
// out (the inputs themselves are also in tests/fuzz/corpus/, replayed by
// fuzz_replay_<name>).
#include <topos/error.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string synthetic_error(const std::string& description) {
    try {
        (void)topos::topology::synthetic(description);
    } catch (const topos::topology_error& e) {
        return e.what();
    }
    return {};
}

// fuzz_synthetic: a description with a huge machine made hwloc build it for
// minutes (and gigabytes); it is now refused by size before hwloc starts.
TEST(FuzzFindings, HugeSyntheticMachinesAreRefusedBeforeHwlocBuildsThem) {
    for (const char* huge : {"pu:20000000", "0x86 0x86", "pack:0x10000 pu:1", "pack:64 core:64 pu:16", "2 2 2 2 2 2 2 2 2 2 2 2 2 2", "pack:99999999999999999999 pu:1",
                             "pack:4(memory=1GB) [numa] core:4096 pu:2"}) {
        const std::string message = synthetic_error(huge);
        EXPECT_NE(message.find(std::string("'") + huge + "'"), std::string::npos) << message;
        EXPECT_NE(message.find("8192 PUs"), std::string::npos) << message;
    }
    // Arity-1 levels under a wide one add objects without adding PUs.
    std::string deep = "pack:2 core:1024";
    for (int i = 0; i < 40; ++i) {
        deep += " group:1";
    }
    deep += " pu:2";
    EXPECT_NE(synthetic_error(deep).find("65536 objects"), std::string::npos) << synthetic_error(deep);
    // NUMA nodes: their distances grow with the square of their number.
    for (const char* many : {"numa:4096 pu:1", "pack:512 [numa] pu:2", "NUMANode:300 pu:1"}) {
        EXPECT_NE(synthetic_error(many).find("256 NUMA nodes"), std::string::npos) << synthetic_error(many);
    }
}

// fuzz_synthetic: hwloc read "gr2 [numaU core:555551 pu:1" (a '[' never
// closed) as a machine of 555551 PUs while the size estimate skipped the
// bracket's text; unbalanced text is now refused, and numbers inside
// brackets count.
TEST(FuzzFindings, UnbalancedOrPaddedBracketsCannotHideAHugeMachine) {
    for (const char* unbalanced : {"gr2 [numaU core:555551 pu:1", "pack:2 [numa core:4 pu:1", "pack:2 core:2) pu:1",
                                   "pack:2] core:2 pu:1", "pack:2(memory=1GB core:2 pu:1"}) {
        const std::string message = synthetic_error(unbalanced);
        EXPECT_NE(message.find(std::string("'") + unbalanced + "'"), std::string::npos) << message;
        EXPECT_NE(message.find("is not closed"), std::string::npos) << message;
    }
    EXPECT_NE(synthetic_error("pack:2 [numa core:555551] pu:1").find("8192 PUs"), std::string::npos);
    // Each bracket adds a node per object of the level above: 2 x 130 > 256.
    std::string many = "pack:130";
    for (int i = 0; i < 2; ++i) {
        many += " [numa]";
    }
    many += " pu:1";
    EXPECT_NE(synthetic_error(many).find("256 NUMA nodes"), std::string::npos) << synthetic_error(many);
    EXPECT_EQ(topos::topology::synthetic("pack:2 [numa] [numa] core:2 pu:1").node_count(), 4U);
}

TEST(FuzzFindings, SyntheticMachinesUpToTheLimitsStillLoad) {
    EXPECT_EQ(topos::topology::synthetic("pack:2 core:1024 pu:4").pus().size(), 8192U);
    EXPECT_EQ(topos::topology::synthetic("numa:256 pu:1").node_count(), 256U);
    EXPECT_EQ(topos::topology::synthetic("pack:2 [numa(memory=1GB)] core:2 pu:2").node_count(), 2U);
}

// fuzz_xml: hwloc 2.9 dies (a null bitmap in hwloc_bitmap_compare_first)
// importing an object with a cpuset but no complete_cpuset; topos refuses
// such a file before hwloc reads it.
TEST(FuzzFindings, XmlObjectWithoutCompleteCpusetIsATypedError) {
    std::ifstream in(std::filesystem::path(TOPOS_TEST_DATA_DIR) / "out-of-order.xml");
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string xml = buffer.str();
    const auto at = xml.find(" complete_cpuset=\"");
    ASSERT_NE(at, std::string::npos);
    xml.erase(at, xml.find('"', xml.find('"', at) + 1) + 1 - at);
    const auto path = std::filesystem::temp_directory_path() /
                      ("topos_fuzz_finding_" + std::to_string(::getpid()) + ".xml");
    std::ofstream(path) << xml;
    try {
        (void)topos::topology::from_xml(path);
        ADD_FAILURE() << "an object without complete_cpuset was accepted";
    } catch (const topos::topology_error& e) {
        EXPECT_NE(std::string(e.what()).find("no complete_cpuset"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
    std::filesystem::remove(path);
}

} // namespace
