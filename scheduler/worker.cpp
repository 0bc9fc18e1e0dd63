// scheduler/worker.cpp - a worker's life: its loop, running a task, the idle
// spin and park, and the wake-ups around them. How it finds work is
// steal.cpp; how workers start and stop is runtime.cpp.
#include "scheduler/runtime_core.hpp"

#include "os/membarrier.hpp"

#include <algorithm>
#include <new>
#include <thread>

namespace topos::detail {

namespace {

// Idle workers yield this many times (after the pauses of one backoff, some
// tens of microseconds in all) before they sleep, so that back-to-back
// parallel loops find them awake; yielding gives the core to anyone else.
constexpr unsigned k_idle_yield_rounds = 64;

} // namespace

worker::worker(runtime_core& rt, unsigned index, int node, node_domain& domain)
    : worker_core(&rt, rt.m_sleepers, rt.m_push_fence, rt.m_cancel_epoch, index), m_rt(rt), m_index(index), m_node(node), m_domain(domain) {}

worker::~worker() {
    for (task* chunk : m_chunks) {
        ::operator delete(static_cast<void*>(chunk), std::align_val_t{alignof(task)});
    }
}

bool worker::is_guest() const noexcept { return m_index >= m_rt.m_worker_count; }

// The two steps of execute() that every task takes, kept inline in it.
[[gnu::always_inline]] inline bool worker::skips(const group_core& g) const noexcept {
    if (g.m_cancelled.load(std::memory_order_relaxed)) [[unlikely]] {
        return true;
    }
    // seq_cst: a task taken after cancel() returned sees its epoch (cancel.cpp).
    const std::uint64_t epoch = m_cancel_epoch->load(std::memory_order_seq_cst);
    return g.m_clean_epoch.load(std::memory_order_relaxed) != epoch && cancelled_above(g, epoch);
}

[[gnu::always_inline]] inline void worker::run_body(task* t, group_core* g) noexcept {
    group_core* const outer = m_current_group; // groups created by the task nest in g
    const void* const outer_frame = m_task_frame;
    m_current_group = g;
    m_task_frame = __builtin_frame_address(0); // the body's frames lie below this one
    try {
        t->m_invoke(t, task_op::run);
    } catch (...) {
        g->record_exception(std::current_exception());
    }
    m_current_group = outer;
    m_task_frame = outer_frame;
}

void worker::execute(task* t) noexcept {
    TOPOS_ASSERT(t != nullptr && t->m_group != nullptr, "execute: a task without a group");
    // relaxed: a hint; the hub rechecks who to call (see observer.hpp).
    if (m_rt.m_observed.load(std::memory_order_relaxed)) [[unlikely]] {
        execute_observed(t);
        return;
    }
    group_core* g = t->m_group;
    if (!skips(*g)) [[likely]] {
        run_body(t, g);
    } else {
        skip_body(t, g);
    }
    m_tasks_run.bump();
    // The group may be gone once its count reaches zero, so nothing touches it
    // after this. The frame is not the group's: it stays ours until release()
    // hands it back to its home worker, which lives as long as the runtime
    // (whose destructor joins us first). Counting down first takes the
    // release's write to a stolen frame's home (another core's line) off the
    // path by which a waiter learns that its last task is done.
    g->finish_one();
    release(t);
}

void worker::execute_observed(task* t) noexcept {
    group_core* g = t->m_group;
    const bool run = !skips(*g);
    const char* label = m_rt.m_hub->task_begin(*this, t, !run);
    if (run) {
        run_body(t, g);
    } else {
        skip_body(t, g);
    }
    m_tasks_run.bump();
    m_rt.m_hub->task_end(*this, label, !run);
    g->finish_one(); // then nothing touches the group, as in execute()
    release(t);
}

void worker::skip_body(task* t, group_core* g) noexcept {
    try {
        t->m_invoke(t, task_op::skip);
    } catch (...) {
        g->record_exception(std::current_exception()); // a throwing destructor
    }
}

void worker::leave_sleep() noexcept {
    // acq_rel: exactly one of us and a waker clears the flag (and the count).
    if (m_asleep.exchange(false, std::memory_order_acq_rel)) {
        [[maybe_unused]] const std::uint32_t before = m_rt.m_sleepers.fetch_sub(1, std::memory_order_relaxed);
        TOPOS_ASSERT(before > 0, "a worker left a sleeper count of zero");
    }
}

task* worker::park_or_find(const group_core* waiting_for) {
    const std::uint32_t generation = m_parker.prepare();
    // A guest is woken only by its group: the work it could take (its own
    // deque, the outside queue) is work the workers take as well.
    const bool sleeper = !is_guest();
    if (sleeper) {
        m_asleep.store(true, std::memory_order_relaxed);
        // seq_cst: publishes us as a sleeper before the re-scan below; with the
        // membarrier it pairs with push()'s load of m_sleepers (asymmetric Dekker).
        // Its release also makes m_asleep visible to wake_one()'s acquire load.
        m_rt.m_sleepers.fetch_add(1, std::memory_order_seq_cst);
        if (!m_rt.m_push_fence) {
            os::heavy_fence();
        }
    }
    task* t = find_work(scan_mode::recheck);
    // seq_cst: pairs with stop_and_join()'s seq_cst store of m_stopping.
    const bool stopping = m_rt.m_stopping.load(std::memory_order_seq_cst);
    const bool done = waiting_for != nullptr && waiting_for->pending() == 0;
    if (t == nullptr && !stopping && !done && !m_last_scan_lost) {
        m_parks.bump();
        const bool observed = m_rt.m_observed.load(std::memory_order_relaxed); // relaxed: a hint
        if (observed) [[unlikely]] {
            m_rt.m_hub->park(*this);
        }
        m_parker.park(generation);
        if (observed) [[unlikely]] {
            m_rt.m_hub->wake(*this);
        }
    }
    if (sleeper) {
        leave_sleep();
    }
    return t;
}

task* worker::idle_loop() {
    backoff spin(m_rt.m_hot_spin);
    unsigned yields = 0;
    task* t = nullptr;
    for (;;) {
        // acquire: pairs with the seq_cst store in stop_and_join().
        const bool stopping = m_rt.m_stopping.load(std::memory_order_acquire);
        // Cross to other nodes only once the pauses are over: a node that is
        // only slightly behind finishes its own work without remote traffic.
        t = find_work(stopping ? scan_mode::drain : spin.settled() ? scan_mode::normal : scan_mode::local);
        if (t != nullptr || stopping) {
            break;
        }
        if (m_last_scan_lost) {
            continue; // a race lost means work is there
        }
        if (!spin.spun_out()) {
            spin.pause();
            continue;
        }
        if (yields++ < k_idle_yield_rounds) {
            std::this_thread::yield();
            continue;
        }
        t = park_or_find(nullptr);
        if (t != nullptr) {
            break;
        }
        spin.reset();
        yields = 0;
    }
    leave_idle(t != nullptr);
    return t;
}

void worker::leave_idle(bool found_work) noexcept {
    const int before = m_domain.m_idle.fetch_sub(1, std::memory_order_relaxed); // a hint for remote thieves
    TOPOS_ASSERT(before > 0, "a worker left idle twice (its node's idle count was zero)");
    // The last idle worker of a node becomes busy: from now on remote thieves
    // may help this node, but the sleeping ones skipped it while we were idle
    // and nothing will wake them. If work is still queued here, wake one.
    if (found_work && before == 1 && !m_remote.empty() && m_rt.m_sleepers.load(std::memory_order_relaxed) != 0 &&
        domain_has_work()) {
        m_rt.wake_one(nullptr);
    }
}

bool worker::domain_has_work() const noexcept {
    if (!m_domain.m_inbox.empty_hint() || !m_domain.m_high.empty_hint()) {
        return true;
    }
    return std::any_of(m_domain.m_workers.begin(), m_domain.m_workers.end(),
                       [this](unsigned i) { return !m_rt.m_workers[i]->m_deque.empty_hint(); });
}

void worker::main_loop() {
    tls_worker = this;
    m_rt.m_hub->worker_started(*this);
    // A worker starts idle: its domain's m_idle already counts it.
    for (task* t = idle_loop(); t != nullptr;) {
        execute(t);
        t = find_work(scan_mode::local);
        if (t == nullptr) {
            m_domain.m_idle.fetch_add(1, std::memory_order_relaxed); // a hint for remote thieves
            t = idle_loop();
        }
    }
    m_rt.m_hub->worker_stopped(*this);
    tls_worker = nullptr;
}

void worker_core::wake_after_push() noexcept {
    auto& w = static_cast<worker&>(*this);
    w.m_rt.wake_one(&w.m_domain);
}

} // namespace topos::detail
