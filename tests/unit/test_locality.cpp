// The measured kernels of `topos bench`, checked outside any timing: the
// pointer chain is one cycle through every slot, the bandwidth reader's
// checksum matches the pattern, the STREAM kernels and their check agree, and
// the latency sizes follow the caches.
#include "tools/bench_kernels.hpp"

#include <gtest/gtest.h>

#include <topos/topology.hpp>

#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

namespace {

using topos::cli::stream_kernel;

struct chain_case {
    std::size_t elements;
    std::size_t stride;
};

class ChaseChain : public ::testing::TestWithParam<chain_case> {};

TEST_P(ChaseChain, VisitsEverySlotOnceThenReturns) {
    const auto [elements, stride] = GetParam();
    std::vector<std::byte> buf(elements * stride);
    for (std::uint64_t seed : {1ULL, 42ULL, 0xdeadbeefULL}) {
        void* start = topos::cli::build_chase_chain(buf.data(), elements, stride, seed);
        const auto check = topos::cli::check_chase_chain(buf.data(), elements, stride, start);
        EXPECT_TRUE(check.every_slot_once) << "seed " << seed;
        EXPECT_EQ(check.cycle_length, elements);
        // chase() follows the same links: a full lap ends where it began.
        EXPECT_EQ(topos::cli::chase(start, elements), start);
        if (elements > 1) {
            EXPECT_NE(topos::cli::chase(start, 1), start);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, ChaseChain,
                         ::testing::Values(chain_case{1, 64}, chain_case{2, 64}, chain_case{3, 8}, chain_case{1000, 64},
                                           chain_case{4096, 128}),
                         [](const ::testing::TestParamInfo<chain_case>& p) {
                             return std::to_string(p.param.elements) + "x" + std::to_string(p.param.stride);
                         });

TEST(ChaseChainOrder, IsNotSequential) {
    // A chain that mostly steps to the next slot would let a prefetcher follow it.
    constexpr std::size_t n = 4096;
    std::vector<std::byte> buf(n * 64);
    auto* p = static_cast<std::byte*>(topos::cli::build_chase_chain(buf.data(), n, 64, 7));
    std::size_t next_slot_steps = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto* q = *reinterpret_cast<std::byte**>(p);
        next_slot_steps += q == p + 64 ? 1 : 0;
        p = q;
    }
    EXPECT_LT(next_slot_steps, n / 100);
}

TEST(ChaseChainCheck, CatchesABrokenChain) {
    constexpr std::size_t n = 64;
    std::vector<std::byte> buf(n * 64);
    void* start = topos::cli::build_chase_chain(buf.data(), n, 64, 3);
    // Point the start's slot at itself: the cycle has length 1.
    *static_cast<void**>(start) = start;
    const auto check = topos::cli::check_chase_chain(buf.data(), n, 64, start);
    EXPECT_FALSE(check.every_slot_once);
    EXPECT_EQ(check.cycle_length, 1U);
}

TEST(ChaseChainBuild, RejectsSlotsSmallerThanAPointer) {
    std::vector<std::byte> buf(64);
    EXPECT_THROW((void)topos::cli::build_chase_chain(buf.data(), 16, 4, 1), std::invalid_argument);
    EXPECT_THROW((void)topos::cli::build_chase_chain(buf.data(), 0, 64, 1), std::invalid_argument);
}

TEST(BandwidthReader, ChecksumMatchesThePattern) {
    for (std::size_t n : {0UL, 1UL, 3UL, 4UL, 5UL, 1000UL, 65537UL}) {
        std::vector<std::uint64_t> words(n);
        topos::cli::fill_index_pattern(words.data(), n);
        EXPECT_EQ(topos::cli::read_sum(words.data(), n), topos::cli::index_pattern_sum(0, n)) << n;
        // Slices read by separate threads add up to the whole.
        const std::size_t half = n / 2;
        EXPECT_EQ(topos::cli::read_sum(words.data(), half) + topos::cli::read_sum(words.data() + half, n - half),
                  topos::cli::index_pattern_sum(0, n));
        EXPECT_EQ(topos::cli::read_sum(words.data() + half, n - half), topos::cli::index_pattern_sum(half, n - half));
    }
}

TEST(BandwidthReader, ChecksumNoticesOneWrongWord) {
    std::vector<std::uint64_t> words(1024);
    topos::cli::fill_index_pattern(words.data(), words.size());
    words[517] ^= 1;
    EXPECT_NE(topos::cli::read_sum(words.data(), words.size()), topos::cli::index_pattern_sum(0, words.size()));
}

TEST(BandwidthReader, PatternSumWrapsLikeTheReader) {
    // Large counts overflow 64 bits; both sides must wrap the same way.
    const std::size_t first = std::size_t{1} << 62;
    std::vector<std::uint64_t> words(1001);
    topos::cli::fill_index_pattern(words.data(), words.size(), first);
    EXPECT_EQ(topos::cli::read_sum(words.data(), words.size()), topos::cli::index_pattern_sum(first, words.size()));
}

void run_stream_passes(std::vector<double>& a, std::vector<double>& b, std::vector<double>& c, unsigned passes) {
    for (unsigned p = 0; p < passes; ++p) {
        for (auto k : {stream_kernel::copy, stream_kernel::scale, stream_kernel::add, stream_kernel::triad}) {
            // In two pieces, as threads would run it.
            topos::cli::stream_range(k, a.data(), b.data(), c.data(), 0, a.size() / 3);
            topos::cli::stream_range(k, a.data(), b.data(), c.data(), a.size() / 3, a.size());
        }
    }
}

TEST(Stream, KernelsProduceWhatTheCheckExpects) {
    constexpr std::size_t n = 1001;
    for (unsigned passes : {1U, 2U, 11U}) {
        std::vector<double> a(n, topos::cli::k_stream_a0);
        std::vector<double> b(n, topos::cli::k_stream_b0);
        std::vector<double> c(n, topos::cli::k_stream_c0);
        run_stream_passes(a, b, c, passes);
        EXPECT_EQ(topos::cli::stream_first_bad_element(a.data(), b.data(), c.data(), n, passes), n) << passes;
        // One pass more or less is noticed.
        EXPECT_EQ(topos::cli::stream_first_bad_element(a.data(), b.data(), c.data(), n, passes + 1), 0U);
    }
}

TEST(Stream, CheckFindsAWrongElement) {
    constexpr std::size_t n = 500;
    std::vector<double> a(n, topos::cli::k_stream_a0);
    std::vector<double> b(n, topos::cli::k_stream_b0);
    std::vector<double> c(n, topos::cli::k_stream_c0);
    run_stream_passes(a, b, c, 3);
    c[321] *= 1.0 + 1e-9;
    EXPECT_EQ(topos::cli::stream_first_bad_element(a.data(), b.data(), c.data(), n, 3), 321U);
}

TEST(Stream, BytesPerElementFollowStream) {
    EXPECT_EQ(topos::cli::stream_bytes_per_element(stream_kernel::copy), 16U);
    EXPECT_EQ(topos::cli::stream_bytes_per_element(stream_kernel::scale), 16U);
    EXPECT_EQ(topos::cli::stream_bytes_per_element(stream_kernel::add), 24U);
    EXPECT_EQ(topos::cli::stream_bytes_per_element(stream_kernel::triad), 24U);
}

TEST(LatencySizes, FollowTheCachesUpToTheLimit) {
    // Caches of this synthetic machine: 48K L1d, 2M L2, 32M L3.
    const auto topo = topos::topology::synthetic("pack:1 l3:1(size=33554432) l2:2(size=2097152) l1d:1(size=49152) core:1 pu:1");
    const std::size_t max = std::size_t{256} << 20;
    const auto sizes = topos::cli::latency_sizes(topo, max, false);
    ASSERT_FALSE(sizes.empty());
    EXPECT_EQ(sizes.front(), 4096U);
    EXPECT_EQ(sizes.back(), max);
    EXPECT_TRUE(std::is_sorted(sizes.begin(), sizes.end()));
    EXPECT_EQ(std::set<std::size_t>(sizes.begin(), sizes.end()).size(), sizes.size());
    for (std::size_t cache : {49152UL, 2097152UL, 33554432UL}) {
        EXPECT_NE(std::find(sizes.begin(), sizes.end(), cache), sizes.end()) << cache;
    }
    const auto quick = topos::cli::latency_sizes(topo, 1 << 20, true);
    EXPECT_EQ(quick, (std::vector<std::size_t>{16384, 65536, 262144, 1048576}));
    // A limit below the first step leaves the limit alone.
    EXPECT_EQ(topos::cli::latency_sizes(topo, 1024, false), (std::vector<std::size_t>{1024}));
}

} // namespace
