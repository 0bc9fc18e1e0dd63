// Placement of shared segments checked against the kernel, on a machine with
// several NUMA nodes (tests/numa-vm/run boots one): the policy of a segment
// belongs to the shared object, so its pages land where it says whichever
// process touches them.
#include "../shm/shm_test_support.hpp"
#include "numa_test_support.hpp"

#include <topos/memory.hpp>
#include <topos/shm.hpp>
#include <topos/topology.hpp>

#include <numaif.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

namespace {

using namespace topos;
using topos::test::child_process;

constexpr std::size_t k_pages = 32;

std::size_t page() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// The kernel's node number of each page of [p, p + bytes), straight from move_pages.
std::vector<int> kernel_nodes(const void* p, std::size_t bytes) {
    std::vector<void*> pages;
    for (std::size_t off = 0; off < bytes; off += page()) {
        pages.push_back(const_cast<char*>(static_cast<const char*>(p)) + off);
    }
    std::vector<int> status(pages.size(), -1);
    EXPECT_EQ(::move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0), 0);
    return status;
}

void touch_all(const shared_segment& seg) {
    for (std::size_t off = 0; off < seg.size(); off += page()) {
        static_cast<volatile char*>(seg.data())[off] = 1;
    }
}

class NumaShmTest : public topos::test::numa_machine_test {
protected:
    void SetUp() override {
        numa_machine_test::SetUp();
        if (IsSkipped() || HasFailure()) {
            return;
        }
        m_topo = std::make_unique<topology>(topology::host());
        ASSERT_TRUE(get_memory_status().numa_syscalls) << get_memory_status().note;
        m_name = topos::test::shm_test_prefix() + "numa-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    void TearDown() override {
        if (!m_name.empty()) {
            EXPECT_FALSE(shared_segment::remove_if_exists(m_name, shm_api::posix)) << "leaked";
            EXPECT_FALSE(shared_segment::remove_if_exists(m_name, shm_api::sysv)) << "leaked";
        }
    }
    [[nodiscard]] int os(int logical) const { return m_topo->numa_nodes()[static_cast<std::size_t>(logical)].os_index; }

    // All pages of a touched segment on `node`, by topos and by the kernel.
    void expect_all_on(const shared_segment& seg, int node) {
        const auto nodes = seg.page_nodes();
        ASSERT_EQ(nodes.size(), k_pages);
        EXPECT_TRUE(std::all_of(nodes.begin(), nodes.end(), [&](int n) { return n == node; }))
            << ::testing::PrintToString(nodes);
        const auto kernel = kernel_nodes(seg.data(), seg.size());
        EXPECT_TRUE(std::all_of(kernel.begin(), kernel.end(), [&](int n) { return n == os(node); }))
            << ::testing::PrintToString(kernel);
        // The allocator's page_nodes works on a segment too.
        const auto via_memory = topos::page_nodes(seg.data(), seg.size());
        EXPECT_EQ(via_memory, nodes);
    }

    // The test's segment of k_pages pages, through `api`, placed by `policy`.
    [[nodiscard]] shared_segment make(shm_api api, const mem_policy& policy) const {
        shm_options o;
        o.api = api;
        o.policy = policy;
        return shared_segment::create(m_name, k_pages * page(), o);
    }

    std::unique_ptr<topology> m_topo;
    std::string m_name;
};

TEST_F(NumaShmTest, PosixSegmentOnNode1HasEveryPageThere) {
    const shared_segment seg = make(shm_api::posix, mem_policy::on_node(1));
    touch_all(seg);
    expect_all_on(seg, 1);
    shared_segment::remove(m_name);
}

TEST_F(NumaShmTest, SysvSegmentOnNode1HasEveryPageThere) {
    const shared_segment seg = make(shm_api::sysv, mem_policy::on_node(1));
    touch_all(seg);
    expect_all_on(seg, 1);
    shared_segment::remove(m_name, shm_api::sysv);
}

// The policy lives with the object: another process, running on node 0,
// touches the pages and they still go to node 1.
TEST_F(NumaShmTest, PagesTouchedByAProcessOnNode0FollowTheSegment) {
    for (const shm_api api : {shm_api::posix, shm_api::sysv}) {
        SCOPED_TRACE(api == shm_api::posix ? "posix" : "sysv");
        const shared_segment seg = make(api, mem_policy::on_node(1));
        cpu_set_t old_set;
        ASSERT_EQ(::sched_getaffinity(0, sizeof old_set, &old_set), 0);
        cpu_set_t node0;
        CPU_ZERO(&node0);
        for (const int cpu : m_topo->pus_of_node(0)) {
            CPU_SET(static_cast<std::size_t>(cpu), &node0);
        }
        ASSERT_EQ(::sched_setaffinity(0, sizeof node0, &node0), 0);
        child_process peer({TOPOS_SHM_PEER, "touch", m_name, api == shm_api::sysv ? "sysv" : "posix"});
        ASSERT_EQ(::sched_setaffinity(0, sizeof old_set, &old_set), 0);
        ASSERT_EQ(peer.wait(), 0);
        expect_all_on(seg, 1); // this process never wrote them: page_nodes finds the resident pages
        shared_segment::remove(m_name, api);
    }
}

TEST_F(NumaShmTest, MigrateMovesSegmentPages) {
    for (const shm_api api : {shm_api::posix, shm_api::sysv}) {
        SCOPED_TRACE(api == shm_api::posix ? "posix" : "sysv");
        const shared_segment seg = make(api, mem_policy::on_node(1));
        touch_all(seg);
        expect_all_on(seg, 1);
        EXPECT_EQ(topos::migrate(seg.data(), seg.size(), 0), k_pages);
        expect_all_on(seg, 0);
        shared_segment::remove(m_name, api);
    }
}

TEST_F(NumaShmTest, InterleavedSegmentAlternatesNodes) {
    for (const shm_api api : {shm_api::posix, shm_api::sysv}) {
        SCOPED_TRACE(api == shm_api::posix ? "posix" : "sysv");
        const shared_segment seg = make(api, mem_policy::interleave({0, 1}));
        touch_all(seg);
        const auto nodes = seg.page_nodes();
        ASSERT_EQ(nodes.size(), k_pages);
        for (std::size_t i = 0; i + 1 < nodes.size(); ++i) {
            EXPECT_TRUE(nodes[i] == 0 || nodes[i] == 1) << ::testing::PrintToString(nodes);
            EXPECT_NE(nodes[i], nodes[i + 1]) << "pages " << i << " and " << i + 1 << ": "
                                              << ::testing::PrintToString(nodes);
        }
        const auto kernel = kernel_nodes(seg.data(), seg.size());
        EXPECT_EQ(std::set<int>(kernel.begin(), kernel.end()), (std::set<int>{os(0), os(1)}));
        shared_segment::remove(m_name, api);
    }
}

} // namespace
