// scheduler/cancel.cpp - cancellation that reaches nested groups.
//
// task_group.hpp states the guarantee. The design keeps the cost off the
// paths every fork-join takes: creating a nested group stores a pointer and
// reads two words, and a task start compares one more word, and no list is
// kept for groups that live in a task's frames.
//
// - A group created in a task of group P (on a slot of P's runtime) is
//   nested in P. When it lies in the frames of that task (between the stack
//   pointer and the frame the task body was called from), it ends before the
//   task does, so P outlives it: it keeps a plain pointer to P, and P one to
//   its own parent, and so on; every group on that chain is alive while the
//   nested group is.
// - cancel_group() sets the group's flag and then moves the runtime's
//   cancellation epoch on (both seq_cst). A group remembers the epoch at
//   which it last found no group above it cancelled (m_clean_epoch). A task
//   start, a nested group's creation and is_cancelling() compare that with
//   the current epoch and walk the chain only when it moved: a task taken
//   after cancel() returned sees the new epoch, walks, finds the flag and
//   marks its own group cancelled. Without cancellations the epoch never
//   moves and nothing is walked.
// - A group created in a task but living elsewhere (on the heap, in an
//   outer frame) may outlive the task and its parent, so it cannot point at
//   them. It is "detached": listed in the runtime with the ids of every
//   group above it, collected when it is made (the chain is alive then; a
//   detached ancestor contributes its own list). cancel_group() marks the
//   listed groups whose ancestors include the cancelled one, under the
//   list's lock. A detached group is the top of the pointer chains of the
//   groups nested in it: their walk stops there, at a flag the list keeps.
// - Races: a group created while its parent is being cancelled reads the
//   epoch, links itself (when detached, under the lock, counted with
//   seq_cst), then reads the flags (seq_cst); the cancel writes the flag,
//   then the epoch, then reads the count. Either the creation sees the flag
//   or the cancel sees the group (detached) or the epoch it recorded is
//   older than the cancel's (in the frames), so its task starts walk.
#include "scheduler/runtime_core.hpp"

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

namespace topos::detail {

/// A detached group's entry in its runtime's list.
struct detached_node {
    group_core* m_group = nullptr;
    std::vector<std::uint64_t> m_ancestors; ///< ids of every group above it, nearest first
    detached_node* m_prev = nullptr;
    detached_node* m_next = nullptr;
};

namespace {

std::atomic<std::uint64_t> g_next_root_id{1};

} // namespace

std::uint64_t new_root_group_id() noexcept {
    return g_next_root_id.fetch_add(1, std::memory_order_relaxed); // relaxed: only uniqueness matters
}

bool worker_core::cancelled_above(const group_core& g, std::uint64_t epoch) noexcept {
    for (const group_core* a = g.m_parent; a != nullptr; a = a->m_parent) {
        // seq_cst: pairs with cancel_group()'s store (see the races above).
        if (a->m_cancelled.load(std::memory_order_seq_cst)) {
            g.m_cancelled.store(true, std::memory_order_seq_cst);
            return true;
        }
        if (a->m_clean_epoch.load(std::memory_order_relaxed) == epoch) {
            break; // a's chain was clean at this epoch, and no cancel happened since
        }
    }
    // relaxed: a hint that spares the next walk; a stale value only costs one.
    g.m_clean_epoch.store(epoch, std::memory_order_relaxed);
    return false;
}

void worker_core::detach(const group_core& parent, group_core& g) noexcept {
    auto& rt = *m_runtime;
    auto* node = new (std::nothrow) detached_node;
    if (node == nullptr) {
        return; // no memory for the record: the group is not nested (m_parent stays null)
    }
    node->m_group = &g;
    try {
        for (const group_core* a = &parent; a != nullptr; a = a->m_parent) {
            node->m_ancestors.push_back(a->m_id);
            if (a->m_detached != nullptr) {
                const auto& above = a->m_detached->m_ancestors;
                node->m_ancestors.insert(node->m_ancestors.end(), above.begin(), above.end());
                break;
            }
        }
    } catch (...) { // std::bad_alloc: as above, not nested
        delete node;
        return;
    }
    {
        std::lock_guard lock(rt.m_detached_lock);
        node->m_next = rt.m_detached;
        if (rt.m_detached != nullptr) {
            rt.m_detached->m_prev = node;
        }
        rt.m_detached = node;
        // seq_cst: before the flag loads in enter_nested(); pairs with cancel_group().
        rt.m_detached_count.fetch_add(1, std::memory_order_seq_cst);
    }
    g.m_detached = node;
}

void forget_detached(group_core& g) noexcept {
    runtime_core& rt = *g.m_runtime;
    detached_node* node = g.m_detached;
    {
        std::lock_guard lock(rt.m_detached_lock);
        (node->m_prev != nullptr ? node->m_prev->m_next : rt.m_detached) = node->m_next;
        if (node->m_next != nullptr) {
            node->m_next->m_prev = node->m_prev;
        }
        rt.m_detached_count.fetch_sub(1, std::memory_order_relaxed);
    }
    g.m_detached = nullptr;
    delete node;
}

bool cancelling(const group_core& g) noexcept {
    if (g.m_cancelled.load(std::memory_order_seq_cst)) {
        return true;
    }
    if (g.m_parent == nullptr) {
        return false;
    }
    const std::uint64_t epoch = g.m_runtime->m_cancel_epoch.load(std::memory_order_seq_cst);
    return g.m_clean_epoch.load(std::memory_order_relaxed) != epoch && worker_core::cancelled_above(g, epoch);
}

void cancel_group(group_core& g) noexcept {
    // seq_cst: before the epoch moves on (see the races above).
    g.m_cancelled.store(true, std::memory_order_seq_cst);
    if (g.m_parent == nullptr && g.m_detached == nullptr && g.pending() == 0) {
        // Not nested and no task of it runs: no group can be nested in it now
        // (save a detached one that outlived its task), and its runtime may
        // be gone already (runtime.hpp), so leave the runtime alone.
        return;
    }
    runtime_core& rt = *g.m_runtime;
    rt.m_cancel_epoch.fetch_add(1, std::memory_order_seq_cst);
    if (rt.m_detached_count.load(std::memory_order_seq_cst) == 0) {
        return;
    }
    std::lock_guard lock(rt.m_detached_lock);
    for (detached_node* n = rt.m_detached; n != nullptr; n = n->m_next) {
        if (std::find(n->m_ancestors.begin(), n->m_ancestors.end(), g.m_id) != n->m_ancestors.end()) {
            n->m_group->m_cancelled.store(true, std::memory_order_seq_cst); // seq_cst: as above
        }
    }
}

} // namespace topos::detail
