// scheduler/cohort_lock.cpp - the cohort lock of <topos/numa_lock.hpp>: its
// per-node slots and global lock, construction from a topology, the lock
// and unlock paths, and the statistics.
#include <topos/numa_lock.hpp>

#include <topos/detail/assert.hpp>
#include <topos/detail/cache_line.hpp>
#include <topos/error.hpp>

#include "os/cpu.hpp"
#include "scheduler/futex_locks.hpp"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

namespace topos {

namespace {

const topology& host_topology() {
    static const topology host = topology::host();
    return host;
}

// One node's cohort. The first line is shared by the node's lockers; the
// second is written only by the thread holding `local`.
struct alignas(detail::cache_line) node_slot {
    detail::futex_mutex local;
    /// Threads of this node inside lock_local_slow(); relaxed everywhere
    /// (see lock_local_slow()).
    std::atomic<std::uint32_t> waiters{0};

    alignas(detail::cache_line) bool global_passed = false; ///< the holder of `local` owns the global lock
    std::uint32_t tenure_handoffs = 0; ///< hand-offs so far in this node's tenure
    // Written by the holder only (plain load+store), read by stats().
    std::atomic<std::uint64_t> global_acquisitions{0};
    std::atomic<std::uint64_t> local_handoffs{0};
    std::atomic<std::uint64_t> longest_tenure{0};
};

void bump(std::atomic<std::uint64_t>& counter) noexcept {
    // relaxed: only the lock holder writes; stats() wants a snapshot.
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

} // namespace

struct cohort_lock::state {
    // Read-only after construction.
    std::vector<int> node_of_cpu; ///< logical node by CPU OS index
    std::function<int()> node_hook;
    std::unique_ptr<node_slot[]> nodes;

    alignas(detail::cache_line) detail::parking_ticket_lock global;
    /// The node whose local lock the current holder took; written by the
    /// holder after acquiring, read by it in unlock(). Unused with one node.
    alignas(detail::cache_line) int owner_node = 0;
};

namespace {

// pre: the caller holds `slot.local`. Takes the global lock for a new tenure
// (only when there is another node to exclude).
void begin_tenure(node_slot& slot, detail::parking_ticket_lock& global, std::size_t node_count) noexcept {
    if (node_count > 1) {
        global.lock();
    }
    bump(slot.global_acquisitions);
}

// pre: the caller holds `slot.local` and the node's tenure. Ends it.
void end_tenure(node_slot& slot, detail::parking_ticket_lock& global, std::size_t node_count) noexcept {
    TOPOS_ASSERT(slot.global_passed || slot.tenure_handoffs == 0, "a tenure ended that had not begun");
    const std::uint64_t tenure = std::uint64_t{slot.tenure_handoffs} + 1;
    // relaxed: holder-only counter, as in bump().
    if (tenure > slot.longest_tenure.load(std::memory_order_relaxed)) {
        slot.longest_tenure.store(tenure, std::memory_order_relaxed);
    }
    slot.tenure_handoffs = 0;
    slot.global_passed = false;
    if (node_count > 1) {
        global.unlock();
    }
}

// Waits for `slot.local`, counted as a waiter so that the holder hands the
// global lock over instead of releasing it.
void lock_local_slow(node_slot& slot) noexcept {
    // relaxed (both): the count is a hint read by unlock(); see the argument
    // there for why a non-zero count always names a committed waiter.
    slot.waiters.fetch_add(1, std::memory_order_relaxed);
    slot.local.lock_slow();
    slot.waiters.fetch_sub(1, std::memory_order_relaxed);
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
    : m_node_count(topo.node_count()), m_max_local_handoffs(options.max_local_handoffs),
      m_state(std::make_unique<state>()) {
    if (m_node_count == 0) {
        throw config_error("cohort_lock: topology '" + topo.source_spec() + "' has no NUMA node; expected at least one");
    }
    m_state->node_hook = std::move(options.node_of_caller);
    int max_cpu = -1;
    for (const pu_info& pu : topo.pus()) {
        max_cpu = std::max(max_cpu, pu.os_index);
    }
    m_state->node_of_cpu.assign(static_cast<std::size_t>(max_cpu) + 1, 0);
    for (const pu_info& pu : topo.pus()) {
        if (pu.node >= 0 && static_cast<std::size_t>(pu.node) < m_node_count) {
            m_state->node_of_cpu[static_cast<std::size_t>(pu.os_index)] = pu.node;
        }
    }
    m_state->nodes = std::make_unique<node_slot[]>(m_node_count);
}

cohort_lock::~cohort_lock() = default;

int cohort_lock::node_of_caller() const noexcept {
    int node = 0;
    if (m_state->node_hook) {
        node = m_state->node_hook();
    } else {
        const int cpu = os::current_cpu();
        if (cpu >= 0 && static_cast<std::size_t>(cpu) < m_state->node_of_cpu.size()) {
            node = m_state->node_of_cpu[static_cast<std::size_t>(cpu)];
        }
    }
    return node >= 0 && static_cast<std::size_t>(node) < m_node_count ? node : 0;
}

void cohort_lock::lock() noexcept {
    const int node = node_of_caller();
    state& st = *m_state;
    node_slot& slot = st.nodes[static_cast<std::size_t>(node)];
    if (!slot.local.try_lock()) {
        lock_local_slow(slot);
    }
    if (!slot.global_passed) {
        begin_tenure(slot, st.global, m_node_count);
    }
    if (m_node_count > 1) {
        st.owner_node = node;
    }
}

bool cohort_lock::try_lock() noexcept {
    const int node = node_of_caller();
    state& st = *m_state;
    node_slot& slot = st.nodes[static_cast<std::size_t>(node)];
    if (!slot.local.try_lock()) {
        return false;
    }
    if (!slot.global_passed) {
        if (m_node_count > 1 && !st.global.try_lock()) {
            slot.local.unlock();
            return false;
        }
        bump(slot.global_acquisitions);
    }
    if (m_node_count > 1) {
        st.owner_node = node;
    }
    return true;
}

void cohort_lock::unlock() noexcept {
    state& st = *m_state;
    node_slot& slot = st.nodes[static_cast<std::size_t>(st.owner_node)];
    // relaxed: a count that includes another thread means that thread is
    // committed to taking `local` and will inherit the global lock. It cannot
    // be stale-high: a waiter decrements only after taking `local`, which
    // happens after we release it, and earlier holders' decrements reach us
    // through `local`'s acquire/release. Stale-low only costs a hand-off.
    if (slot.tenure_handoffs < m_max_local_handoffs && slot.waiters.load(std::memory_order_relaxed) != 0) {
        ++slot.tenure_handoffs;
        slot.global_passed = true;
        bump(slot.local_handoffs);
    } else {
        end_tenure(slot, st.global, m_node_count);
    }
    slot.local.unlock();
}

cohort_lock_stats cohort_lock::stats() const {
    cohort_lock_stats out;
    out.nodes.resize(m_node_count);
    for (std::size_t i = 0; i < m_node_count; ++i) {
        const node_slot& slot = m_state->nodes[i];
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
