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

#include "scheduler/arena.hpp"
#include "scheduler/observer.hpp"
#include "scheduler/worker.hpp"

#include "os/affinity.hpp"

#include <topos/placement.hpp>
#include <topos/runtime.hpp>
#include <topos/share.hpp>
#include <topos/topology.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace topos::detail {

/// An outside thread asleep in task_group::wait() because neither slot 0
/// nor a guest slot was free; lives on its stack. Woken (and left to
/// unlink itself) when slot 0 is let go, so it may take it.
struct outside_waiter {
    parker* m_parker = nullptr;
    outside_waiter* m_next = nullptr;
    outside_waiter* m_prev = nullptr;
};

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
    /// Wakes one sleeping member of `a`, preferring `near`'s workers.
    void wake_member(const arena_core& a, const node_domain* near) noexcept;
    /// The arena of the workers `options` names, made on first use
    /// (runtime::arena has the rules and the errors).
    [[nodiscard]] arena_core& make_arena(const arena_options& options);
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
    /// Some high-priority task was ever queued here (set once, before its
    /// push, never cleared): until then a worker's scan skips the high
    /// queues. Same line: read by every scan past the own deque, written once.
    std::atomic<bool> m_high_used{false};
    /// Moves on at every cancel (scheduler/cancel.cpp): read at every task
    /// start and nested group creation, written by cancel(). Same line.
    std::atomic<std::uint64_t> m_cancel_epoch{1};
    /// Groups nested in a task that live outside its frames (cancel.cpp).
    std::atomic<std::uint32_t> m_detached_count{0};
    std::mutex m_detached_lock; ///< guards the list below
    detached_node* m_detached = nullptr;
    std::unique_ptr<observer_hub> m_hub; ///< observers and the trace (scheduler/observer.hpp)
    /// Slot 0 for an outside thread (caller_role::worker). Returns slot 0,
    /// claimed, pinned and made the calling thread's worker, or nullptr when
    /// it is taken (or the caller is guest, or already a worker here).
    [[nodiscard]] worker* enter_slot0() noexcept;
    /// pre: the calling thread holds slot 0. Runs what is left on its deque,
    /// puts the thread's mask and identity back, lets the slot go and wakes
    /// outside threads asleep waiting for it.
    void leave_slot0() noexcept;
    /// Links/unlinks an outside thread asleep until its group is done or
    /// slot 0 is let go (see outside_waiter).
    void add_outside_waiter(outside_waiter& w) noexcept;
    void remove_outside_waiter(outside_waiter& w) noexcept;
    /// True when slot 0 may be free now (a hint for blocked outside threads).
    [[nodiscard]] bool slot0_free_hint() const noexcept;

    runtime& m_owner;
    topology m_topology;
    rank_share m_share;
    placement_plan m_plan;
    caller_role m_caller = caller_role::worker;
    /// First worker with a thread of its own: 1 when slot 0 is the caller's.
    unsigned m_first_thread = 0;
    std::vector<std::unique_ptr<node_domain>> m_domains;
    std::vector<int> m_domain_of_node; ///< logical node -> index in m_domains, -1 when none
    task_queue m_injection;             ///< tasks from threads outside the runtime
    task_queue m_high_injection;        ///< high-priority tasks from outside threads and guests
    /// The plan's workers, then k_guest_slots guest slots: worker states
    /// without a thread that an outside thread borrows while it waits, so it
    /// can run tasks (and spawn onto a deque of its own) instead of sleeping.
    std::vector<worker*> m_workers;
    unsigned m_worker_count = 0; ///< the plan's workers (slot 0 included): the first entries of m_workers
    /// How long an idle or waiting worker polls before it yields (a hot
    /// backoff): k_hot_spin when each worker can have a CPU of its own,
    /// else zero (hot_spin_for() in runtime.cpp).
    std::chrono::nanoseconds m_hot_spin{0};
    static constexpr unsigned k_guest_slots = 4;
    /// False when the workers cover only part of the allowed CPUs: outside
    /// waiters then sleep rather than run work off the runtime's CPUs.
    bool m_admits_guests = false;
    node_domain m_guest_domain;  ///< node -1; never idle, never a remote target
    std::atomic<bool> m_stopping{false};
    bool m_display_affinity = false;
    wait_policy m_wait = wait_policy::automatic; ///< runtime_options::wait, else the environment's

    std::mutex m_arena_lock; ///< guards the two lists below and the workers' m_arenas stores
    std::vector<std::unique_ptr<arena_core>> m_arenas;
    std::vector<std::unique_ptr<arena_membership>> m_memberships; ///< every snapshot ever published

    mutable std::mutex m_degraded_lock;
    std::vector<std::string> m_degraded;

