// topos/parallel.hpp - parallel loops, reductions and invocations on a runtime.
//
//   topos::parallel_for(rt, 0, n, [&](std::size_t i) { y[i] += a * x[i]; });
//   topos::parallel_for(data, [&](std::size_t i) { data[i] *= 2; }); // a node_array, on the default runtime
//   double s = topos::parallel_reduce(rt, 0, n, 0.0, [&](std::size_t i) { return x[i]; }, std::plus<>{});
//   topos::parallel_invoke(rt, [&] { left(); }, [&] { right(); });
//
// Splitting: [begin, end) is halved recursively; each split pushes its right
// half as a task and keeps the left, until a piece has at most `grain`
// iterations. grain 0 (the default) means automatic: about 8 pieces per
// worker, which keeps the per-piece overhead negligible for tiny bodies and
// still leaves thieves something to balance with, and never more than
// k_max_auto_grain iterations a piece, so long loops end with small pieces
// and no worker waits long for the last one (a spawn costs well under 0.1%
// of a 64Ki-iteration piece even for a 1 ns body).
//
// Bounds: begin and end may have different integer types (0 and a
// std::size_t n, say); the loop index, passed to the body, is their common
// type. When one is signed and the other unsigned, that type is unsigned,
// and a negative bound would wrap around to a huge one: index_error instead.
// Every function without a runtime argument runs on runtime::default_runtime().
// The index-range, range/range2d/range3d, reduce and invoke forms also take
// a task_arena (runtime.hpp) instead of a runtime: their pieces then run on
// the arena's workers only, and a caller that is not a member queues the
// whole loop there and waits (sleeping when it may run nothing else).
//
// The calling thread takes part: a worker of `rt` directly, any other thread
// as worker 0 (runtime.hpp) or through one of the runtime's guest slots
// (when none is free, the loop is handed to the workers and the caller
// sleeps until done).
// An exception from the body cancels the remaining pieces and is rethrown.
#pragma once

#include <topos/node_array.hpp>
#include <topos/range.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <topos/error.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <concepts>
#include <cstddef>
#include <functional>
#include <string>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace topos {
namespace detail {

inline constexpr std::size_t k_max_auto_grain = std::size_t{1} << 16;

[[nodiscard]] inline std::size_t auto_grain(std::size_t n, unsigned threads) noexcept {
    const std::size_t pieces = 8 * static_cast<std::size_t>(threads == 0 ? 1 : threads);
    return std::clamp<std::size_t>(n / pieces, 1, k_max_auto_grain);
}

template <class Index, class Body>
struct for_context {
    const Body* m_body;
    std::size_t m_grain;
    task_group* m_group;
    Index m_origin;
    /// Nanoseconds a grain took in the last call of this loop (the same
    /// body type), or 0: a hint for the first split decision.
    std::int64_t m_hint_ns;
    /// Nanoseconds one grain of iterations took, as last measured by a piece
    /// of this loop; 0 until one is (loop_pace).
    mutable std::atomic<std::int64_t> m_grain_ns{0};
};

/// Nanoseconds per iteration of the last call of the loop whose body has
/// type Body (each lambda has a type of its own, so this is one loop of the
/// program, as a rule); 0 before its first call. relaxed: a hint.
template <class Index, class Body>
inline std::atomic<double> g_loop_ns_per_iteration{0.0};

/// How fast one piece of a loop goes, for its split decisions: a piece is
/// halved only when the half holds at least k_min_stolen_work_ns at the pace
/// the loop has shown. A steal costs about a microsecond from one core to
/// another (more across sockets), and a stolen piece of a streaming loop also
/// pulls its data out of the cache of the core that ran it last time, which
/// costs about as much again: a smaller half finishes sooner where it is.
/// Handing 25-ns pieces back and forth made a 4096-iteration loop slower on
/// two workers than on one. The clock is read when a piece starts, at its
/// split decisions and when it ends, never per grain; the functions are out
/// of line (scheduler/stats.cpp) so that none of this is near the loop the
/// compiler vectorises (inline, it cost the gcc-built per-index loop 17-32%).
class loop_pace {
public:
    static constexpr std::int64_t k_min_stolen_work_ns = 2000;

