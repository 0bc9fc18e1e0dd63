// scheduler/steal.cpp - how a worker finds work: its own deque, its node's
// inbox, the runtime's queue, then the plan's steal tiers, nearest first,
// and other nodes only through the node's crossing token (runtime.hpp has
// the policy).
#include "scheduler/runtime_core.hpp"

#include <algorithm>
#include <iterator>

namespace topos::detail {

void worker::build_victims(const worker_placement& placement) {
    for (const auto& tier : placement.steal_tiers) {
        for (unsigned v : tier.workers) {
            worker* victim = m_rt.m_workers[v];
            if (tier.level != steal_level::remote || &victim->m_domain == &m_domain) {
                m_local_victims.push_back(victim);
                continue;
            }
            auto it = std::find_if(m_remote.begin(), m_remote.end(),
                                   [&](const remote_target& r) { return r.m_domain == &victim->m_domain; });
            if (it == m_remote.end()) {
                m_remote.push_back(remote_target{.m_domain = &victim->m_domain, .m_victims = {}});
                it = std::prev(m_remote.end());
            }
            it->m_victims.push_back(victim);
        }
    }
    for (std::size_t g = m_rt.m_worker_count; g < m_rt.m_workers.size(); ++g) {
        m_local_victims.push_back(m_rt.m_workers[g]);
    }
}

task* worker::find_work(scan_mode mode) {
    TOPOS_ASSERT(tls_worker == this, "find_work runs on the worker (or guest) that owns the deque");
    m_last_scan_lost = false;
    if (auto own = m_deque.pop()) {
        return *own;
    }
    return find_elsewhere(mode);
}

task* worker::find_elsewhere(scan_mode mode) {
    // acquire: pairs with the release store in make_arena(), so the snapshot
    // (and the arenas it names) are visible. Usually nullptr.
    const arena_membership* arenas = m_arenas.load(std::memory_order_acquire);
    if (arenas != nullptr) [[unlikely]] {
        for (const auto& e : arenas->m_entries) {
            if (auto own = e.m_own->m_deque.pop()) {
                return *own;
            }
        }
    }
    // High priority first: our node's, the outside threads', our arenas'.
    // relaxed: a hint that stays true once set (see m_high_used).
    if (m_rt.m_high_used.load(std::memory_order_relaxed)) [[unlikely]] {
        if (task* t = m_domain.m_high.pop()) {
            return t;
        }
        if (task* t = m_rt.m_high_injection.pop()) {
            return t;
        }
        if (arenas != nullptr) {
            for (const auto& e : arenas->m_entries) {
                if (task* t = e.m_arena->m_high.pop()) {
                    return t;
                }
            }
        }
    }
    if (task* t = m_domain.m_inbox.pop()) {
        m_inbox_tasks.bump();
        return t;
    }
    if (task* t = m_rt.m_injection.pop()) {
        return t;
    }
    if (arenas != nullptr) [[unlikely]] {
        for (const auto& e : arenas->m_entries) {
            if (task* t = e.m_arena->m_inbox.pop()) {
                return t;
            }
        }
    }
    if (task* t = steal_from(m_local_victims, m_steals_local)) {
        return t;
    }
    if (arenas != nullptr) [[unlikely]] {
        if (task* t = steal_in_arenas(*arenas)) {
            return t;
        }
    }
    if (m_remote.empty() || mode == scan_mode::local) {
        return nullptr;
    }
    if (mode != scan_mode::normal) {
        return steal_remote(mode);
    }
    // acquire: pairs with the release store below by the previous holder, so
    // crossings by one node's workers happen one after another.
    if (m_domain.m_crossing.load(std::memory_order_relaxed) ||
        m_domain.m_crossing.exchange(true, std::memory_order_acquire)) {
        return nullptr; // another worker of our node is crossing already
    }
    task* t = steal_remote(mode);
    // release: hands the token to the next crossing worker (its acquire exchange).
    m_domain.m_crossing.store(false, std::memory_order_release);
    return t;
}

task* worker::steal_from(const std::vector<worker*>& victims, owner_counter& stolen) {
    for (worker* victim : victims) {
        if (victim->m_deque.empty_hint()) {
            continue;
        }
        const auto r = victim->m_deque.steal();
        if (r.status == steal_status::success) {
            stolen.bump();
            if (m_rt.m_observed.load(std::memory_order_relaxed)) [[unlikely]] { // relaxed: a hint
                m_rt.m_hub->steal(*this, victim, victim->m_node, &stolen == &m_steals_remote);
            }
            return r.value;
        }
        if (r.status == steal_status::lost) {
            m_steals_lost.bump();
            m_last_scan_lost = true;
        }
    }
    return nullptr;
}

task* worker::pop_own() noexcept {
    if (auto own = m_deque.pop()) {
        return *own;
    }
    // acquire: as in find_work().
    if (const arena_membership* arenas = m_arenas.load(std::memory_order_acquire)) {
        for (const auto& e : arenas->m_entries) {
            if (auto own = e.m_own->m_deque.pop()) {
                return *own;
            }
        }
    }
    return nullptr;
}

task* worker::steal_in_arenas(const arena_membership& arenas) {
    for (const auto& e : arenas.m_entries) {
        for (const auto& slot : e.m_arena->m_slots) {
            if (slot.get() == e.m_own || slot->m_deque.empty_hint()) {
                continue;
            }
            const auto r = slot->m_deque.steal();
            if (r.status == steal_status::success) {
                worker* victim = slot->m_owner;
                const bool remote = victim->m_node != m_node;
                (remote ? m_steals_remote : m_steals_local).bump();
                if (m_rt.m_observed.load(std::memory_order_relaxed)) [[unlikely]] { // relaxed: a hint
                    m_rt.m_hub->steal(*this, victim, victim->m_node, remote);
                }
                return r.value;
            }
            if (r.status == steal_status::lost) {
                m_steals_lost.bump();
                m_last_scan_lost = true;
            }
        }
    }
    return nullptr;
}

task* worker::steal_remote(scan_mode mode) {
    for (auto& target : m_remote) {
        if (mode != scan_mode::drain && target.m_domain->m_idle.load(std::memory_order_relaxed) > 0) {
            continue; // that node has idle workers: they will take its work, locally
        }
        // relaxed: a hint, as in find_elsewhere().
        task* t = m_rt.m_high_used.load(std::memory_order_relaxed) ? target.m_domain->m_high.pop() : nullptr;
        if (t == nullptr) {
            t = target.m_domain->m_inbox.pop();
        }
        if (t != nullptr) {
            m_steals_remote.bump();
            if (m_rt.m_observed.load(std::memory_order_relaxed)) [[unlikely]] { // relaxed: a hint
                m_rt.m_hub->steal(*this, nullptr, target.m_domain->m_node, true);
            }
            return t;
        }
        if (task* stolen = steal_from(target.m_victims, m_steals_remote)) {
            return stolen;
        }
    }
    return nullptr;
}

} // namespace topos::detail
