// numa_allocator, numa_resource and node_array.
#include <topos/allocator.hpp>
#include <topos/memory.hpp>
#include <topos/node_array.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory_resource>
#include <numeric>
#include <string>
#include <vector>

namespace {

TEST(AllocAdapters, VectorWithNumaAllocator) {
    using alloc = topos::numa_allocator<double>;
    for (const auto& policy : {topos::mem_policy::local(), topos::mem_policy::on_node(0),
                               topos::mem_policy::interleave()}) {
        SCOPED_TRACE(policy.to_string());
        std::vector<double, alloc> v{alloc(policy)};
        for (int i = 0; i < 100000; ++i) {
            v.push_back(i * 0.5);
        }
        EXPECT_EQ(v.get_allocator().policy(), policy);
        EXPECT_DOUBLE_EQ(std::accumulate(v.begin(), v.end(), 0.0), 0.5 * 99999.0 * 100000.0 / 2);
        std::vector<double, alloc> copy = v;
        EXPECT_EQ(copy, v);
    }
}

TEST(AllocAdapters, NodeContainersRebind) {
    using alloc = topos::numa_allocator<std::pair<const int, std::string>>;
    std::map<int, std::string, std::less<>, alloc> m{alloc(topos::mem_policy::on_node(0))};
    for (int i = 0; i < 5000; ++i) {
        m.emplace(i, std::string(static_cast<std::size_t>(i % 50), 'x'));
    }
    EXPECT_EQ(m.size(), 5000u);
    EXPECT_EQ(m.at(49).size(), 49u);
    std::list<int, topos::numa_allocator<int>> l(1000, 7);
    EXPECT_EQ(std::accumulate(l.begin(), l.end(), 0), 7000);
}

TEST(AllocAdapters, AllocatorEqualityIsByPolicy) {
    const topos::numa_allocator<int> a(topos::mem_policy::on_node(0));
    const topos::numa_allocator<long> b(topos::mem_policy::on_node(0));
    const topos::numa_allocator<int> c(topos::mem_policy::interleave());
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
    EXPECT_TRUE(a != c);
    const topos::numa_allocator<char> rebound(a);
    EXPECT_EQ(rebound.policy(), a.policy());
}

TEST(AllocAdapters, PmrResource) {
    topos::numa_resource res(topos::mem_policy::on_node(0));
    std::pmr::vector<std::pmr::string> v(&res);
    for (int i = 0; i < 20000; ++i) {
        v.emplace_back(std::string(static_cast<std::size_t>(i % 100), 'a'));
    }
    EXPECT_EQ(v[99].size(), 99u);
    EXPECT_EQ(v.get_allocator().resource(), &res);

    void* aligned = res.allocate(100, 256);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 256, 0u);
    res.deallocate(aligned, 100, 256);
    void* zero = res.allocate(0, 8);
    EXPECT_NE(zero, nullptr);
    res.deallocate(zero, 0, 8);

    topos::numa_resource same(topos::mem_policy::on_node(0));
    topos::numa_resource other(topos::mem_policy::interleave());
    EXPECT_TRUE(res.is_equal(same));
    EXPECT_FALSE(res.is_equal(other));
    EXPECT_FALSE(res.is_equal(*std::pmr::new_delete_resource()));
}

TEST(AllocAdapters, PmrPoolOnTopOfNumaResource) {
    topos::numa_resource res(topos::mem_policy::local());
    std::pmr::unsynchronized_pool_resource pool(&res);
    std::pmr::vector<int> v(&pool);
    v.resize(100000, 3);
    EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0), 300000);
}

TEST(AllocNodeArray, BlocksCoverTheIndexRange) {
    const auto sim = topos::topology::synthetic("pack:2 numa:2 core:2 pu:1");
    ASSERT_EQ(sim.node_count(), 4u);
    topos::node_array<double> a(1003, sim);
    ASSERT_EQ(a.size(), 1003u);
    ASSERT_EQ(a.block_count(), 4u);
    std::size_t expect_begin = 0;
    for (std::size_t i = 0; i < a.block_count(); ++i) {
        const auto& b = a.block(i);
        EXPECT_EQ(b.node, static_cast<int>(i));
        EXPECT_EQ(b.begin, expect_begin);
        EXPECT_GE(b.end - b.begin, 250u);
        EXPECT_LE(b.end - b.begin, 251u);
        for (std::size_t j = b.begin; j < b.end; ++j) {
            ASSERT_EQ(a.node_of_index(j), b.node) << j;
        }
        expect_begin = b.end;
    }
    EXPECT_EQ(expect_begin, 1003u);
    EXPECT_THROW((void)a.node_of_index(1003), topos::index_error);
    EXPECT_THROW((void)a.block(4), topos::index_error);
    for (double d : a) {
        EXPECT_EQ(d, 0.0) << "value-initialised";
    }
}

TEST(AllocNodeArray, ChosenNodesInChosenOrder) {
    const auto sim = topos::topology::synthetic("pack:2 numa:2 core:2 pu:1");
    topos::node_array<int> a(10, sim, {3, 1});
    ASSERT_EQ(a.block_count(), 2u);
    EXPECT_EQ(a.block(0), (topos::node_block{3, 0, 5}));
    EXPECT_EQ(a.block(1), (topos::node_block{1, 5, 10}));
    EXPECT_THROW(topos::node_array<int>(10, sim, {4}), topos::node_error);
    EXPECT_EQ(topos::node_array<int>(10, std::vector<int>{}).block_count(), topos::get_memory_status().node_count);
    EXPECT_THROW(topos::node_array<int>(10, std::vector<int>{99}), topos::node_error);
}

TEST(AllocNodeArray, HostArrayIsUsable) {
    const std::size_t n = 1 << 20;
    topos::node_array<std::uint64_t> a(n);
    EXPECT_EQ(a.block_count(), topos::get_memory_status().node_count);
    for (std::size_t i = 0; i < n; ++i) {
        a[i] = i;
    }
    EXPECT_EQ(std::accumulate(a.begin(), a.end(), std::uint64_t{0}), std::uint64_t{n} * (n - 1) / 2);
    const auto nodes = topos::page_nodes(a.data(), n * sizeof(std::uint64_t));
    for (int node : nodes) {
        EXPECT_GE(node, 0) << "construction touched every page";
    }
    topos::node_array<std::uint64_t> moved = std::move(a);
    EXPECT_EQ(moved.size(), n);
    EXPECT_EQ(a.size(), 0u); // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(moved[n - 1], n - 1);
    topos::node_array<int> empty(0);
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.block_count(), topos::get_memory_status().node_count);
}

} // namespace
