// scheduler/cohort_lock.cpp - the out-of-line half of topos/numa_lock.hpp: construction from a topology,
// the slow (spin, then sleep) paths of the two locks, and the CPU look-up.
#include <topos/numa_lock.hpp>

#include <topos/detail/spin.hpp>
#include <topos/error.hpp>

#include "os/futex.hpp"

#include <sched.h>

#include <algorithm>
#include <string>
#include <utility>

namespace topos {

namespace detail {

namespace {

/// Look-ups served from t_cached_cpu before sched_getcpu() is asked again.
constexpr std::uint32_t k_cpu_refresh = 64;
/// Polls of a lock word, each followed by a pause, before a waiter sleeps:
/// about a microsecond where `pause` takes ~25 ns (recent Xeons). Long enough
/// to cover a short critical section and a hand-off between cores; short
/// enough not to keep a core from a preempted holder when threads outnumber
/// cores. Longer spins made two threads on two cores settle into trading the
/// lock line back and forth on every acquisition (about 10x slower than
/// letting one of them sleep).
constexpr int k_spin_polls = 40;

} // namespace

int refresh_current_cpu() noexcept {
    const int cpu = sched_getcpu();
    t_cached_cpu = cached_cpu{.cpu = cpu, .uses_left = k_cpu_refresh - 1};
    return cpu;
}

void lock_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    os::futex_wait(word, expected);
}

void lock_futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
    os::futex_wake_one(word);
}

void lock_futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    os::futex_wake_all(word);
}

void futex_mutex::lock_slow() noexcept {
    for (int i = 0; i < k_spin_polls; ++i) {
        // relaxed: only says whether a try_lock() could succeed now.
        if (m_state.load(std::memory_order_relaxed) == 0 && try_lock()) {
            return;
        }
        cpu_relax();
    }
    // acquire: pairs with unlock()'s release exchange. Storing 2 (not 1)
    // makes the unlock() after ours wake the next sleeper; a spurious wake
    // costs one system call, a missed one would hang a waiter.
    while (m_state.exchange(2, std::memory_order_acquire) != 0) {
        lock_futex_wait(m_state, 2);
    }
}

void parking_ticket_lock::wait_for(std::uint32_t ticket) noexcept {
    for (int i = 0; i < k_spin_polls; ++i) {
        cpu_relax();
        // acquire: pairs with unlock()'s increment of m_serving.
        if (m_serving.load(std::memory_order_acquire) == ticket) {
            return;
        }
    }
    for (;;) {
        // seq_cst (this increment and the load after it): Dekker with
        // unlock()'s seq_cst increment of m_serving and load of m_sleepers;
        // either we see the new m_serving or unlock() sees us and wakes us.
        m_sleepers.fetch_add(1, std::memory_order_seq_cst);
        const std::uint32_t serving = m_serving.load(std::memory_order_seq_cst);
        if (serving != ticket) {
            lock_futex_wait(m_serving, serving);
        }
        // relaxed: a late decrement only costs unlock() a needless wake.
        m_sleepers.fetch_sub(1, std::memory_order_relaxed);
        if (serving == ticket) {
            return;
        }
    }
}

} // namespace detail

namespace {

const topology& host_topology() {
    static const topology host = topology::host();
    return host;
}

} // namespace

std::uint64_t cohort_lock_stats::global_acquisitions() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& n : nodes) {
        sum += n.global_acquisitions;
    }
    return sum;
}

std::uint64_t cohort_lock_stats::local_handoffs() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& n : nodes) {
        sum += n.local_handoffs;
    }
    return sum;
}

std::uint64_t cohort_lock_stats::longest_tenure() const noexcept {
    std::uint64_t longest = 0;
    for (const auto& n : nodes) {
        longest = std::max(longest, n.longest_tenure);
    }
    return longest;
}

cohort_lock::cohort_lock() : cohort_lock(cohort_lock_options{}) {}

cohort_lock::cohort_lock(cohort_lock_options options) : cohort_lock(host_topology(), std::move(options)) {}

cohort_lock::cohort_lock(const topology& topo, cohort_lock_options options)
    : m_node_count(topo.node_count()),
      m_max_local_handoffs(options.max_local_handoffs),
      m_node_hook(std::move(options.node_of_caller)) {
    if (m_node_count == 0) {
        throw config_error("cohort_lock: topology '" + topo.source_spec() +
                           "' has no NUMA node; expected at least one");
    }
    int max_cpu = -1;
    for (const pu_info& pu : topo.pus()) {
        max_cpu = std::max(max_cpu, pu.os_index);
    }
    m_node_of_cpu.assign(static_cast<std::size_t>(max_cpu) + 1, 0);
    for (const pu_info& pu : topo.pus()) {
        if (pu.node >= 0 && static_cast<std::size_t>(pu.node) < m_node_count) {
            m_node_of_cpu[static_cast<std::size_t>(pu.os_index)] = pu.node;
        }
    }
    m_nodes = std::make_unique<node_slot[]>(m_node_count);
}

cohort_lock::~cohort_lock() = default;

void cohort_lock::lock_local_slow(node_slot& slot) noexcept {
    // relaxed (both): the count is a hint read by unlock(); see the argument
    // there for why a non-zero count always names a committed waiter.
    slot.waiters.fetch_add(1, std::memory_order_relaxed);
    slot.local.lock_slow();
    slot.waiters.fetch_sub(1, std::memory_order_relaxed);
}

cohort_lock_stats cohort_lock::stats() const {
    cohort_lock_stats out;
    out.nodes.resize(m_node_count);
    for (std::size_t i = 0; i < m_node_count; ++i) {
        const node_slot& slot = m_nodes[i];
        // relaxed: a snapshot; exact once the lock is idle and the reader has
        // synchronised with the last holder (joined it, for instance).
        out.nodes[i] = cohort_lock_node_stats{
            .global_acquisitions = slot.global_acquisitions.load(std::memory_order_relaxed),
            .local_handoffs = slot.local_handoffs.load(std::memory_order_relaxed),
            .longest_tenure = slot.longest_tenure.load(std::memory_order_relaxed),
        };
    }
    return out;
}

} // namespace topos
