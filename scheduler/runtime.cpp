// scheduler/runtime.cpp - workers, work finding, parking and the runtime object.
#include "scheduler/worker.hpp"

#include "os/affinity.hpp"
#include "topology/config.hpp"
#include "os/membarrier.hpp"
#include "os/numa.hpp"

#include <topos/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string_view>
#include <unistd.h>

namespace topos {

struct runtime::impl : detail::runtime_impl {
    using runtime_impl::runtime_impl;
};

namespace detail {

constinit thread_local worker_core* tls_worker = nullptr;

namespace {

constexpr std::size_t k_chunk_frames = 64;

// Idle workers yield this many times (after the pauses of one backoff, some
// tens of microseconds in all) before they sleep, so that back-to-back
// parallel loops find them awake; yielding gives the core to anyone else.
constexpr unsigned k_idle_yield_rounds = 64;

worker& as_worker(worker_core& w) noexcept { return static_cast<worker&>(w); }
runtime_impl& as_impl(runtime_core& rt) noexcept { return static_cast<runtime_impl&>(rt); }
const runtime_impl& as_impl(const runtime_core& rt) noexcept { return static_cast<const runtime_impl&>(rt); }

} // namespace

// ---- task_queue -------------------------------------------------------------

void task_queue::push(task* t) noexcept {
    t->m_next = nullptr;
    std::lock_guard lock(m_lock);
    if (m_tail == nullptr) {
        m_head = t;
    } else {
        m_tail->m_next = t;
    }
    m_tail = t;
    m_size.store(m_size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); // under m_lock
}

task* task_queue::pop() noexcept {
    if (empty_hint()) {
        return nullptr;
    }
    std::lock_guard lock(m_lock);
    task* t = m_head;
    if (t != nullptr) {
        m_head = t->m_next;
        if (m_head == nullptr) {
            m_tail = nullptr;
        }
        m_size.store(m_size.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); // under m_lock
    }
    return t;
}

// ---- frames -------------------------------------------------------------------

task* worker_core::allocate_slow() {
    // acquire: pairs with release_slow()'s release CAS, so the frames' links
    // written by the releasing workers are visible.
    task* list = m_remote_free.exchange(nullptr, std::memory_order_acquire);
    if (list == nullptr) {
        // A fresh chunk. The worker is already pinned, so first touch places it
        // on the worker's node.
        auto* chunk = static_cast<task*>(::operator new(sizeof(task) * k_chunk_frames, std::align_val_t{alignof(task)}));
        as_worker(*this).m_chunks.push_back(chunk);
        for (std::size_t i = 0; i < k_chunk_frames; ++i) {
            task* t = ::new (static_cast<void*>(chunk + i)) task();
            t->m_home = this;
            t->m_next = i + 1 < k_chunk_frames ? chunk + i + 1 : nullptr;
        }
        list = chunk;
    }
    m_free = list->m_next;
    return list;
}

void worker_core::release_slow(task* t) noexcept {
    worker_core* home = t->m_home;
    if (home == nullptr) {
        delete t;
        return;
    }
    task* head = home->m_remote_free.load(std::memory_order_relaxed);
    do {
        t->m_next = head;
        // release: publishes t->m_next to the owner's acquire exchange in allocate_slow().
    } while (!home->m_remote_free.compare_exchange_weak(head, t, std::memory_order_release, std::memory_order_relaxed));
}

task* allocate_heap_task() {
    return new task();
}

void discard_task(task* t) noexcept {
    delete t;
}

// ---- worker -------------------------------------------------------------------

worker::worker(runtime_impl& rt, unsigned index, int node, node_domain& domain)
    : worker_core(&rt), m_rt(rt), m_index(index), m_node(node), m_domain(domain) {}

worker::~worker() {
    for (task* chunk : m_chunks) {
        ::operator delete(static_cast<void*>(chunk), std::align_val_t{alignof(task)});
    }
}

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

bool worker::is_guest() const noexcept { return m_index >= m_rt.m_worker_count; }

task* worker::find_work(scan_mode mode) {
    m_last_scan_lost = false;
    if (auto own = m_deque.pop()) {
        return *own;
    }
    if (task* t = m_domain.m_inbox.pop()) {
        m_inbox_tasks.bump();
        return t;
    }
    if (task* t = m_rt.m_injection.pop()) {
        return t;
    }
    for (worker* victim : m_local_victims) {
        if (victim->m_deque.empty_hint()) {
            continue;
        }
        const auto r = victim->m_deque.steal();
        if (r.status == steal_status::success) {
            m_steals_local.bump();
            return r.value;
        }
        if (r.status == steal_status::lost) {
            m_steals_lost.bump();
            m_last_scan_lost = true;
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

task* worker::steal_remote(scan_mode mode) {
    for (auto& target : m_remote) {
        if (mode != scan_mode::drain && target.m_domain->m_idle.load(std::memory_order_relaxed) > 0) {
            continue; // that node has idle workers: they will take its work, locally
        }
        if (task* t = target.m_domain->m_inbox.pop()) {
            m_steals_remote.bump();
            return t;
        }
        for (worker* victim : target.m_victims) {
            if (victim->m_deque.empty_hint()) {
                continue;
            }
            const auto r = victim->m_deque.steal();
            if (r.status == steal_status::success) {
                m_steals_remote.bump();
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

void worker::execute(task* t) noexcept {
    group_core* g = t->m_group;
    if (!g->m_cancelled.load(std::memory_order_relaxed)) [[likely]] {
        try {
            t->m_invoke(t, true);
        } catch (...) {
            g->record_exception(std::current_exception());
        }
    } else {
        try {
            t->m_invoke(t, false);
        } catch (...) {
            g->record_exception(std::current_exception()); // a throwing destructor
        }
    }
    release(t);
    m_tasks_run.bump();
    g->finish_one(); // last: the group may be gone once its count reaches zero
}

void worker::leave_sleep() noexcept {
    // acq_rel: exactly one of us and a waker clears the flag (and the count).
    if (m_asleep.exchange(false, std::memory_order_acq_rel)) {
        m_rt.m_sleepers.fetch_sub(1, std::memory_order_relaxed);
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
    // seq_cst: pairs with ~runtime_impl()'s seq_cst store of m_stopping.
    const bool stopping = m_rt.m_stopping.load(std::memory_order_seq_cst);
    const bool done = waiting_for != nullptr && waiting_for->pending() == 0;
    if (t == nullptr && !stopping && !done && !m_last_scan_lost) {
        m_parks.bump();
        m_parker.park(generation);
    }
    if (sleeper) {
        leave_sleep();
    }
    return t;
}

task* worker::idle_loop() {
    backoff spin;
    unsigned yields = 0;
    task* t = nullptr;
    for (;;) {
        // acquire: pairs with the seq_cst store in stop_and_join().
        const bool stopping = m_rt.m_stopping.load(std::memory_order_acquire);
        // Cross to other nodes only once the pauses are over: a node that is
        // only slightly behind finishes its own work without remote traffic.
        t = find_work(stopping ? scan_mode::drain : spin.spun_out() ? scan_mode::normal : scan_mode::local);
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
    // The last idle worker of a node becomes busy: from now on remote thieves
    // may help this node, but the sleeping ones skipped it while we were idle
    // and nothing will wake them. If work is still queued here, wake one.
    if (found_work && before == 1 && !m_remote.empty() && m_rt.m_sleepers.load(std::memory_order_relaxed) != 0 &&
        domain_has_work()) {
        m_rt.wake_one(nullptr);
    }
}

bool worker::domain_has_work() const noexcept {
    if (!m_domain.m_inbox.empty_hint()) {
        return true;
    }
    return std::any_of(m_domain.m_workers.begin(), m_domain.m_workers.end(),
                       [this](unsigned i) { return !m_rt.m_workers[i]->m_deque.empty_hint(); });
}

void worker::main_loop() {
    tls_worker = this;
    // A worker starts idle: its domain's m_idle already counts it.
    for (task* t = idle_loop(); t != nullptr;) {
        execute(t);
        t = find_work(scan_mode::local);
        if (t == nullptr) {
            m_domain.m_idle.fetch_add(1, std::memory_order_relaxed); // a hint for remote thieves
            t = idle_loop();
        }
    }
    tls_worker = nullptr;
}

// ---- runtime_impl -------------------------------------------------------------

runtime_impl::runtime_impl(runtime& owner, const runtime_options& options)
    : m_owner(owner), m_topology(options.topology ? *options.topology : topology::from_env()),
      m_plan(plan_placement(m_topology, with_environment(placement_options{
                                            .places = options.places, .bind = options.bind, .threads = options.threads}))),
      m_display_affinity(detail::display_affinity_from_environment()) {
    m_push_fence = !os::enable_membarrier();

    m_domain_of_node.assign(m_topology.node_count(), -1);
    const auto count = static_cast<unsigned>(m_plan.workers.size());
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
        (*it)->m_idle.fetch_add(1, std::memory_order_relaxed); // workers start idle; not shared yet
    }

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

    // Guests run work on whatever CPU the outside thread is on. That is fine
    // when the workers span every CPU we may use (or are unbound), not when
    // the runtime is constrained to part of the machine.
    if (m_plan.bind == proc_bind::disabled) {
        m_admits_guests = true;
    } else {
        std::vector<int> covered;
        for (const auto& w : m_plan.workers) {
            covered.insert(covered.end(), w.pus.begin(), w.pus.end());
        }
        std::sort(covered.begin(), covered.end());
        covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
        m_admits_guests = covered.size() == m_topology.pus().size();
    }
    m_worker_count = count;
    m_workers.assign(count + k_guest_slots, nullptr);
    try {
        for (unsigned g = count; g < count + k_guest_slots; ++g) {
            void* memory = ::operator new(sizeof(worker), std::align_val_t{alignof(worker)});
            m_workers[g] = ::new (memory) worker(*this, g, -1, m_guest_domain);
        }
    } catch (...) {
        destroy_workers();
        throw;
    }
    try {
        m_threads.reserve(count);
        for (unsigned i = 0; i < count; ++i) {
            m_threads.emplace_back([this, i] { thread_main(i); });
        }
    } catch (...) {
        // release: the started workers' acquire load sees "aborted" and returns.
        m_phase.store(2, std::memory_order_release);
        m_phase.notify_all();
        for (auto& t : m_threads) {
            t.join();
        }
        destroy_workers();
        throw;
    }
    // acquire: pairs with each worker's release increment, so m_workers[i] is visible.
    for (unsigned ready = m_ready.load(std::memory_order_acquire); ready != count;
         ready = m_ready.load(std::memory_order_acquire)) {
        m_ready.wait(ready, std::memory_order_acquire); // acquire: as the load above
    }
    // release: publishes m_workers (and the domains) to every worker's acquire load of the phase.
    m_phase.store(1, std::memory_order_release);
    m_phase.notify_all();
}

runtime_impl::~runtime_impl() {
    stop_and_join();
    destroy_workers();
}

void runtime_impl::stop_and_join() noexcept {
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

void runtime_impl::destroy_workers() noexcept {
    for (worker*& w : m_workers) {
        if (w == nullptr) {
            continue;
        }
        const bool numa_memory = w->m_numa_allocated;
        w->~worker();
        if (numa_memory) {
            os::free_on_node(w, sizeof(worker));
        } else {
            ::operator delete(static_cast<void*>(w), std::align_val_t{alignof(worker)});
        }
        w = nullptr;
    }
}

void runtime_impl::create_worker(unsigned index) {
    const auto& placement = m_plan.workers[index];
    node_domain& domain = *m_domains[static_cast<std::size_t>(std::find_if(m_domains.begin(), m_domains.end(),
                                                                          [&](const auto& d) {
                                                                              return d->m_node == placement.node;
                                                                          }) -
                                                             m_domains.begin())];
    const bool here = m_topology.is_this_system();
    bool bound = false;
    if (here && m_plan.bind != proc_bind::disabled) {
        std::string why;
        bound = os::pin_current_thread(placement.pus, why);
        if (!bound) {
            std::lock_guard lock(m_degraded_lock);
            m_degraded.push_back("worker " + std::to_string(index) + ": pinning to PUs " +
                                 format_cpu_list(placement.pus) + " failed (" + why + "); it runs unbound");
        }
    }
    void* memory = nullptr;
    bool on_node = false;
    if (here && placement.node >= 0 && os::numa_usable()) {
        const int os_node = m_topology.numa_nodes()[static_cast<std::size_t>(placement.node)].os_index;
        memory = os::allocate_on_node(sizeof(worker), os_node);
        on_node = memory != nullptr;
    }
    if (memory == nullptr) {
        // Without libnuma, first touch by this (pinned) thread still puts it on our node.
        memory = ::operator new(sizeof(worker), std::align_val_t{alignof(worker)});
    }
    auto* w = ::new (memory) worker(*this, index, placement.node, domain);
    w->m_numa_allocated = on_node;
    w->m_memory_on_node = on_node || (bound && here && placement.node >= 0);
    w->m_bound = bound;
    m_workers[index] = w;
}

void runtime_impl::thread_main(unsigned index) {
    try {
        create_worker(index);
    } catch (...) {
        // Out of memory before the worker exists. The constructor waits for
        // every worker to report in, so carrying on would hang it: stop with
        // the reason instead.
        std::fputs("topos: cannot allocate a worker's state\n", stderr);
        std::terminate();
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
        const auto& p = m_plan.workers[index];
        const std::string actual = format_cpu_list(os::current_affinity());
        std::fprintf(stderr, "topos: pid %d worker %u node %d place %u %s OS proc set {%s}\n",
                     static_cast<int>(getpid()), index, p.node, p.place, w.m_bound ? "bound to" : "not bound, may use",
                     actual.c_str());
    }
    w.main_loop();
}

node_domain* runtime_impl::domain_of_node(int node) const noexcept {
    if (node < 0 || static_cast<std::size_t>(node) >= m_domain_of_node.size()) {
        return nullptr;
    }
    const int d = m_domain_of_node[static_cast<std::size_t>(node)];
    return d < 0 ? nullptr : m_domains[static_cast<std::size_t>(d)].get();
}

void runtime_impl::wake_one(const node_domain* near) noexcept {
    // acquire: pairs with the seq_cst (release) increment in park_or_find(), so
    // the sleeper's m_asleep flag is visible below.
    if (m_sleepers.load(std::memory_order_acquire) == 0) {
        return;
    }
    const auto try_wake = [this](worker* w) {
        // acq_rel: one of the waker and the sleeper (leave_sleep) clears the flag.
        if (w->m_asleep.load(std::memory_order_relaxed) && w->m_asleep.exchange(false, std::memory_order_acq_rel)) {
            m_sleepers.fetch_sub(1, std::memory_order_relaxed);
            w->m_parker.unpark();
            return true;
        }
        return false;
    };
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

void worker_core::wake_after_push() noexcept {
    auto& w = as_worker(*this);
    w.m_rt.wake_one(&w.m_domain);
}

// ---- entry points for the inline layer ----------------------------------------

void submit(runtime_core& rc, task* t, int node) {
    runtime_impl& rt = as_impl(rc);
    node_domain* domain = node >= 0 ? rt.domain_of_node(node) : nullptr;
    (domain != nullptr ? domain->m_inbox : rt.m_injection).push(t);
    // As in worker_core::push(): our queue write, then the sleeper count.
    if (rt.m_push_fence) {
        worker_core::push_fence();
    }
    std::atomic_signal_fence(std::memory_order_seq_cst); // compiler-only: the load stays after the push
    if (rt.m_sleepers.load(std::memory_order_relaxed) != 0) {
        rt.wake_one(domain);
    }
}

void check_node(const runtime_core& rc, int node) {
    const runtime_impl& rt = as_impl(rc);
    const auto count = rt.m_topology.node_count();
    if (node < 0 || static_cast<std::size_t>(node) >= count) {
        throw node_error("run_on_node: NUMA node " + std::to_string(node) + " does not exist; expected 0 to " +
                         std::to_string(count == 0 ? 0 : count - 1));
    }
}

worker_core* enter_guest(runtime_core& rc) noexcept {
    runtime_impl& rt = as_impl(rc);
    if (tls_worker != nullptr || !rt.m_admits_guests) {
        return nullptr; // a worker (of another runtime) keeps its own identity
    }
    for (std::size_t g = rt.m_worker_count; g < rt.m_workers.size(); ++g) {
        worker* slot = rt.m_workers[g];
        // acquire: pairs with leave_guest()'s release, so the previous guest's
        // owner-side writes (deque bottom, free list) are visible to us.
        if (!slot->m_guest_claimed.load(std::memory_order_relaxed) &&
            !slot->m_guest_claimed.exchange(true, std::memory_order_acquire)) {
            tls_worker = slot;
            return slot;
        }
    }
    return nullptr;
}

void leave_guest(worker_core* slot) noexcept {
    tls_worker = nullptr;
    // release: hands the slot's owner-side state to the next guest's acquire exchange.
    static_cast<worker*>(slot)->m_guest_claimed.store(false, std::memory_order_release);
}

void count_affine_iterations(std::size_t on_node, std::size_t off_node) noexcept {
    if (worker_core* w = tls_worker) {
        as_worker(*w).m_iterations_on_node.add(on_node);
        as_worker(*w).m_iterations_off_node.add(off_node);
    }
}

bool on_node(const runtime_core& rc, int node) noexcept {
    worker_core* w = tls_worker;
    return w != nullptr && w->m_runtime == &rc && as_worker(*w).m_node == node;
}

} // namespace detail

// ---- runtime --------------------------------------------------------------------

runtime::runtime() : runtime(runtime_options{}) {}

runtime::runtime(const runtime_options& options) : m_impl(std::make_unique<impl>(*this, options)) {}

runtime::~runtime() = default;

runtime& runtime::default_runtime() {
    static runtime rt;
    return rt;
}

unsigned runtime::thread_count() const noexcept { return m_impl->m_worker_count; }

const placement_plan& runtime::plan() const noexcept { return m_impl->m_plan; }

const topos::topology& runtime::topology() const noexcept { return m_impl->m_topology; }

std::vector<int> runtime::nodes() const { return m_impl->m_plan.nodes(); }

detail::runtime_core& runtime::core() noexcept { return *m_impl; }

runtime_stats runtime::stats() const {
    runtime_stats s;
    for (const detail::worker* w : m_impl->m_workers) {
        s.iterations_on_data_node += w->m_iterations_on_node.get();
        s.iterations_off_data_node += w->m_iterations_off_node.get();
        if (w->is_guest()) {
            s.tasks_run += w->m_tasks_run.get();
            s.caller_tasks_run += w->m_tasks_run.get();
            s.steals_local += w->m_steals_local.get();
            s.steals_lost += w->m_steals_lost.get();
            continue;
        }
        worker_stats ws;
        ws.index = w->m_index;
        ws.node = w->m_node;
        ws.pus = m_impl->m_plan.workers[w->m_index].pus;
        ws.bound = w->m_bound;
        ws.memory_on_node = w->m_memory_on_node;
        ws.tasks_run = w->m_tasks_run.get();
        ws.steals_local = w->m_steals_local.get();
        ws.steals_remote = w->m_steals_remote.get();
        ws.steals_lost = w->m_steals_lost.get();
        ws.inbox_tasks = w->m_inbox_tasks.get();
        ws.parks = w->m_parks.get();
        ws.iterations_on_data_node = w->m_iterations_on_node.get();
        ws.iterations_off_data_node = w->m_iterations_off_node.get();
        s.tasks_run += ws.tasks_run;
        s.steals_local += ws.steals_local;
        s.steals_remote += ws.steals_remote;
        s.steals_lost += ws.steals_lost;
        s.inbox_tasks += ws.inbox_tasks;
        s.parks += ws.parks;
        s.workers.push_back(std::move(ws));
    }
    return s;
}

std::vector<std::string> runtime::degraded() const {
    std::lock_guard lock(m_impl->m_degraded_lock);
    return m_impl->m_degraded;
}

namespace this_worker {

int index() noexcept {
    detail::worker_core* w = detail::tls_worker;
    if (w == nullptr || static_cast<detail::worker*>(w)->is_guest()) {
        return -1;
    }
    return static_cast<int>(static_cast<detail::worker*>(w)->m_index);
}

int node() noexcept {
    detail::worker_core* w = detail::tls_worker;
    return w == nullptr ? -1 : static_cast<detail::worker*>(w)->m_node;
}

runtime* current_runtime() noexcept {
    detail::worker_core* w = detail::tls_worker;
    return w == nullptr ? nullptr : &static_cast<detail::worker*>(w)->m_rt.m_owner;
}

} // namespace this_worker
} // namespace topos
