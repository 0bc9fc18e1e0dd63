// Data that moves, judged by the kernel (move_pages) on an emulated
// multi-node machine (tests/numa-vm/run --shape 2n / 4n): next-touch pulls
// pages to their toucher's node, replicas and per-node slots sit on their
// nodes, node_array layouts bind the pages they say.
#include "numa_test_support.hpp"

#include <topos/memory.hpp>
#include <topos/next_touch.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/per_worker.hpp>
#include <topos/replicated.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>

#include <fcntl.h>
#include <numaif.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

using topos::test::numa_machine_test;

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// The kernel node of the page holding each address; negative when absent.
int kernel_node_of(const void* p) {
    void* pg = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) / page() * page());
    int status = -1;
    EXPECT_EQ(move_pages(0, 1, &pg, nullptr, &status, 0), 0);
    return status;
}

class NumaDataTest : public numa_machine_test {
protected:
    void SetUp() override {
        numa_machine_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }
        m_topo = std::make_unique<topos::topology>(topos::topology::host());
        ASSERT_TRUE(topos::get_memory_status().numa_syscalls) << topos::get_memory_status().note;
    }
    [[nodiscard]] int os(int logical) const {
        return m_topo->numa_nodes()[static_cast<std::size_t>(logical)].os_index;
    }
    [[nodiscard]] int nodes() const { return static_cast<int>(m_topo->node_count()); }

    // Runs fn on a new thread pinned to the CPUs of `node`.
    template <class F>
    std::thread pinned(int node, F fn) {
        const auto cpus = m_topo->pus_of_node(node);
        EXPECT_FALSE(cpus.empty());
        return std::thread([cpus, fn] {
            cpu_set_t set;
            CPU_ZERO(&set);
            for (int c : cpus) {
                CPU_SET(static_cast<std::size_t>(c), &set);
            }
            EXPECT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
            fn();
        });
    }

    std::unique_ptr<topos::topology> m_topo;
};

TEST_F(NumaDataTest, TouchedPagesFollowTheirToucherUntouchedStay) {
    const std::size_t pages = 64;
    const std::size_t bytes = pages * page();
    auto* p = static_cast<unsigned char*>(topos::allocate(bytes, topos::mem_policy::on_node(0), {.own_pages = true}));
    for (std::size_t i = 0; i < bytes; ++i) {
        p[i] = static_cast<unsigned char>(i % 251);
    }
    for (std::size_t k = 0; k < pages; ++k) {
        ASSERT_EQ(kernel_node_of(p + k * page()), os(0)) << "page " << k;
    }
    ASSERT_EQ(topos::migrate_on_next_touch(p, bytes), pages);
    // A thread pinned to node 1 touches pages [0, 16): they must end on node 1.
    pinned(1, [&] {
        for (std::size_t k = 0; k < 16; ++k) {
            std::atomic_ref<unsigned char>(p[k * page() + 5]).fetch_add(0); // a write that changes nothing
        }
    }).join();
    for (std::size_t k = 0; k < 16; ++k) {
        EXPECT_EQ(kernel_node_of(p + k * page()), os(1)) << "page " << k;
    }
    // Runtime workers touch pages [16, 32), one task a page sent to node 1's
    // inbox (a task may be stolen by another node's worker when node 1 is
    // busy); each page ends on the node of the worker that touched it.
    topos::runtime rt;
    const std::vector<int> rt_nodes = rt.nodes();
    ASSERT_EQ(std::count(rt_nodes.begin(), rt_nodes.end(), 1), 1) << "the runtime has no worker on node 1";
    std::vector<int> toucher(pages / 2, -1);
    {
        topos::task_group g(rt);
        for (std::size_t k = 16; k < pages / 2; ++k) {
            g.run_on_node(1, [&, k] {
                toucher[k] = topos::this_worker::node();
                std::atomic_ref<unsigned char>(p[k * page() + 5]).fetch_add(0);
            });
        }
        g.wait();
    }
    for (std::size_t k = 16; k < pages / 2; ++k) {
        ASSERT_GE(toucher[k], 0);
        EXPECT_EQ(kernel_node_of(p + k * page()), os(toucher[k])) << "page " << k << " touched on node " << toucher[k];
    }
    EXPECT_EQ(topos::armed_pages(p, bytes), pages / 2);
    // Armed pages have no access, and the kernel reports them absent; once
    // disarmed where they are, the untouched half is still on node 0.
    EXPECT_EQ(topos::cancel_next_touch(p, bytes), pages / 2);
    for (std::size_t k = pages / 2; k < pages; ++k) {
        EXPECT_EQ(kernel_node_of(p + k * page()), os(0)) << "untouched page " << k;
    }
    // The data made the trip unchanged.
    for (std::size_t i = 0; i < bytes; ++i) {
        ASSERT_EQ(p[i], static_cast<unsigned char>(i % 251)) << "byte " << i;
    }
    // After the touch a page stays: another node reading it does not move it.
    pinned(0, [&] { EXPECT_EQ(p[5], 5); }).join();
    EXPECT_EQ(kernel_node_of(p), os(1));
    topos::deallocate(p, bytes);
}

