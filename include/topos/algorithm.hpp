// topos/algorithm.hpp - parallel algorithms over ranges: a reduction whose
// result does not depend on the thread count, scans, and a stable sort.
//
//   double s = topos::parallel_deterministic_reduce(rt, 0, n, 0.0,
//                                                   [&](std::size_t i) { return x[i]; }, std::plus<>{});
//   topos::parallel_inclusive_scan(rt, in.begin(), in.end(), out.begin(), std::plus<>{});
//   topos::parallel_exclusive_scan(rt, in.begin(), in.end(), out.begin(), 0L, std::plus<>{});
//   topos::parallel_sort(rt, v.begin(), v.end());                    // stable, like std::stable_sort
//   topos::parallel_sort(rt, v.begin(), v.end(), std::greater<>{});
//
// Determinism. parallel_reduce's automatic grain follows the thread count, so
// a floating-point sum may change with TOPOS_NUM_THREADS.
// parallel_deterministic_reduce cuts the range into pieces of a fixed size
// (k_deterministic_grain unless given) and combines the pieces' results left
// to right: the same grouping, hence the same bits, on any number of threads.
// The scans fix their blocks the same way.
//
// Sort. parallel_sort is a merge sort: the halves are sorted in parallel down
// to pieces of k_sort_cutoff elements (std::stable_sort each), then merged in
// parallel (each merge split at a median found by binary search), moving the
// elements between the range and a buffer of as many elements. It is stable:
// equal elements keep their order. (Pieces of scalars under std::less or
// std::greater, whose equal elements cannot be told apart, are sorted by
// std::sort, which is faster.) It needs random-access iterators and a
// move-constructible, move-assignable value type, and takes O(n) extra memory.
// Integer keys (not bool) in contiguous memory under std::less or
// std::greater, from detail::k_radix_min (2^16) elements on, are sorted by a
// parallel LSD radix sort instead: a byte a pass, bytes shared by every key
// skipped, through a buffer of n keys on transparent huge pages; equal
// integers cannot be told apart, so the result is the same.
// Exceptions: an exception thrown by the comparator (or by a move) propagates
// out of parallel_sort after every task has stopped; the range then holds its
// elements in an unspecified order, and some may be in a moved-from state
// (std::sort gives the same basic guarantee). Nothing leaks.
//
// The calling thread takes part as in parallel_for (see parallel.hpp).
#pragma once

#include <topos/memory.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace topos {

/// Iterations per piece of parallel_deterministic_reduce by default.
inline constexpr std::size_t k_deterministic_grain = 4096;
/// Elements per block of the scans.
inline constexpr std::size_t k_scan_block = std::size_t{1} << 14;
/// Pieces of parallel_sort at most this long are sorted serially.
inline constexpr std::size_t k_sort_cutoff = std::size_t{1} << 13;

/// combine(...combine(combine(init, map(begin)), map(begin + 1))..., map(end - 1))
/// with the grouping fixed by `grain` alone (not by the runtime's thread
/// count): the result is bitwise the same on 1 or 64 threads. `combine` must
/// be associative; `init` is used once. grain 0 is an index_error.
template <std::integral B, std::integral E, class T, class Map, class Combine>
T parallel_deterministic_reduce(runtime& rt, B begin, E end, T init, const Map& map, const Combine& combine,
                                std::size_t grain = k_deterministic_grain) {
    if (grain == 0) {
        throw index_error("parallel_deterministic_reduce: grain 0; expected at least 1 iteration a piece");
    }
    return parallel_reduce(rt, begin, end, std::move(init), map, combine, grain);
}

/// parallel_deterministic_reduce on the process's default runtime.
template <std::integral B, std::integral E, class T, class Map, class Combine>
T parallel_deterministic_reduce(B begin, E end, T init, const Map& map, const Combine& combine,
                                std::size_t grain = k_deterministic_grain) {
    return parallel_deterministic_reduce(runtime::default_runtime(), begin, end, std::move(init), map, combine,
                                         grain);
}

