// scheduler/task_group.cpp - waiting for a group: helping on workers,
// sleeping elsewhere, and the hand-off that lets the last task wake waiters
// without touching a group that may already be gone.
#include "scheduler/runtime_core.hpp"

#include <topos/task_group.hpp>

#include <mutex>
#include <thread>

namespace topos {
namespace detail {
namespace {

// A waiter that finds nothing to run yields this many times (after one
// backoff of pauses, some tens of microseconds in all) before it sleeps: most
// waits end that soon, and a futex round trip costs more than that.
constexpr unsigned k_wait_yield_rounds = 32;

// Links `node` into the group's waiter list unless the count is already zero.
// Returns false (and leaves the list as it was) in that case.
bool register_waiter(group_core& g, group_waiter& node) noexcept {
    std::lock_guard lock(g.m_lock);
    node.m_released.store(false, std::memory_order_relaxed); // under m_lock; nobody else holds the node now
    node.m_next = g.m_waiters;
    g.m_waiters = &node;
    // acq_rel: one atomic step with the count. If a task takes the count to
    // zero after this, its fetch_sub sees W and wakes us; if before, we see zero.
    const std::uint64_t before = g.m_state.fetch_or(1, std::memory_order_acq_rel);
    if ((before >> 1) != 0) {
        return true;
    }
    g.m_waiters = node.m_next;
    if (g.m_waiters == nullptr) {
        g.m_state.fetch_and(~std::uint64_t{1}, std::memory_order_relaxed); // under m_lock; W follows the list
    }
    return false;
}

// A registered waiter that saw the count at zero: the task that took it there
// saw W and is unlinking us. Wait until it is done with the node.
void wait_released(const group_waiter& node) noexcept {
    backoff b;
    // acquire: pairs with the release store in wake_waiters(), the last access
    // the waker makes to the node or the group.
    while (!node.m_released.load(std::memory_order_acquire)) {
        b.pause();
    }
}

// A worker waits: it runs tasks (its own first, which are usually this
// group's) and sleeps only when there is nothing to run anywhere.
void help_until_done(worker& w, group_core& g) {
    group_waiter node;
    node.m_parker = &w.m_parker;
    bool registered = false;
    backoff spin(w.m_rt.m_hot_spin);
    unsigned yields = 0;
    while (g.pending() != 0) {
        if (task* t = w.find_work(spin.settled() ? scan_mode::normal : scan_mode::local)) {
            w.execute(t);
            spin.reset();
            yields = 0;
            continue;
        }
        if (w.m_last_scan_lost || !spin.spun_out()) {
            spin.pause();
            continue;
        }
        if (yields++ < k_wait_yield_rounds) {
            std::this_thread::yield();
            continue;
        }
        // acquire: a released node may be relinked; pairs with wake_waiters().
        if (!registered || node.m_released.load(std::memory_order_acquire)) {
            if (!register_waiter(g, node)) {
                registered = false;
                break;
            }
            registered = true;
        }
        if (task* t = w.park_or_find(&g)) {
            w.execute(t);
        }
        spin.reset();
        yields = 0;
    }
    if (registered) {
        wait_released(node);
    }
}

// A thread outside the runtime that got no slot waits: a short spin, then
// it sleeps until the last task of the group wakes it. When the caller is
// worker 0 it also takes slot 0 as soon as the holder lets it go (which
// wakes it): with one worker no thread but slot 0's holder runs anything.
void block_until_done(group_core& g) {
    runtime_core& rt = *g.m_runtime;
    backoff spin;
    while (g.pending() != 0 && !spin.spun_out()) {
        spin.pause();
    }
    for (unsigned yields = 0; g.pending() != 0 && yields < k_wait_yield_rounds; ++yields) {
        std::this_thread::yield();
    }
    parker own;
    group_waiter node;
    node.m_parker = &own;
    outside_waiter listed_node;
    listed_node.m_parker = &own;
    bool registered = false;
    bool listed = false;
    const bool slot0 = rt.m_first_thread == 1;
    while (g.pending() != 0) {
        const std::uint32_t generation = own.prepare();
        // acquire: as in help_until_done().
        if (!registered || node.m_released.load(std::memory_order_acquire)) {
            if (!register_waiter(g, node)) {
                registered = false;
                break;
            }
            registered = true;
        }
        if (slot0 && !listed) {
            rt.add_outside_waiter(listed_node);
            listed = true;
        }
        if (slot0 && rt.slot0_free_hint()) {
            if (worker* w = rt.enter_slot0()) {
                help_until_done(*w, g);
                rt.leave_slot0();
                break;
            }
        }
        own.park(generation);
    }
    if (listed) {
        rt.remove_outside_waiter(listed_node);
    }
    if (registered) {
        wait_released(node);
    }
}

} // namespace

void group_core::wake_waiters() noexcept {
    group_waiter* list = nullptr;
    {
        std::lock_guard lock(m_lock);
        list = m_waiters;
        m_waiters = nullptr;
        m_state.fetch_and(~std::uint64_t{1}, std::memory_order_relaxed); // under m_lock; W follows the list
    }
    // From here on *this may be destroyed by a released waiter: touch only the nodes.
    while (list != nullptr) {
        group_waiter* next = list->m_next;
        list->m_parker->unpark();
        // release: our last access to this node; pairs with wait_released()'s acquire.
        list->m_released.store(true, std::memory_order_release);
        list = next;
    }
}

void group_core::record_exception(std::exception_ptr e) noexcept {
    {
        std::lock_guard lock(m_lock);
        if (!m_exception) {
            m_exception = std::move(e);
        }
    }
    // relaxed: finish_one()'s release decrement publishes it to the waiter.
    m_failed.store(true, std::memory_order_relaxed);
    if (!m_cancelled.load(std::memory_order_relaxed)) {
        cancel_group(*this); // the group and the groups nested in it
    }
}

void wait_for(group_core& g) {
    worker_core* w = tls_worker;
    if (w != nullptr && w->m_runtime == g.m_runtime) {
        help_until_done(static_cast<worker&>(*w), g);
        return;
    }
    if (worker_core* slot = enter_caller(*g.m_runtime)) {
        struct leave_at_exit {
            worker_core* slot;
            ~leave_at_exit() { leave_caller(slot); }
        } guard{slot};
        help_until_done(static_cast<worker&>(*slot), g);
        return;
    }
    block_until_done(g);
}

} // namespace detail

void task_group::finish_wait() {
    std::exception_ptr e;
    {
        std::lock_guard lock(m_core.m_lock);
        e = std::move(m_core.m_exception);
        m_core.m_exception = nullptr;
    }
    // relaxed: no task of this group runs now (the count is zero).
    m_core.m_failed.store(false, std::memory_order_relaxed);
    m_core.m_cancelled.store(false, std::memory_order_relaxed);
    if (e) {
        std::rethrow_exception(e);
    }
}

void task_group::wait_noexcept() noexcept {
    try {
        wait();
    } catch (...) { // NOLINT(bugprone-empty-catch): documented: an exception nobody waited for is dropped
    }
}

} // namespace topos