    /// Starts timing a piece at iteration `lo`.
    explicit loop_pace(std::size_t lo) noexcept;
    enum class choice : unsigned char {
        split, ///< halve [lo, hi) now
        later, ///< run a grain and decide again (the pace is only a hint)
        never, ///< run the rest here: the half is not worth a steal
    };
    /// Whether [lo, hi) is worth halving. Measures the iterations run since
    /// the last decision and records the pace in `grain_ns`. Without a
    /// measured pace it goes by `hint_ns` (the last call of this loop), and
    /// only says split or later; with neither, split.
    [[nodiscard]] choice decide(std::atomic<std::int64_t>& grain_ns, std::int64_t hint_ns, std::size_t lo,
                                std::size_t hi, std::size_t grain) noexcept;
    /// The piece ran to `hi`: records its pace when the loop has none yet.
    void finish(std::atomic<std::int64_t>& grain_ns, std::size_t hi, std::size_t grain) noexcept;

private:
    std::int64_t m_stamp_ns;
    std::size_t m_stamp_lo;
};

// Runs body(origin + i) for i in [lo, hi): the loop the compiler vectorises.
template <class Index, class Body>
inline void run_iterations(const Body& body, Index origin, std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) {
        body(static_cast<Index>(origin + static_cast<Index>(i)));
    }
}

// Lazy splitting: a piece is halved only while the running worker's deque
// is empty, that is while no half it pushed before still waits for a thief,
// and while the half is worth a steal (loop_pace). Otherwise the worker
// runs `grain` iterations and looks again; a rest too small to be worth a
// steal runs here to its end. On a busy runtime a loop is split about as
// often as it is stolen from, instead of into every grain-sized piece (8 per
// worker).
template <class Index, class Body>
void for_split(const for_context<Index, Body>* ctx, std::size_t lo, std::size_t hi) {
    const Body& body = *ctx->m_body;
    const Index origin = ctx->m_origin;
    const std::size_t grain = ctx->m_grain;
    const worker_core* self = tls_worker;
    loop_pace pace(lo);
    while (hi - lo > grain) {
        if (self == nullptr || self->m_deque.empty_hint()) {
            const auto choice = pace.decide(ctx->m_grain_ns, ctx->m_hint_ns, lo, hi, grain);
            if (choice == loop_pace::choice::never) {
                break;
            }
            if (choice == loop_pace::choice::split) {
                const std::size_t mid = lo + (hi - lo) / 2;
                ctx->m_group->run([ctx, mid, hi] { for_split(ctx, mid, hi); });
                hi = mid;
                continue;
            }
        }
        // A half still waits for a thief, or the pace is only a hint: a grain here.
        run_iterations(body, origin, lo, lo + grain);
        lo += grain;
    }
    run_iterations(body, origin, lo, hi);
    pace.finish(ctx->m_grain_ns, hi, grain);
}

template <class Body>
struct affine_context {
    const Body* m_body;
    std::size_t m_grain;
    task_group* m_group;
    int m_node; ///< where the block's data lives
};

/// Adds to the calling worker's counts of iterations run on / off the node
/// that owns their data (runtime_stats). No-op outside a runtime.
void count_affine_iterations(std::size_t on_node, std::size_t off_node) noexcept; // scheduler/stats.cpp

template <class Body>
void affine_split(const affine_context<Body>* ctx, std::size_t lo, std::size_t hi) {
    while (hi - lo > ctx->m_grain) {
        const std::size_t mid = lo + (hi - lo) / 2;
        ctx->m_group->run([ctx, mid, hi] { affine_split(ctx, mid, hi); }); // our deque: stolen locally first
        hi = mid;
    }
    const bool here = this_worker::node() == ctx->m_node;
    count_affine_iterations(here ? hi - lo : 0, here ? 0 : hi - lo);
    const Body& body = *ctx->m_body;
    for (std::size_t i = lo; i < hi; ++i) {
        body(i);
    }
}

