// Placement of topos's memory checked against the kernel (move_pages), on a
// machine with several NUMA nodes (tests/numa-vm/run boots one).
#include "numa_test_support.hpp"

#include <topos/allocator.hpp>
#include <topos/memory.hpp>
#include <topos/node_array.hpp>
#include <topos/topology.hpp>

#include <numaif.h>
#include <sched.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace {

using topos::test::numa_machine_test;

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// The kernel's node (its own numbering) of each page of [p, p+bytes); negative for absent pages.
std::vector<int> kernel_nodes(const void* p, std::size_t bytes) {
    const auto first = reinterpret_cast<std::uintptr_t>(p) / page() * page();
    const auto last = (reinterpret_cast<std::uintptr_t>(p) + bytes + page() - 1) / page() * page();
    std::vector<void*> pages;
    for (std::uintptr_t a = first; a < last; a += page()) {
        pages.push_back(reinterpret_cast<void*>(a));
    }
    std::vector<int> status(pages.size(), -1);
    EXPECT_EQ(move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0), 0);
    return status;
}

class NumaAllocTest : public numa_machine_test {
protected:
    void SetUp() override {
        numa_machine_test::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_topo = std::make_unique<topos::topology>(topos::topology::host());
        ASSERT_TRUE(topos::get_memory_status().numa_syscalls) << topos::get_memory_status().note;
    }
    [[nodiscard]] int os(int logical) const {
        return m_topo->numa_nodes()[static_cast<std::size_t>(logical)].os_index;
    }
    [[nodiscard]] int nodes() const { return static_cast<int>(m_topo->node_count()); }

    // Runs fn on a thread pinned to the CPUs of `node`.
    template <class F>
    void on_node_thread(int node, F fn) {
        const auto cpus = m_topo->pus_of_node(node);
        ASSERT_FALSE(cpus.empty()) << "node " << node << " has no allowed CPU";
        std::thread([&] {
            cpu_set_t set;
            CPU_ZERO(&set);
            for (int c : cpus) {
                CPU_SET(static_cast<std::size_t>(c), &set);
            }
            ASSERT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
            fn();
        }).join();
    }

    std::unique_ptr<topos::topology> m_topo;
};

TEST_F(NumaAllocTest, OnNodePagesSitOnTheirNode) {
    const std::size_t bytes = 16 * page();
    for (int n = 0; n < nodes(); ++n) {
        for (const auto& policy : {topos::mem_policy::on_node(n), topos::mem_policy::preferred(n),
                                   topos::mem_policy::bind({n})}) {
            SCOPED_TRACE(policy.to_string());
            auto* p = static_cast<char*>(topos::allocate(bytes, policy));
            std::memset(p, 1, bytes);
            for (int k : kernel_nodes(p, bytes)) {
                EXPECT_EQ(k, os(n));
            }
            for (int t : topos::page_nodes(p, bytes)) {
                EXPECT_EQ(t, n) << "page_nodes agrees with the kernel";
            }
            topos::deallocate(p, bytes);
        }
    }
}

TEST_F(NumaAllocTest, InterleavePagesAlternate) {
    const std::size_t pages = 8 * static_cast<std::size_t>(nodes());
    const std::size_t bytes = pages * page();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::interleave()));
    std::memset(p, 1, bytes);
    const auto k = kernel_nodes(p, bytes);
    ASSERT_EQ(k.size(), pages);
    const auto n = static_cast<std::size_t>(nodes());
    for (std::size_t i = 0; i + n <= pages; ++i) {
        std::set<int> window(k.begin() + static_cast<std::ptrdiff_t>(i), k.begin() + static_cast<std::ptrdiff_t>(i + n));
        EXPECT_EQ(window.size(), n) << "pages " << i << ".." << i + n - 1 << " are on every node once";
        EXPECT_EQ(k[i], k[i % n]) << "page " << i << " repeats the cycle";
    }
    EXPECT_EQ(topos::page_nodes(p, bytes).size(), pages);
    topos::deallocate(p, bytes);

    // Over a subset: only the named nodes, alternating.
    auto* q = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::interleave({0, nodes() - 1})));
    std::memset(q, 1, bytes);
    const auto kq = kernel_nodes(q, bytes);
    for (std::size_t i = 0; i + 1 < kq.size(); ++i) {
        EXPECT_NE(kq[i], kq[i + 1]);
        EXPECT_TRUE(kq[i] == os(0) || kq[i] == os(nodes() - 1));
    }
    topos::deallocate(q, bytes);
}

