// scheduler/observer.cpp - delivering a runtime's events to its observers and
// its trace recorder, and installing and removing observers (the protocol is
// in observer.hpp).
#include "scheduler/observer.hpp"

#include "scheduler/runtime_core.hpp"
#include "scheduler/trace.hpp"
#include "topology/config.hpp"

#include <algorithm>
#include <thread>

namespace topos {
namespace detail {

observer_hub::observer_hub(runtime_core& rt, std::size_t slots)
    : m_rt(rt), m_slots(std::make_unique<slot_state[]>(slots)), m_slot_count(slots),
      m_running(rt.m_plan.workers.size(), run_state::not_started) {
    if (auto path = trace_path_from_environment()) {
        const std::size_t limit = trace_events_from_environment();
        m_trace = std::make_unique<trace_recorder>(std::move(*path), limit, slots);
        // relaxed: set before any worker thread exists; thread creation orders it.
        m_rt.m_observed.store(true, std::memory_order_relaxed);
    }
}

observer_hub::~observer_hub() = default;

worker_info observer_hub::info_of(unsigned index) const noexcept {
    const auto& p = m_rt.m_plan.workers[index];
    return worker_info{.index = index, .node = p.node, .pus = std::span<const int>(p.pus)};
}

void observer_hub::update_flag() noexcept {
    const bool any = m_trace != nullptr || m_list.load(std::memory_order_relaxed) != nullptr;
    // relaxed: a hint for the event sites; the list itself is loaded seq_cst in deliver().
    m_rt.m_observed.store(any, std::memory_order_relaxed);
}

template <class Call>
void observer_hub::deliver(unsigned slot, Call&& call) noexcept {
    if (m_list.load(std::memory_order_relaxed) == nullptr) {
        return; // nobody to call (the trace alone set the flag)
    }
    TOPOS_ASSERT(slot < m_slot_count, "an event from a worker slot the hub does not know");
    std::atomic<std::uint32_t>& seq = m_slots[slot].delivering;
    const std::uint32_t s = seq.load(std::memory_order_relaxed); // only this slot's thread writes it
    // seq_cst: the odd number is visible before our load of the list below;
    // pairs with remove()'s seq_cst exchange of the list and load of seq.
    seq.store(s + 1, std::memory_order_seq_cst);
    if (const observer_list* list = m_list.load(std::memory_order_seq_cst)) { // seq_cst: as above
        for (observer* o : list->items) {
            call(*o);
        }
    }
    // release: our calls happen before remove()'s acquire load that sees the change.
    seq.store(s + 2, std::memory_order_release);
}

void observer_hub::worker_started(const worker& w) noexcept {
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::worker_start);
    }
    std::lock_guard lock(m_lock);
    m_running[w.m_index] = run_state::running;
    const worker_info info = info_of(w.m_index);
    deliver(w.m_index, [&](observer& o) { o.on_worker_start(info); });
    m_started.notify_all();
}

void observer_hub::worker_stopped(const worker& w) noexcept {
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::worker_stop);
    }
    std::lock_guard lock(m_lock);
    m_running[w.m_index] = run_state::stopped;
    const worker_info info = info_of(w.m_index);
    deliver(w.m_index, [&](observer& o) { o.on_worker_stop(info); });
}

const char* observer_hub::task_begin(const worker& w, task* t, bool skipped) noexcept {
    const char* label = t->m_invoke(t, task_op::label);
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::task_begin, label, -1, -1,
                        skipped ? trace_recorder::k_skipped : std::uint8_t{0});
    }
    const task_info info{.worker = w.m_index, .label = label, .skipped = skipped};
    deliver(w.m_index, [&](observer& o) { o.on_task_begin(info); });
    return label;
}

void observer_hub::task_end(const worker& w, const char* label, bool skipped) noexcept {
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::task_end, label, -1, -1,
                        skipped ? trace_recorder::k_skipped : std::uint8_t{0});
    }
    const task_info info{.worker = w.m_index, .label = label, .skipped = skipped};
    deliver(w.m_index, [&](observer& o) { o.on_task_end(info); });
}

void observer_hub::steal(const worker& thief, const worker* victim, int victim_node, bool remote) noexcept {
    const steal_info info{.thief = thief.m_index,
                          .victim = victim != nullptr ? static_cast<int>(victim->m_index) : -1,
                          .thief_node = thief.m_node,
                          .victim_node = victim_node,
                          .remote = remote};
    if (m_trace) {
        m_trace->record(thief.m_index, trace_kind::steal, nullptr, info.victim, info.victim_node,
                        info.remote ? trace_recorder::k_remote : std::uint8_t{0});
    }
    deliver(thief.m_index, [&](observer& o) { o.on_steal(info); });
}

void observer_hub::park(const worker& w) noexcept {
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::park);
    }
    deliver(w.m_index, [&](observer& o) { o.on_park(w.m_index); });
}