namespace detail {

// The scans. Blocks of k_scan_block elements fix the grouping: block b's
// outputs are ((before_b op x_lo) op x_lo+1) ..., where before_0 is the
// carry and before_b+1 = before_b op total_b, total_b being the block's
// elements combined left to right. The same bits come out on any number of
// threads, whoever computes which block.
//
// Work: a two-pass scan reads the input twice, which on memory-bound data is
// a third more traffic than a serial scan. So, as in oneTBB's parallel_scan,
// the blocks whose running total is already known are scanned in one pass:
// the calling task scans blocks from the front, carrying before_b along,
// while the other workers compute the totals of blocks from the back; where
// they meet (claims on one atomic word), the running totals of the back
// blocks are chained serially and those blocks are scanned in parallel.
// With P workers about 1/(2P-1) of the blocks take the one-pass route; on one
// worker all of them do. Reads of in[i] come before writes of out[i] in
// every phase, so out may be in (an in-place scan).
// pre: first != last. `carry`, when set, comes before the first element.
// One block's scan, the element loop free of optionals: out[i] gets the
// running value from `start` (absent only for an inclusive scan's first
// block). Returns the block's own total (the elements combined left to
// right) when Total, else the running value at the end.
// pre: count >= 1; an exclusive scan has a start.
template <bool Inclusive, bool Total, class T, class InIt, class OutIt, class Op>
std::optional<T> scan_run(InIt in, OutIt o, std::size_t count, std::optional<T> start, Op& op) {
    [[maybe_unused]] T part = *in; // read before the first write: out may be in
    T acc = Inclusive ? (start ? op(std::move(*start), *in) : T(*in)) : std::move(*start);
    if constexpr (Inclusive) {
        *o = acc;
    } else {
        T next = op(acc, *in);
        *o = std::move(acc);
        acc = std::move(next);
    }
    ++in;
    ++o;
    for (std::size_t i = 1; i < count; ++i, ++in, ++o) {
        if constexpr (Total) {
            part = op(std::move(part), *in);
        }
        if constexpr (Inclusive) {
            acc = op(std::move(acc), *in);
            *o = acc;
        } else {
            T next = op(acc, *in);
            *o = std::move(acc);
            acc = std::move(next);
        }
    }
    if constexpr (Total) {
        return part;
    } else {
        return acc;
    }
}

template <class InIt, class OutIt, class T, class Op>
OutIt scan_blocks(runtime& rt, InIt first, InIt last, OutIt out, std::optional<T> carry, Op op, bool inclusive) {
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    const std::size_t blocks = (n + k_scan_block - 1) / k_scan_block;
    const auto block_end = [n](std::size_t b) { return std::min(n, (b + 1) * k_scan_block); };
    // Scans block b from acc = before_b; when `total` is given, also returns
    // total_b through it (the front task's one-pass route).
    auto scan_block = [&](std::size_t b, std::optional<T> acc, std::optional<T>* total) {
        const std::size_t lo = b * k_scan_block;
        const std::size_t hi = block_end(b);
        InIt in = first + static_cast<std::ptrdiff_t>(lo);
        OutIt o = out + static_cast<std::ptrdiff_t>(lo);
        std::optional<T> result;
        if (inclusive && !acc) {
            // No carry: the running value is the block's total.
            result = scan_run<true, false, T>(in, o, hi - lo, std::nullopt, op);
        } else if (inclusive) {
            result = total != nullptr ? scan_run<true, true, T>(in, o, hi - lo, std::move(acc), op)
                                      : scan_run<true, false, T>(in, o, hi - lo, std::move(acc), op);
        } else {
            result = total != nullptr ? scan_run<false, true, T>(in, o, hi - lo, std::move(acc), op)
                                      : scan_run<false, false, T>(in, o, hi - lo, std::move(acc), op);
        }
        if (total != nullptr) {
            *total = std::move(result);
        }
    };
    if (blocks == 1) {
        scan_block(0, std::move(carry), nullptr);
        return out + static_cast<std::ptrdiff_t>(n);
    }

    // Claims: the low half of the word is the next front block, the high half
    // the lowest block taken from the back. The back takes blocks below the
    // last one (whose total nobody needs); the front may take the last block
    // only when it has taken all the others.
    constexpr unsigned k_half = 32;
    const auto pack = [](std::uint64_t front, std::uint64_t back) { return front | (back << k_half); };
    std::atomic<std::uint64_t> claims{pack(0, blocks - 1)};
    std::vector<std::optional<T>> totals(blocks);
    std::optional<T> chain = std::move(carry); // before_b of the front task's next block
    std::size_t met = 0;                       // the first block the front task did not scan
    const auto front = [&] {
        for (;;) {
            std::uint64_t word = claims.load(std::memory_order_relaxed);
            std::uint64_t b = 0;
            do {
                b = word & ((std::uint64_t{1} << k_half) - 1);
                const std::uint64_t back = word >> k_half;
                if (!(b < back || b == blocks - 1)) {
                    met = static_cast<std::size_t>(b);
                    return;
                }
            } while (!claims.compare_exchange_weak(word, word + 1, std::memory_order_relaxed));
            std::optional<T> total;
            scan_block(static_cast<std::size_t>(b), chain, &total);
            if (b + 1 == blocks) {
                met = blocks;
                return;
            }
            chain = chain ? op(std::move(*chain), std::move(*total)) : std::move(total);
        }
    };
    const auto back = [&] {
        for (;;) {
            std::uint64_t word = claims.load(std::memory_order_relaxed);
            std::uint64_t b = 0;
            do {
                const std::uint64_t next_front = word & ((std::uint64_t{1} << k_half) - 1);
                const std::uint64_t lowest = word >> k_half;
                if (lowest <= next_front) {
                    return;
                }
                b = lowest - 1;
            } while (!claims.compare_exchange_weak(word, word - (std::uint64_t{1} << k_half),
                                                   std::memory_order_relaxed));
            InIt in = first + static_cast<std::ptrdiff_t>(b * k_scan_block);
            T acc = *in;
            for (std::size_t i = 1; i < k_scan_block; ++i) { // a back block is never the (short) last one
                ++in;
                acc = op(std::move(acc), *in);
            }
            totals[b].emplace(std::move(acc));
        }
    };
    const unsigned helpers = rt.thread_count() > 1 ? rt.thread_count() - 1 : 0;
    if (helpers == 0) {
        front();
    } else {
        parallel_invoke(rt, front, [&] { parallel_for(rt, 0U, helpers, [&](unsigned) { back(); }, 1); });
    }
    if (met == blocks) {
        return out + static_cast<std::ptrdiff_t>(n);
    }
    std::vector<std::optional<T>> before(blocks);
    before[met] = std::move(chain);
    for (std::size_t b = met + 1; b < blocks; ++b) {
        before[b].emplace(before[b - 1] ? op(*before[b - 1], std::move(*totals[b - 1])) : std::move(*totals[b - 1]));
    }
    parallel_for(rt, met, blocks, [&](std::size_t b) { scan_block(b, std::move(before[b]), nullptr); }, 1);
    return out + static_cast<std::ptrdiff_t>(n);
}

} // namespace detail

