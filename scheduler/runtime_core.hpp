// scheduler/runtime_core.hpp - the state of one runtime: its plan, its node
// domains, its workers and guest slots, and how they start and stop. A
// `topos::runtime` owns exactly one; the inline layer knows it only by
// address (see sched_core.hpp), task groups and workers point at it.
//
// The jobs on it are split by file: runtime.cpp starts, pins and stops the
// workers and answers the inline layer's calls; worker.cpp is a worker's
// loop, steal.cpp how it finds work; stats.cpp the counters and the
// affinity display.
#pragma once

#include "scheduler/observer.hpp"
#include "scheduler/worker.hpp"

#include <topos/placement.hpp>
#include <topos/runtime.hpp>
#include <topos/topology.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace topos::detail {

class runtime_core {
public:
    /// Plans, allocates the guest slots and starts one thread per planned
    /// worker; returns once every worker is ready. Throws what planning
    /// throws, std::system_error when a thread cannot start, and
    /// memory_error when a worker's state cannot be allocated; nothing is
    /// left running then.
    runtime_core(runtime& owner, const runtime_options& options);
    /// Lets the work in flight finish, then stops and joins the workers.
    ~runtime_core();
    runtime_core(const runtime_core&) = delete;
    runtime_core& operator=(const runtime_core&) = delete;

    /// Wakes one sleeping worker, preferring `near` (may be null).
    void wake_one(const node_domain* near) noexcept;
    [[nodiscard]] node_domain* domain_of_node(int node) const noexcept;
    /// Adds a line to degraded(); any thread.
    void add_degraded(std::string line);
    /// The counters of every worker and guest slot (runtime::stats()).
    [[nodiscard]] runtime_stats collect_stats() const;

    /// Workers parked (or about to park) in this runtime. Every worker_core
    /// reads it after each push; written only when a worker goes to sleep or
    /// is woken. On its own line: every push on every worker reads it.
    alignas(cache_line) std::atomic<std::uint32_t> m_sleepers{0};
    /// True when membarrier(2) is unavailable and push must fence itself.
    /// Set before any worker exists, read-only afterwards.
    bool m_push_fence = false;

    /// Someone watches: an observer is installed or TOPOS_TRACE is set. Every
    /// event site loads it (relaxed) and calls m_hub only when it is true.
    /// Read-mostly, on its own line.
    alignas(cache_line) std::atomic<bool> m_observed{false};
    /// Cancellation walks in progress (scheduler/cancel.cpp): read by every
    /// registration of a nested group, written by cancel(). Same line.
    std::atomic<std::uint32_t> m_cancel_walks{0};
    std::uint64_t m_cancel_epoch = 0; ///< numbers the walks; under every slot's m_groups_lock
    std::unique_ptr<observer_hub> m_hub; ///< observers and the trace (scheduler/observer.hpp)

    runtime& m_owner;
    topology m_topology;
    placement_plan m_plan;
    std::vector<std::unique_ptr<node_domain>> m_domains;
    std::vector<int> m_domain_of_node; ///< logical node -> index in m_domains, -1 when none
    task_queue m_injection;             ///< tasks from threads outside the runtime
    /// The plan's workers, then k_guest_slots guest slots: worker states
    /// without a thread that an outside thread borrows while it waits, so it
    /// can run tasks (and spawn onto a deque of its own) instead of sleeping.
    std::vector<worker*> m_workers;
    unsigned m_worker_count = 0; ///< workers with a thread: the first entries of m_workers
    static constexpr unsigned k_guest_slots = 4;
    /// False when the workers cover only part of the allowed CPUs: outside
    /// waiters then sleep rather than run work off the runtime's CPUs.
    bool m_admits_guests = false;
    node_domain m_guest_domain;  ///< node -1; never idle, never a remote target
    std::atomic<bool> m_stopping{false};
    bool m_display_affinity = false;

    mutable std::mutex m_degraded_lock;
    std::vector<std::string> m_degraded;

private:
    void build_domains();
    void note_degraded_start();
    void decide_guests();
    void start_threads();
    /// Tells the started threads to return without running, joins them and
    /// frees every worker state. pre: no worker has entered its loop.
    void abort_start() noexcept;
    void thread_main(unsigned index);
    /// Counts a worker whose state could not be allocated, keeping the first reason.
    void note_start_failure(unsigned index, const char* what) noexcept;
    void create_worker(unsigned index);
    /// pre: the worker is ready and the phase is "running". Prints the
    /// worker's binding to stderr (TOPOS_DISPLAY_AFFINITY).
    void display_affinity(unsigned index) const;
    void destroy_workers() noexcept;
    void stop_and_join() noexcept;

    std::vector<std::thread> m_threads;
    std::atomic<unsigned> m_ready{0};
    std::atomic<int> m_phase{0}; ///< 0 starting, 1 running, 2 aborted
    /// Workers whose state could not be allocated, and the first one's
    /// reason; written by their threads (under m_degraded_lock) before they
    /// report ready.
    unsigned m_start_failures = 0;
    std::string m_start_failure;
};

} // namespace topos::detail