[[nodiscard]] inline bool is_worker_of(runtime& rt) noexcept { return this_worker::current_runtime() == &rt; }

/// Where a loop may run: a runtime (an lvalue) or one of its arenas.
template <class P>
concept task_place = std::same_as<P, runtime&> || std::same_as<std::remove_cvref_t<P>, task_arena>;

[[nodiscard]] inline runtime& runtime_of(runtime& rt) noexcept { return rt; }
[[nodiscard]] inline runtime& runtime_of(const task_arena& a) noexcept { return a.owner_runtime(); }
/// Whether the calling thread may run the loop's first piece itself: a
/// worker of the runtime, or a member of the arena.
[[nodiscard]] inline bool runs_inline(runtime& rt) noexcept { return is_worker_of(rt); }
[[nodiscard]] inline bool runs_inline(const task_arena& a) noexcept { return a.is_member(); }

template <class Index>
[[nodiscard]] std::size_t iteration_count(Index begin, Index end) noexcept {
    static_assert(std::is_integral_v<Index>, "parallel loops take integral bounds");
    if (!(begin < end)) {
        return 0;
    }
    using wide = std::make_unsigned_t<std::common_type_t<Index, long long>>;
    return static_cast<std::size_t>(static_cast<wide>(end) - static_cast<wide>(begin));
}

/// The index type of a loop from a `B` to an `E`: their common type.
template <class B, class E>
using loop_index_t = std::common_type_t<B, E>;

/// Throws index_error when a bound does not fit the loop's index type: a
/// negative bound with an unsigned one. Bounds of the same signedness
/// always fit, and cost nothing here.
template <class B, class E>
void check_loop_bounds(const char* what, B begin, E end) {
    if constexpr (std::is_signed_v<B> != std::is_signed_v<E>) {
        using index = loop_index_t<B, E>;
        if (!std::in_range<index>(begin) || !std::in_range<index>(end)) {
            throw index_error(std::string(what) + ": the bounds [" + std::to_string(begin) + ", " +
                              std::to_string(end) +
                              ") mix a negative and an unsigned value, so the unsigned loop index would wrap "
                              "around; give both bounds one signed type");
        }
    }
}

// After a failure while spawning: stop the group and let pieces already
// running finish, dropping their exceptions; the caller then rethrows its own,
// which came first on this thread.
inline void cancel_and_drain(task_group& group) {
    group.cancel();
    try {
        group.wait();
    } catch (...) { // the first exception wins, and it is the caller's
    }
}

/// Calls body(i) for every index of `blocks`, each block's iterations on its
/// node (see parallel_for over a node_array).
template <class Body>
void parallel_for_blocks(runtime& rt, std::size_t n, const std::vector<node_block>& blocks, const Body& body,
                         std::size_t grain) {
    if (n == 0) {
        return;
    }
    if (grain == 0) {
        grain = detail::auto_grain(n, rt.thread_count());
    }
    const std::vector<int> nodes = rt.nodes();
    task_group group(rt);
    std::vector<detail::affine_context<Body>> ctx;
    ctx.reserve(blocks.size());
    try {
        for (const node_block& b : blocks) {
            if (b.end <= b.begin) {
                continue;
            }
            ctx.push_back({&body, grain, &group, b.node});
            const auto* c = &ctx.back();
            const auto task = [c, lo = b.begin, hi = b.end] { detail::affine_split(c, lo, hi); };
            if (std::binary_search(nodes.begin(), nodes.end(), b.node)) {
                group.run_on_node(b.node, task);
            } else {
                group.run(task);
            }
        }
    } catch (...) {
        detail::cancel_and_drain(group);
        throw;
    }
    group.wait();
}

} // namespace detail

/// Calls body(i) for every i in [begin, end), in parallel on `rt`. The index
/// type is the bounds' common type; index_error for a negative bound with an
/// unsigned one.
template <class Where, std::integral B, std::integral E, class Body>
    requires detail::task_place<Where>
