// scheduler/observer.hpp - where a runtime's events go: the observers that
// rt.observe() installed and the trace recorder (TOPOS_TRACE).
//
// The event sites (worker.cpp, steal.cpp) test runtime_core::m_observed, a
// relaxed flag, and call in here only when it is set: with nobody watching an
// event costs one load and a branch not taken. Worker start and stop always
// come here (once per worker), so that observe() knows who is running.
//
// Installing and removing observers is rare and takes m_lock; delivering an
// event takes no lock. A removal must not return while a worker may still be
// calling the removed observer, so each worker slot has a sequence number, odd
// while it delivers: remove() swaps the list (seq_cst), then waits for every
// odd number it sees to change. A deliverer's odd store (seq_cst) comes before
// its load of the list (seq_cst): either remove() sees it odd and waits, or
// the deliverer's load comes after the swap and sees the new list. Old lists
// are kept until the hub dies, so a deliverer never reads a freed one.
#pragma once

#include <topos/detail/sched_core.hpp>
#include <topos/observer.hpp>
#include <topos/runtime.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace topos::detail {

class worker;
class trace_recorder;

/// What an observation holds: its runtime until the runtime detaches it.
struct observation_link {
    std::mutex lock;              ///< held while the observer is removed or detached
    runtime_core* core = nullptr; ///< nullptr once removed or detached
    observer* watcher = nullptr;
};

class observer_hub {
public:
    /// Reads TOPOS_TRACE and TOPOS_TRACE_EVENTS for a runtime of `slots`
    /// worker slots (workers and guest slots). Throws config_error naming the
    /// variable when the trace file cannot be opened or a value is invalid.
    observer_hub(runtime_core& rt, std::size_t slots);
    ~observer_hub();
    observer_hub(const observer_hub&) = delete;
    observer_hub& operator=(const observer_hub&) = delete;

    // Event sites; all run on the thread that owns worker slot `w`.
    void worker_started(const worker& w) noexcept;
    void worker_stopped(const worker& w) noexcept;
    /// Returns the task's label, for task_end.
    const char* task_begin(const worker& w, task* t, bool skipped) noexcept;
    void task_end(const worker& w, const char* label, bool skipped) noexcept;
    /// `victim` is nullptr for a task taken from `victim_node`'s inbox;
    /// `remote` as the steal was counted in stats().
    void steal(const worker& thief, const worker* victim, int victim_node, bool remote) noexcept;
    void park(const worker& w) noexcept;
    void wake(const worker& w) noexcept;

    [[nodiscard]] std::shared_ptr<observation_link> add(observer& o);
    /// pre: link.lock is held.
    void remove(observation_link& link) noexcept;
    /// After every worker has stopped, before they are destroyed: detaches
    /// the observations and writes the trace (errors go to stderr, one line).
    void finish(const runtime_stats& stats) noexcept;

private:
    struct observer_list {
        std::vector<observer*> items;
    };
    struct alignas(cache_line) slot_state {
        std::atomic<std::uint32_t> delivering{0}; ///< odd while the slot's thread calls observers
    };
    enum class run_state : unsigned char { not_started, running, stopped };

    template <class Call>
    void deliver(unsigned slot, Call&& call) noexcept;
    [[nodiscard]] worker_info info_of(unsigned index) const noexcept;
    void update_flag() noexcept; ///< under m_lock

    runtime_core& m_rt;
    std::unique_ptr<trace_recorder> m_trace;
    std::unique_ptr<slot_state[]> m_slots;
    std::size_t m_slot_count;
    std::atomic<const observer_list*> m_list{nullptr};
    std::mutex m_lock; ///< guards the fields below, and orders start/stop deliveries
    std::vector<std::unique_ptr<observer_list>> m_lists; ///< every list ever published
    std::vector<run_state> m_running;                   ///< per worker (not guests)
    std::vector<std::weak_ptr<observation_link>> m_links; ///< to detach at the end
    std::condition_variable m_started; ///< a worker entered its loop
};

} // namespace topos::detail
