// capi/capi_runtime.cpp - runtimes, parallel loops and reductions, task
// groups and topology queries of <topos/topos.h>.
#include "capi/capi_common.hpp"
#include "capi/capi_handles.hpp"

#include <topos/parallel.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace topos::capi {
namespace {

template <class Fn>
void require_fn(Fn fn, const char* what) {
    if (fn == nullptr) {
        reject(TOPOS_E_INVALID_ARGUMENT, std::string(what) + " is NULL; expected a function");
    }
}

void require_grain(std::int64_t grain) {
    if (grain < 0) {
        reject(TOPOS_E_INVALID_ARGUMENT,
               "grain " + std::to_string(grain) + " is negative; expected 0 (automatic) or a chunk size");
    }
}

/// [begin, end) cut into chunks of `grain` iterations (the last one shorter).
struct chunking {
    std::int64_t begin = 0;
    std::uint64_t n = 0;
    std::uint64_t grain = 1;
    std::uint64_t pieces = 0;

    chunking(std::int64_t b, std::int64_t e, std::int64_t g, unsigned threads) : begin(b) {
        if (b < e) {
            n = static_cast<std::uint64_t>(e) - static_cast<std::uint64_t>(b);
            grain = g == 0 ? detail::auto_grain(n, threads) : static_cast<std::uint64_t>(g);
            pieces = n / grain + (n % grain != 0 ? 1 : 0);
        }
    }
    [[nodiscard]] std::int64_t lo(std::uint64_t p) const noexcept {
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(begin) + p * grain);
    }
    [[nodiscard]] std::int64_t hi(std::uint64_t p) const noexcept {
        const std::uint64_t end = std::min(n, (p + 1) * grain); // p * grain < n, so no overflow
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(begin) + end);
    }
};

template <class T>
T identity(topos_reduce_op op) {
    if (op == TOPOS_REDUCE_SUM) {
        return T{0};
    }
    if constexpr (std::numeric_limits<T>::has_infinity) {
        return op == TOPOS_REDUCE_MIN ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
    } else {
        return op == TOPOS_REDUCE_MIN ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
    }
}

template <class T>
T combine(topos_reduce_op op, T a, T b) {
    switch (op) {
    case TOPOS_REDUCE_MIN: return b < a ? b : a;
    case TOPOS_REDUCE_MAX: return a < b ? b : a;
    case TOPOS_REDUCE_SUM:
    case TOPOS_REDUCE_OP_MAX_ENUM: break;
    }
    if constexpr (std::is_integral_v<T>) {
        // Wraps as two's complement instead of overflowing (undefined in C++).
        return static_cast<T>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
    } else {
        return a + b;
    }
}

template <class T, class Chunk>
topos_status reduce(const char* fn, topos_runtime_t* rt, std::int64_t begin, std::int64_t end, std::int64_t grain,
                    topos_reduce_op op, Chunk chunk, void* ctx, T* result) {
    return guard(fn, [&] {
        auto& h = check_handle(rt, "rt");
        require_fn(chunk, "chunk");
        require_out(result, "result");
        require_grain(grain);
        if (op != TOPOS_REDUCE_SUM && op != TOPOS_REDUCE_MIN && op != TOPOS_REDUCE_MAX) {
            reject(TOPOS_E_INVALID_ARGUMENT,
                   "op " + std::to_string(static_cast<int>(op)) +
                       " is not a reduction; expected TOPOS_REDUCE_SUM, TOPOS_REDUCE_MIN or TOPOS_REDUCE_MAX");
        }
        const chunking c(begin, end, grain, h.rt.thread_count());
        std::vector<T> partial(c.pieces);
        topos::parallel_for(
            h.rt, std::uint64_t{0}, c.pieces, [&](std::uint64_t p) { partial[p] = chunk(c.lo(p), c.hi(p), ctx); },
            1);
        T acc = identity<T>(op);
        for (const T& v : partial) {
            acc = combine(op, acc, v);
        }
        *result = acc;
        return TOPOS_OK;
    });
}

const topology& topo_of(const topos_runtime_t* rt) { return check_handle(rt, "rt").rt.topology(); }

} // namespace
} // namespace topos::capi

using namespace topos::capi;