void observer_hub::wake(const worker& w) noexcept {
    if (m_trace) {
        m_trace->record(w.m_index, trace_kind::wake);
    }
    deliver(w.m_index, [&](observer& o) { o.on_wake(w.m_index); });
}

std::shared_ptr<observation_link> observer_hub::add(observer& o) {
    auto link = std::make_shared<observation_link>();
    link->core = &m_rt;
    link->watcher = &o;
    std::unique_lock lock(m_lock);
    // The constructor returned once every worker was created; wait until each
    // has entered its loop too, so that every one is either reported running
    // below or reports its start itself while we are installed - never both.
    m_started.wait(lock, [&] {
        return std::none_of(m_running.begin(), m_running.end(), [](run_state r) { return r == run_state::not_started; });
    });
    auto next = std::make_unique<observer_list>();
    if (const observer_list* now = m_list.load(std::memory_order_relaxed)) { // under m_lock: we are the only writer
        next->items = now->items;
    }
    next->items.push_back(&o);
    // Reserve first, so that nothing below throws after the observer saw starts.
    m_lists.reserve(m_lists.size() + 1);
    std::erase_if(m_links, [](const auto& l) { return l.expired(); });
    m_links.reserve(m_links.size() + 1);
    // Workers already running get their start event first, from here.
    for (unsigned i = 0; i < m_running.size(); ++i) {
        if (m_running[i] == run_state::running) {
            o.on_worker_start(info_of(i));
        }
    }
    // seq_cst: as in remove(); deliverers load the list seq_cst.
    m_list.store(next.get(), std::memory_order_seq_cst);
    m_lists.push_back(std::move(next));
    m_links.push_back(link);
    update_flag();
    return link;
}

void observer_hub::remove(observation_link& link) noexcept {
    observer* o = link.watcher;
    {
        std::lock_guard lock(m_lock);
        const observer_list* now = m_list.load(std::memory_order_relaxed); // under m_lock
        if (now == nullptr) {
            return;
        }
        const observer_list* next = nullptr;
        try {
            auto rest = std::make_unique<observer_list>();
            rest->items = now->items;
            const auto it = std::find(rest->items.begin(), rest->items.end(), o);
            if (it != rest->items.end()) {
                rest->items.erase(it);
            }
            m_lists.reserve(m_lists.size() + 1);
            if (!rest->items.empty()) {
                next = rest.get();
                m_lists.push_back(std::move(rest));
            }
        } catch (...) {
            std::fputs("topos: out of memory while removing an observer\n", stderr);
            std::terminate(); // leaving it installed would call into a dead object
        }
        // seq_cst: pairs with deliver()'s seq_cst store of an odd number and
        // load of the list (see observer.hpp).
        m_list.store(next, std::memory_order_seq_cst);
        update_flag();
    }
    // Wait for every delivery that may still hold the old list.
    for (std::size_t i = 0; i < m_slot_count; ++i) {
        std::atomic<std::uint32_t>& seq = m_slots[i].delivering;
        const std::uint32_t s = seq.load(std::memory_order_seq_cst); // seq_cst: see above
        if ((s & 1U) != 0) {
            // acquire: pairs with deliver()'s release store of the even number.
            while (seq.load(std::memory_order_acquire) == s) {
                std::this_thread::yield();
            }
        }
    }
    std::lock_guard lock(m_lock);
    for (unsigned i = 0; i < m_running.size(); ++i) {
        if (m_running[i] == run_state::running) {
            o->on_worker_stop(info_of(i));
        }
    }
    link.core = nullptr;
}

void observer_hub::finish(const runtime_stats& stats) noexcept {
    // The workers have stopped and said so; from now on the observations
    // have nothing to remove.
    std::vector<std::weak_ptr<observation_link>> links;
    {
        std::lock_guard lock(m_lock);
        links.swap(m_links);
    }
    for (const auto& weak : links) {
        if (auto link = weak.lock()) {
            std::lock_guard lock(link->lock);
            link->core = nullptr;
        }
    }
    if (m_trace) {
        for (std::size_t g = m_rt.m_worker_count; g < m_rt.m_workers.size(); ++g) {
            // acquire: pairs with leave_guest()'s release, so what the last
            // outside thread recorded in the slot's buffer is visible here.
            (void)m_rt.m_workers[g]->m_guest_claimed.load(std::memory_order_acquire);
        }
        m_trace->write(m_rt, stats);
    }
}

} // namespace detail

observation runtime::observe(observer& o) { return observation(m_core->m_hub->add(o)); }

void observation::reset() noexcept {
    if (m_link) {
        {
            std::lock_guard lock(m_link->lock);
            if (m_link->core != nullptr) {
                m_link->core->m_hub->remove(*m_link);
            }
        }
        m_link.reset();
    }
}

} // namespace topos
