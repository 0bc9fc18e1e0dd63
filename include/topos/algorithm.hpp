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

#include <topos/detail/spin.hpp>
#include <topos/memory.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <algorithm>
#include <array>
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
/// Elements per block of the scans (their grouping: see detail::scan_blocks).
inline constexpr std::size_t k_scan_block = std::size_t{1} << 16;
/// Blocks a scan worker may have summed while it waits for the running total
/// of the oldest of them.
inline constexpr std::size_t k_scan_lookahead = 2;
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
// Work. A scan of data larger than the caches is bound by memory traffic,
// and one core nearly saturates its share of it: a two-pass scan (totals,
// then the scan proper) reads the input twice from memory and gains little on
// two cores. So the blocks are claimed in order from one counter, and a
// worker that claims block b when before_b is already published scans it in
// one pass, combining total_b alongside, and then publishes before_b+1 =
// before_b op total_b. Otherwise it sums the block first (which leaves it in
// its cache), and as soon as before_b is published it publishes before_b+1
// and scans the block from cache. While the oldest of its summed blocks
// waits, a worker may claim and sum k_scan_lookahead - 1 more, so a worker
// slowed down (a busy core, an interrupt) does not stall the others for the
// time it takes to read a block. Every element is read from memory at most
// twice and written once, mostly once; the chain from block to block costs
// one operation and a cache line's transfer. A worker waits only for blocks
// claimed before its own, whose claimers are running and wait only for
// earlier blocks, so the chain always moves; on one worker the blocks are
// scanned in order in one pass. Reads of in[i] come before writes of out[i]
// within a block, so out may be in (an in-place scan).
//
// Block size. 2^16 elements is 512 KiB of 8-byte values: half a 1-MiB L2.
// Longer blocks mean fewer hand-offs and fewer restarts of the hardware
// prefetcher's streams (each worker's blocks are far apart). On 10^8 keys
// on two cores, before the one-pass route and the lookahead, blocks of 2^12,
// 2^14, 2^16 and 2^18 took 70, 45, 38 and 37.5 ms, oneTBB's parallel_scan
// 41 ms.
//
// `op` must not wait for other topos tasks (a nested parallel loop inside
// op): a worker that waits for its predecessor's total does not run other
// work meanwhile.
// pre (scan_blocks): first != last. `carry`, when set, comes before the first
// element.

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
    // total_b through it (the one-pass route of a lone worker).
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
    const auto next_before = [&](const std::optional<T>& before, T total) {
        return before ? std::optional<T>(op(*before, std::move(total))) : std::optional<T>(std::move(total));
    };
    if (blocks == 1 || rt.thread_count() == 1) {
        std::optional<T> chain = std::move(carry);
        for (std::size_t b = 0; b < blocks; ++b) {
            std::optional<T> total;
            scan_block(b, chain, b + 1 < blocks ? &total : nullptr);
            if (b + 1 < blocks) {
                chain = next_before(chain, std::move(*total));
            }
        }
        return out + static_cast<std::ptrdiff_t>(n);
    }

    // link[b] holds before_b once `ready` is set (release), written once by
    // the worker of block b - 1; link[0] is the carry.
    struct link {
        std::atomic<bool> ready{false};
        std::optional<T> before;
    };
    std::vector<link> links(blocks);
    links[0].before = std::move(carry);
    links[0].ready.store(true, std::memory_order_relaxed);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false}; // a worker threw: nobody will publish after it
    // Total of block b (not the last): its elements combined left to right.
    const auto block_total = [&](std::size_t b) {
        InIt in = first + static_cast<std::ptrdiff_t>(b * k_scan_block);
        T acc = *in;
        for (std::size_t i = 1; i < k_scan_block; ++i) { // a block before the last is full
            ++in;
            acc = op(std::move(acc), *in);
        }
        return acc;
    };
    const auto work = [&] {
        // Blocks this worker has summed but not yet scanned, in claim order.
        struct pending_block {
            std::size_t index = 0;
            std::optional<T> total; // empty for the last block
        };
        std::array<pending_block, k_scan_lookahead> pending{};
        std::size_t head = 0;
        std::size_t count = 0;
        bool claimed_all = false;
        backoff wait;
        try {
            for (;;) {
                // acquire: pairs with the release store that published
                // before_b, so its value is visible.
                while (count > 0 && links[pending[head].index].ready.load(std::memory_order_acquire)) {
                    pending_block& p = pending[head];
                    if (p.index + 1 < blocks) {
                        links[p.index + 1].before = next_before(links[p.index].before, std::move(*p.total));
                        links[p.index + 1].ready.store(true, std::memory_order_release);
                    }
                    p.total.reset();
                    scan_block(p.index, links[p.index].before, nullptr);
                    head = (head + 1) % k_scan_lookahead;
                    --count;
                    wait.reset();
                }
                if (failed.load(std::memory_order_relaxed)) {
                    return;
                }
                if (!claimed_all && count < k_scan_lookahead) {
                    const std::size_t b = next.fetch_add(1, std::memory_order_relaxed);
                    if (b >= blocks) {
                        claimed_all = true;
                        continue;
                    }
                    if (count == 0 && links[b].ready.load(std::memory_order_acquire)) {
                        // Its running total is known: one pass over memory.
                        std::optional<T> total;
                        scan_block(b, links[b].before, b + 1 < blocks ? &total : nullptr);
                        if (b + 1 < blocks) {
                            links[b + 1].before = next_before(links[b].before, std::move(*total));
                            links[b + 1].ready.store(true, std::memory_order_release);
                        }
                        continue;
                    }
                    pending_block& p = pending[(head + count) % k_scan_lookahead];
                    p.index = b;
                    if (b + 1 < blocks) { // nobody needs the last block's total
                        p.total.emplace(block_total(b));
                    }
                    ++count;
                } else if (count == 0) {
                    return;
                } else {
                    wait.pause(); // the oldest block's predecessor is still being summed
                }
            }
        } catch (...) {
            failed.store(true, std::memory_order_relaxed);
            throw;
        }
    };
    const auto workers = static_cast<unsigned>(std::min<std::size_t>(rt.thread_count(), blocks));
    parallel_for(rt, 0U, workers, [&](unsigned) { work(); }, 1);
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