void parallel_for(Where&& rt, B begin, E end, const Body& body, std::size_t grain = 0) {
    using Index = detail::loop_index_t<B, E>;
    detail::check_loop_bounds("parallel_for", begin, end);
    const std::size_t n = detail::iteration_count(static_cast<Index>(begin), static_cast<Index>(end));
    if (n == 0) {
        return;
    }
    if (grain == 0) {
        grain = detail::auto_grain(n, rt.thread_count());
    }
    // An outside caller takes slot 0 (or a guest slot) and takes part.
    const detail::caller_scope caller(detail::runtime_access::core(detail::runtime_of(rt)));
    task_group group(rt);
    auto& site = detail::g_loop_ns_per_iteration<Index, Body>;
    const double per_iteration = site.load(std::memory_order_relaxed);
    const auto hint = per_iteration > 0 ? static_cast<std::int64_t>(per_iteration * static_cast<double>(grain)) + 1 : 0;
    const detail::for_context<Index, Body> ctx{&body, grain, &group, static_cast<Index>(begin), hint};
    try {
        if (detail::runs_inline(rt)) {
            detail::for_split(&ctx, 0, n);
        } else {
            group.run([c = &ctx, n] { detail::for_split(c, 0, n); });
        }
    } catch (...) {
        detail::cancel_and_drain(group);
        throw;
    }
    group.wait();
    if (const std::int64_t measured = ctx.m_grain_ns.load(std::memory_order_relaxed); measured != 0) {
        site.store(static_cast<double>(measured) / static_cast<double>(grain), std::memory_order_relaxed);
    }
}

/// Calls body(i) for every index of `data`, running each block's iterations
/// on the node that holds the block: the block goes to its node's inbox
/// (run_on_node) and splits there, so its pieces stay on that node unless
/// another node's workers are idle while this node has no idle worker, in
/// which case they may steal (throttled; see runtime.hpp). runtime_stats
/// counts iterations run on and off their data's node. Blocks on nodes
/// without a worker of `rt` run anywhere. The body usually writes `data`,
/// hence the non-const reference; a const array works as well.
template <class T, class Body>
void parallel_for(runtime& rt, node_array<T>& data, const Body& body, std::size_t grain = 0) {
    detail::parallel_for_blocks(rt, data.size(), data.blocks(), body, grain);
}

template <class T, class Body>
void parallel_for(runtime& rt, const node_array<T>& data, const Body& body, std::size_t grain = 0) {
    detail::parallel_for_blocks(rt, data.size(), data.blocks(), body, grain);
}

/// parallel_for on the process's default runtime.
template <std::integral B, std::integral E, class Body>
void parallel_for(B begin, E end, const Body& body, std::size_t grain = 0) {
    parallel_for(runtime::default_runtime(), begin, end, body, grain);
}

/// parallel_for over a node_array on the process's default runtime.
template <class T, class Body>
void parallel_for(node_array<T>& data, const Body& body, std::size_t grain = 0) {
    parallel_for(runtime::default_runtime(), data, body, grain);
}

template <class T, class Body>
void parallel_for(const node_array<T>& data, const Body& body, std::size_t grain = 0) {
    parallel_for(runtime::default_runtime(), data, body, grain);
}

/// combine(...combine(combine(init, map(begin)), map(begin + 1))..., map(end - 1)),
/// computed in parallel. Pieces are reduced separately and their results
/// combined left to right, so `combine` must be associative; `init` is used
/// once (it need not be an identity). For a given grain the grouping is fixed,
/// so floating-point results repeat from run to run; but the automatic grain
/// (grain = 0) depends on thread_count(), so a sum may change with the thread
/// count. parallel_deterministic_reduce (algorithm.hpp) fixes the grouping
/// whatever the thread count.
template <class Where, std::integral B, std::integral E, class T, class Map, class Combine>
    requires detail::task_place<Where>
