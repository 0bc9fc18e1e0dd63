// Lock throughput: topos::cohort_lock against std::mutex, an MCS queue lock
// and a ticket lock, each guarding the same short critical section (one
// increment on each of four shared cache lines), with 1, 2 and 4 threads.
//
// items_per_second is critical sections per second over all threads. The
// counts are checked after every run, outside the timed loop. On a one-node
// machine the cohort lock has no remote node to avoid, so this shows its
// overhead, not its NUMA benefit; `cohort_2fake` pretends the threads sit on
// two nodes (alternating) to exercise the global lock and the hand-offs.
//
//   taskset -c 0,1 build/lock-rel/bench/topos_bench_lock
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include "bench_main.hpp"

#include <topos/detail/spin.hpp>
#include <topos/numa_lock.hpp>
#include <topos/topology.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

namespace {

/// Waits until `done()`: polls with a pause for a while, then yields the CPU
/// on every poll, so a waiter does not hold the core a preempted holder needs.
template <class Done>
void spin_then_yield(Done done) {
    for (int i = 0; i < 100; ++i) {
        if (done()) {
            return;
        }
        topos::detail::cpu_relax();
    }
    while (!done()) {
        std::this_thread::yield();
    }
}

/// The MCS queue lock (Mellor-Crummey and Scott, ACM TOCS 9(1), 1991,
/// DOI 10.1145/103727.103729): each waiter spins on its own queue node.
/// Waiters spin, then yield; none sleeps. One queue node per thread, so a
/// thread holds at most one mcs_lock at a time (true in this benchmark).
class mcs_lock {
public:
    void lock() noexcept {
        qnode& me = t_node;
        me.next.store(nullptr, std::memory_order_relaxed);
        me.locked.store(true, std::memory_order_relaxed);
        // acq_rel: release publishes our node's reset to the predecessor that
        // links to it; acquire pairs with unlock()'s release CAS when the
        // queue was empty, so the last holder's writes are visible.
        qnode* pred = m_tail.exchange(&me, std::memory_order_acq_rel);
        if (pred != nullptr) {
            // release: the predecessor's acquire load of next sees our reset node.
            pred->next.store(&me, std::memory_order_release);
            // acquire: pairs with the predecessor's release store of locked.
            spin_then_yield([&me] { return !me.locked.load(std::memory_order_acquire); });
        }
        m_holder = &me;
    }
    void unlock() noexcept {
        qnode& me = *m_holder;
        // acquire: pairs with the successor's release store of next.
        qnode* succ = me.next.load(std::memory_order_acquire);
        if (succ == nullptr) {
            qnode* expected = &me;
            // release: the next locker's acquire exchange sees our writes.
            if (m_tail.compare_exchange_strong(expected, nullptr, std::memory_order_release,
                                               std::memory_order_relaxed)) {
                return;
            }
            // acquire: as above; a successor is linking itself in.
            spin_then_yield([&] { return (succ = me.next.load(std::memory_order_acquire)) != nullptr; });
        }
        // release: hands the critical section's writes to the successor.
        succ->locked.store(false, std::memory_order_release);
    }

private:
    struct alignas(topos::detail::cache_line) qnode {
        std::atomic<qnode*> next{nullptr};
        std::atomic<bool> locked{false};
    };
    static thread_local qnode t_node;

