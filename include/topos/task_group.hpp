// topos/task_group.hpp - fork-join: spawn tasks, then wait for all of them.
//
//   topos::task_group g(rt);
//   g.run([&] { left(); });
//   g.run_on_node(1, [&] { near_node_1(); });
//   g.wait(); // rethrows the first exception a task threw
//
// Semantics
//  - run() from a worker of the group's runtime pushes onto that worker's
//    deque (no allocation, no system call); from any other thread it queues
//    the task in the runtime and wakes a worker.
//  - run_on_node(n, f) queues f in node n's inbox, which node n's workers take
//    from before anything but their own deque; other nodes' workers take from
//    it only when node n has no idle worker (see runtime.hpp). n must be a
//    node where the runtime has a worker (one of rt.nodes()), else node_error
//    is thrown, naming n and the runtime's nodes, and nothing is queued: a
//    node the topology lacks, a node the runtime is not placed on, and any
//    node when the workers are unbound (proc_bind false). Loops over a
//    node_array run a block whose node has no worker anywhere instead.
//  - wait() returns when every task run so far has finished or been skipped.
//    On a worker it runs tasks meanwhile (its own first). Another thread
//    takes worker slot 0 (runtime.hpp) or borrows one of the runtime's guest
//    slots and runs tasks too; when no slot is free for it it sleeps (until
//    its group is done or slot 0 is free). With one worker, tasks run() from
//    outside run when some thread waits. No
//    waiter busy-spins for more than a short backoff. It rethrows the first exception a task threw, once; the group is
//    then empty, not cancelled, and reusable. Waiting again returns at once.
//  - A task that throws cancels the group. cancel() makes tasks that have not
//    started yet skip their body (they still count as finished); running tasks
//    are not interrupted (they may poll is_cancelling()).
//
// Cancellation reaches nested groups. A group created inside a task of group
// P (on a worker of the same runtime, including an outside thread helping in
// wait()) is nested in P; nesting is transitive. Guarantee: when cancel() (or
// the throw that cancels) returns, every nested group that exists is
// cancelled too, and a group created afterwards inside a task of a cancelled
// group starts cancelled. So no task of the cancelled tree that a worker
// takes after cancel() returned runs its body. A group on the heap (or in
// an outer frame) made inside a task is reached as well, also after that
// task ended. The cost stays off the fork-join paths: cancel() moves a
// per-runtime epoch on, and a task start looks at the groups above its own
// only when the epoch moved (scheduler/cancel.cpp). wait() ends its own
// group's cancellation, not its parent's or its children's; a nested group
// whose parent is still cancelled keeps saying is_cancelling() and keeps
// skipping tasks.
//  - Tasks may run() into their own group and may create and wait on nested
//    groups. Calling run() from outside while another thread waits is allowed
//    only from tasks of the same group.
//  - ~task_group() waits for tasks still pending and drops an exception nobody
//    waited for.
//  - A task must not wait() on the group it belongs to: the group's count
//    includes the waiting task itself, so the wait could never end. A waiter
//    that helps may run unrelated tasks before its wait returns (as in any
//    work-stealing runtime), so do not wait while holding a lock those tasks
//    need.
//
// Arenas. task_group(arena) makes a group whose tasks run only on the
// arena's workers (runtime.hpp, task_arena); a group created inside one of
// its tasks inherits the arena, so nested spawns stay confined.
//
// Priorities. run(priority::high, f) queues f as a high-priority task: a
// worker looking for work takes, once its own deque (and its own deques in
// arenas) is empty, its node's high queue, then the runtime's high queue
// (high tasks from outside threads and guests), then the high queues of its
// arenas, and only then normal tasks (node inbox, outside queue, steals).
// Remote thieves take a node's high queue before its inbox. A worker does
// not interrupt its own deque's work for a high task: the idle workers take
// it first, and a worker in a deep recursion takes it when its deque runs
// dry (as a oneTBB worker finishes its local work before it moves to a
// higher-priority arena). High tasks of one queue run in FIFO order. The
// spawn of a normal task pays nothing for priorities; a high spawn takes a
// lock (as run_on_node does). A high task's own spawns are normal unless
// they say otherwise.
#pragma once

#include <topos/detail/sched_core.hpp>
#include <topos/runtime.hpp>

#include <type_traits>
#include <utility>