T parallel_reduce(Where&& rt, B begin_bound, E end_bound, T init, const Map& map, const Combine& combine,
                  std::size_t grain = 0) {
    using Index = detail::loop_index_t<B, E>;
    detail::check_loop_bounds("parallel_reduce", begin_bound, end_bound);
    const auto begin = static_cast<Index>(begin_bound);
    const std::size_t n = detail::iteration_count(begin, static_cast<Index>(end_bound));
    if (n == 0) {
        return init;
    }
    if (grain == 0) {
        grain = detail::auto_grain(n, rt.thread_count());
    }
    const std::size_t pieces = (n + grain - 1) / grain;
    std::vector<std::optional<T>> partial(pieces);
    parallel_for(
        rt, std::size_t{0}, pieces,
        [&](std::size_t p) {
            const std::size_t lo = p * grain;
            const std::size_t hi = std::min(n, lo + grain);
            T acc = map(static_cast<Index>(begin + static_cast<Index>(lo)));
            for (std::size_t i = lo + 1; i < hi; ++i) {
                acc = combine(std::move(acc), map(static_cast<Index>(begin + static_cast<Index>(i))));
            }
            partial[p].emplace(std::move(acc));
        },
        1);
    T result = std::move(init);
    for (auto& p : partial) {
        result = combine(std::move(result), std::move(*p));
    }
    return result;
}

template <std::integral B, std::integral E, class T, class Map, class Combine>
T parallel_reduce(B begin, E end, T init, const Map& map, const Combine& combine, std::size_t grain = 0) {
    return parallel_reduce(runtime::default_runtime(), begin, end, std::move(init), map, combine, grain);
}

/// Runs every f() in parallel on `rt` and waits; rethrows the first exception.
template <class Where, class... F>
    requires(detail::task_place<Where> && (std::invocable<F&> && ...))
void parallel_invoke(Where&& rt, F&&... fs) {
    const detail::caller_scope caller(detail::runtime_access::core(detail::runtime_of(rt)));
    task_group group(rt);
    (group.run([&fs] { std::invoke(fs); }), ...);
    group.wait();
}

/// parallel_invoke on the process's default runtime.
template <class... F>
    requires(std::invocable<F&> && ...)
void parallel_invoke(F&&... fs) {
    parallel_invoke(runtime::default_runtime(), std::forward<F>(fs)...);
}

// The range forms (range.hpp holds the range types).

/// Calls body(chunk) for consecutive chunks covering `r`, in parallel on `rt`.
template <class Where, class Body>
    requires(detail::task_place<Where> && std::invocable<const Body&, range>)
void parallel_for(Where&& rt, range r, const Body& body) {
    if (r.empty()) {
        return;
    }
    const std::size_t grain = r.grain() != 0 ? r.grain() : detail::auto_grain(r.size(), rt.thread_count());
    parallel_for(rt, std::size_t{0}, r.chunks(grain), [&](std::size_t k) { body(r.chunk(k, grain)); }, 1);
}

/// Calls body(tile) for tiles covering `r`, in parallel on `rt`.
template <class Where, class Body>
    requires(detail::task_place<Where> && std::invocable<const Body&, range2d>)
void parallel_for(Where&& rt, range2d r, const Body& body) {
    if (r.size() == 0) {
        return;
    }
    const auto g = detail::tile_grains<2>({r.rows(), r.cols()}, rt.thread_count());
    const std::size_t nc = r.cols().chunks(g[1]);
    parallel_for(
        rt, std::size_t{0}, r.rows().chunks(g[0]) * nc,
        [&](std::size_t k) { body(range2d(r.rows().chunk(k / nc, g[0]), r.cols().chunk(k % nc, g[1]))); }, 1);
}

/// Calls body(tile) for tiles covering `r`, in parallel on `rt`.
template <class Where, class Body>
    requires(detail::task_place<Where> && std::invocable<const Body&, range3d>)
void parallel_for(Where&& rt, range3d r, const Body& body) {
    if (r.size() == 0) {
        return;
    }
    const auto g = detail::tile_grains<3>({r.pages(), r.rows(), r.cols()}, rt.thread_count());
    const std::size_t nr = r.rows().chunks(g[1]);
    const std::size_t nc = r.cols().chunks(g[2]);
    parallel_for(
        rt, std::size_t{0}, r.pages().chunks(g[0]) * nr * nc,
        [&](std::size_t k) {
            body(range3d(r.pages().chunk(k / (nr * nc), g[0]), r.rows().chunk(k / nc % nr, g[1]),
                         r.cols().chunk(k % nc, g[2])));
        },
        1);
}

