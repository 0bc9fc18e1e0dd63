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
// The node of a thread is the node of the CPU it runs on, read at each
// lock() from the kernel's rseq area (a load; sched_getcpu() where rseq is
// not registered) and mapped through the topology. Mutual exclusion never
// depends on that node being right: a thread that migrates between lock()'s
// look-up and its queueing simply queues on its old node's local lock. The
// node used by lock() is remembered by the lock, so unlock() releases the
// same local lock even if the thread moved meanwhile.
//
// lock(), try_lock() and unlock() are out of line (scheduler/cohort_lock.cpp),
// which keeps the lock's parts (a futex mutex per node, a parking ticket
// lock, the CPU look-up) private to the scheduler.
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

#include <topos/topology.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace topos {

/// How a cohort_lock behaves; every field has a sensible default.
struct cohort_lock_options {
    /// Consecutive hand-offs within one node before the node releases the
    /// global lock. 0 disables hand-offs: every critical section takes the
    /// global lock (a plain two-level FIFO-across-nodes lock).
    std::uint32_t max_local_handoffs = 64;
    /// Which node the calling thread is on; by default its current CPU mapped
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
    struct state; // the slots, the global lock and the CPU map (scheduler/cohort_lock.cpp)

    std::size_t m_node_count = 0;
    std::uint32_t m_max_local_handoffs = k_default_max_local_handoffs;
    std::unique_ptr<state> m_state;
};

} // namespace topos