TEST_F(NumaDataTest, ConcurrentFirstTouchesFromTwoNodesEndOnOneOfThem) {
    const int last = nodes() - 1;
    const std::size_t pages = 256;
    const std::size_t bytes = pages * page();
    auto* words = static_cast<std::uint64_t*>(
        topos::allocate(bytes, topos::mem_policy::on_node(last), {.own_pages = true}));
    const std::size_t per_page = page() / sizeof(std::uint64_t);
    for (std::size_t i = 0; i < pages * per_page; ++i) {
        words[i] = i;
    }
    topos::migrate_on_next_touch(words, bytes);
    // Threads on nodes 0 and 1 race through every page, each adding 1 to its
    // own word of the page (words 0 and 1 of each page are counters).
    std::atomic<int> ready{0};
    auto racer = [&](std::size_t word) {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        for (std::size_t k = 0; k < pages; ++k) {
            std::atomic_ref<std::uint64_t>(words[k * per_page + word]).fetch_add(1000);
        }
    };
    std::thread a = pinned(0, [&] { racer(0); });
    std::thread b = pinned(1, [&] { racer(1); });
    a.join();
    b.join();
    std::array<std::size_t, 2> count{};
    for (std::size_t k = 0; k < pages; ++k) {
        const int n = kernel_node_of(words + k * per_page);
        ASSERT_TRUE(n == os(0) || n == os(1)) << "page " << k << " is on kernel node " << n;
        ++count[n == os(0) ? 0 : 1];
    }
    EXPECT_EQ(count[0] + count[1], pages);
    for (std::size_t i = 0; i < pages * per_page; ++i) {
        const std::size_t w = i % per_page;
        ASSERT_EQ(words[i], w < 2 ? i + 1000 : i) << "word " << i;
    }
    EXPECT_EQ(topos::armed_pages(words, bytes), 0U);
    topos::deallocate(words, bytes);
}

TEST_F(NumaDataTest, ReadIntoAnArmedBufferThroughPrepareForIo) {
    const std::size_t bytes = 8 * page();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::on_node(0), {.own_pages = true}));
    std::memset(p, 0, bytes);
    topos::migrate_on_next_touch(p, bytes);
    pinned(1, [&] {
        const int fd = open("/proc/self/exe", O_RDONLY);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(topos::prepare_for_io(p, bytes), 8U);
        EXPECT_EQ(read(fd, p, bytes), static_cast<ssize_t>(bytes));
        close(fd);
    }).join();
    EXPECT_EQ(std::memcmp(p, "\x7f" "ELF", 4), 0);
    for (std::size_t k = 0; k < 8; ++k) {
        EXPECT_EQ(kernel_node_of(p + k * page()), os(1)) << "page " << k;
    }
    topos::deallocate(p, bytes);
}

TEST_F(NumaDataTest, NextTouchPolicyPlacesByFirstToucher) {
    const std::size_t bytes = 16 * page();
    auto* p = static_cast<unsigned char*>(topos::allocate(bytes, topos::mem_policy::next_touch()));
    pinned(nodes() - 1, [&] { std::memset(p, 1, bytes); }).join();
    for (std::size_t k = 0; k < 16; ++k) {
        EXPECT_EQ(kernel_node_of(p + k * page()), os(nodes() - 1)) << "page " << k;
    }
    topos::deallocate(p, bytes);
}

