// topos/runtime.hpp - a pool of worker threads placed by a placement plan.
//
// A runtime starts one worker per entry of plan_placement(topology,
// with_environment(options)), pins each to its plan's PUs (unless bind is
// false), allocates each worker's private state on the worker's NUMA node, and
// lets idle workers steal from each other in the plan's steal order.
//
// Work-stealing policy
//  - A worker looks for work in this order: its own deque (newest first), its
//    node's inbox (run_on_node tasks), the runtime's queue (tasks from threads
//    outside the runtime), then steals from the plan's local tiers (same core,
//    same cache, same node), then from remote nodes by increasing distance.
//    Arena members also look at their arena deques and queues, and every
//    worker at the high-priority queues before normal work (task_arena
//    below, task_group.hpp's "Priorities").
//  - Remote stealing is throttled: each node has one "crossing" token, and only
//    the worker holding it may steal from other nodes, so at most one thief per
//    node crosses the interconnect at a time. It takes work only from nodes with
//    no idle worker of their own (an idle local worker will take it sooner and
//    without remote traffic), trying each node's inbox and then its deques.
//    A worker that has just run out of work first spins on its own node (a
//    few microseconds) before it may cross, so a node that is only slightly
//    behind finishes its own work. When the last idle worker of a node gets
//    busy while work is still queued there, it wakes a sleeper elsewhere.
//  - Every steal is counted as local (same node) or remote (stats()).
//
// Parking: an idle worker spins briefly (pauses, then a few yields), then
// sleeps on a futex. A push wakes one sleeper only when some worker sleeps, so
// the spawn fast path has no system call and no fence (see sched_core.hpp).
// A runtime with no work uses no CPU.
//
// The calling thread is worker 0 (caller_role::worker, the default; see
// topos/share.hpp): a runtime of N workers starts N-1 threads, and a thread
// outside the runtime that calls into it (parallel_for, parallel_reduce,
// parallel_invoke, task_group::wait) takes worker slot 0 for the call: it is
// pinned to slot 0's place (when the plan binds), finds work in slot 0's
// steal order and sleeps like a worker. Like OpenMP's initial thread it
// stays on that place between calls, which spares three system calls a
// call; its own mask is put back when the runtime ends, or when another
// thread takes slot 0. Meanwhile threads it starts inherit the place (a
// runtime it starts gives its own threads the caller's mask back). A thread
// that already carries another runtime's pin is pinned for the call only.
// A program that changes a pinned caller's mask itself is not re-pinned. Before it leaves it runs whatever is left on slot 0's deque, so no
// task waits for a slot without a thread. One thread holds slot 0 at a time.
// With N = 1 no thread is started: tasks queued from outside run when some
// thread waits (or when the runtime is destroyed), as in OpenMP and oneTBB.
//
// Outside threads that do not get slot 0 (it is taken, or caller_role::guest)
// borrow one of a few guest slots - a deque and a frame free list without a
// thread - and run tasks until their wait ends: tasks from the runtime's
// outside queue and the ones they spawn themselves. Workers steal from guest
// slots after their local tiers; guests steal from no worker (they are not
// pinned, so that would move work off its node) and never take node inbox
// tasks. With nothing to run a guest sleeps until its group is done (or, in
// caller_role::worker, until slot 0 is free again). Guests are admitted only
// when the workers cover every allowed CPU (or are unbound): a runtime
// constrained to part of the machine never runs work on an unpinned outside
// thread. stats() counts the tasks guests ran in caller_tasks_run (and slot
// 0's in workers[0]).
//
// Destruction: ~runtime() lets every task already queued or running finish
// (including tasks those tasks spawn), then stops and joins the workers.
// Submitting new work from outside while the destructor runs is a usage error;
// destroying a runtime from one of its own tasks terminates the process with
// a message (it could only hang). Task groups may outlive their runtime once
// they have nothing pending (wait() then returns at once).
#pragma once

#include <topos/detail/sched_core.hpp>
#include <topos/error.hpp>
#include <topos/memory.hpp> // memory_error
#include <topos/observer.hpp>
#include <topos/placement.hpp>
#include <topos/share.hpp>
#include <topos/topology.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace topos {

