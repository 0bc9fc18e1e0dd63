// tests/unit/test_alloc_contracts.cpp - the allocator's internal pre:
// contracts are checked (TOPOS_ASSERT) in Debug and sanitizer builds: a
// caller that breaks one aborts with "topos: assertion failed" instead of
// reading or writing past a table. In Release the checks compile to nothing
// and these tests skip.
#include "allocators/arena.hpp"
#include "allocators/numa_layer.hpp"

#include <topos/memory.hpp>

#include <gtest/gtest.h>

#include <cstddef>

namespace {

using namespace topos;

#if defined(TOPOS_ENABLE_ASSERTS)
constexpr bool k_asserts = true;
#else
constexpr bool k_asserts = false;
#endif

class AllocContracts : public ::testing::Test {
protected:
    void SetUp() override {
        if (!k_asserts) {
            GTEST_SKIP() << "TOPOS_ENABLE_ASSERTS is not defined: contracts are not checked in this build";
        }
        // The allocator has threads of its own state; fork-and-exec death tests are safe with them.
        GTEST_FLAG_SET(death_test_style, "threadsafe");
    }
};

// The public entry points check the node and throw node_error; the internal
// small-allocation path trusts its caller, and indexes the thread's node
// heaps with it. A bad node index reaching it is a bug in topos, caught here.
TEST_F(AllocContracts, BadNodeIndexInTheSmallAllocationPathAborts) {
    const int bad = static_cast<int>(detail::host_node_count()) + 7;
    // A thread heap first, so the check (not a missing heap) decides the path.
    void* p = allocate(16);
    EXPECT_DEATH((void)detail::small_alloc(16, 16, bad), "topos: assertion failed: .*small_alloc: node is the host's");
    EXPECT_DEATH((void)detail::small_alloc(16, 16, -1), "topos: assertion failed: .*small_alloc: node is the host's");
    node_free(p);
}

TEST_F(AllocContracts, SizeOutsideTheFastPathAborts) {
    EXPECT_DEATH((void)detail::small_alloc_local(0), "topos: assertion failed: .*0 < bytes <= k_fast_max");
    EXPECT_DEATH((void)detail::small_alloc_local(detail::k_fast_max + 1),
                 "topos: assertion failed: .*0 < bytes <= k_fast_max");
    EXPECT_DEATH((void)detail::small_alloc_local_mid(16), "topos: assertion failed: .*k_fast_max < bytes");
}

// The checked path still serves every valid request: a node index of the
// host, and each fast-path size bound.
TEST_F(AllocContracts, ValidRequestsPassTheChecks) {
    for (std::size_t node = 0; node < detail::host_node_count(); ++node) {
        void* p = detail::small_alloc(16, 16, static_cast<int>(node));
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(detail::small_node(p), static_cast<int>(node));
        node_free(p);
    }
    for (std::size_t bytes : {std::size_t{1}, detail::k_fast_max}) {
        void* p = detail::small_alloc_local(bytes);
        ASSERT_NE(p, nullptr);
        node_free(p);
    }
    void* mid = detail::small_alloc_local_mid(k_small_max);
    ASSERT_NE(mid, nullptr);
    node_free(mid);
}

} // namespace
