// Memory policies, page blocks, page queries and the errors users can cause.
#include <topos/allocator.hpp>
#include <topos/memory.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

int host_nodes() { return static_cast<int>(topos::topology::host().node_count()); }

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

TEST(AllocPolicy, FactoriesDescribeThemselves) {
    const int last = host_nodes() - 1;
    EXPECT_EQ(topos::mem_policy::local().type(), topos::mem_policy::kind::local);
    EXPECT_EQ(topos::mem_policy::local().to_string(), "local");
    EXPECT_EQ(topos::mem_policy::local().first_node(), -1);
    EXPECT_TRUE(topos::mem_policy::local().nodes().empty());

    const auto on = topos::mem_policy::on_node(last);
    EXPECT_EQ(on.type(), topos::mem_policy::kind::on_node);
    EXPECT_EQ(on.first_node(), last);
    EXPECT_EQ(on.nodes(), std::vector<int>{last});
    EXPECT_EQ(on.to_string(), "on_node(" + std::to_string(last) + ")");

    EXPECT_EQ(topos::mem_policy::preferred(0).to_string(), "preferred(0)");

    const auto all = topos::mem_policy::interleave();
    EXPECT_TRUE(all.all_nodes());
    EXPECT_EQ(all.to_string(), "interleave(all)");
    EXPECT_EQ(static_cast<int>(all.nodes().size()), host_nodes());

    const auto b = topos::mem_policy::bind({0, 0});
    EXPECT_EQ(b.nodes(), std::vector<int>{0}) << "duplicates collapse";
    EXPECT_EQ(b.to_string(), "bind(0)");
}

TEST(AllocPolicy, EqualityIsByKindAndNodes) {
    EXPECT_EQ(topos::mem_policy::on_node(0), topos::mem_policy::on_node(0));
    EXPECT_NE(topos::mem_policy::on_node(0), topos::mem_policy::preferred(0));
    EXPECT_NE(topos::mem_policy::on_node(0), topos::mem_policy::local());
    EXPECT_EQ(topos::mem_policy::interleave(), topos::mem_policy::interleave());
    EXPECT_NE(topos::mem_policy::interleave(), topos::mem_policy::interleave({0})) << "all nodes is its own policy";
}

// One row of the bad-input table: an action, the exception it must throw,
// and a piece of the message naming the input.
struct bad_input {
    std::string name;
    std::function<void()> action;
    const std::type_info& expected;
    std::string message_part;
};

template <class E>
const std::type_info& type() {
    return typeid(E);
}