    alignas(topos::detail::cache_line) std::atomic<qnode*> m_tail{nullptr};
    qnode* m_holder = nullptr; // written by the holder
};
thread_local mcs_lock::qnode mcs_lock::t_node;

/// A FIFO ticket lock; waiters spin, then yield.
class ticket_lock {
public:
    void lock() noexcept {
        // relaxed: the ticket orders us; the data comes through m_serving.
        const std::uint32_t ticket = m_next.fetch_add(1, std::memory_order_relaxed);
        // acquire: pairs with unlock()'s release store of m_serving.
        spin_then_yield([&] { return m_serving.load(std::memory_order_acquire) == ticket; });
    }
    void unlock() noexcept {
        // release: publishes the critical section to the next ticket's acquire.
        m_serving.store(m_serving.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

private:
    alignas(topos::detail::cache_line) std::atomic<std::uint32_t> m_next{0};
    alignas(topos::detail::cache_line) std::atomic<std::uint32_t> m_serving{0};
};

/// The node each benchmark thread pretends to be on, for cohort_2fake.
thread_local int t_fake_node = 0;

/// cohort_lock on a two-node topology whose threads alternate between nodes.
class cohort_2fake : public topos::cohort_lock {
public:
    cohort_2fake()
        : topos::cohort_lock(topos::topology::synthetic("pack:2 numa:1 core:1 pu:1"),
                             {.max_local_handoffs = k_default_max_local_handoffs,
                              .node_of_caller = [] { return t_fake_node; }}) {}
};

struct alignas(topos::detail::cache_line) padded_counter {
    std::uint64_t value = 0;
};

/// Everything one lock type's runs share; lives for the whole program.
template <class Lock>
struct shared_state {
    Lock lock;
    std::array<padded_counter, 4> lines{}; // the critical section's data
    std::atomic<std::uint64_t> expected{0};
    std::atomic<int> finished{0};
    std::uint64_t handoffs_before = 0;
    std::uint64_t acquisitions_before = 0;
};

template <class Lock>
shared_state<Lock>& state_of() {
    static shared_state<Lock> s;
    return s;
}

template <class Lock>
void bm_lock(benchmark::State& state) {
    auto& s = state_of<Lock>();
    t_fake_node = state.thread_index() % 2;
    if (state.thread_index() == 0) {
        // relaxed (both): the loop's start barrier orders these resets
        // before every thread's first lock() and its updates below.
        s.lines = {};
        s.expected.store(0, std::memory_order_relaxed);
        s.finished.store(0, std::memory_order_relaxed);
        if constexpr (std::is_base_of_v<topos::cohort_lock, Lock>) {
            const auto stats = s.lock.stats();
            s.handoffs_before = stats.local_handoffs();
            s.acquisitions_before = stats.acquisitions();
        }
    }
    for (auto _ : state) {
        std::lock_guard guard(s.lock);
        for (auto& line : s.lines) {
            ++line.value;
        }
    }
    state.SetItemsProcessed(state.iterations());
    // relaxed: published by the release increment of `finished` below.
    s.expected.fetch_add(static_cast<std::uint64_t>(state.iterations()), std::memory_order_relaxed);
    // release: publishes our count and our last critical section's writes
    // (already ordered before it by the lock) to thread 0's acquire load.
    s.finished.fetch_add(1, std::memory_order_release);
    if (state.thread_index() != 0) {
        return;
    }
    // acquire: pairs with each thread's release increment of `finished`.
    while (s.finished.load(std::memory_order_acquire) != state.threads()) {
        std::this_thread::yield();
    }
    const std::uint64_t expected = s.expected.load(std::memory_order_relaxed);
    for (const auto& line : s.lines) {
        if (line.value != expected) {
            state.SkipWithError(("lost updates: a line holds " + std::to_string(line.value) + ", expected " +
                                 std::to_string(expected))
                                    .c_str());
            return;
        }
    }
    if constexpr (std::is_base_of_v<topos::cohort_lock, Lock>) {
        const auto stats = s.lock.stats();
        const auto acquisitions = stats.acquisitions() - s.acquisitions_before;
        if (acquisitions != expected) {
            state.SkipWithError("cohort_lock counted a different number of acquisitions");
            return;
        }
        state.counters["handoff_share"] =
            static_cast<double>(stats.local_handoffs() - s.handoffs_before) / static_cast<double>(acquisitions);
    }
}

#define TOPOS_LOCK_BENCH(lock_type, label)                                                                     \
    BENCHMARK_TEMPLATE(bm_lock, lock_type)->Name("lock/" label)->Threads(1)->Threads(2)->Threads(4)->UseRealTime()

TOPOS_LOCK_BENCH(topos::cohort_lock, "cohort");
TOPOS_LOCK_BENCH(cohort_2fake, "cohort_2fake");
TOPOS_LOCK_BENCH(std::mutex, "std_mutex");
TOPOS_LOCK_BENCH(mcs_lock, "mcs");
TOPOS_LOCK_BENCH(ticket_lock, "ticket");

} // namespace

int main(int argc, char** argv) {
    return topos::bench::run_benchmarks(argc, argv);
}
