// scheduler/arena.cpp - arenas (runtime::arena, task_arena): choosing and
// checking the members, publishing membership to the workers, queueing an
// arena group's tasks where only members look, and waking a member.
#include "scheduler/runtime_core.hpp"

#include <topos/error.hpp>

#include <algorithm>
#include <mutex>
#include <string>

namespace topos {
namespace detail {

namespace {

std::string node_list(const std::vector<int>& nodes) {
    std::string s;
    for (int n : nodes) {
        s += (s.empty() ? "" : ", ") + std::to_string(n);
    }
    return s;
}

// The workers `options` names, ascending; throws for bad input.
std::vector<unsigned> choose_members(const runtime_core& rt, const arena_options& options) {
    std::vector<int> nodes = options.nodes;
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    for (int n : nodes) {
        check_node(rt, "arena", n); // node_error naming n
    }
    std::vector<unsigned> candidates;
    for (const auto& w : rt.m_plan.workers) {
        if (nodes.empty() || std::binary_search(nodes.begin(), nodes.end(), w.node)) {
            candidates.push_back(w.id);
        }
    }
    std::sort(candidates.begin(), candidates.end());
    const auto available = static_cast<unsigned>(candidates.size());
    if (options.max_threads) {
        const unsigned k = *options.max_threads;
        if (k == 0) {
            throw config_error("arena: max_threads 0: an arena needs at least one worker");
        }
        if (k > available) {
            throw config_error("arena: max_threads " + std::to_string(k) + " is more than the " +
                               std::to_string(available) + " worker(s) " +
                               (nodes.empty() ? std::string("of this runtime") : "on node(s) " + node_list(nodes)));
        }
        candidates.resize(k);
    }
    return candidates;
}

} // namespace

arena_core& runtime_core::make_arena(const arena_options& options) {
    std::vector<unsigned> members = choose_members(*this, options);
    std::lock_guard lock(m_arena_lock);
    for (const auto& a : m_arenas) {
        if (a->m_members == members) {
            return *a; // the same workers: the same arena
        }
    }
    auto a = std::make_unique<arena_core>();
    a->m_rt = this;
    a->m_slot_of.assign(m_workers.size(), -1);
    for (unsigned i : members) {
        worker& w = *m_workers[i];
        a->m_slot_of[i] = static_cast<int>(a->m_slots.size());
        a->m_slots.push_back(std::make_unique<arena_slot>(w));
        if (w.m_node >= 0) {
            a->m_nodes.push_back(w.m_node);
        }
    }
    std::sort(a->m_nodes.begin(), a->m_nodes.end());
    a->m_nodes.erase(std::unique(a->m_nodes.begin(), a->m_nodes.end()), a->m_nodes.end());
    a->m_members = std::move(members);
    // Each member gets a new snapshot: its old entries plus this arena. The
    // old snapshot stays alive (a worker may be reading it), as does this one.
    m_memberships.reserve(m_memberships.size() + a->m_members.size());
    m_arenas.reserve(m_arenas.size() + 1);
    for (std::size_t s = 0; s < a->m_members.size(); ++s) {
        worker& w = *m_workers[a->m_members[s]];
        auto snapshot = std::make_unique<arena_membership>();
        if (const arena_membership* old = w.m_arenas.load(std::memory_order_relaxed)) { // relaxed: written under our lock only
            snapshot->m_entries = old->m_entries;
        }
        snapshot->m_entries.push_back({a.get(), a->m_slots[s].get()});
        m_memberships.push_back(std::move(snapshot));
    }
    arena_core& result = *a;
    m_arenas.push_back(std::move(a));
    for (std::size_t s = 0; s < result.m_members.size(); ++s) {
        // release: publishes the snapshot and the arena to find_work()'s acquire load.
        m_workers[result.m_members[s]]->m_arenas.store(
            m_memberships[m_memberships.size() - result.m_members.size() + s].get(), std::memory_order_release);
    }
    return result;
}

void runtime_core::wake_member(const arena_core& a, const node_domain* near) noexcept {
    // acquire: as in wake_one().
    if (m_sleepers.load(std::memory_order_acquire) == 0) {
        return;
    }
    if (near != nullptr) {
        for (unsigned i : a.m_members) {
            if (&m_workers[i]->m_domain == near && try_wake(m_workers[i])) {
                return;
            }
        }
    }
    for (unsigned i : a.m_members) {
        if (try_wake(m_workers[i])) {
            return;
        }
    }
}

void spawn_elsewhere(group_core& g, task* t, worker_core* owner) {
    runtime_core& rt = *g.m_runtime;
    arena_core* a = g.m_arena;
    if (a == nullptr) {
        submit(rt, t, -1); // from outside the runtime
        return;
    }
    auto* w = static_cast<worker*>(owner);
    if (w != nullptr) {
        const int s = a->m_slot_of[w->m_index];
        if (s >= 0) {
            // A member: its own deque in the arena, like worker_core::push().
            a->m_slots[static_cast<std::size_t>(s)]->m_deque.push(t);
            if (sleepers_after_push(rt)) {
                rt.wake_member(*a, &w->m_domain);
            }
            return;
        }
    }
    a->m_inbox.push(t);
    if (sleepers_after_push(rt)) {
        rt.wake_member(*a, nullptr);
    }
}

bool arena_has_caller(const arena_core& a) noexcept {
    worker_core* w = tls_worker;
    if (w == nullptr || w->m_runtime != a.m_rt) {
        return false;
    }
    const unsigned index = static_cast<worker*>(w)->m_index;
    return index < a.m_slot_of.size() && a.m_slot_of[index] >= 0;
}

} // namespace detail

task_arena runtime::arena(const arena_options& options) {
    detail::arena_core& a = m_core->make_arena(options);
    return task_arena(*this, a, static_cast<unsigned>(a.m_members.size()));
}

std::vector<unsigned> task_arena::workers() const { return m_core->m_members; }

std::vector<int> task_arena::nodes() const { return m_core->m_nodes; }

bool task_arena::is_member() const noexcept { return detail::arena_has_caller(*m_core); }

} // namespace topos