namespace topos {

/// A task's priority (task_group::run(priority, f)).
enum class priority : unsigned char { normal, high };

class task_group {
public:
    /// A group on the process's default runtime.
    task_group() : task_group(runtime::default_runtime()) {}
    /// A group on `rt`; inside a task of an arena group, on that arena.
    explicit task_group(runtime& rt) noexcept : m_core(&detail::runtime_access::core(rt)), m_runtime(&rt) {
        detail::worker_core* w = detail::tls_worker;
        if (w != nullptr && w->m_runtime == m_core.m_runtime && w->m_current_group != nullptr) [[likely]] {
            m_core.m_arena = w->m_current_group->m_arena; // nested spawns stay in the arena
            w->enter_nested(*w->m_current_group, m_core);
        } else {
            m_core.m_id = detail::new_root_group_id();
        }
    }
    /// A group whose tasks run only on the arena's workers (runtime.hpp).
    explicit task_group(const task_arena& a) noexcept : task_group(a.owner_runtime()) {
        m_core.m_arena = &detail::runtime_access::core(a);
    }
    ~task_group() {
        // relaxed: as in wait(); the acquire in pending() orders them.
        if (m_core.pending() != 0 || m_core.m_failed.load(std::memory_order_relaxed) ||
            m_core.m_cancelled.load(std::memory_order_relaxed)) [[unlikely]] {
            wait_noexcept();
        }
        if (m_core.m_detached != nullptr) [[unlikely]] {
            detail::forget_detached(m_core);
        }
    }

    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// Runs f() on some worker of the runtime.
    template <class F>
    void run(F&& f) {
        detail::worker_core* owner = nullptr;
        detail::task* t = detail::make_task(m_core.m_runtime, m_core, std::forward<F>(f), owner);
        if (owner != nullptr && m_core.m_arena == nullptr) [[likely]] {
            owner->push(t);
        } else {
            detail::spawn_elsewhere(m_core, t, owner);
        }
    }

    /// Runs f() with priority `p`: priority::normal is run(f); a high task
    /// is queued where the workers look before any normal task but their
    /// own deque's (see "Priorities" above).
    template <class F>
    void run(priority p, F&& f) {
        if (p == priority::normal) {
            run(std::forward<F>(f));
            return;
        }
        detail::worker_core* owner = nullptr;
        detail::task* t = detail::make_task(m_core.m_runtime, m_core, std::forward<F>(f), owner);
        detail::spawn_high(m_core, t, owner);
    }

    /// Runs f() like run(f), with a label that observers and traces show
    /// (topos/observer.hpp). `label` must outlive the runtime: a literal.
    template <class F>
    void run(const char* label, F&& f) {
        run(detail::labelled_fn<std::decay_t<F>>{label, std::forward<F>(f)});
    }

    /// Runs f() on a worker of NUMA node `node` (logical id). Throws
    /// node_error when the runtime has no worker there (see above).
    template <class F>
    void run_on_node(int node, F&& f) {
        detail::check_node(*m_core.m_runtime, node);
        detail::worker_core* owner = nullptr;
        detail::task* t = detail::make_task(m_core.m_runtime, m_core, std::forward<F>(f), owner);
        if (m_core.m_arena != nullptr) [[unlikely]] {
            detail::spawn_elsewhere(m_core, t, owner); // the arena's confinement wins
        } else if (owner != nullptr && detail::on_node(*m_core.m_runtime, node)) {
            owner->push(t); // already on that node: our own deque is the nearest queue
        } else {
            detail::submit(*m_core.m_runtime, t, node);
        }
    }

    /// Waits for every task run so far; rethrows the first exception.
    void wait() {
        if (m_core.pending() != 0) {
            detail::wait_for(m_core);
        }
        // relaxed: the acquire load in pending() already ordered every
        // finished task's writes (m_failed, m_cancelled included) before us.
        if (m_core.m_failed.load(std::memory_order_relaxed) || m_core.m_cancelled.load(std::memory_order_relaxed)) {
            finish_wait();
        }
    }

    /// Skips tasks of this group, and of the groups nested in it, that have
    /// not started (see "Cancellation" above). Thread-safe.
    void cancel() noexcept { detail::cancel_group(m_core); }
    /// True after cancel() or a throwing task, until wait() returns, and
    /// while a group this one is nested in is cancelling.
    [[nodiscard]] bool is_cancelling() const noexcept { return detail::cancelling(m_core); }

    [[nodiscard]] runtime& owner_runtime() const noexcept { return *m_runtime; }

private:
    void finish_wait(); // resets cancellation, rethrows the first exception
    void wait_noexcept() noexcept;

    detail::group_core m_core;
    runtime* m_runtime;
};

} // namespace topos
