// topos/numa_lock.hpp - a NUMA-aware mutual-exclusion lock for threads of one
// process: a cohort lock that keeps the lock on one NUMA node while threads
// of that node wait for it, and hands it to the other nodes after a bounded
// number of such local hand-offs.
//
// Follows lock cohorting (Dice, Marathe, Shavit, "Lock Cohorting: A General
// Technique for Designing NUMA Locks", PPoPP 2012, DOI 10.1145/2145816.2145848):
// a global lock, one local lock per node, and a "cohort detection" test that
// tells a releasing thread whether another thread of its node is waiting.
// Where it departs from the paper:
//   - The local lock is a barging futex mutex (Drepper, "Futexes Are Tricky",
//     mutex 2), not a spinning backoff or MCS lock: a waiter spins briefly and
//     then sleeps in the kernel, so the lock stays usable when there are more
//     threads than cores. Within one node the lock is therefore no fairer than
//     std::mutex; across nodes it is FIFO (below).
//   - Cohort detection is an explicit per-node waiter count instead of a
//     property of the local lock (alone() in the paper).
//   - The global lock is a ticket lock whose waiters also park after a brief
//     spin. At most one thread per node (that node's local-lock holder) ever
//     waits for it, so the queue is at most node_count() long and waking all
//     of them at a release costs little.
//   - With a single node there is nobody to hand the lock to, so the global
//     lock is never touched (the local lock alone gives mutual exclusion);
//     the statistics are kept as if it were.
//
// The bound: a node keeps the global lock for at most max_local_handoffs + 1
// consecutive critical sections (a "tenure"), then releases it; the global
// ticket lock then serves nodes in the order they asked. A node whose thread
// waits for the global lock therefore gets it after at most
// (node_count() - 1) * (max_local_handoffs + 1) critical sections of others.
//
// The node of a thread is looked up with sched_getcpu() and the topology,
// cached per thread and re-read every 64 look-ups. Mutual exclusion never
// depends on that node being right: a thread that migrated simply queues on
// its old node's local lock until the next refresh. The node used by lock()
// is remembered by the lock, so unlock() releases the same local lock even if
// the thread moved meanwhile.
//
// The per-node slots live in one array allocated by the constructing thread,
// so the kernel places them on that thread's node (first touch). Placing each
// slot on its own node would need a page per slot and node, which is too much
// for a lock a program may create by the thousand; the slot's lines move into
// the caches of the node that uses them either way.
//
// Meets the Lockable requirements: std::lock_guard, std::unique_lock and
// std::scoped_lock work with it. Not recursive; unlock() must be called by
// the thread that locked.
#pragma once

#include <topos/detail/cache_line.hpp>
#include <topos/topology.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace topos {