extern "C" {

topos_status topos_runtime_options_init(topos_runtime_options* options) {
    return guard("topos_runtime_options_init", [&] {
        require_out(options, "options");
        *options = topos_runtime_options{};
        return TOPOS_OK;
    });
}

topos_status topos_runtime_create(const topos_runtime_options* options, topos_runtime_t** out) {
    return guard("topos_runtime_create", [&] {
        require_out(out, "out");
        *out = nullptr;
        topos::runtime_options o;
        if (options != nullptr) {
            for (const std::int64_t r : options->reserved) {
                if (r != 0) {
                    reject(TOPOS_E_INVALID_ARGUMENT,
                           "options->reserved is not zero; initialise options with topos_runtime_options_init");
                }
            }
            if (options->places != nullptr) {
                o.places = options->places;
            }
            if (options->bind != nullptr) {
                o.bind = topos::parse_proc_bind(options->bind);
            }
            if (options->threads < 0) {
                reject(TOPOS_E_INVALID_ARGUMENT, "options->threads " + std::to_string(options->threads) +
                                                     " is negative; expected 0 (one per place) or a count");
            }
            if (options->threads > 0) {
                o.threads = static_cast<unsigned>(options->threads);
            }
            if (options->topology != nullptr) {
                o.topology = topos::topology::from_spec(options->topology);
            }
        }
        *out = new topos_runtime(o);
        return TOPOS_OK;
    });
}

topos_status topos_runtime_destroy(topos_runtime_t* rt) {
    return guard("topos_runtime_destroy", [&] {
        auto& h = check_handle(rt, "rt");
        if (topos::this_worker::current_runtime() == &h.rt) {
            reject(TOPOS_E_INVALID_ARGUMENT, "rt is the runtime of the calling worker; destroy it from outside");
        }
        h.magic = 0;
        delete &h;
        return TOPOS_OK;
    });
}

topos_status topos_runtime_thread_count(const topos_runtime_t* rt, int* out) {
    return guard("topos_runtime_thread_count", [&] {
        const auto& h = check_handle(rt, "rt");
        require_out(out, "out");
        *out = static_cast<int>(h.rt.thread_count());
        return TOPOS_OK;
    });
}

topos_status topos_this_worker_node(int* out) {
    return guard("topos_this_worker_node", [&] {
        require_out(out, "out");
        *out = topos::this_worker::node();
        return TOPOS_OK;
    });
}

topos_status topos_this_worker_index(int* out) {
    return guard("topos_this_worker_index", [&] {
        require_out(out, "out");
        *out = topos::this_worker::index();
        return TOPOS_OK;
    });
}

topos_status topos_runtime_stats_get(const topos_runtime_t* rt, topos_runtime_stats* out) {
    return guard("topos_runtime_stats_get", [&] {
        const auto& h = check_handle(rt, "rt");
        require_out(out, "out");
        const topos::runtime_stats s = h.rt.stats();
        *out = topos_runtime_stats{};
        out->tasks_run = s.tasks_run;
        out->caller_tasks_run = s.caller_tasks_run;
        out->steals_local = s.steals_local;
        out->steals_remote = s.steals_remote;
        out->steals_lost = s.steals_lost;
        out->inbox_tasks = s.inbox_tasks;
        out->parks = s.parks;
        out->iterations_on_data_node = s.iterations_on_data_node;
        out->iterations_off_data_node = s.iterations_off_data_node;
        return TOPOS_OK;
    });
}

topos_status topos_parallel_for(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain, topos_for_body body,
                                void* ctx) {
    return guard("topos_parallel_for", [&] {
        auto& h = check_handle(rt, "rt");
        require_fn(body, "body");
        require_grain(grain);
        const chunking c(begin, end, grain, h.rt.thread_count());
        // One call of body per chunk; the C++ loop runs over chunk numbers.
        topos::parallel_for(h.rt, std::uint64_t{0}, c.pieces, [&c, body, ctx](std::uint64_t p) {
            body(c.lo(p), c.hi(p), ctx);
        }, 1);
        return TOPOS_OK;
    });
}

topos_status topos_parallel_reduce_double(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain,
                                          topos_reduce_op op, topos_reduce_double_body chunk, void* ctx,
                                          double* result) {
    return reduce("topos_parallel_reduce_double", rt, begin, end, grain, op, chunk, ctx, result);
}

topos_status topos_parallel_reduce_int64(topos_runtime_t* rt, int64_t begin, int64_t end, int64_t grain,
                                         topos_reduce_op op, topos_reduce_int64_body chunk, void* ctx,
                                         int64_t* result) {
    return reduce("topos_parallel_reduce_int64", rt, begin, end, grain, op, chunk, ctx, result);
}

topos_status topos_parallel_for_array(topos_runtime_t* rt, const topos_node_array_t* array, int64_t grain,
                                      topos_for_body body, void* ctx) {
    return guard("topos_parallel_for_array", [&] {
        auto& h = check_handle(rt, "rt");
        const auto& a = check_handle(array, "array");
        require_fn(body, "body");
        require_grain(grain);
        if (a.count == 0) {
            return TOPOS_OK;
        }
        const std::size_t g = grain == 0 ? topos::detail::auto_grain(a.count, h.rt.thread_count())
                                         : static_cast<std::size_t>(grain);
        // Each block becomes a block of chunk numbers on the same node, so
        // that the node-affine loop runs one body call per chunk.
        std::vector<topos::node_block> chunks;
        std::vector<std::size_t> first; // first chunk number of each block
        chunks.reserve(a.blocks.size());
        first.reserve(a.blocks.size());
        std::size_t next = 0;
        for (const auto& b : a.blocks) {
            const std::size_t len = b.end - b.begin;
            first.push_back(next);
            chunks.push_back({b.node, next, next + len / g + (len % g != 0 ? 1 : 0)});
            next = chunks.back().end;
        }
        topos::detail::parallel_for_blocks(h.rt, next, chunks, [&](std::size_t c) {
            const auto k = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), c) - first.begin()) - 1;
            // Blocks without chunks share their start with the next one: take the last such block.
            const auto& b = a.blocks[k];
            const std::size_t lo = b.begin + (c - first[k]) * g;
            body(static_cast<int64_t>(lo), static_cast<int64_t>(std::min(b.end, lo + g)), ctx);
        }, 1);
        return TOPOS_OK;
    });
}