TEST_F(NumaDataTest, RebalanceMovesBlocksToTheirNewUsers) {
    topos::runtime rt;
    const int k = static_cast<int>(rt.nodes().size());
    ASSERT_GE(k, 2);
    const std::size_t n = 64 * 1024; // 128 pages of doubles
    topos::node_array<double> a(rt, n);
    for (std::size_t b = 0; b < a.block_count(); ++b) {
        const auto& blk = a.block(b);
        EXPECT_EQ(kernel_node_of(&a[blk.begin + (blk.end - blk.begin) / 2]), os(blk.node)) << "block " << b;
    }
    a.rebalance_on_next_touch();
    // Phase 2: block b is used by the workers of node (b + 1) % k.
    topos::task_group g(rt);
    std::vector<int> user(a.block_count(), -1);
    for (std::size_t b = 0; b < a.block_count(); ++b) {
        const int next = rt.nodes()[(b + 1) % static_cast<std::size_t>(k)];
        g.run_on_node(next, [&, b] {
            user[b] = topos::this_worker::node();
            for (std::size_t i = a.block(b).begin; i < a.block(b).end; ++i) {
                a[i] += 1.0;
            }
        });
    }
    g.wait();
    for (std::size_t b = 0; b < a.block_count(); ++b) {
        const auto& blk = a.block(b);
        // Pages wholly inside the block went to its user's node.
        const std::size_t first_page = (blk.begin * sizeof(double) + page() - 1) / page();
        const std::size_t end_page = blk.end * sizeof(double) / page();
        for (std::size_t pg = first_page; pg < end_page; ++pg) {
            EXPECT_EQ(kernel_node_of(reinterpret_cast<char*>(a.data()) + pg * page()), os(user[b]))
                << "block " << b << " page " << pg;
        }
    }
    EXPECT_EQ(a[n - 1], 1.0);
}

TEST_F(NumaDataTest, ReplicasSitOnTheirNodesAndWorkersReadTheirOwn) {
    topos::runtime rt;
    struct table {
        std::array<std::uint64_t, 2048> v{}; // 16 KiB: four pages
    };
    table init;
    init.v.fill(7);
    topos::replicated<table> r(rt, init);
    ASSERT_EQ(r.nodes(), rt.nodes());
    auto check_pages = [&] {
        for (int node : r.nodes()) {
            const auto view = r.on_node(node);
            for (std::size_t i = 0; i < view->v.size(); i += page() / sizeof(std::uint64_t)) {
                EXPECT_EQ(kernel_node_of(&view->v[i]), os(node)) << "copy of node " << node << " word " << i;
            }
        }
    };
    check_pages();
    r.update([](table& t) { t.v.fill(8); });
    check_pages();
    std::atomic<int> wrong{0};
    std::atomic<int> ran{0};
    topos::task_group g(rt);
    for (int node : r.nodes()) {
        for (int t = 0; t < 8; ++t) {
            g.run_on_node(node, [&] {
                const auto view = r.local();
                const int me = topos::this_worker::node();
                wrong += (view.get() != r.on_node(me).get() || view->v[5] != 8) ? 1 : 0;
                wrong += kernel_node_of(view.get()) != os(me) ? 1 : 0;
                ran += 1;
            });
        }
    }
    g.wait();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(ran.load(), 8 * static_cast<int>(r.nodes().size()));
}

TEST_F(NumaDataTest, PerNodeAndPerWorkerSlotsSitOnTheirNodes) {
    topos::runtime rt;
    topos::per_node<std::atomic<long>> per(rt);
    for (int node : rt.nodes()) {
        EXPECT_EQ(kernel_node_of(&per.on_node(node)), os(node)) << "per_node slot of node " << node;
    }
    topos::per_worker<long> mine(rt);
    std::size_t i = 0;
    for (const long& slot : mine) {
        if (i < rt.plan().workers.size()) {
            EXPECT_EQ(kernel_node_of(&slot), os(rt.plan().workers[i].node)) << "worker " << i;
        }
        ++i;
    }
}

TEST_F(NumaDataTest, LayoutsBindThePagesTheySay) {
    topos::runtime rt;
    const std::size_t n = 256 * page() / sizeof(double);
    const auto check = [&](const topos::node_array<double>& a) {
        for (const auto& blk : a.blocks()) {
            const std::size_t first_page = (blk.begin * sizeof(double) + page() - 1) / page();
            const std::size_t end_page = blk.end * sizeof(double) / page();
            for (std::size_t pg = first_page; pg < end_page; ++pg) {
                ASSERT_EQ(kernel_node_of(reinterpret_cast<const char*>(a.data()) + pg * page()), os(blk.node))
                    << "block [" << blk.begin << ", " << blk.end << ") page " << pg;
            }
        }
    };
    check(topos::node_array<double>(rt, n, topos::layout::even()));
    check(topos::node_array<double>(rt, n, topos::layout::by_workers(rt)));
    std::vector<std::size_t> sizes(rt.nodes().size(), 0);
    sizes.back() = n / 4;
    sizes.front() = n - n / 4;
    check(topos::node_array<double>(rt, n, topos::layout::blocks(sizes)));
    topos::node_array<double> il(rt, n, topos::layout::interleaved(4));
    EXPECT_EQ(il.block_count(), 256U / 4);
    check(il);
}

} // namespace