namespace detail {

/// The calling thread's CPU as last read from the kernel, and how many more
/// look-ups may use it before it is read again.
struct cached_cpu {
    int cpu = -1;
    std::uint32_t uses_left = 0;
};
inline thread_local cached_cpu t_cached_cpu;

/// Reads sched_getcpu() into t_cached_cpu and returns it (-1 if unknown).
int refresh_current_cpu() noexcept;

/// The calling thread's CPU, re-read from the kernel every 64 calls.
inline int current_cpu() noexcept {
    cached_cpu& c = t_cached_cpu;
    if (c.uses_left == 0) {
        return refresh_current_cpu();
    }
    --c.uses_left;
    return c.cpu;
}

/// Sleeps while *word == expected (spurious returns allowed).
void lock_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
void lock_futex_wake_one(std::atomic<std::uint32_t>& word) noexcept;
void lock_futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

/// A barging mutex that spins briefly and then sleeps on a futex.
/// State: 0 free, 1 locked, 2 locked and a thread may be asleep on it.
class futex_mutex {
public:
    [[nodiscard]] bool try_lock() noexcept {
        std::uint32_t expected = 0;
        // acquire: pairs with unlock()'s release exchange, so the previous
        // holder's writes are visible to us.
        return m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }
    void lock() noexcept {
        if (!try_lock()) {
            lock_slow();
        }
    }
    void unlock() noexcept {
        // release: publishes the critical section to the next holder's
        // acquire in try_lock() or lock_slow().
        if (m_state.exchange(0, std::memory_order_release) == 2) {
            lock_futex_wake_one(m_state);
        }
    }
    /// Spins, then sleeps until the mutex is ours.
    void lock_slow() noexcept;

private:
    std::atomic<std::uint32_t> m_state{0};
};

/// A FIFO ticket lock whose waiters spin briefly and then sleep. Any thread
/// may release it (the cohort's global lock is released by whichever thread
/// of the owning node ends the tenure).
class parking_ticket_lock {
public:
    void lock() noexcept {
        // relaxed: the ticket only orders us among lockers; the data is
        // published through m_serving.
        const std::uint32_t ticket = m_next.fetch_add(1, std::memory_order_relaxed);
        // acquire: pairs with unlock()'s seq_cst increment of m_serving.
        if (m_serving.load(std::memory_order_acquire) != ticket) {
            wait_for(ticket);
        }
    }
    [[nodiscard]] bool try_lock() noexcept {
        // acquire: pairs with unlock()'s increment, as in lock().
        const std::uint32_t serving = m_serving.load(std::memory_order_acquire);
        std::uint32_t next = serving;
        // relaxed: success means m_next == m_serving == serving, so the
        // ticket we take is the one being served, and the acquire above
        // already synchronised with its release.
        return m_next.compare_exchange_strong(next, serving + 1, std::memory_order_relaxed, std::memory_order_relaxed);
    }
    void unlock() noexcept {
        // seq_cst: release for the next ticket's acquire load, and ordered
        // before the m_sleepers load below against wait_for()'s seq_cst
        // increment of m_sleepers and re-load of m_serving (Dekker).
        m_serving.fetch_add(1, std::memory_order_seq_cst);
        if (m_sleepers.load(std::memory_order_seq_cst) != 0) {
            lock_futex_wake_all(m_serving);
        }
    }

private:
    void wait_for(std::uint32_t ticket) noexcept;

    std::atomic<std::uint32_t> m_next{0};
    std::atomic<std::uint32_t> m_serving{0};
    std::atomic<std::uint32_t> m_sleepers{0};
};

} // namespace detail

/// How a cohort_lock behaves; every field has a sensible default.
struct cohort_lock_options {
    /// Consecutive hand-offs within one node before the node releases the
    /// global lock. 0 disables hand-offs: every critical section takes the
    /// global lock (a plain two-level FIFO-across-nodes lock).
    std::uint32_t max_local_handoffs = 64;
    /// Which node the calling thread is on; by default sched_getcpu() mapped
    /// through the topology. Must not throw. Results outside
    /// [0, node_count()) count as node 0. For tests and for callers that know
    /// better (a worker's home node).
    std::function<int()> node_of_caller = {};
};

/// What one node of a cohort_lock did.
struct cohort_lock_node_stats {
    /// Critical sections that began by taking the global lock.
    std::uint64_t global_acquisitions = 0;
    /// Critical sections that inherited the global lock from a thread of this node.
    std::uint64_t local_handoffs = 0;
    /// Most critical sections this node ran under one global acquisition.
    std::uint64_t longest_tenure = 0;
};

/// Counters since construction. Read while other threads lock, they are a
/// recent snapshot; read when the lock is idle, they are exact and
/// acquisitions() equals the number of critical sections entered.
struct cohort_lock_stats {
    std::vector<cohort_lock_node_stats> nodes; ///< indexed by logical node id

    [[nodiscard]] std::uint64_t global_acquisitions() const noexcept;
    [[nodiscard]] std::uint64_t local_handoffs() const noexcept;
    [[nodiscard]] std::uint64_t longest_tenure() const noexcept;
    [[nodiscard]] std::uint64_t acquisitions() const noexcept {
        return global_acquisitions() + local_handoffs();
    }
};

/// A NUMA-aware cohort lock (see the file comment).
class cohort_lock {
public:
    static constexpr std::uint32_t k_default_max_local_handoffs = 64;