TEST_F(NumaAllocTest, NodeArrayBlocksSitOnTheirNodes) {
    const std::size_t n = static_cast<std::size_t>(nodes()) * (std::size_t{1} << 18) + 777; // ~2 MiB a node
    topos::node_array<double> a(n, *m_topo);
    ASSERT_EQ(a.block_count(), static_cast<std::size_t>(nodes()));
    for (const auto& b : a.blocks()) {
        SCOPED_TRACE(b.node);
        // Whole pages inside the block.
        const auto begin = reinterpret_cast<std::uintptr_t>(a.data() + b.begin);
        const auto end = reinterpret_cast<std::uintptr_t>(a.data() + b.end);
        const std::uintptr_t first = (begin + page() - 1) / page() * page();
        const std::uintptr_t last = end / page() * page();
        ASSERT_LT(first, last);
        for (int k : kernel_nodes(reinterpret_cast<void*>(first), last - first)) {
            EXPECT_EQ(k, os(b.node));
        }
    }
    // A chosen order of nodes.
    topos::node_array<int> rev(static_cast<std::size_t>(nodes()) * 4096, std::vector<int>{nodes() - 1, 0});
    EXPECT_EQ(rev.block(0).node, nodes() - 1);
    for (int k : kernel_nodes(rev.data(), 4 * page())) {
        EXPECT_EQ(k, os(nodes() - 1));
    }
}

TEST_F(NumaAllocTest, MigrateMovesPages) {
    const std::size_t bytes = 32 * page();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::on_node(0)));
    for (std::size_t i = 0; i < bytes; ++i) {
        p[i] = static_cast<char>(i % 251);
    }
    for (int k : kernel_nodes(p, bytes)) {
        ASSERT_EQ(k, os(0));
    }
    const int target = nodes() - 1;
    EXPECT_EQ(topos::migrate(p, bytes, target), 32u);
    for (int k : kernel_nodes(p, bytes)) {
        EXPECT_EQ(k, os(target));
    }
    for (int t : topos::page_nodes(p, bytes)) {
        EXPECT_EQ(t, target);
    }
    for (std::size_t i = 0; i < bytes; ++i) {
        ASSERT_EQ(p[i], static_cast<char>(i % 251)) << "contents survive the move";
    }
    topos::deallocate(p, bytes);
}

TEST_F(NumaAllocTest, SmallBlocksComeFromTheirNodesArena) {
    for (int n = 0; n < nodes(); ++n) {
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < 200; ++i) {
            blocks.push_back(topos::node_malloc(16 + 40 * i, n));
            std::memset(blocks.back(), 1, 16 + 40 * i);
        }
        for (void* b : blocks) {
            EXPECT_EQ(kernel_nodes(b, 1).front(), os(n));
            topos::node_free(b);
        }
    }
}

TEST_F(NumaAllocTest, RemoteFreesNeverChangeANodesMemory) {
    const int far = nodes() - 1;
    std::vector<void*> far_blocks;
    for (int i = 0; i < 5000; ++i) {
        far_blocks.push_back(topos::node_malloc(64, far));
    }
    const std::set<void*> far_set(far_blocks.begin(), far_blocks.end());
    // A thread on node 0 frees them, then asks node 0 for as many.
    on_node_thread(0, [&] {
        for (void* b : far_blocks) {
            topos::node_free(b);
        }
        std::vector<void*> near;
        for (int i = 0; i < 5000; ++i) {
            near.push_back(topos::node_malloc(64, 0));
            std::memset(near.back(), 1, 64);
        }
        for (void* b : near) {
            EXPECT_EQ(far_set.count(b), 0u) << "node-" << far << " memory handed out as node-0 memory";
            EXPECT_EQ(kernel_nodes(b, 1).front(), os(0));
            topos::node_free(b);
        }
    });
}