/// out[i] = in[0] op in[1] op ... op in[i], computed in parallel; `op` must be
/// associative (not necessarily commutative). Returns the end of the output.
/// `out` may equal `first`.
template <std::random_access_iterator InIt, std::random_access_iterator OutIt, class Op>
OutIt parallel_inclusive_scan(runtime& rt, InIt first, InIt last, OutIt out, Op op) {
    using T = std::iter_value_t<InIt>;
    if (first == last) {
        return out;
    }
    return detail::scan_blocks<InIt, OutIt, T, Op>(rt, first, last, out, std::nullopt, std::move(op), true);
}

/// out[i] = init op in[0] op ... op in[i - 1] (out[0] = init), computed in
/// parallel; `op` must be associative. Returns the end of the output. `out`
/// may equal `first`.
template <std::random_access_iterator InIt, std::random_access_iterator OutIt, class T, class Op>
OutIt parallel_exclusive_scan(runtime& rt, InIt first, InIt last, OutIt out, T init, Op op) {
    if (first == last) {
        return out;
    }
    return detail::scan_blocks<InIt, OutIt, T, Op>(rt, first, last, out, std::optional<T>(std::move(init)),
                                                   std::move(op), false);
}

namespace detail {

// Moves the merge of sorted [a, a_end) and [b, b_end) to out, stably (a's
// elements first among equals), splitting large merges in two around the
// median of the longer input.
template <class It, class OutIt, class Comp>
void merge_parallel(runtime& rt, It a, It a_end, It b, It b_end, OutIt out, const Comp& comp) {
    const auto na = a_end - a;
    const auto nb = b_end - b;
    if (static_cast<std::size_t>(na + nb) <= k_sort_cutoff) {
        std::merge(std::make_move_iterator(a), std::make_move_iterator(a_end), std::make_move_iterator(b),
                   std::make_move_iterator(b_end), out, comp);
        return;
    }
    It a_mid;
    It b_mid;
    if (na >= nb) {
        a_mid = a + na / 2;
        b_mid = std::lower_bound(b, b_end, *a_mid, comp); // b's elements equal to *a_mid go after it
    } else {
        b_mid = b + nb / 2;
        a_mid = std::upper_bound(a, a_end, *b_mid, comp); // a's elements equal to *b_mid go before it
    }
    OutIt out_mid = out + ((a_mid - a) + (b_mid - b));
    parallel_invoke(
        rt, [&] { merge_parallel(rt, a, a_mid, b, b_mid, out, comp); },
        [&] { merge_parallel(rt, a_mid, a_end, b_mid, b_end, out_mid, comp); });
}

// Sorts [data, data + n) stably; the result lands in data when to_data is
// set, else in buf (same length). Each level's merge reads the halves from
// the other array, so no level copies.
// Whether equal elements are indistinguishable, so that a piece may be
// sorted by the faster, unstable std::sort: scalars under the standard
// orderings.
template <class T, class Comp>
inline constexpr bool order_is_total_v =
    std::is_scalar_v<T> && (std::is_same_v<Comp, std::less<>> || std::is_same_v<Comp, std::less<T>> ||
                            std::is_same_v<Comp, std::greater<>> || std::is_same_v<Comp, std::greater<T>>);

template <class It, class Comp>
void sort_piece(It first, It last, const Comp& comp) {
    if constexpr (order_is_total_v<std::iter_value_t<It>, Comp>) {
        std::sort(first, last, comp);
    } else {
        std::stable_sort(first, last, comp);
    }
}

template <class DataIt, class BufIt, class Comp>
void merge_sort(runtime& rt, DataIt data, BufIt buf, std::size_t n, bool to_data, const Comp& comp) {
    if (n <= k_sort_cutoff) {
        sort_piece(data, data + static_cast<std::ptrdiff_t>(n), comp);
        if (!to_data) {
            std::move(data, data + static_cast<std::ptrdiff_t>(n), buf);
        }
        return;
    }
    const auto half = static_cast<std::ptrdiff_t>(n / 2);
    const auto all = static_cast<std::ptrdiff_t>(n);
    parallel_invoke(
        rt, [&] { merge_sort(rt, data, buf, n / 2, !to_data, comp); },
        [&] { merge_sort(rt, data + half, buf + half, n - n / 2, !to_data, comp); });
    if (to_data) {
        merge_parallel(rt, buf, buf + half, buf + half, buf + all, data, comp);
    } else {
        merge_parallel(rt, data, data + half, data + half, data + all, buf, comp);
    }
}

// Integer keys under std::less or std::greater: an LSD radix sort, a byte a
// pass (stable, like every pass of it). Keys map to unsigned words whose
// order is the comparator's (the sign bit flipped for signed types, all bits
// for std::greater). One parallel pass counts every byte's values per chunk;
// bytes that are the same in every key are skipped; each other byte takes a
// counting pass (but the first, whose counts are already there) and a
// scatter pass, from the range to the buffer and back.
template <class T, class Comp>
inline constexpr bool radix_sortable_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> &&
    (std::is_same_v<Comp, std::less<>> || std::is_same_v<Comp, std::less<T>> || std::is_same_v<Comp, std::greater<>> ||
     std::is_same_v<Comp, std::greater<T>>);

/// Below this many elements, parallel_sort of integers compares instead.
inline constexpr std::size_t k_radix_min = std::size_t{1} << 16;

template <class T, class Comp>
void radix_sort(runtime& rt, T* data, std::size_t n) {
    using U = std::make_unsigned_t<T>;
    constexpr std::size_t digits = sizeof(T);
    constexpr std::size_t radix = 256;
    constexpr bool descending = std::is_same_v<Comp, std::greater<>> || std::is_same_v<Comp, std::greater<T>>;
    const auto key = [](T v) {
        auto k = static_cast<U>(v);
        if constexpr (std::is_signed_v<T>) {
            k = static_cast<U>(k ^ (U{1} << (8 * sizeof(T) - 1)));
        }
        if constexpr (descending) {
            k = static_cast<U>(~k);
        }
        return k;
    };
    const auto digit = [&key](T v, std::size_t d) { return (static_cast<std::size_t>(key(v)) >> (8 * d)) & std::size_t{0xff}; };

    // Chunks of equal length, a few per worker so that a busy one is covered.
    const std::size_t chunks = std::min<std::size_t>(std::size_t{4} * std::max(rt.thread_count(), 1U), n / 4096 + 1);
    const std::size_t chunk = (n + chunks - 1) / chunks;
    const auto chunk_lo = [&](std::size_t c) { return std::min(n, c * chunk); };
    // counts[(c * digits + d) * radix + v]: keys of chunk c whose byte d is v.
    std::vector<std::size_t> counts(chunks * digits * radix, 0);
    parallel_for(
        rt, std::size_t{0}, chunks,
        [&](std::size_t c) {
            std::size_t* mine = counts.data() + c * digits * radix;
            for (std::size_t i = chunk_lo(c), e = chunk_lo(c + 1); i < e; ++i) {
                const U k = key(data[i]);
                for (std::size_t d = 0; d < digits; ++d) {
                    ++mine[d * radix + ((k >> (8 * d)) & 0xffU)];
                }
            }
        },
        1);
    std::vector<bool> skip(digits, false);
    for (std::size_t d = 0; d < digits; ++d) {
        for (std::size_t v = 0; v < radix; ++v) {
            std::size_t all = 0;
            for (std::size_t c = 0; c < chunks; ++c) {
                all += counts[(c * digits + d) * radix + v];
            }
            if (all == n) {
                skip[d] = true; // every key has this byte
            }
            if (all != 0) {
                break; // either this value has them all, or no value will
            }
        }
    }

    // The buffer: a page block with transparent huge pages where the kernel
    // gives them (a few hundred faults for 10^8 keys instead of 200000, and
    // the scatter's 256 write streams stay inside the TLB). Written before
    // it is read.
    const std::size_t buffer_bytes = n * sizeof(T);
    const auto release = [buffer_bytes](void* p) { deallocate(p, buffer_bytes); };
    const std::unique_ptr<void, decltype(release)> buffer(
        allocate(buffer_bytes, mem_policy{}, {.alignment = alignof(T), .huge_pages = true, .own_pages = true}),
        release);
    T* src = data;
    T* dst = static_cast<T*>(buffer.get());
    bool counted = true; // counts hold the source's per-chunk counts of the next byte
    std::vector<std::size_t> offsets(chunks * radix);
    for (std::size_t d = 0; d < digits; ++d) {
        if (skip[d]) {
            continue;
        }
        if (!counted) {
            parallel_for(
                rt, std::size_t{0}, chunks,
                [&](std::size_t c) {
                    std::size_t* mine = counts.data() + (c * digits + d) * radix;
                    std::fill(mine, mine + radix, std::size_t{0});
                    for (std::size_t i = chunk_lo(c), e = chunk_lo(c + 1); i < e; ++i) {
                        ++mine[digit(src[i], d)];
                    }
                },
                1);
        }
        // Where chunk c's keys with byte v go: after every key with a smaller
        // byte, and after those of earlier chunks with the same byte.
        std::size_t at = 0;
        for (std::size_t v = 0; v < radix; ++v) {
            for (std::size_t c = 0; c < chunks; ++c) {
                offsets[c * radix + v] = at;
                at += counts[(c * digits + d) * radix + v];
            }
        }
        parallel_for(
            rt, std::size_t{0}, chunks,
            [&](std::size_t c) {
                std::size_t* next = offsets.data() + c * radix;
                const T* from = src;
                for (std::size_t i = chunk_lo(c), e = chunk_lo(c + 1); i < e; ++i) {
                    const T x = from[i];
                    dst[next[digit(x, d)]++] = x;
                }
            },
            1);
        std::swap(src, dst);
        counted = false;
    }
    if (src != data) {
        parallel_for(
            rt, std::size_t{0}, chunks,
            [&](std::size_t c) { std::copy(src + chunk_lo(c), src + chunk_lo(c + 1), data + chunk_lo(c)); }, 1);
    }
}

} // namespace detail