TEST(AllocErrors, BadInputTable) {
    const int n = host_nodes();
    void* block = topos::allocate(4 * page(), topos::mem_policy::local(), {.own_pages = true});
    void* small = topos::allocate(64, topos::mem_policy::local());
    alignas(4096) static char stack_page[4096];
    std::unique_ptr<void, void (*)(void*)> foreign(std::malloc(64), std::free);

    const std::vector<bad_input> rows = {
        {"zero size", [] { (void)topos::allocate(0); }, type<topos::memory_error>(), "size 0"},
        {"size max", [] { (void)topos::allocate(std::numeric_limits<std::size_t>::max()); },
         type<topos::memory_error>(), "overflows"},
        {"size 2^47", [] { (void)topos::allocate(std::size_t{1} << 47); }, type<topos::memory_error>(), "overflows"},
        {"alignment 3", [] { (void)topos::allocate(64, {}, {.alignment = 3}); }, type<topos::memory_error>(),
         "alignment 3"},
        {"alignment 0", [] { (void)topos::allocate(64, {}, {.alignment = 0}); }, type<topos::memory_error>(),
         "alignment 0"},
        {"on_node(-1)", [] { (void)topos::mem_policy::on_node(-1); }, type<topos::node_error>(), "NUMA node -1"},
        {"on_node(count)", [n] { (void)topos::mem_policy::on_node(n); }, type<topos::node_error>(),
         "NUMA node " + std::to_string(n)},
        {"preferred(99)", [] { (void)topos::mem_policy::preferred(99); }, type<topos::node_error>(), "NUMA node 99"},
        {"interleave(0,99)", [] { (void)topos::mem_policy::interleave({0, 99}); }, type<topos::node_error>(),
         "NUMA node 99"},
        {"bind({})", [] { (void)topos::mem_policy::bind({}); }, type<topos::node_error>(), "empty"},
        {"bind(5000)", [] { (void)topos::mem_policy::bind({5000}); }, type<topos::node_error>(), "NUMA node 5000"},
        {"node_malloc unknown node", [] { (void)topos::node_malloc(8, 77); }, type<topos::node_error>(),
         "NUMA node 77"},
        {"node_malloc zero", [] { (void)topos::node_malloc(0, 0); }, type<topos::memory_error>(), "size 0"},
        {"page_nodes misaligned", [block] { (void)topos::page_nodes(static_cast<char*>(block) + 8, 8); },
         type<topos::memory_error>(), "not aligned"},
        {"page_nodes foreign", [] { (void)topos::page_nodes(stack_page, 4096); }, type<topos::memory_error>(),
         "not in a block"},
        {"page_nodes small block", [small] { (void)topos::page_nodes(small, 64); }, type<topos::memory_error>(),
         "small block"},
        {"page_nodes past the end", [block] { (void)topos::page_nodes(block, 64 * page()); },
         type<topos::memory_error>(), "runs outside"},
        {"page_nodes zero", [block] { (void)topos::page_nodes(block, 0); }, type<topos::memory_error>(), "size 0"},
        {"migrate foreign", [] { (void)topos::migrate(stack_page, 4096, 0); }, type<topos::memory_error>(),
         "not in a block"},
        {"migrate unknown node", [block] { (void)topos::migrate(block, 4096, 9); }, type<topos::node_error>(),
         "NUMA node 9"},
        {"set_mem_policy misaligned", [block] { topos::set_mem_policy(static_cast<char*>(block) + 1, 8, {}); },
         type<topos::memory_error>(), "not aligned"},
        {"deallocate foreign", [] { topos::deallocate(stack_page, 8); }, type<topos::memory_error>(),
         "not allocated by topos"},
        {"deallocate malloc'd", [&foreign] { topos::deallocate(foreign.get(), 8); }, type<topos::memory_error>(),
         "not allocated by topos"},
        {"deallocate interior", [block] { topos::deallocate(static_cast<char*>(block) + 64, 8); },
         type<topos::memory_error>(), "not allocated by topos"},
        {"deallocate too many bytes", [block] { topos::deallocate(block, 8 * page()); }, type<topos::memory_error>(),
         "larger than the block"},
        {"deallocate small too many bytes", [small] { topos::deallocate(small, 100000); },
         type<topos::memory_error>(), "larger than the block"},
        {"node_free foreign", [&foreign] { topos::node_free(foreign.get()); }, type<topos::memory_error>(),
         "not allocated by topos"},
        {"usable_size foreign", [] { (void)topos::usable_size(stack_page); }, type<topos::memory_error>(),
         "not allocated by topos"},
        {"numa_allocator overflow",
         [] { (void)topos::numa_allocator<double>().allocate(std::numeric_limits<std::size_t>::max() / 4); },
         type<std::bad_array_new_length>(), ""},
        {"numa_allocator too big", [] { (void)topos::numa_allocator<char>().allocate(std::size_t{1} << 50); },
         type<std::bad_alloc>(), ""},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name);
        try {
            row.action();
            ADD_FAILURE() << "no exception";
        } catch (const std::exception& e) {
            EXPECT_EQ(typeid(e), row.expected) << e.what();
            const std::string what = e.what();
            EXPECT_NE(what.find(row.message_part), std::string::npos) << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
        }
    }
    // Nothing half-done: both blocks are still ours and still free cleanly.
    topos::deallocate(small, 64);
    topos::deallocate(block, 4 * page());
}