// A medium block freed on the far node is cached there: a thread on node 0
// asking for the same size gets node-0 pages, a thread on the far node gets
// the far node's block back.
TEST_F(NumaAllocTest, MediumBlocksStayWithTheirNode) {
    const int far = nodes() - 1;
    const std::size_t bytes = 100000;
    void* far_block = nullptr;
    on_node_thread(far, [&] {
        far_block = topos::allocate(bytes);
        std::memset(far_block, 1, bytes);
        for (int k : kernel_nodes(far_block, bytes)) {
            EXPECT_EQ(k, os(far));
        }
        topos::deallocate(far_block, bytes);
    });
    on_node_thread(0, [&] {
        void* p = topos::allocate(bytes);
        std::memset(p, 2, bytes);
        EXPECT_NE(p, far_block) << "node-" << far << " memory handed out as node-0 memory";
        for (int k : kernel_nodes(p, bytes)) {
            EXPECT_EQ(k, os(0));
        }
        topos::deallocate(p, bytes);
    });
    on_node_thread(far, [&] {
        void* p = topos::allocate(bytes);
        std::memset(p, 3, bytes);
        EXPECT_EQ(p, far_block) << "the far node's cache hands its block back";
        for (int k : kernel_nodes(p, bytes)) {
            EXPECT_EQ(k, os(far));
        }
        topos::deallocate(p, bytes);
    });
}

TEST_F(NumaAllocTest, LocalPolicyFollowsThePinnedThread) {
    const int far = nodes() - 1;
    on_node_thread(far, [&] {
        const std::size_t bytes = 8 * page();
        auto* big = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::local()));
        std::memset(big, 1, bytes);
        for (int k : kernel_nodes(big, bytes)) {
            EXPECT_EQ(k, os(far)) << "page block under local";
        }
        topos::deallocate(big, bytes);

        void* small = topos::allocate(64, topos::mem_policy::local());
        std::memset(small, 1, 64);
        EXPECT_EQ(kernel_nodes(small, 1).front(), os(far)) << "small block under local";
        topos::deallocate(small, 64);

        std::vector<int, topos::numa_allocator<int>> v(100000, 1);
        EXPECT_EQ(kernel_nodes(v.data(), 1).front(), os(far)) << "numa_allocator under local";
    });
}

TEST_F(NumaAllocTest, CountersChargeTheRightNode) {
    const int far = nodes() - 1;
    const auto before = topos::get_memory_counters();
    void* p = topos::node_malloc(1000, far);
    const auto during = topos::get_memory_counters();
    EXPECT_EQ(during.nodes[static_cast<std::size_t>(far)].bytes_in_use -
                  before.nodes[static_cast<std::size_t>(far)].bytes_in_use,
              1024);
    EXPECT_EQ(during.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use);
    topos::node_free(p);
}

} // namespace

namespace {

TEST_F(NumaAllocTest, DropInMallocFollowsThePinnedThread) {
#if defined(TOPOS_MALLOC_LIB) && defined(TOPOS_PRELOAD_PROGRAM)
    for (int node = 0; node < nodes(); ++node) {
        const std::string cmd = std::string("LD_PRELOAD=") + TOPOS_MALLOC_LIB + " " + TOPOS_PRELOAD_PROGRAM +
                                " --numa-local " + std::to_string(os(node));
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
#else
    GTEST_SKIP() << "libtopos_malloc.so is not built in sanitizer builds";
#endif
}

} // namespace
