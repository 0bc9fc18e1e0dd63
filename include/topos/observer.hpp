// topos/observer.hpp - watching a runtime work: workers starting and
// stopping, tasks beginning and ending, steals, parking and waking.
//
//   struct counter : topos::observer {
//       std::atomic<long> tasks{0};
//       void on_task_end(const topos::task_info&) override { ++tasks; }
//   } c;
//   {
//       topos::observation watch = rt.observe(c); // from here on c is called
//       ... run work ...
//   }                                             // and no more after this
//
// Semantics
//  - Callbacks run on the thread the event happens on (the worker, or the
//    outside thread that helps while it waits), synchronously, while the
//    worker does nothing else: keep them short. They must not throw (an
//    exception that escapes one terminates the process), and must not call
//    observe() or observation::reset().
//  - Worker indices: 0 .. thread_count()-1 are the runtime's workers; larger
//    ones are guest slots, which outside threads borrow while they wait
//    (runtime.hpp). Guests have no start or stop events.
//  - An observation sees on_worker_start and on_worker_stop exactly once per
//    worker: start when the worker begins (or, for a worker that was already
//    running, from observe() on the calling thread), stop when the worker
//    exits at runtime destruction (or, for a worker still running, from
//    reset() on the calling thread).
//  - on_task_begin / on_task_end bracket every task a worker takes, also the
//    skipped ones of a cancelled group (task_info::skipped), so over a whole
//    run their counts equal stats().tasks_run. A task that waits on a nested
//    group runs other tasks meanwhile, on the same worker: their events nest.
//  - on_steal: a worker took a task from another worker's deque, or (remote
//    only) from another node's inbox (victim -1).
//  - on_park / on_wake: a worker went to sleep on its futex and woke up.
//  - reset() (or the observation's destructor) returns once no callback of
//    this observer runs or will run: the observer may be destroyed then. An
//    observation may outlive its runtime; the observer then has seen every
//    worker stop, and reset() does nothing.
//  - Cost: with no observer (and no TOPOS_TRACE) each event site is one
//    relaxed load of a flag and a branch not taken.
//
// Tracing: TOPOS_TRACE=trace.json makes every runtime record these events in
// per-worker buffers (no locks, no I/O while it runs; at most
// TOPOS_TRACE_EVENTS events per worker, default 1048576, after which a
// worker records nothing more and the trace counts what was dropped) and
// write them, when the runtime is destroyed, as Chrome / Perfetto Trace
// Event JSON (see the README).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace topos {

namespace detail {
struct observation_link;
} // namespace detail

/// A worker as its start and stop events describe it.
struct worker_info {
    unsigned index = 0;       ///< worker index in its runtime
    int node = -1;            ///< logical NUMA node of the plan, -1 when unbound
    std::span<const int> pus; ///< the plan's PUs (valid during the call)
};

/// A task as its begin and end events describe it.
struct task_info {
    unsigned worker = 0;         ///< who runs it (see "Worker indices")
    const char* label = nullptr; ///< task_group::run(label, f)'s label, else nullptr
    bool skipped = false;        ///< its group was cancelled: the body does not run
};

/// A task that changed hands.
struct steal_info {
    unsigned thief = 0;
    int victim = -1;     ///< worker whose deque it came from; -1: a node's inbox
    int thief_node = -1;
    int victim_node = -1;
    bool remote = false; ///< victim_node differs from thief_node
};

/// Override what you need; every callback does nothing by default.
class observer {
public:
    virtual ~observer() = default;
    virtual void on_worker_start(const worker_info& /*worker*/) {}
    virtual void on_worker_stop(const worker_info& /*worker*/) {}
    virtual void on_task_begin(const task_info& /*task*/) {}
    virtual void on_task_end(const task_info& /*task*/) {}
    virtual void on_steal(const steal_info& /*steal*/) {}
    virtual void on_park(unsigned /*worker*/) {}
    virtual void on_wake(unsigned /*worker*/) {}

protected:
    observer() = default;
    observer(const observer&) = default;
    observer& operator=(const observer&) = default;
};

/// An observer installed in a runtime, until reset() or destruction. It
/// may outlive the runtime (it then does nothing).
class observation {
public:
    observation() noexcept = default;
    observation(observation&& other) noexcept = default;
    observation& operator=(observation&& other) noexcept {
        if (this != &other) {
            reset();
            m_link = std::move(other.m_link);
        }
        return *this;
    }
    observation(const observation&) = delete;
    observation& operator=(const observation&) = delete;
    ~observation() { reset(); }

    /// Removes the observer; returns once none of its callbacks runs.
    void reset() noexcept;
    [[nodiscard]] bool active() const noexcept { return m_link != nullptr; }

private:
    friend class runtime;
    explicit observation(std::shared_ptr<detail::observation_link> link) noexcept : m_link(std::move(link)) {}

    std::shared_ptr<detail::observation_link> m_link;
};

} // namespace topos