private:
    /// Wakes `w` if it sleeps; true when this call woke it.
    bool try_wake(worker* w) noexcept;
    /// Pins the calling thread (which just claimed slot 0) to slot 0's place,
    /// saving its own mask first; says once in degraded() when it cannot.
    void pin_caller() noexcept;
    /// Runs what is still queued when no worker thread exists to drain it.
    void drain_without_threads() noexcept;
    /// Sets m_worker_start_mask when the creating thread carries another
    /// runtime's pin.
    void inherit_creator_mask() noexcept;
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
    /// Allocates worker `index`'s state; `own_thread`: called on the
    /// worker's own thread, which it pins first (slot 0 of a caller has none).
    void create_worker(unsigned index, bool own_thread);
    /// pre: the worker is ready and the phase is "running". Prints the
    /// worker's binding to stderr (TOPOS_DISPLAY_AFFINITY).
    void display_affinity(unsigned index) const;
    void destroy_workers() noexcept;
    void stop_and_join() noexcept;

    // Slot 0's caller (caller_role::worker). The saved mask and the outer
    // identity belong to the thread holding slot 0: its claim (acquire) and
    // release order them between holders.
    bool m_pin_caller = false;              ///< the plan binds and describes this machine
    os::prepared_affinity m_slot0_mask;     ///< slot 0's PUs, ready to apply
    os::affinity_snapshot m_caller_saved;   ///< the holder's own mask, to put back when it leaves
    bool m_caller_restore = false;          ///< the holder's mask was changed for this call only
    // The pin kept between calls (see "the caller's pin" in runtime.cpp):
    // written under the process-wide pin lock, read without it only by the
    // slot 0 holder.
    std::uint64_t m_pin_ticket = 0;         ///< 0: no thread carries this runtime's pin
    pid_t m_pin_tid = 0;                    ///< the thread that carries it
    bool m_pin_put_back = false;            ///< its mask was changed: m_pin_original goes back
    os::affinity_snapshot m_pin_original;   ///< that thread's own mask from before
    runtime_core* m_pin_next = nullptr;     ///< the process's list of runtimes whose pin is carried
    os::affinity_snapshot m_worker_start_mask; ///< the creator's own mask, for workers that would inherit a pin
    bool m_worker_start_reset = false;      ///< workers apply m_worker_start_mask first
    /// pre: the pin lock is held. Puts the mask of the thread that carries
    /// this runtime's pin back, and forgets the pin.
    void put_back_pin_locked() noexcept;
    /// pre: the pin lock is held. The runtime whose pin has `ticket`, or null.
    static runtime_core* pin_owner_locked(std::uint64_t ticket) noexcept;
    worker_core* m_caller_outer = nullptr;  ///< the holder's identity before (a worker of another runtime)
    std::atomic<bool> m_pin_failure_reported{false};
    spin_lock m_outside_lock;               ///< guards the list below
    outside_waiter* m_outside_waiters = nullptr;
    std::atomic<std::uint32_t> m_outside_count{0}; ///< entries in the list; read without the lock

    std::vector<std::thread> m_threads;
    std::atomic<unsigned> m_ready{0};
    std::atomic<int> m_phase{0}; ///< 0 starting, 1 running, 2 aborted
    /// Workers whose state could not be allocated, and the first one's
    /// reason; written by their threads (under m_degraded_lock) before they
    /// report ready.
    unsigned m_start_failures = 0;
    std::string m_start_failure;
};

/// After a push into a shared queue, as in worker_core::push(): our queue
/// write, then the sleeper count. True when some worker sleeps.
[[nodiscard]] bool sleepers_after_push(const runtime_core& rt) noexcept;
/// check_node() with `what` (run_on_node, arena) naming the caller in the message.
void check_node(const runtime_core& rt, const char* what, int node);

} // namespace topos::detail