/// Options of a runtime. Unset fields come from TOPOS_PLACES, TOPOS_PROC_BIND,
/// TOPOS_NUM_THREADS, TOPOS_TOPOLOGY, TOPOS_CALLER, TOPOS_SHARE and
/// TOPOS_WAIT_POLICY (the OMP_* ones where there is one), else the
/// defaults (all allowed cores, or this rank's share of them; close; the
/// caller is worker 0).
struct runtime_options {
    std::optional<std::string> places;
    std::optional<proc_bind> bind;
    std::optional<unsigned> threads;
    /// The machine to plan for; defaults to topology::from_env(). Workers are
    /// pinned and memory is placed only when it describes this machine.
    std::optional<topos::topology> topology;
    /// Whether an outside caller is worker 0 or a guest (topos/share.hpp).
    std::optional<caller_role> caller = std::nullopt;
    /// When to take this rank's share of the machine (topos/share.hpp).
    std::optional<share_mode> share = std::nullopt;
    /// This process's local rank and size, instead of the launcher's
    /// variables. config_error when size is 0 or rank >= size.
    std::optional<local_rank> rank = std::nullopt;
    /// How idle workers wait (topos/placement.hpp); unset: TOPOS_WAIT_POLICY,
    /// else OMP_WAIT_POLICY, else automatic.
    std::optional<wait_policy> wait = std::nullopt;
};

/// Counters of one worker, as the scheduler counted them.
struct worker_stats {
    unsigned index = 0;
    int node = -1;              ///< the plan's node, -1 when unbound
    std::vector<int> pus;       ///< the plan's PUs
    bool bound = false;         ///< pinned to `pus`
    bool memory_on_node = false; ///< private state allocated on `node`
    std::uint64_t tasks_run = 0;
    std::uint64_t steals_local = 0;  ///< tasks taken from a same-node worker's deque
    std::uint64_t steals_remote = 0; ///< tasks taken from another node (deque or inbox)
    std::uint64_t steals_lost = 0;   ///< steal attempts that lost a race
    std::uint64_t inbox_tasks = 0;   ///< tasks taken from its own node's inbox
    std::uint64_t parks = 0;         ///< times it went to sleep
    std::uint64_t iterations_on_data_node = 0;  ///< parallel_for(node_array) iterations run on their block's node
    std::uint64_t iterations_off_data_node = 0; ///< ... and elsewhere (after rebalancing)
};

/// Totals include tasks run by outside threads that helped while waiting
/// (task_group::wait, parallel_for); `workers` lists the runtime's own threads.
struct runtime_stats {
    std::uint64_t tasks_run = 0;
    /// Of tasks_run, those run by outside threads in guest slots (unpinned);
    /// a caller in slot 0 counts as worker 0.
    std::uint64_t caller_tasks_run = 0;
    std::uint64_t steals_local = 0;
    std::uint64_t steals_remote = 0;
    std::uint64_t steals_lost = 0;
    std::uint64_t inbox_tasks = 0;
    std::uint64_t parks = 0;
    std::uint64_t iterations_on_data_node = 0;
    std::uint64_t iterations_off_data_node = 0;
    std::vector<worker_stats> workers;
};

/// Which workers of a runtime an arena may use (runtime::arena).
struct arena_options {
    /// Logical NUMA nodes whose workers may run the arena's tasks; empty: all
    /// of the runtime's workers.
    std::vector<int> nodes = {};
    /// At most this many of those workers (the lowest indices); unset: all.
    std::optional<unsigned> max_threads = std::nullopt;
};

class runtime;
class task_arena;

namespace detail {
/// The scheduler's way to a runtime's state, for topos's own templates
/// (task_group, parallel_for); the state's type is private to scheduler/.
struct runtime_access {
    [[nodiscard]] static runtime_core& core(runtime& rt) noexcept;
    [[nodiscard]] static arena_core& core(const task_arena& a) noexcept;
};
} // namespace detail

class runtime {
public:
    /// Plans from the environment and defaults, then starts the workers.
    /// Throws config_error, places_error or topology_error on bad options
    /// (TOPOS_CALLER and TOPOS_SHARE included),
    /// std::system_error if threads cannot start, memory_error when a
    /// worker's state cannot be allocated; nothing is left running then.
    runtime();
    explicit runtime(const runtime_options& options);
    /// Waits for all work in flight, then stops the workers (see above).
    ~runtime();

    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    /// The process-wide runtime, created from the environment on first use and
    /// destroyed at exit.
    [[nodiscard]] static runtime& default_runtime();