/// Sorts [first, last) by `comp` in parallel, stably (see the file comment).
template <std::random_access_iterator It, class Comp = std::less<>>
void parallel_sort(runtime& rt, It first, It last, Comp comp = {}) {
    const auto n = static_cast<std::size_t>(last - first);
    using T = std::iter_value_t<It>;
    if constexpr (std::contiguous_iterator<It> && detail::radix_sortable_v<T, Comp>) {
        if (n >= detail::k_radix_min) {
            detail::radix_sort<T, Comp>(rt, std::to_address(first), n);
            return;
        }
    }
    if (n <= k_sort_cutoff) {
        detail::sort_piece(first, last, comp);
        return;
    }
    std::vector<T> buf(std::make_move_iterator(first), std::make_move_iterator(last));
    // The elements now live in buf: sort them there and merge back into the range.
    detail::merge_sort(rt, buf.begin(), first, n, false, comp);
}

/// parallel_sort of a whole node_array (its elements stay in their blocks'
/// memory; the sort moves values, not pages).
template <class T, class Comp = std::less<>>
void parallel_sort(runtime& rt, node_array<T>& data, Comp comp = {}) {
    parallel_sort(rt, data.begin(), data.end(), std::move(comp));
}

/// The algorithms above on the process's default runtime.
template <std::random_access_iterator It, class Comp = std::less<>>
void parallel_sort(It first, It last, Comp comp = {}) {
    parallel_sort(runtime::default_runtime(), first, last, std::move(comp));
}
template <std::random_access_iterator InIt, std::random_access_iterator OutIt, class Op>
OutIt parallel_inclusive_scan(InIt first, InIt last, OutIt out, Op op) {
    return parallel_inclusive_scan(runtime::default_runtime(), first, last, out, std::move(op));
}
template <std::random_access_iterator InIt, std::random_access_iterator OutIt, class T, class Op>
OutIt parallel_exclusive_scan(InIt first, InIt last, OutIt out, T init, Op op) {
    return parallel_exclusive_scan(runtime::default_runtime(), first, last, out, std::move(init), std::move(op));
}

} // namespace topos
