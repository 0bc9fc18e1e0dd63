// scheduler/runtime.cpp - a runtime's start and stop: the rank's share and
// the plan, domains from the plan, one pinned thread per worker with its
// state on the worker's node (slot 0 without a thread when the caller is
// worker 0), the guest slots, waking sleepers, and the calls the inline
// layer makes into the runtime (submit, check_node, slot 0 and guests).
#include "scheduler/runtime_core.hpp"

#include "os/affinity.hpp"
#include "os/membarrier.hpp"
#include "os/numa.hpp"
#include "topology/config.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <mutex>
#include <new>

#include <unistd.h>

namespace topos {
namespace detail {

namespace {

// The caller's pin. A thread that takes slot 0 of a binding runtime stays on
// slot 0's place after it returns, as OpenMP's initial thread stays on its
// place: pinning and putting back per call costs three system calls (about
// 5 us a call under this VM's hypervisor, more than a small loop). The
// thread's own mask goes back when the runtime ends, or when another thread
// takes slot 0 (by thread id). A thread carries at most one such pin: in a
// second binding runtime it is pinned per call and put back on leaving.
// Each pin has a process-wide ticket, so a thread knows in one load whether
// the pin it carries is this runtime's current one.
std::mutex g_pin_lock;                   // guards the three below and every runtime's m_pin_* fields
runtime_core* g_pinned = nullptr;        // runtimes whose pin some thread carries (m_pin_next links them)
std::uint64_t g_pin_tickets = 0;
thread_local std::uint64_t tls_pin_ticket = 0; // the pin this thread carries; 0: none

// Frees a worker state the way create_worker() (or the guest slots) allocated it.
void free_worker_memory(void* memory, bool numa_allocated) noexcept {
    if (numa_allocated) {
        os::free_on_node(memory, sizeof(worker));
    } else {
        ::operator delete(memory, std::align_val_t{alignof(worker)});
    }
}

placement_options planner_options(const runtime_options& o) {
    return with_environment(placement_options{.places = o.places, .bind = o.bind, .threads = o.threads});
}

// The rank's share: places given (in code or TOPOS_PLACES) win over it.
rank_share share_for(const topology& topo, const runtime_options& o) {
    return decide_share(topo, o.share, o.rank, planner_options(o).places.has_value());
}

placement_plan plan_for(const topology& topo, const runtime_options& o, const rank_share& share) {
    placement_options opts{.places = o.places, .bind = o.bind, .threads = o.threads};
    if (share.taken) {
        opts.within = share.pus;
    }
    return plan_from_environment(topo, opts); // TOPOS_*, then OMP_*, a bad list named by its variable
}

// Why `what` (run_on_node, arena) has nowhere to go: the runtime's nodes, or unbound.
std::string no_worker_on_node(const runtime_core& rt, const char* what, int node) {
    std::string where;
    for (const auto& d : rt.m_domains) {
        if (d->m_node >= 0) {
            where += (where.empty() ? "" : ", ") + std::to_string(d->m_node);
        }
    }
    return std::string(what) + ": NUMA node " + std::to_string(node) + " has no worker in this runtime; " +
           (where.empty() ? std::string("its workers are not bound to nodes (proc_bind false)")
                          : "its workers are on node(s) " + where);
}

// Under the automatic wait policy an idle or waiting worker polls for 50 us
// before its first yield (a hot backoff, detail/spin.hpp). Back-to-back loops
// then find it polling rather than inside sched_yield, which costs 1.2 us
// here and, with the long pauses of a cold backoff, tripled the fork-join
// time of a 4096-iteration loop on two workers. Only when every worker can
// have a CPU of its own (the creator's mask holds at least as many CPUs as
// the runtime has workers): with more workers than CPUs a polling thread
// would hold the core that another worker needs, so they yield at once, as
// before. The active policy polls for 200 ms (libomp's default block time)
// whatever the count; the passive one never polls.
std::chrono::nanoseconds hot_spin_for(unsigned workers, wait_policy policy) {
    switch (policy) {
    case wait_policy::active: return k_wait_poll_active;
    case wait_policy::passive: return std::chrono::nanoseconds(0);
    case wait_policy::automatic: break;
    }
    return workers <= os::current_affinity().size() ? std::chrono::nanoseconds(k_wait_poll_auto)
                                                    : std::chrono::nanoseconds(0);
}

} // namespace

bool sleepers_after_push(const runtime_core& rt) noexcept {
    if (rt.m_push_fence) {
        worker_core::push_fence();
    }
    std::atomic_signal_fence(std::memory_order_seq_cst); // compiler-only: the load stays after the push
    return rt.m_sleepers.load(std::memory_order_relaxed) != 0;
}

runtime_core::runtime_core(runtime& owner, const runtime_options& options)
    : m_owner(owner), m_topology(options.topology ? *options.topology : topology::from_env()),
      m_share(share_for(m_topology, options)), m_plan(plan_for(m_topology, options, m_share)),
      m_caller(options.caller ? *options.caller : detail::caller_from_environment()),
      m_first_thread(m_caller == caller_role::worker ? 1U : 0U), m_display_affinity(detail::display_affinity_from_environment()),
      m_wait(options.wait ? *options.wait : detail::wait_policy_from_environment()) {
    m_push_fence = !os::enable_membarrier();
    m_hub = std::make_unique<observer_hub>(*this, m_plan.workers.size() + k_guest_slots);
    build_domains();
    note_degraded_start();
    decide_guests();
    const auto count = static_cast<unsigned>(m_plan.workers.size());
    m_worker_count = count;
    m_hot_spin = hot_spin_for(count, m_wait);
    m_workers.assign(count + k_guest_slots, nullptr);
    m_pin_caller = m_topology.is_this_system() && m_plan.bind != proc_bind::disabled;
    if (m_first_thread == 1 && m_pin_caller) {
        m_slot0_mask = os::prepared_affinity(m_plan.workers[0].pus);
    }
    inherit_creator_mask();
    try {
        if (m_first_thread == 1) {
            try {
                create_worker(0, false); // slot 0: the caller's, no thread of its own
            } catch (const std::bad_alloc&) {
                throw memory_error("runtime: cannot allocate the state of worker 0 (" + std::to_string(sizeof(worker)) +
                                   " bytes); no worker was started");
            }
        }
        for (unsigned g = count; g < count + k_guest_slots; ++g) {
            void* memory = ::operator new(sizeof(worker), std::align_val_t{alignof(worker)});
            try {
                m_workers[g] = ::new (memory) worker(*this, g, -1, m_guest_domain);
            } catch (...) {
                free_worker_memory(memory, false);
                throw;
            }
        }
    } catch (...) {
        destroy_workers();
        throw;
    }
    start_threads();
}

void runtime_core::inherit_creator_mask() noexcept {
    // A thread started here inherits its creator's mask: when the creator
    // carries another runtime's pin, that is slot 0's place there, not a
    // mask the program chose. The workers start from the creator's own.
    const std::lock_guard lock(g_pin_lock);
    if (tls_pin_ticket == 0) {
        return;
    }
    const runtime_core* owner = pin_owner_locked(tls_pin_ticket);
    if (owner != nullptr && owner->m_pin_put_back) {
        m_worker_start_reset = m_worker_start_mask.copy_from(owner->m_pin_original);
    }
}

void runtime_core::build_domains() {
    m_domain_of_node.assign(m_topology.node_count(), -1);
    for (const auto& w : m_plan.workers) {
        auto it = std::find_if(m_domains.begin(), m_domains.end(), [&](const auto& d) { return d->m_node == w.node; });
        if (it == m_domains.end()) {
            m_domains.push_back(std::make_unique<node_domain>());
            m_domains.back()->m_node = w.node;
            it = std::prev(m_domains.end());
            if (w.node >= 0) {
                m_domain_of_node[static_cast<std::size_t>(w.node)] = static_cast<int>(m_domains.size() - 1);
            }
        }
        (*it)->m_workers.push_back(w.id);
        if (w.id >= m_first_thread) { // slot 0 of a caller is never idle: nobody waits in it for work
            (*it)->m_idle.fetch_add(1, std::memory_order_relaxed); // workers start idle; not shared yet
        }
    }
}

void runtime_core::note_degraded_start() {
    if (!m_topology.is_this_system() && m_plan.bind != proc_bind::disabled) {
        m_degraded.push_back("topology '" + m_topology.source_spec() +
                             "' does not describe this machine: workers are not pinned and memory is not placed");
    }
    if (m_push_fence) {
        m_degraded.push_back("membarrier(2) is unavailable: each spawn pays for a memory fence");
    }
    if (m_topology.is_this_system() && m_plan.bind != proc_bind::disabled && !os::numa_usable()) {
        m_degraded.push_back("libnuma reports no NUMA support: worker state is placed by first touch only");
    }
    m_degraded.insert(m_degraded.end(), m_share.problems.begin(), m_share.problems.end());
}

void runtime_core::decide_guests() {
    // Guests run work on whatever CPU the outside thread is on. That is fine
    // when the workers span every CPU we may use (or are unbound), not when
    // the runtime is constrained to part of the machine.
    if (m_plan.bind == proc_bind::disabled) {
        m_admits_guests = true;
        return;
    }
    std::vector<int> covered;
    for (const auto& w : m_plan.workers) {
        covered.insert(covered.end(), w.pus.begin(), w.pus.end());
    }
    std::sort(covered.begin(), covered.end());
    covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
    m_admits_guests = covered.size() == m_topology.pus().size();
}

void runtime_core::start_threads() {
    const unsigned count = m_worker_count - m_first_thread;
    try {
        m_threads.reserve(count);
        for (unsigned i = m_first_thread; i < m_worker_count; ++i) {
            m_threads.emplace_back([this, i] { thread_main(i); });
        }
    } catch (...) {
        abort_start();
        throw;
    }
    // acquire: pairs with each worker's release increment, so m_workers[i]
    // (and m_start_failures) are visible.
    for (unsigned ready = m_ready.load(std::memory_order_acquire); ready != count;
         ready = m_ready.load(std::memory_order_acquire)) {
        m_ready.wait(ready, std::memory_order_acquire); // acquire: as the load above
    }
    if (m_start_failures != 0) {
        // A worker without its state cannot run: rather than a runtime with a
        // hole in its plan (and steal tiers naming it), no runtime at all.
        abort_start();
        std::string why = m_start_failure.empty() ? "cannot allocate a worker's state" : m_start_failure;
        if (m_start_failures > 1) {
            why += " (and " + std::to_string(m_start_failures - 1) + " more workers)";
        }
        throw memory_error("runtime: " + why + "; no worker was started");
    }
    if (m_display_affinity && !m_share.summary.empty()) {
        std::fprintf(stderr, "topos: pid %d share: %s\n", static_cast<int>(getpid()), m_share.summary.c_str());
    }
    if (m_first_thread == 1) {
        // Every worker state exists now (the threads' are published by m_ready).
        m_workers[0]->build_victims(m_plan.workers[0]);
        if (m_display_affinity) {
            display_affinity(0);
        }
        // Slot 0 runs no loop of its own: it is a worker for observers and
        // the trace from now until the runtime ends (callers come and go).
        m_hub->worker_started(*m_workers[0]);
    }
    // release: publishes m_workers (and the domains) to every worker's acquire load of the phase.
    m_phase.store(1, std::memory_order_release);
    m_phase.notify_all();
}

void runtime_core::abort_start() noexcept {
    // release: the started workers' acquire load sees "aborted" and returns.
    m_phase.store(2, std::memory_order_release);
    m_phase.notify_all();
    for (auto& t : m_threads) {
        t.join();
    }
    m_threads.clear();
    destroy_workers();
}

runtime_core::~runtime_core() {
    if (m_threads.empty() && m_worker_count > 0 && m_first_thread == 1 &&
        !(tls_worker != nullptr && tls_worker->m_runtime == this)) {
        drain_without_threads(); // one worker, the caller's: nobody else runs what is queued
    }
    stop_and_join();
    if (m_first_thread == 1 && !m_workers.empty() && m_workers[0] != nullptr) {
        m_hub->worker_stopped(*m_workers[0]);
    }
    m_hub->finish(collect_stats());
    destroy_workers();
    const std::lock_guard lock(g_pin_lock);
    put_back_pin_locked();
}

void runtime_core::stop_and_join() noexcept {
    if (tls_worker != nullptr && tls_worker->m_runtime == this) {
        // Joining ourselves would hang forever; say why instead.
        std::fputs("topos: a runtime was destroyed by one of its own tasks\n", stderr);
        std::terminate();
    }
    // seq_cst: pairs with the seq_cst load in park_or_find(); a worker either
    // sees the flag there or parks with a generation our unpark() changes.
    m_stopping.store(true, std::memory_order_seq_cst);
    for (worker* w : m_workers) {
        w->m_parker.unpark();
    }
    for (auto& t : m_threads) {
        t.join();
    }
}

void runtime_core::destroy_workers() noexcept {
    for (worker*& w : m_workers) {
        if (w == nullptr) {
            continue;
        }
        const bool numa_memory = w->m_numa_allocated;
        w->~worker();
        free_worker_memory(w, numa_memory);
        w = nullptr;
    }
}

void runtime_core::add_degraded(std::string line) {
    std::lock_guard lock(m_degraded_lock);
    m_degraded.push_back(std::move(line));
}

void runtime_core::drain_without_threads() noexcept {
    worker* slot = enter_slot0();
    if (slot == nullptr) {
        return; // another thread holds slot 0 while we are destroyed: a usage error
    }
    while (task* t = slot->find_work(scan_mode::drain)) {
        slot->execute(t);
    }
    leave_slot0();
}

void runtime_core::create_worker(unsigned index, bool own_thread) {
    const auto& placement = m_plan.workers[index];
    node_domain& domain = *m_domains[static_cast<std::size_t>(std::find_if(m_domains.begin(), m_domains.end(),
                                                                          [&](const auto& d) {
                                                                              return d->m_node == placement.node;
                                                                          }) -
                                                             m_domains.begin())];
    const bool here = m_topology.is_this_system();
    if (own_thread && m_worker_start_reset) {
        (void)m_worker_start_mask.restore(); // the creator's own mask, which it was allowed
    }
    bool bound = !own_thread && m_pin_caller; // slot 0's caller is pinned when it enters
    if (own_thread && here && m_plan.bind != proc_bind::disabled) {
        std::string why;
        bound = os::pin_current_thread(placement.pus, why);
        if (!bound) {
            add_degraded("worker " + std::to_string(index) + ": pinning to PUs " + format_cpu_list(placement.pus) +
                         " failed (" + why + "); it runs unbound");
        }
    }
    void* memory = nullptr;
    bool on_node = false;
    if (here && placement.node >= 0 && os::numa_usable()) {
        const int os_node = m_topology.numa_nodes()[static_cast<std::size_t>(placement.node)].os_index;
        memory = os::allocate_on_node(sizeof(worker), os_node);
        on_node = memory != nullptr;
        if (!on_node) {
            add_degraded("worker " + std::to_string(index) + ": its state could not be allocated on node " +
                         std::to_string(placement.node) + "; it is placed by first touch");
        }
    }
    if (memory == nullptr) {
        // Without libnuma, first touch by this (pinned) thread still puts it on
        // our node. Throws std::bad_alloc; thread_main() (or the
        // constructor, for slot 0) reports it.
        memory = ::operator new(sizeof(worker), std::align_val_t{alignof(worker)});
    }
    worker* w = nullptr;
    try {
        w = ::new (memory) worker(*this, index, placement.node, domain);
    } catch (...) {
        free_worker_memory(memory, on_node);
        throw;
    }
    w->m_numa_allocated = on_node;
    w->m_memory_on_node = on_node || (own_thread && bound && here && placement.node >= 0);
    w->m_bound = bound;
    m_workers[index] = w;
}

void runtime_core::note_start_failure(unsigned index, const char* what) noexcept {
    std::lock_guard lock(m_degraded_lock);
    ++m_start_failures;
    if (m_start_failure.empty()) {
        try {
            m_start_failure = "cannot allocate the state of worker " + std::to_string(index) + " (" +
                              std::to_string(sizeof(worker)) + " bytes): " + what;
        } catch (...) { // NOLINT(bugprone-empty-catch): no memory even for the line; the count still tells
        }
    }
}

void runtime_core::thread_main(unsigned index) {
    // A worker whose state cannot be allocated reports in all the same (its
    // slot in m_workers stays null): the constructor waits for every worker,
    // then aborts the start and throws with the reason.
    try {
        create_worker(index, true);
    } catch (const std::exception& e) {
        note_start_failure(index, e.what());
    } catch (...) {
        note_start_failure(index, "unknown exception");
    }
    // release: publishes m_workers[index] to the constructor's acquire load.
    m_ready.fetch_add(1, std::memory_order_release);
    m_ready.notify_one();
    // acquire: pairs with the constructor's release store of the phase.
    for (int phase = m_phase.load(std::memory_order_acquire); phase == 0;
         phase = m_phase.load(std::memory_order_acquire)) {
        m_phase.wait(0, std::memory_order_acquire); // acquire: as the load above
    }
    if (m_phase.load(std::memory_order_acquire) != 1) { // acquire: as above; 2 means the start was aborted
        return;
    }
    worker& w = *m_workers[index];
    w.build_victims(m_plan.workers[index]);
    if (m_display_affinity) {
        display_affinity(index);
    }
    w.main_loop();
}

node_domain* runtime_core::domain_of_node(int node) const noexcept {
    if (node < 0 || static_cast<std::size_t>(node) >= m_domain_of_node.size()) {
        return nullptr;
    }
    const int d = m_domain_of_node[static_cast<std::size_t>(node)];
    return d < 0 ? nullptr : m_domains[static_cast<std::size_t>(d)].get();
}

bool runtime_core::try_wake(worker* w) noexcept {
    // acq_rel: one of the waker and the sleeper (leave_sleep) clears the flag.
    if (w->m_asleep.load(std::memory_order_relaxed) && w->m_asleep.exchange(false, std::memory_order_acq_rel)) {
        [[maybe_unused]] const std::uint32_t before = m_sleepers.fetch_sub(1, std::memory_order_relaxed);
        TOPOS_ASSERT(before > 0, "a sleeper was woken from a sleeper count of zero");
        w->m_parker.unpark();
        return true;
    }
    return false;
}

void runtime_core::wake_one(const node_domain* near) noexcept {
    // acquire: pairs with the seq_cst (release) increment in park_or_find(), so
    // the sleeper's m_asleep flag is visible below.
    if (m_sleepers.load(std::memory_order_acquire) == 0) {
        return;
    }
    if (near != nullptr) {
        for (unsigned i : near->m_workers) {
            if (try_wake(m_workers[i])) {
                return;
            }
        }
    }
    for (unsigned i = 0; i < m_worker_count; ++i) {
        if (try_wake(m_workers[i])) {
            return;
        }
    }
}

// ---- entry points for the inline layer ----------------------------------------

void submit(runtime_core& rt, task* t, int node) {
    node_domain* domain = node >= 0 ? rt.domain_of_node(node) : nullptr;
    (domain != nullptr ? domain->m_inbox : rt.m_injection).push(t);
    if (sleepers_after_push(rt)) {
        rt.wake_one(domain);
    }
}

void spawn_high(group_core& g, task* t, worker_core* owner) {
    runtime_core& rt = *g.m_runtime;
    // relaxed: our push below (and its fence, for sleepers) publishes it; a
    // scan that misses it is a busy worker, which scans again.
    if (!rt.m_high_used.load(std::memory_order_relaxed)) [[unlikely]] {
        rt.m_high_used.store(true, std::memory_order_relaxed);
    }
    if (g.m_arena != nullptr) {
        g.m_arena->m_high.push(t);
        if (sleepers_after_push(rt)) {
            rt.wake_member(*g.m_arena, owner != nullptr ? &static_cast<worker*>(owner)->m_domain : nullptr);
        }
        return;
    }
    auto* w = static_cast<worker*>(owner);
    node_domain* domain = w != nullptr && !w->is_guest() ? &w->m_domain : nullptr;
    (domain != nullptr ? domain->m_high : rt.m_high_injection).push(t);
    if (sleepers_after_push(rt)) {
        rt.wake_one(domain);
    }
}

void check_node(const runtime_core& rt, int node) { check_node(rt, "run_on_node", node); }

void check_node(const runtime_core& rt, const char* what, int node) {
    const auto count = rt.m_topology.node_count();
    if (node < 0 || static_cast<std::size_t>(node) >= count) {
        throw node_error(std::string(what) + ": NUMA node " + std::to_string(node) + " does not exist; expected 0 to " +
                         std::to_string(count == 0 ? 0 : count - 1));
    }
    if (rt.domain_of_node(node) == nullptr) {
        throw node_error(no_worker_on_node(rt, what, node));
    }
}

// ---- slot 0 for the caller, and guest slots ---------------------------------------

runtime_core* runtime_core::pin_owner_locked(std::uint64_t ticket) noexcept {
    for (runtime_core* r = g_pinned; r != nullptr; r = r->m_pin_next) {
        if (r->m_pin_ticket == ticket) {
            return r;
        }
    }
    return nullptr;
}

void runtime_core::put_back_pin_locked() noexcept {
    if (m_pin_ticket == 0) {
        return;
    }
    const bool ours = tls_pin_ticket == m_pin_ticket;
    if (m_pin_put_back) {
        // Its own mask was accepted before, so it is again; a thread that has
        // exited since (ESRCH) needs nothing.
        (void)(ours ? m_pin_original.restore() : m_pin_original.restore(m_pin_tid));
    }
    if (ours) {
        tls_pin_ticket = 0;
    }
    for (runtime_core** link = &g_pinned; *link != nullptr; link = &(*link)->m_pin_next) {
        if (*link == this) {
            *link = m_pin_next;
            break;
        }
    }
    m_pin_next = nullptr;
    m_pin_ticket = 0;
}

void runtime_core::pin_caller() noexcept {
    m_caller_restore = false;
    if (!m_pin_caller || (m_pin_ticket != 0 && tls_pin_ticket == m_pin_ticket)) {
        return; // unbound, or still on slot 0's place since an earlier call
    }
    const char* why = nullptr;
    int rc = 0;
    {
        const std::lock_guard lock(g_pin_lock);
        put_back_pin_locked(); // another thread carried our pin: it gets its own mask back
        const bool carries_other = tls_pin_ticket != 0 && pin_owner_locked(tls_pin_ticket) != nullptr;
        if (!carries_other) {
            tls_pin_ticket = 0; // a pin whose runtime ended on another thread
        }
        os::affinity_snapshot& saved = carries_other ? m_caller_saved : m_pin_original;
        const auto keep = [&](bool put_back) {
            if (carries_other) {
                m_caller_restore = put_back; // per call: put back in leave_slot0()
                return;
            }
            m_pin_ticket = ++g_pin_tickets;
            m_pin_tid = os::current_tid();
            m_pin_put_back = put_back;
            m_pin_next = g_pinned;
            g_pinned = this;
            tls_pin_ticket = m_pin_ticket;
        };
        if (!saved.save()) {
            why = "its own mask could not be read";
        } else if (saved.equals(m_slot0_mask)) {
            keep(false); // pinned there already: nothing to change, nothing to put back
            return;
        } else if (rc = m_slot0_mask.apply(); rc == 0) {
            keep(true);
            return;
        } else {
            why = std::strerror(rc);
        }
    }
    if (!m_pin_failure_reported.exchange(true, std::memory_order_relaxed)) {
        try {
            add_degraded("the calling thread could not be pinned to worker 0's PUs " +
                         format_cpu_list(m_plan.workers[0].pus) + " (" + why + "); it runs work where it is");
        } catch (...) { // NOLINT(bugprone-empty-catch): no memory for the line; the pinning still failed harmlessly
        }
    }
}

worker* runtime_core::enter_slot0() noexcept {
    worker_core* current = tls_worker;
    if (m_first_thread == 0 || (current != nullptr && current->m_runtime == this)) {
        return nullptr;
    }
    worker* slot = m_workers[0];
    // acquire: pairs with leave_slot0()'s release, so the previous holder's
    // owner-side writes (deque bottom, free list, the saved mask) are visible.
    if (slot->m_guest_claimed.load(std::memory_order_relaxed) ||
        slot->m_guest_claimed.exchange(true, std::memory_order_acquire)) {
        return nullptr;
    }
    m_caller_outer = current; // a worker of another runtime gets its identity back on leaving
    pin_caller();
    tls_worker = slot;
    return slot;
}

void runtime_core::leave_slot0() noexcept {
    worker& slot = *m_workers[0];
    TOPOS_ASSERT(tls_worker == &slot, "slot 0 was left by a thread that does not hold it");
    // Nobody runs this slot once we leave (with one worker, nobody at all):
    // finish what our own tasks left on its deques first.
    while (task* t = slot.pop_own()) {
        slot.execute(t);
    }
    tls_worker = m_caller_outer;
    m_caller_outer = nullptr;
    if (m_caller_restore) {
        m_caller_restore = false;
        (void)m_caller_saved.restore(); // the thread's own mask was accepted before, so it is again
    }
    // seq_cst: releases the slot to the next holder's acquire exchange, and
    // with the seq_cst load below and the seq_cst increment in
    // add_outside_waiter() forms a Dekker pair: a blocked outside thread
    // either sees the slot free or is seen here and woken.
    slot.m_guest_claimed.store(false, std::memory_order_seq_cst);
    if (m_outside_count.load(std::memory_order_seq_cst) != 0) {
        std::lock_guard lock(m_outside_lock);
        for (outside_waiter* w = m_outside_waiters; w != nullptr; w = w->m_next) {
            w->m_parker->unpark();
        }
    }
}

bool runtime_core::slot0_free_hint() const noexcept {
    // seq_cst: the other half of the Dekker pair in leave_slot0().
    return m_first_thread == 1 && !m_workers[0]->m_guest_claimed.load(std::memory_order_seq_cst);
}

void runtime_core::add_outside_waiter(outside_waiter& w) noexcept {
    std::lock_guard lock(m_outside_lock);
    w.m_prev = nullptr;
    w.m_next = m_outside_waiters;
    if (m_outside_waiters != nullptr) {
        m_outside_waiters->m_prev = &w;
    }
    m_outside_waiters = &w;
    // seq_cst: see leave_slot0(); our later load of the slot's flag is seq_cst too.
    m_outside_count.fetch_add(1, std::memory_order_seq_cst);
}

void runtime_core::remove_outside_waiter(outside_waiter& w) noexcept {
    // Under the lock: leave_slot0() wakes the listed waiters under it, so once
    // we are unlinked nobody touches `w` again.
    std::lock_guard lock(m_outside_lock);
    (w.m_prev != nullptr ? w.m_prev->m_next : m_outside_waiters) = w.m_next;
    if (w.m_next != nullptr) {
        w.m_next->m_prev = w.m_prev;
    }
    m_outside_count.fetch_sub(1, std::memory_order_relaxed);
}

worker_core* enter_caller(runtime_core& rt) noexcept {
    if (worker* slot = rt.enter_slot0()) {
        return slot;
    }
    if (tls_worker != nullptr || !rt.m_admits_guests) {
        return nullptr; // a worker (of this or another runtime) keeps its own identity
    }
    for (std::size_t g = rt.m_worker_count; g < rt.m_workers.size(); ++g) {
        worker* slot = rt.m_workers[g];
        // acquire: pairs with leave_caller()'s release, so the previous guest's
        // owner-side writes (deque bottom, free list) are visible to us.
        if (!slot->m_guest_claimed.load(std::memory_order_relaxed) &&
            !slot->m_guest_claimed.exchange(true, std::memory_order_acquire)) {
            tls_worker = slot;
            return slot;
        }
    }
    return nullptr;
}

void leave_caller(worker_core* slot) noexcept {
    TOPOS_ASSERT(tls_worker == slot, "a caller's slot was left by a thread that does not hold it");
    auto& w = static_cast<worker&>(*slot);
    if (!w.is_guest()) {
        w.m_rt.leave_slot0();
        return;
    }
    // A runtime without threads has nobody to steal what we leave behind.
    while (auto t = w.m_deque.pop()) {
        w.execute(*t);
    }
    tls_worker = nullptr;
    // release: hands the slot's owner-side state to the next guest's acquire exchange.
    w.m_guest_claimed.store(false, std::memory_order_release);
}

bool on_node(const runtime_core& rt, int node) noexcept {
    worker_core* w = tls_worker;
    return w != nullptr && w->m_runtime == &rt && static_cast<worker*>(w)->m_node == node;
}

} // namespace detail

// ---- runtime --------------------------------------------------------------------

runtime::runtime() : runtime(runtime_options{}) {}

runtime::runtime(const runtime_options& options) : m_core(std::make_unique<detail::runtime_core>(*this, options)) {}

runtime::~runtime() = default;

runtime& runtime::default_runtime() {
    static runtime rt;
    return rt;
}

unsigned runtime::thread_count() const noexcept { return m_core->m_worker_count; }

const rank_share& runtime::share() const noexcept { return m_core->m_share; }

caller_role runtime::caller() const noexcept { return m_core->m_caller; }

wait_policy runtime::idle_policy() const noexcept { return m_core->m_wait; }

std::chrono::nanoseconds runtime::idle_poll() const noexcept { return m_core->m_hot_spin; }

const placement_plan& runtime::plan() const noexcept { return m_core->m_plan; }

const topos::topology& runtime::topology() const noexcept { return m_core->m_topology; }

std::vector<int> runtime::nodes() const { return m_core->m_plan.nodes(); }

} // namespace topos