topos_status topos_task_group_create(topos_runtime_t* rt, topos_task_group_t** out) {
    return guard("topos_task_group_create", [&] {
        auto& h = check_handle(rt, "rt");
        require_out(out, "out");
        *out = new topos_task_group(h.rt);
        return TOPOS_OK;
    });
}

topos_status topos_task_group_destroy(topos_task_group_t* group) {
    return guard("topos_task_group_destroy", [&] {
        auto& g = check_handle(group, "group");
        g.magic = 0;
        delete &g; // waits for its tasks
        return TOPOS_OK;
    });
}

topos_status topos_task_group_run(topos_task_group_t* group, topos_task_fn fn, void* ctx) {
    return guard("topos_task_group_run", [&] {
        auto& g = check_handle(group, "group");
        require_fn(fn, "fn");
        g.group.run([fn, ctx] { fn(ctx); });
        return TOPOS_OK;
    });
}

topos_status topos_task_group_run_on_node(topos_task_group_t* group, int node, topos_task_fn fn, void* ctx) {
    return guard("topos_task_group_run_on_node", [&] {
        auto& g = check_handle(group, "group");
        require_fn(fn, "fn");
        g.group.run_on_node(node, [fn, ctx] { fn(ctx); });
        return TOPOS_OK;
    });
}

topos_status topos_task_group_wait(topos_task_group_t* group) {
    return guard("topos_task_group_wait", [&] {
        check_handle(group, "group").group.wait();
        return TOPOS_OK;
    });
}

topos_status topos_node_count(const topos_runtime_t* rt, int* out) {
    return guard("topos_node_count", [&] {
        const auto& topo = topo_of(rt);
        require_out(out, "out");
        *out = static_cast<int>(topo.node_count());
        return TOPOS_OK;
    });
}

topos_status topos_distance_matrix(const topos_runtime_t* rt, int* out, size_t capacity) {
    return guard("topos_distance_matrix", [&] {
        const auto& topo = topo_of(rt);
        require_out(out, "out");
        const auto m = topo.distance_matrix();
        if (capacity < m.size()) {
            reject(TOPOS_E_INVALID_ARGUMENT, "capacity " + std::to_string(capacity) + " is too small; the " +
                                                 std::to_string(topo.node_count()) + "-node matrix needs " +
                                                 std::to_string(m.size()));
        }
        std::copy(m.begin(), m.end(), out);
        return TOPOS_OK;
    });
}

topos_status topos_node_pus(const topos_runtime_t* rt, int node, int* pus, size_t capacity, size_t* count) {
    return guard("topos_node_pus", [&] {
        const auto& topo = topo_of(rt);
        require_out(count, "count");
        if (pus == nullptr && capacity > 0) {
            reject(TOPOS_E_INVALID_ARGUMENT, "pus is NULL with a capacity of " + std::to_string(capacity));
        }
        const std::vector<int> list = topo.pus_of_node(node);
        std::copy_n(list.begin(), std::min(capacity, list.size()), pus);
        *count = list.size();
        return TOPOS_OK;
    });
}

} // extern "C"
