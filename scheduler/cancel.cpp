// scheduler/cancel.cpp - cancellation that reaches nested groups.
//
// A group created inside a task (on a worker slot of the group's runtime) is
// registered in that slot's list with its parent's id (task_group.hpp has the
// guarantee). Registering costs the owner no atomic read-modify-write: the
// slot's owner links and unlinks under no lock, announcing it in
// m_groups_changing (inline, worker_core::enter_nested / leave_nested), unless
// a walk is on (runtime_core::m_cancel_walks), and
// then it takes the slot's lock. A walk (cancel) counts itself in
// m_cancel_walks, runs membarrier(2) (a fence on every running thread, the
// owners' included), waits until no owner is in the middle of an unlocked
// change, and takes every slot's lock in index order. Either an owner's
// unlocked change finished before (and the walk waited for it), or its load
// of m_cancel_walks comes after the fence and it takes the lock. This is the
// asymmetric Dekker of worker_core::push() (Lê et al., DOI
// 10.1145/2442516.2442524, for the orders), applied to the group lists.
//
// With every lock held the walk marks the cancelled group, then, pass after
// pass, every listed group whose parent is marked. A slot's list is a stack
// (newest first, so the owner pushes and pops at the head); the walk turns
// each list around for the passes (creation order, so one pass covers a
// chain created on one slot) and back before it unlocks. A pass is repeated
// only while it marked something. A group registered after the
// walk reads its parent's flag after linking itself: it sees the flag the
// walk set (before releasing the locks) or is marked by the walk.
#include "scheduler/runtime_core.hpp"

#include "os/membarrier.hpp"

#include <mutex>

namespace topos::detail {

namespace {

std::atomic<std::uint64_t> g_next_root_id{1};

void link(worker_core& w, group_core& g) noexcept {
    g.m_list_next = w.m_groups_head;
    w.m_groups_head = &g;
}

void unlink(worker_core& w, group_core& g) noexcept {
    group_core** at = &w.m_groups_head;
    while (*at != &g) {
        TOPOS_ASSERT(*at != nullptr, "a nested group was not in its slot's list");
        at = &(*at)->m_list_next;
    }
    *at = g.m_list_next;
    g.m_list_next = nullptr;
}

// Reverses a slot's list in place (newest first <-> oldest first). Only a
// walk does it, holding every slot's lock, and it reverses back before it
// lets them go, so the owners never see the list reversed.
void reverse(worker_core& w) noexcept {
    group_core* prev = nullptr;
    for (group_core* g = w.m_groups_head; g != nullptr;) {
        group_core* next = g->m_list_next;
        g->m_list_next = prev;
        prev = g;
        g = next;
    }
    w.m_groups_head = prev;
}

// Everything that changes a list from another thread or walks the lists:
// announce, fence, wait for unlocked changes to finish, lock every slot.
class all_lists_locked {
public:
    explicit all_lists_locked(runtime_core& rt) noexcept : m_rt(rt) {
        // seq_cst: orders the count before the loads of m_groups_changing
        // below; pairs with the owners' fence (membarrier or push_fence).
        m_rt.m_cancel_walks.fetch_add(1, std::memory_order_seq_cst);
        if (m_rt.m_push_fence) {
            worker_core::push_fence();
        } else {
            os::heavy_fence();
        }
        for (worker* w : m_rt.m_workers) {
            backoff b;
            // acquire: pairs with the owner's release store of false (worker_core::enter_nested).
            while (w->m_groups_changing.load(std::memory_order_acquire)) {
                b.pause();
            }
            w->m_groups_lock.lock();
        }
    }
    ~all_lists_locked() {
        for (worker* w : m_rt.m_workers) {
            w->m_groups_lock.unlock();
        }
        m_rt.m_cancel_walks.fetch_sub(1, std::memory_order_release); // release: after our list accesses
    }
    all_lists_locked(const all_lists_locked&) = delete;
    all_lists_locked& operator=(const all_lists_locked&) = delete;

private:
    runtime_core& m_rt;
};

bool marked(const runtime_core& rt, std::uint64_t id, std::uint64_t mark) noexcept {
    for (const worker* w : rt.m_workers) {
        for (const group_core* g = w->m_groups_head; g != nullptr; g = g->m_list_next) {
            if (g->m_id == id) {
                return g->m_cancel_mark == mark;
            }
        }
    }
    return false;
}

} // namespace

std::uint64_t new_root_group_id() noexcept {
    return g_next_root_id.fetch_add(1, std::memory_order_relaxed); // relaxed: only uniqueness matters
}

void worker_core::link_locked(group_core& g) noexcept {
    std::lock_guard lock(m_groups_lock);
    link(*this, g);
}

void worker_core::unlink_locked(group_core& g) noexcept {
    std::lock_guard lock(m_groups_lock);
    unlink(*this, g);
}

void worker_core::unlink_older(group_core& g) noexcept { unlink(*this, g); }

void leave_nested_elsewhere(group_core& g) noexcept {
    // Destroyed by another thread than the one that created it (a group on
    // the heap): change the list the way a walk does.
    all_lists_locked locked(*g.m_runtime);
    unlink(*g.m_home, g);
    g.m_home = nullptr;
}

void cancel_group(group_core& g) noexcept {
    // seq_cst: before the walk; a group registered after the walk reads it (enter_nested).
    g.m_cancelled.store(true, std::memory_order_seq_cst);
    if (g.m_home == nullptr && g.pending() == 0) {
        // Not nested and no task of it runs: no group can be nested in it now
        // (save one on the heap that outlived its task), and its runtime may
        // be gone already (runtime.hpp), so leave the lists alone.
        return;
    }
    runtime_core& rt = *g.m_runtime;
    all_lists_locked locked(rt);
    const std::uint64_t mark = ++rt.m_cancel_epoch; // under every list lock
    g.m_cancel_mark = mark;
    // Oldest first: a parent precedes the groups nested in it on the same
    // slot, so one pass covers a chain created on one slot.
    for (worker* w : rt.m_workers) {
        reverse(*w);
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (worker* w : rt.m_workers) {
            for (group_core* c = w->m_groups_head; c != nullptr; c = c->m_list_next) {
                if (c->m_cancel_mark == mark) {
                    continue;
                }
                if (c->m_parent_id == g.m_id || marked(rt, c->m_parent_id, mark)) {
                    c->m_cancel_mark = mark;
                    c->m_cancelled.store(true, std::memory_order_seq_cst); // seq_cst: as above
                    changed = true;
                }
            }
        }
    }
    for (worker* w : rt.m_workers) {
        reverse(*w);
    }
}

} // namespace topos::detail
