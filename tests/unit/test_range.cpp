// Tests of topos/range.hpp: chunked 1-D, 2-D and 3-D loops cover every index
// exactly once, with chunks cut at multiples of the grain.
#include <topos/error.hpp>
#include <topos/parallel.hpp>
#include <topos/range.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

topos::runtime_options threads(unsigned n) { return {.places = {}, .bind = {}, .threads = n, .topology = {}}; }

std::unique_ptr<std::atomic<int>[]> counters(std::size_t n) {
    auto c = std::make_unique<std::atomic<int>[]>(n);
    for (std::size_t i = 0; i < n; ++i) {
        c[i] = 0;
    }
    return c;
}

TEST(Range, OneDimensionCoversEachIndexOnceInGrainChunks) {
    topos::runtime rt(threads(2));
    for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
        const std::size_t lo = 13;
        const std::size_t hi = 100'013;
        auto seen = counters(hi);
        std::mutex m;
        std::set<std::pair<std::size_t, std::size_t>> chunks;
        topos::parallel_for(rt, topos::range{lo, hi, grain}, [&](topos::range r) {
            for (std::size_t i = r.begin(); i < r.end(); ++i) {
                seen[i].fetch_add(1, std::memory_order_relaxed);
            }
            const std::lock_guard lock(m);
            chunks.emplace(r.begin(), r.end());
        });
        for (std::size_t i = 0; i < hi; ++i) {
            ASSERT_EQ(seen[i].load(), i < lo ? 0 : 1) << "grain " << grain << " index " << i;
        }
        if (grain != 0) {
            for (auto [b, e] : chunks) {
                EXPECT_EQ((b - lo) % grain, 0u);
                EXPECT_TRUE(e - b == grain || e == hi) << b << ".." << e;
            }
        } else {
            EXPECT_GT(chunks.size(), 1u) << "an automatic grain cuts a long range";
        }
    }
}

TEST(Range, EmptyAndBadRanges) {
    topos::runtime rt(threads(2));
    int calls = 0;
    topos::parallel_for(rt, topos::range{5, 5}, [&](topos::range) { ++calls; });
    EXPECT_EQ(calls, 0);
    EXPECT_THROW(topos::range(6, 5), topos::index_error);
}

TEST(Range, TwoDimensionsCoverEachCellOnce) {
    topos::runtime rt(threads(2));
    const std::size_t rows = 301;
    const std::size_t cols = 257;
    for (auto [tr, tc] : {std::pair<std::size_t, std::size_t>{0, 0}, {16, 16}, {1, 300}, {7, 5}}) {
        auto seen = counters(rows * cols);
        std::atomic<std::size_t> tiles{0};
        topos::parallel_for(rt, topos::range2d{{1, rows, tr}, {2, cols, tc}}, [&](topos::range2d t) {
            tiles.fetch_add(1);
            if (tr != 0) {
                EXPECT_LE(t.rows().size(), tr);
            }
            if (tc != 0) {
                EXPECT_LE(t.cols().size(), tc);
            }
            for (std::size_t i = t.rows().begin(); i < t.rows().end(); ++i) {
                for (std::size_t j = t.cols().begin(); j < t.cols().end(); ++j) {
                    seen[i * cols + j].fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < cols; ++j) {
                ASSERT_EQ(seen[i * cols + j].load(), (i >= 1 && j >= 2) ? 1 : 0) << i << "," << j;
            }
        }
        EXPECT_GT(tiles.load(), 1u);
    }
}

TEST(Range, ThreeDimensionsCoverEachCellOnce) {
    topos::runtime rt(threads(2));
    const std::size_t p = 9;
    const std::size_t r = 33;
    const std::size_t c = 65;
    for (std::size_t g : {std::size_t{0}, std::size_t{4}}) {
        auto seen = counters(p * r * c);
        topos::parallel_for(rt, topos::range3d{{0, p, g}, {0, r, g}, {0, c, g}}, [&](topos::range3d t) {
            for (std::size_t a = t.pages().begin(); a < t.pages().end(); ++a) {
                for (std::size_t i = t.rows().begin(); i < t.rows().end(); ++i) {
                    for (std::size_t j = t.cols().begin(); j < t.cols().end(); ++j) {
                        seen[(a * r + i) * c + j].fetch_add(1, std::memory_order_relaxed);
                    }
                }
            }
        });
        for (std::size_t k = 0; k < p * r * c; ++k) {
            ASSERT_EQ(seen[k].load(), 1) << "grain " << g << " cell " << k;
        }
    }
}

TEST(Range, AnExceptionFromAChunkPropagates) {
    topos::runtime rt(threads(2));
    EXPECT_THROW(topos::parallel_for(rt, topos::range{0, 10'000, 10},
                                     [](topos::range r) {
                                         if (r.begin() == 5000) {
                                             throw std::runtime_error("chunk 500");
                                         }
                                     }),
                 std::runtime_error);
}

// Over a node_array: chunks never cross a block, every index is seen once,
// and the reduction follows the blocks and equals the serial fold.
TEST(Range, NodeArrayChunksStayInsideOneBlock) {
    const auto topo = topos::topology::synthetic("pack:2 numa:1 core:2 pu:1");
    topos::runtime rt({.places = {}, .bind = topos::proc_bind::close, .threads = {}, .topology = topo});
    const std::size_t n = 100'003;
    topos::node_array<double> a(n, topo);
    ASSERT_EQ(a.block_count(), 2U);
    const auto blocks = a.blocks();
    for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{999}, n}) {
        auto seen = counters(n);
        std::atomic<int> crossing{0};
        topos::parallel_for(
            rt, a,
            [&](topos::range r) {
                int holders = 0;
                for (const auto& b : blocks) {
                    holders += (r.begin() >= b.begin && r.end() <= b.end) ? 1 : 0;
                }
                if (holders != 1 || r.empty()) {
                    crossing.fetch_add(1);
                }
                for (std::size_t i = r.begin(); i < r.end(); ++i) {
                    seen[i].fetch_add(1, std::memory_order_relaxed);
                    a[i] = static_cast<double>(i % 97) * 0.25;
                }
            },
            grain);
        EXPECT_EQ(crossing.load(), 0) << "grain " << grain;
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(seen[i].load(), 1) << "index " << i << " grain " << grain;
        }
        double serial = 1.5;
        for (std::size_t i = 0; i < n; ++i) {
            serial += a[i];
        }
        const double sum = topos::parallel_reduce(
            rt, a, 1.5, [&](std::size_t i) { return a[i]; }, std::plus<>{}, grain);
        EXPECT_DOUBLE_EQ(sum, serial) << "grain " << grain;
    }
    // Non-commutative: the order of the indices is kept.
    topos::node_array<int> small(10, topo);
    const std::string order = topos::parallel_reduce(
        rt, small, std::string{}, [](std::size_t i) { return std::to_string(i); },
        [](std::string x, const std::string& y) { return x + y; }, 3);
    EXPECT_EQ(order, "0123456789");
    topos::node_array<int> none(0, topo);
    EXPECT_EQ(topos::parallel_reduce(rt, none, 7, [](std::size_t) { return 1; }, std::plus<>{}), 7);
    topos::parallel_for(rt, none, [](topos::range) { ADD_FAILURE(); });
}

} // namespace