    /// One cohort per NUMA node of this machine (topology::host(), loaded
    /// once per process).
    cohort_lock();
    explicit cohort_lock(cohort_lock_options options);
    /// One cohort per NUMA node of `topo`. Throws config_error when the
    /// topology has no NUMA node.
    explicit cohort_lock(const topology& topo, cohort_lock_options options = {});

    cohort_lock(const cohort_lock&) = delete;
    cohort_lock& operator=(const cohort_lock&) = delete;
    ~cohort_lock();

    void lock() noexcept;
    [[nodiscard]] bool try_lock() noexcept;
    void unlock() noexcept;

    [[nodiscard]] std::size_t node_count() const noexcept { return m_node_count; }
    [[nodiscard]] std::uint32_t max_local_handoffs() const noexcept { return m_max_local_handoffs; }
    /// The node lock() would queue the calling thread on now.
    [[nodiscard]] int node_of_caller() const noexcept;
    [[nodiscard]] cohort_lock_stats stats() const;

private:
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

    void lock_local_slow(node_slot& slot) noexcept;
    void begin_tenure(node_slot& slot) noexcept;
    void end_tenure(node_slot& slot) noexcept;
    static void bump(std::atomic<std::uint64_t>& counter) noexcept {
        // relaxed: only the lock holder writes; stats() wants a snapshot.
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    // Read-only after construction.
    std::size_t m_node_count = 0;
    std::uint32_t m_max_local_handoffs = k_default_max_local_handoffs;
    std::vector<int> m_node_of_cpu; ///< logical node by CPU OS index
    std::function<int()> m_node_hook;
    std::unique_ptr<node_slot[]> m_nodes;

    alignas(detail::cache_line) detail::parking_ticket_lock m_global;
    /// The node whose local lock the current holder took; written by the
    /// holder after acquiring, read by it in unlock(). Unused with one node.
    alignas(detail::cache_line) int m_owner_node = 0;
};

inline int cohort_lock::node_of_caller() const noexcept {
    int node = 0;
    if (m_node_hook) {
        node = m_node_hook();
    } else {
        const int cpu = detail::current_cpu();
        if (cpu >= 0 && static_cast<std::size_t>(cpu) < m_node_of_cpu.size()) {
            node = m_node_of_cpu[static_cast<std::size_t>(cpu)];
        }
    }
    return node >= 0 && static_cast<std::size_t>(node) < m_node_count ? node : 0;
}

inline void cohort_lock::lock() noexcept {
    const int node = node_of_caller();
    node_slot& slot = m_nodes[static_cast<std::size_t>(node)];
    if (!slot.local.try_lock()) {
        lock_local_slow(slot);
    }
    if (!slot.global_passed) {
        begin_tenure(slot);
    }
    if (m_node_count > 1) {
        m_owner_node = node;
    }
}

inline bool cohort_lock::try_lock() noexcept {
    const int node = node_of_caller();
    node_slot& slot = m_nodes[static_cast<std::size_t>(node)];
    if (!slot.local.try_lock()) {
        return false;
    }
    if (!slot.global_passed) {
        if (m_node_count > 1 && !m_global.try_lock()) {
            slot.local.unlock();
            return false;
        }
        bump(slot.global_acquisitions);
    }
    if (m_node_count > 1) {
        m_owner_node = node;
    }
    return true;
}

inline void cohort_lock::unlock() noexcept {
    node_slot& slot = m_nodes[static_cast<std::size_t>(m_owner_node)];
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
        end_tenure(slot);
    }
    slot.local.unlock();
}

inline void cohort_lock::begin_tenure(node_slot& slot) noexcept {
    if (m_node_count > 1) {
        m_global.lock();
    }
    bump(slot.global_acquisitions);
}

inline void cohort_lock::end_tenure(node_slot& slot) noexcept {
    const std::uint64_t tenure = std::uint64_t{slot.tenure_handoffs} + 1;
    // relaxed: holder-only counter, as in bump().
    if (tenure > slot.longest_tenure.load(std::memory_order_relaxed)) {
        slot.longest_tenure.store(tenure, std::memory_order_relaxed);
    }
    slot.tenure_handoffs = 0;
    slot.global_passed = false;
    if (m_node_count > 1) {
        m_global.unlock();
    }
}

} // namespace topos
