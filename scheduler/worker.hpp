// scheduler/worker.hpp - the scheduler's private types below the runtime:
// task queues, node domains and workers. The runtime's own state is
// runtime_core (scheduler/runtime_core.hpp).
#pragma once

#include <topos/detail/sched_core.hpp>
#include <topos/placement.hpp>

#include <atomic>
#include <cstdint>
#include <vector>

namespace topos::detail {

struct arena_membership;

/// A counter written by one thread and read by any: relaxed, no RMW.
class owner_counter {
public:
    void bump() noexcept { add(1); }
    void add(std::uint64_t n) noexcept {
        m_value.store(m_value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> m_value{0};
};

/// A FIFO of tasks under a spin lock, for queues many threads push to (node
/// inboxes, the runtime's queue for outside threads). Cold compared with the
/// deques: one lock round trip per task.
class task_queue {
public:
    void push(task* t) noexcept;
    [[nodiscard]] task* pop() noexcept;
    [[nodiscard]] bool empty_hint() const noexcept { return m_size.load(std::memory_order_relaxed) == 0; }

private:
    spin_lock m_lock;
    task* m_head = nullptr;
    task* m_tail = nullptr;
    std::atomic<std::size_t> m_size{0}; ///< changes under m_lock; read without it as a hint
};

/// The workers of one NUMA node (or of "no node" when unbound).
struct alignas(cache_line) node_domain {
    int m_node = -1; ///< logical node, -1 for unbound workers
    std::vector<unsigned> m_workers;
    alignas(cache_line) task_queue m_inbox;
    /// High-priority tasks spawned by this domain's workers, taken before the
    /// inbox (task_group::run(priority::high, f)).
    alignas(cache_line) task_queue m_high;
    /// Workers of this domain looking for work (spinning or asleep). Remote
    /// thieves leave this domain alone while it is non-zero.
    alignas(cache_line) std::atomic<int> m_idle{0};
    /// The crossing token: held by the one worker of this domain that is
    /// stealing from other nodes right now.
    alignas(cache_line) std::atomic<bool> m_crossing{false};
};

enum class scan_mode {
    local,   ///< own node only: a worker that just ran out of work waits a little before crossing
    normal,  ///< remote only with the crossing token, only from saturated nodes
    recheck, ///< before sleeping: ignore the token, still respect idle nodes
    drain,   ///< stopping: take anything from anywhere
};

class worker : public worker_core {
public:
    worker(runtime_core& rt, unsigned index, int node, node_domain& domain);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// Resolves the plan's steal tiers into victim pointers (after all workers
    /// exist); guest slots come last, after the local tiers. Guests themselves
    /// steal from nobody: they are unpinned, so taking a worker's task would
    /// move it off its node; they run the outside queue and their own deque.
    void build_victims(const worker_placement& placement);
    [[nodiscard]] bool is_guest() const noexcept;
    /// The worker thread's loop, until the runtime stops and no work is left.
    void main_loop();
    /// One pass over every source of work, nearest first.
    [[nodiscard]] task* find_work(scan_mode mode);
    /// find_work() past its own deque: out of line, so that the common case
    /// (the own deque has work) saves no more registers than it needs.
    [[gnu::noinline]] [[nodiscard]] task* find_elsewhere(scan_mode mode);
    /// pre: the caller owns the slot. A task from its own deque or its own
    /// deques in arenas, or nullptr.
    [[nodiscard]] task* pop_own() noexcept;
    /// Runs a task and releases its frame.
    void execute(task* t) noexcept;
    /// Registers as a sleeper, re-scans, and parks unless work, stop or (when
    /// given) the group's completion turned up. Returns a task found by the
    /// re-scan, if any.
    [[nodiscard]] task* park_or_find(const group_core* waiting_for);

    runtime_core& m_rt;
    const unsigned m_index;
    const int m_node;
    node_domain& m_domain;
    bool m_last_scan_lost = false; ///< owner-private: the last find_work lost a steal race

    struct remote_target {
        node_domain* m_domain = nullptr;
        std::vector<worker*> m_victims;
    };
    std::vector<worker*> m_local_victims;  ///< owner-private, plan order
    std::vector<remote_target> m_remote;   ///< owner-private, by distance
    /// The arenas this worker is a member of; nullptr when none. Replaced
    /// (release) under the runtime's arena lock; each snapshot lives as long
    /// as the runtime. Guests are never members.
    std::atomic<const arena_membership*> m_arenas{nullptr};

    alignas(cache_line) parker m_parker;
    std::atomic<bool> m_asleep{false}; ///< in m_rt's sleeper count; cleared by whoever wakes it

    alignas(cache_line) owner_counter m_tasks_run;
    owner_counter m_steals_local;
    owner_counter m_steals_remote;
    owner_counter m_steals_lost;
    owner_counter m_inbox_tasks;
    owner_counter m_parks;
    owner_counter m_iterations_on_node;
    owner_counter m_iterations_off_node;

    std::vector<task*> m_chunks; ///< owner-private: frame chunks to free at the end
    bool m_bound = false;
    bool m_memory_on_node = false;
    bool m_numa_allocated = false; ///< this object lives in numa_alloc_onnode memory
    /// Guest slots, and slot 0 when the caller is worker 0: held by the
    /// outside thread using it now.
    std::atomic<bool> m_guest_claimed{false};

private:
    /// True when g's task must not run: g or a group above it is cancelled.
    [[nodiscard]] bool skips(const group_core& g) const noexcept;
    /// execute() with an observer or the trace watching.
    void execute_observed(task* t) noexcept;
    /// Runs t's body as a task of g (groups it creates nest in g); a throw is g's exception.
    void run_body(task* t, group_core* g) noexcept;
    /// Destroys t's callable without running it (g is cancelled).
    void skip_body(task* t, group_core* g) noexcept;
    [[nodiscard]] task* steal_remote(scan_mode mode);
    /// One pass over `victims`' deques in order: the first task stolen
    /// (counted in `stolen`), or nullptr; a lost race sets m_last_scan_lost.
    [[nodiscard]] task* steal_from(const std::vector<worker*>& victims, owner_counter& stolen);
    /// One pass over the other members' deques of each of our arenas.
    [[nodiscard]] task* steal_in_arenas(const arena_membership& arenas);
    /// Spins, then parks, until it finds work (returned) or the runtime stops
    /// with nothing left (nullptr). Leaves m_domain.m_idle one lower.
    [[nodiscard]] task* idle_loop();
    void leave_idle(bool found_work) noexcept;
    [[nodiscard]] bool domain_has_work() const noexcept;
    void leave_sleep() noexcept;
};

} // namespace topos::detail