    [[nodiscard]] unsigned thread_count() const noexcept;
    [[nodiscard]] const placement_plan& plan() const noexcept;
    [[nodiscard]] const topos::topology& topology() const noexcept;
    /// Logical NUMA nodes that have workers, ascending (empty when unbound).
    [[nodiscard]] std::vector<int> nodes() const;
    /// A snapshot of the counters; cheap enough to call between phases.
    [[nodiscard]] runtime_stats stats() const;
    /// Lines that say what the runtime could not do here (pinning refused,
    /// no NUMA memory policy, ...). Empty when everything worked.
    [[nodiscard]] std::vector<std::string> degraded() const;
    /// Installs `o` (topos/observer.hpp) until the returned observation ends
    /// or the runtime is destroyed. `o` must outlive both.
    [[nodiscard]] observation observe(observer& o);
    /// Whether this runtime took a rank's share of the machine, and which.
    [[nodiscard]] const rank_share& share() const noexcept;
    /// Whether an outside caller runs as worker 0 or as a guest.
    [[nodiscard]] caller_role caller() const noexcept;
    /// The wait policy in force (runtime_options::wait or the environment).
    [[nodiscard]] wait_policy idle_policy() const noexcept;
    /// How long an idle or waiting worker polls before it yields and then
    /// sleeps, as that policy decided for this runtime (0: it yields at once).
    [[nodiscard]] std::chrono::nanoseconds idle_poll() const noexcept;
    /// A view of this runtime confined to some of its workers (see
    /// task_arena below); starts no thread. Throws node_error for a node
    /// that does not exist or has no worker here (any node when the workers
    /// are unbound), config_error for max_threads 0 or more than those
    /// nodes' workers; each message names the value. Asking twice for the
    /// same workers gives the same arena.
    [[nodiscard]] task_arena arena(const arena_options& options = {});

private:
    friend struct detail::runtime_access;
    std::unique_ptr<detail::runtime_core> m_core;
};

inline detail::runtime_core& detail::runtime_access::core(runtime& rt) noexcept { return *rt.m_core.get(); }

/// A part of a runtime: some of its workers, chosen by runtime::arena().
///
///   topos::task_arena near1 = rt.arena({.nodes = {1}, .max_threads = 2});
///   topos::task_group g(near1);        // its tasks run on those workers only
///   g.run([&] { work(); });
///   topos::parallel_for(near1, 0, n, body);
///
/// Like oneTBB's task_arena with constraints, without threads of its own:
///  - Members: the runtime's workers on `nodes` (all workers when empty),
///    the max_threads lowest-indexed of them. Slot 0 counts like any worker:
///    when the caller is worker 0 (runtime.hpp) and slot 0 is a member, an
///    outside thread helps with the arena's tasks while it waits.
///  - Confinement: a task of an arena group runs only on a member. Tasks
///    that task spawns stay in the arena, and so do the tasks of groups it
///    creates, task_group(rt) and parallel_for(rt, ...) included: a group
///    created inside an arena task inherits the arena.
///  - A member spawning into an arena group pushes onto its own deque in
///    that arena (one per member); other members steal from it, nobody else
///    sees it. Any other thread queues into the arena's shared queue. A
///    member looks at its arena deques right after its own deque, the
///    arenas' shared queues after its node's inbox and the outside queue,
///    and steals from the other members after its local tiers. Members still
///    run the runtime's other work; the workers' usual deques are untouched,
///    so work outside arenas costs what it did.
///  - A waiter that is not a member (an outside thread in slot 0 or a guest
///    slot, or a worker outside the arena) runs only work it may run, and
///    sleeps until the group is done when there is none.
///  - run_on_node(n, f) on an arena group checks n as usual, then queues f
///    like run(f): the arena's confinement wins over the node.
///  - A task_arena is a handle: copy it freely; it stays valid while its
///    runtime lives. Loops that take a task_arena: parallel_for over an
///    index range and over range/range2d/range3d, parallel_reduce,
///    parallel_invoke (the node_array forms take a runtime).
///  - Destruction: the arena's workers drain its queues like any other; but
///    a task outside the arena that queues work into it after its workers
///    have stopped (while ~runtime() runs) waits forever.
class task_arena {
public:
    [[nodiscard]] runtime& owner_runtime() const noexcept { return *m_runtime; }
    /// How many workers the arena may use.
    [[nodiscard]] unsigned thread_count() const noexcept { return m_thread_count; }
    /// The members' worker indices, ascending.
    [[nodiscard]] std::vector<unsigned> workers() const;
    /// The members' NUMA nodes, ascending (empty when unbound).
    [[nodiscard]] std::vector<int> nodes() const;
    /// True when the calling thread is one of the members.
    [[nodiscard]] bool is_member() const noexcept;

private:
    friend class runtime;
    friend struct detail::runtime_access;
    task_arena(runtime& rt, detail::arena_core& core, unsigned threads) noexcept
        : m_runtime(&rt), m_core(&core), m_thread_count(threads) {}
    runtime* m_runtime;
    detail::arena_core* m_core;
    unsigned m_thread_count;
};

inline detail::arena_core& detail::runtime_access::core(const task_arena& a) noexcept { return *a.m_core; }

/// Questions a task can ask about the worker running it.
namespace this_worker {
/// Index of the calling worker in its runtime, or -1 outside any runtime.
[[nodiscard]] int index() noexcept;
/// The calling worker's NUMA node (logical id), or -1 when unbound or outside.
[[nodiscard]] int node() noexcept;
/// The runtime the calling worker belongs to, or nullptr.
[[nodiscard]] runtime* current_runtime() noexcept;
} // namespace this_worker

} // namespace topos
