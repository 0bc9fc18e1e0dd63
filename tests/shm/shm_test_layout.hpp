// What the multi-process tests put in their segments: shared by the tests
// and by topos_shm_peer, the program they start as the other processes.
#pragma once

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <atomic>
#include <cstdint>

namespace topos::test {

/// A bounded ring of messages guarded by a robust mutex and two conditions.
struct message {
    std::uint32_t producer;
    std::uint32_t seq;
};
struct message_ring {
    static constexpr std::uint32_t k_slots = 64;
    process_mutex mutex;
    process_condition not_empty;
    process_condition not_full;
    std::uint64_t head = 0; ///< next slot to read (count of messages taken)
    std::uint64_t tail = 0; ///< next slot to write (count of messages put)
    message slots[k_slots]{};
};

/// Rounds of a barrier: before round r each participant adds 1 to arrived[r];
/// after it, each checks that all did (the barrier let nobody through early).
struct barrier_rounds {
    static constexpr unsigned k_max_rounds = 512;
    explicit barrier_rounds(unsigned participants) : barrier(participants) {}
    process_barrier barrier;
    std::atomic<std::uint32_t> arrived[k_max_rounds]{};
    std::atomic<std::uint32_t> serial[k_max_rounds]{};
    std::atomic<std::uint32_t> errors{0};
};

/// A mutex whose owner is killed while holding it; a and b are equal
/// whenever nobody holds it, so a survivor can tell the data was left half-done.
struct lock_victim {
    process_mutex mutex;
    process_semaphore locked{0}; ///< posted by the peer once it holds the mutex
    std::uint64_t a = 0;
    std::uint64_t b = 0;
};

/// A semaphore of `permits` shared by workers that count how many are inside.
struct semaphore_load {
    explicit semaphore_load(unsigned permits) : sem(permits), mutex_sem(1) {}
    process_semaphore sem;
    process_semaphore mutex_sem; ///< a binary semaphore guarding `plain`
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<std::uint64_t> entries{0};
    std::uint64_t plain = 0; ///< incremented without atomics under mutex_sem
};

/// A barrier of three: a waiting thread, the test, and a peer that dies
/// holding the barrier's lock (posting `locked` once it holds it).
struct barrier_crash {
    explicit barrier_crash(unsigned participants) : barrier(participants) {}
    process_barrier barrier;
    process_semaphore locked{0};
};

/// Blocks the peers allocated from a segment_heap: offsets (segment_ptr) and sizes.
struct heap_table {
    static constexpr unsigned k_blocks = 400;
    segment_ptr<unsigned char> block[k_blocks];
    std::uint32_t size[k_blocks]{};
};

} // namespace topos::test
