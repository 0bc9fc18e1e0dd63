// scheduler/stats.cpp - what a runtime tells about itself: the counters
// (stats()), what it could not do (degraded()), each worker's binding
// (TOPOS_DISPLAY_AFFINITY), and this_worker's questions.
#include "scheduler/runtime_core.hpp"

#include "os/affinity.hpp"

#include <topos/parallel.hpp>

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace topos {
namespace detail {

void runtime_core::display_affinity(unsigned index) const {
    const worker& w = *m_workers[index];
    const auto& p = m_plan.workers[index];
    if (index < m_first_thread) {
        // Slot 0 of the caller: no thread yet; whichever thread calls in runs here.
        const std::string planned = format_cpu_list(p.pus);
        std::fprintf(stderr, "topos: pid %d worker %u node %d place %u is the calling thread, %s OS proc set {%s}\n",
                     static_cast<int>(getpid()), index, p.node, p.place,
                     w.m_bound ? "bound while it works to" : "not bound, may use", planned.c_str());
        return;
    }
    const std::string actual = format_cpu_list(os::current_affinity());
    std::fprintf(stderr, "topos: pid %d worker %u node %d place %u %s OS proc set {%s}\n", static_cast<int>(getpid()),
                 index, p.node, p.place, w.m_bound ? "bound to" : "not bound, may use", actual.c_str());
}

void count_affine_iterations(std::size_t on_node, std::size_t off_node) noexcept {
    if (worker_core* w = tls_worker) {
        static_cast<worker*>(w)->m_iterations_on_node.add(on_node);
        static_cast<worker*>(w)->m_iterations_off_node.add(off_node);
    }
}

namespace {

std::int64_t pace_clock_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Nanoseconds a grain took, from `took` ns for `iterations` (>= 1); at least 1
// so that a measured pace is never mistaken for none.
std::int64_t pace_per_grain(std::int64_t took, std::size_t iterations, std::size_t grain) noexcept {
    const double ns = static_cast<double>(took) * static_cast<double>(grain) / static_cast<double>(iterations);
    return ns < 1.0 ? 1 : ns > 1e15 ? std::int64_t{1'000'000'000'000'000} : static_cast<std::int64_t>(ns);
}

} // namespace

loop_pace::loop_pace(std::size_t lo) noexcept : m_stamp_ns(pace_clock_ns()), m_stamp_lo(lo) {}

loop_pace::choice loop_pace::decide(std::atomic<std::int64_t>& grain_ns, std::int64_t hint_ns, std::size_t lo,
                                    std::size_t hi, std::size_t grain) noexcept {
    // relaxed: the pace is a hint; any value some piece measured will do.
    std::int64_t pace = grain_ns.load(std::memory_order_relaxed);
    if (lo != m_stamp_lo) {
        const std::int64_t now = pace_clock_ns();
        pace = pace_per_grain(now - m_stamp_ns, lo - m_stamp_lo, grain);
        grain_ns.store(pace, std::memory_order_relaxed);
        m_stamp_ns = now;
        m_stamp_lo = lo;
    }
    const auto worth = [&](std::int64_t ns) {
        const double grains = static_cast<double>(hi - lo) / static_cast<double>(grain);
        return grains * static_cast<double>(ns) >= 2.0 * static_cast<double>(k_min_stolen_work_ns);
    };
    if (pace != 0) {
        return worth(pace) ? choice::split : choice::never;
    }
    if (hint_ns != 0 && !worth(hint_ns)) {
        return choice::later; // small last time: see how this call goes first
    }
    return choice::split;
}

void loop_pace::finish(std::atomic<std::int64_t>& grain_ns, std::size_t hi, std::size_t grain) noexcept {
    if (hi - m_stamp_lo < grain || grain_ns.load(std::memory_order_relaxed) != 0) {
        return;
    }
    grain_ns.store(pace_per_grain(pace_clock_ns() - m_stamp_ns, hi - m_stamp_lo, grain), std::memory_order_relaxed);
}

} // namespace detail

runtime_stats runtime::stats() const { return m_core->collect_stats(); }

namespace detail {

runtime_stats runtime_core::collect_stats() const {
    runtime_stats s;
    for (const worker* w : m_workers) {
        s.iterations_on_data_node += w->m_iterations_on_node.get();
        s.iterations_off_data_node += w->m_iterations_off_node.get();
        if (w->is_guest()) {
            s.tasks_run += w->m_tasks_run.get();
            s.caller_tasks_run += w->m_tasks_run.get();
            s.steals_local += w->m_steals_local.get();
            s.steals_lost += w->m_steals_lost.get();
            continue;
        }
        worker_stats ws;
        ws.index = w->m_index;
        ws.node = w->m_node;
        ws.pus = m_plan.workers[w->m_index].pus;
        ws.bound = w->m_bound;
        ws.memory_on_node = w->m_memory_on_node;
        ws.tasks_run = w->m_tasks_run.get();
        ws.steals_local = w->m_steals_local.get();
        ws.steals_remote = w->m_steals_remote.get();
        ws.steals_lost = w->m_steals_lost.get();
        ws.inbox_tasks = w->m_inbox_tasks.get();
        ws.parks = w->m_parks.get();
        ws.iterations_on_data_node = w->m_iterations_on_node.get();
        ws.iterations_off_data_node = w->m_iterations_off_node.get();
        s.tasks_run += ws.tasks_run;
        s.steals_local += ws.steals_local;
        s.steals_remote += ws.steals_remote;
        s.steals_lost += ws.steals_lost;
        s.inbox_tasks += ws.inbox_tasks;
        s.parks += ws.parks;
        s.workers.push_back(std::move(ws));
    }
    return s;
}

} // namespace detail

std::vector<std::string> runtime::degraded() const {
    std::lock_guard lock(m_core->m_degraded_lock);
    return m_core->m_degraded;
}

namespace this_worker {

int index() noexcept {
    detail::worker_core* w = detail::tls_worker;
    if (w == nullptr || static_cast<detail::worker*>(w)->is_guest()) {
        return -1;
    }
    return static_cast<int>(static_cast<detail::worker*>(w)->m_index);
}

int node() noexcept {
    detail::worker_core* w = detail::tls_worker;
    return w == nullptr ? -1 : static_cast<detail::worker*>(w)->m_node;
}

runtime* current_runtime() noexcept {
    detail::worker_core* w = detail::tls_worker;
    return w == nullptr ? nullptr : &static_cast<detail::worker*>(w)->m_rt.m_owner;
}

} // namespace this_worker
} // namespace topos