/// The chunked loops on the process's default runtime.
template <class R, class Body>
    requires(std::same_as<R, range> || std::same_as<R, range2d> || std::same_as<R, range3d>)
void parallel_for(R r, const Body& body) {
    parallel_for(runtime::default_runtime(), r, body);
}

namespace detail {

// A node_array's blocks cut into chunks of `grain` elements that never cross
// a block's end: chunk k is [lo[k], hi[k]); `blocks` gives each block's run
// of chunk numbers and its node, for parallel_for_blocks.
struct block_chunks {
    std::vector<node_block> blocks;
    std::vector<std::size_t> lo;
    std::vector<std::size_t> hi;
};

inline block_chunks chunk_blocks(const std::vector<node_block>& blocks, std::size_t grain) {
    block_chunks c;
    for (const node_block& b : blocks) {
        if (b.end <= b.begin) {
            continue;
        }
        const std::size_t first = c.lo.size();
        for (std::size_t lo = b.begin; lo < b.end; lo += std::min(grain, b.end - lo)) {
            c.lo.push_back(lo);
            c.hi.push_back(lo + std::min(grain, b.end - lo));
        }
        c.blocks.push_back({b.node, first, c.lo.size()});
    }
    return c;
}

} // namespace detail

/// Calls body(chunk) for chunks covering `data`'s indices, each chunk inside
/// one block and run on that block's node, as parallel_for over a node_array
/// does with single indices. Chunks hold `grain` elements (0: automatic), cut
/// from each block's start.
template <class T, class Body>
    requires std::invocable<const Body&, range> && (!std::invocable<const Body&, std::size_t>)
void parallel_for(runtime& rt, const node_array<T>& data, const Body& body, std::size_t grain = 0) {
    if (grain == 0) {
        grain = detail::auto_grain(data.size(), rt.thread_count());
    }
    const detail::block_chunks c = detail::chunk_blocks(data.blocks(), grain);
    detail::parallel_for_blocks(
        rt, c.lo.size(), c.blocks, [&](std::size_t k) { body(range(c.lo[k], c.hi[k])); }, 1);
}

template <class T, class Body>
    requires std::invocable<const Body&, range> && (!std::invocable<const Body&, std::size_t>)
void parallel_for(runtime& rt, node_array<T>& data, const Body& body, std::size_t grain = 0) {
    parallel_for(rt, static_cast<const node_array<T>&>(data), body, grain);
}

/// combine(...combine(combine(init, map(0)), map(1))..., map(n - 1)) over the
/// indices of `data`, each block's elements mapped on its node. Pieces of
/// `grain` elements (0: automatic) are cut from each block's start and their
/// results combined left to right, so `combine` must be associative; for a
/// given grain and array the grouping is fixed.
template <class T, class U, class Map, class Combine>
    requires std::invocable<const Map&, std::size_t>
U parallel_reduce(runtime& rt, const node_array<T>& data, U init, const Map& map, const Combine& combine,
                  std::size_t grain = 0) {
    if (data.size() == 0) {
        return init;
    }
    if (grain == 0) {
        grain = detail::auto_grain(data.size(), rt.thread_count());
    }
    const detail::block_chunks c = detail::chunk_blocks(data.blocks(), grain);
    std::vector<std::optional<U>> partial(c.lo.size());
    detail::parallel_for_blocks(
        rt, c.lo.size(), c.blocks,
        [&](std::size_t k) {
            U acc = map(c.lo[k]);
            for (std::size_t i = c.lo[k] + 1; i < c.hi[k]; ++i) {
                acc = combine(std::move(acc), map(i));
            }
            partial[k].emplace(std::move(acc));
        },
        1);
    U result = std::move(init);
    for (auto& p : partial) {
        result = combine(std::move(result), std::move(*p));
    }
    return result;
}

} // namespace topos
