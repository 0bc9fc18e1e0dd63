// topos/range.hpp - loops whose body takes a chunk, not an index, so that the
// inner loop is the body's own (and vectorises), in one, two or three
// dimensions.
//
//   topos::parallel_for(rt, topos::range{0, n}, [&](topos::range r) {
//       for (std::size_t i = r.begin(); i < r.end(); ++i) y[i] += a * x[i];
//   });
//   topos::parallel_for(rt, topos::range2d{{1, rows - 1}, {1, cols - 1}}, [&](topos::range2d t) {
//       for (auto i = t.rows().begin(); i < t.rows().end(); ++i)
//           for (auto j = t.cols().begin(); j < t.cols().end(); ++j) next[i][j] = stencil(i, j);
//   });
//
// A range's grain is the most iterations one chunk holds (0: automatic, as
// for parallel_for: about 8 chunks per worker, at most 2^16 a chunk). Chunks
// are consecutive pieces of the range cut at multiples of the grain from its
// start, so every chunk but the last holds exactly `grain` iterations: the
// cut does not depend on which thread runs what. A 2-D or 3-D range is cut
// into tiles of its dimensions' grains; an automatic grain keeps the last
// (innermost, contiguous) dimension whole and cuts the outer ones. The body
// sees each index exactly once; exceptions and the calling thread's part are
// as in parallel_for. The loops over ranges are declared in parallel.hpp,
// which includes this header.
#pragma once

#include <topos/error.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <string>

namespace topos {

/// [begin, end) with the most iterations a chunk holds (0: automatic).
class range {
public:
    constexpr range() noexcept = default;
    /// index_error when end < begin.
    constexpr range(std::size_t begin, std::size_t end, std::size_t grain = 0)
        : m_begin(begin), m_end(end), m_grain(grain) {
        if (end < begin) {
            throw index_error("range: end " + std::to_string(end) + " is before begin " + std::to_string(begin));
        }
    }
    [[nodiscard]] constexpr std::size_t begin() const noexcept { return m_begin; }
    [[nodiscard]] constexpr std::size_t end() const noexcept { return m_end; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return m_end - m_begin; }
    [[nodiscard]] constexpr bool empty() const noexcept { return m_end == m_begin; }
    [[nodiscard]] constexpr std::size_t grain() const noexcept { return m_grain; }
    /// The number of chunks of `grain` iterations (the last may hold fewer).
    [[nodiscard]] constexpr std::size_t chunks(std::size_t grain) const noexcept {
        return (size() + grain - 1) / grain;
    }
    /// Chunk k of `grain` iterations.
    [[nodiscard]] constexpr range chunk(std::size_t k, std::size_t grain) const noexcept {
        const std::size_t lo = m_begin + k * grain;
        return range(lo, std::min(m_end, lo + grain), grain, unchecked{});
    }

private:
    struct unchecked {};
    constexpr range(std::size_t begin, std::size_t end, std::size_t grain, unchecked) noexcept
        : m_begin(begin), m_end(end), m_grain(grain) {}
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    std::size_t m_grain = 0;
};

/// Rows x columns, for stencils and dense linear algebra; each dimension's
/// grain is its tile edge.
class range2d {
public:
    constexpr range2d(range rows, range cols) noexcept : m_rows(rows), m_cols(cols) {}
    [[nodiscard]] constexpr const range& rows() const noexcept { return m_rows; }
    [[nodiscard]] constexpr const range& cols() const noexcept { return m_cols; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return m_rows.size() * m_cols.size(); }

private:
    range m_rows;
    range m_cols;
};

/// Pages x rows x columns.
class range3d {
public:
    constexpr range3d(range pages, range rows, range cols) noexcept : m_pages(pages), m_rows(rows), m_cols(cols) {}
    [[nodiscard]] constexpr const range& pages() const noexcept { return m_pages; }
    [[nodiscard]] constexpr const range& rows() const noexcept { return m_rows; }
    [[nodiscard]] constexpr const range& cols() const noexcept { return m_cols; }
    [[nodiscard]] constexpr std::size_t size() const noexcept {
        return m_pages.size() * m_rows.size() * m_cols.size();
    }

private:
    range m_pages;
    range m_rows;
    range m_cols;
};

namespace detail {

// The grains of an n-dimensional range: explicit ones as given; automatic
// ones keep the innermost dimension whole and share about 8 tiles per worker
// among the outer ones, outermost first.
template <std::size_t D>
std::array<std::size_t, D> tile_grains(const std::array<range, D>& dims, unsigned threads) {
    std::array<std::size_t, D> g{};
    std::size_t tiles_wanted = 8 * static_cast<std::size_t>(threads == 0 ? 1 : threads);
    for (std::size_t d = 0; d < D; ++d) {
        const std::size_t n = std::max<std::size_t>(dims[d].size(), 1);
        if (dims[d].grain() != 0) {
            g[d] = dims[d].grain();
        } else if (d + 1 == D) {
            g[d] = n; // innermost: whole
        } else {
            g[d] = std::max<std::size_t>(1, n / std::max<std::size_t>(tiles_wanted, 1));
        }
        tiles_wanted = std::max<std::size_t>(1, tiles_wanted / ((n + g[d] - 1) / g[d]));
    }
    return g;
}

} // namespace detail


} // namespace topos