TEST(AllocPages, PageBlockHonoursSizeAlignmentAndPolicy) {
    for (const auto& policy : {topos::mem_policy::local(), topos::mem_policy::on_node(0),
                               topos::mem_policy::preferred(0), topos::mem_policy::interleave(),
                               topos::mem_policy::bind({0})}) {
        SCOPED_TRACE(policy.to_string());
        const std::size_t bytes = 3 * page() + 17;
        auto* p = static_cast<unsigned char*>(topos::allocate(bytes, policy, {.own_pages = true}));
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % page(), 0u);
        EXPECT_GE(topos::usable_size(p), bytes);
        std::memset(p, 0xab, bytes);
        const auto nodes = topos::page_nodes(p, bytes);
        ASSERT_EQ(nodes.size(), 4u);
        for (int node : nodes) {
            EXPECT_GE(node, 0) << "every page was touched";
            EXPECT_LT(node, host_nodes());
        }
        topos::deallocate(p, bytes);
    }
}

TEST(AllocPages, LargeAlignments) {
    for (std::size_t align : {std::size_t{8192}, std::size_t{1} << 21, std::size_t{1} << 23}) {
        SCOPED_TRACE(align);
        void* p = topos::allocate(100, topos::mem_policy::local(), {.alignment = align});
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u);
        static_cast<char*>(p)[99] = 1;
        EXPECT_GE(topos::usable_size(p), 100u);
        topos::deallocate(p, 100);
    }
}

TEST(AllocPages, UntouchedPagesReportMinusOne) {
    const std::size_t bytes = 8 * page();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::on_node(0)));
    p[2 * page()] = 1;
    const auto nodes = topos::page_nodes(p, bytes);
    ASSERT_EQ(nodes.size(), 8u);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        EXPECT_EQ(nodes[i], i == 2 ? 0 : -1) << "page " << i;
    }
    topos::deallocate(p, bytes);
}

TEST(AllocPages, MigrateToTheOnlyNodeKeepsPages) {
    const std::size_t bytes = 4 * page();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::local(), {.own_pages = true}));
    std::memset(p, 1, bytes);
    EXPECT_EQ(topos::migrate(p, bytes, 0), topos::get_memory_status().numa_syscalls ? 4u : 0u);
    for (int node : topos::page_nodes(p, bytes)) {
        EXPECT_EQ(node, 0);
    }
    EXPECT_EQ(p[bytes - 1], 1) << "contents survive";
    topos::deallocate(p, bytes);
}

TEST(AllocPages, HugePagesAreOptIn) {
    const std::size_t bytes = std::size_t{4} << 20;
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::local(), {.huge_pages = true}));
    std::memset(p, 3, bytes);
    EXPECT_GE(topos::usable_size(p), bytes);
    EXPECT_EQ(p[bytes - 1], 3);
    topos::deallocate(p, bytes);
}

TEST(AllocStatus, SaysWhatItCouldDo) {
    const auto s = topos::get_memory_status();
    EXPECT_EQ(static_cast<int>(s.node_count), host_nodes());
    EXPECT_EQ(s.page_size, page());
    if (s.node_count == 1) {
        EXPECT_NE(s.note.find("one NUMA node"), std::string::npos) << s.note;
    }
    if (!s.numa_syscalls) {
        EXPECT_FALSE(s.note.empty()) << "a degradation is always explained";
    }
}

TEST(AllocCounters, PageBlocksAreCharged) {
    const auto before = topos::get_memory_counters();
    const std::size_t bytes = 1 << 20;
    void* on0 = topos::allocate(bytes, topos::mem_policy::on_node(0));
    void* spread = topos::allocate(bytes, topos::mem_policy::interleave());
    const auto during = topos::get_memory_counters();
    EXPECT_EQ(during.nodes[0].bytes_in_use - before.nodes[0].bytes_in_use, static_cast<std::int64_t>(bytes));
    EXPECT_GE(during.nodes[0].os_bytes - before.nodes[0].os_bytes, bytes);
    EXPECT_EQ(during.unplaced_bytes_in_use - before.unplaced_bytes_in_use, static_cast<std::int64_t>(bytes));
    EXPECT_EQ(during.bytes_in_use - before.bytes_in_use, static_cast<std::int64_t>(2 * bytes));
    topos::deallocate(on0, bytes);
    topos::deallocate(spread, bytes);
    const auto after = topos::get_memory_counters();
    EXPECT_EQ(after.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use);
    EXPECT_EQ(after.unplaced_os_bytes, before.unplaced_os_bytes);
}

} // namespace
