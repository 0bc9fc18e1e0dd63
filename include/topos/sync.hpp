// topos/sync.hpp - synchronisation between processes, for objects that live
// inside a shared segment (topos/shm.hpp).
//
// Each type wraps the POSIX process-shared primitive and is made in place in
// segment memory by one process (placement new, or segment_heap::construct),
// used by every process that maps the segment, and destroyed by one process
// when nobody uses it any more. They are standard-layout, neither copyable nor
// movable (their address is their identity), and hold no pointers, so they
// work at any mapping address. They also work between threads of one process.
//
// process_mutex is robust: when its owner dies holding it, the next lock()
// gets it with lock_result::owner_died, the mutex already marked consistent
// again (pthread_mutex_consistent), so the caller's duty is only to repair
// the data the dead owner may have left half-written.
#pragma once

#include <topos/error.hpp>

#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace topos {

/// A process-shared primitive failed in a way the caller can act on
/// (sys_errno() is the error pthread or sem_* returned).
class sync_error : public error {
public:
    sync_error(const std::string& message, int sys_errno) : error(message), m_errno(sys_errno) {}
    [[nodiscard]] int sys_errno() const noexcept { return m_errno; }

private:
    int m_errno;
};

/// How a lock was obtained: as usual, or from an owner that died holding it
/// (the protected data may be half-updated and should be checked).
enum class lock_result : std::uint8_t { acquired, owner_died };

class process_mutex {
public:
    /// pthread_mutex_init with PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST and
    /// PTHREAD_MUTEX_ERRORCHECK.
    process_mutex();
    ~process_mutex();
    process_mutex(const process_mutex&) = delete;
    process_mutex& operator=(const process_mutex&) = delete;

    /// Blocks until owned. Throws sync_error for EDEADLK (already owned by the
    /// caller) and ENOTRECOVERABLE.
    lock_result lock();
    /// false when another owner holds it; true (owned) otherwise, including
    /// from a dead owner: *how, when given, says which (as try_lock_for).
    [[nodiscard]] bool try_lock(lock_result* how = nullptr);
    /// The old spelling of try_lock(lock_result*): *died is how == owner_died.
    [[deprecated("use try_lock(lock_result*)")]] [[nodiscard]] bool try_lock(bool* died);
    /// true when owned within `timeout` (measured on CLOCK_MONOTONIC, so a
    /// step of the wall clock does not stretch or cut it; CLOCK_REALTIME in
    /// ThreadSanitizer builds); *how, when given, says whether it came from
    /// a dead owner. Every timeout in this header saturates: nanoseconds::max()
    /// waits forever, a negative one counts as 0.
    [[nodiscard]] bool try_lock_for(std::chrono::nanoseconds timeout, lock_result* how = nullptr);
    /// Throws sync_error (EPERM) when the caller does not own it.
    void unlock();

    [[nodiscard]] pthread_mutex_t* native_handle() noexcept { return &m_mutex; }

private:
    pthread_mutex_t m_mutex;
};

/// Condition variable shared between processes (CLOCK_MONOTONIC timeouts).
/// Beware of waiters that can be killed: glibc's condition variable counts
/// its waiters in the shared object, and a waiter SIGKILLed inside wait()
/// is never uncounted, so a later notify or the destructor may wait for it
/// forever. process_barrier therefore sleeps on a futex instead.
class process_condition {
public:
    process_condition();
    ~process_condition();
    process_condition(const process_condition&) = delete;
    process_condition& operator=(const process_condition&) = delete;

    /// pre: the caller owns m. Returns owner_died when, on waking, m had to be
    /// taken from a dead owner (made consistent again).
    lock_result wait(process_mutex& m);
    template <class Pred>
    lock_result wait(process_mutex& m, Pred pred) {
        lock_result r = lock_result::acquired;
        while (!pred()) {
            if (wait(m) == lock_result::owner_died) {
                r = lock_result::owner_died;
            }
        }
        return r;
    }
    /// false on timeout (m is owned again either way).
    [[nodiscard]] bool wait_for(process_mutex& m, std::chrono::nanoseconds timeout, lock_result* how = nullptr);
    void notify_one() noexcept;
    void notify_all() noexcept;

    [[nodiscard]] pthread_cond_t* native_handle() noexcept { return &m_cond; }

private:
    pthread_cond_t m_cond;
};

/// Counting semaphore shared between processes (sem_init with pshared = 1).
class process_semaphore {
public:
    /// Throws sync_error when initial exceeds SEM_VALUE_MAX.
    explicit process_semaphore(unsigned initial = 0);
    ~process_semaphore();
    process_semaphore(const process_semaphore&) = delete;
    process_semaphore& operator=(const process_semaphore&) = delete;

    /// Throws sync_error on EOVERFLOW (count at SEM_VALUE_MAX).
    void post();
    /// Blocks until the count is positive, then takes one (retries on EINTR).
    void wait();
    [[nodiscard]] bool try_wait();
    /// false when the count stayed zero for `timeout` (CLOCK_MONOTONIC, as try_lock_for).
    [[nodiscard]] bool wait_for(std::chrono::nanoseconds timeout);
    /// The count now (a snapshot).
    [[nodiscard]] int value() const;

private:
    mutable sem_t m_sem;
};

/// Barrier for a fixed number of participants, reusable round after round.
/// Made of a robust process_mutex, one atomic word that holds the round's
/// whole state (the arrivals so far, the generation and a broken bit) and a
/// futex word the waiters sleep on. A round ends with one store of the state
/// word (count to 0, generation up), so a participant killed at any point
/// leaves either the old round or the new one, never half of each; waiters
/// wake on the generation change (so a spurious wake-up cannot let one
/// through early). Waiters sleep on a futex, not on a condition variable, so
/// a waiter that dies leaves nothing behind that could hold up the others'
/// wake-up (a glibc condition variable can wait for its dead waiters).
///
/// A participant killed while holding the barrier's lock breaks it: the
/// next process to take the lock sees owner_died, sets the broken bit and
/// wakes everyone; waiters also probe the lock every 200 ms, so they find
/// the death even when nobody else arrives. From then on every wait in
/// progress and every later arrival throws sync_error with sys_errno()
/// EOWNERDEAD, in every process. A broken barrier stays broken: the
/// survivors recover by agreeing (by other means) to destroy it and make a
/// new one in its place. A participant killed while merely waiting (not
/// holding the lock) cannot be told from a slow one: its arrival still
/// counts, so the round it was in completes when the others arrive, and in
/// later rounds the others' arrive_and_wait_for times out and withdraws
/// their own arrival cleanly (arrive_and_wait, without a timeout, would wait
/// for it forever, as for a participant that never comes).
class process_barrier {
public:
    /// Throws sync_error(EINVAL) for zero participants.
    explicit process_barrier(unsigned participants);
    process_barrier(const process_barrier&) = delete;
    process_barrier& operator=(const process_barrier&) = delete;
    ~process_barrier() = default;

    /// Waits until all participants arrived in this round. Exactly one
    /// participant per round gets true (the last to arrive), as
    /// PTHREAD_BARRIER_SERIAL_THREAD. Throws sync_error(EOWNERDEAD) when the
    /// barrier is or becomes broken.
    bool arrive_and_wait();
    /// As arrive_and_wait, but gives up after `timeout` (CLOCK_MONOTONIC;
    /// nanoseconds::max() waits forever): then the arrival is withdrawn and
    /// the result is empty. Throws sync_error(EOWNERDEAD) when broken.
    [[nodiscard]] std::optional<bool> arrive_and_wait_for(std::chrono::nanoseconds timeout);
    [[nodiscard]] unsigned participants() const noexcept { return m_participants; }
    /// true once a participant died inside the barrier (see above).
    [[nodiscard]] bool broken() const noexcept;
    /// Arrivals in the current round (a snapshot).
    [[nodiscard]] unsigned arrived() const noexcept;

private:
    std::optional<bool> arrive_and_wait_for(std::chrono::nanoseconds timeout, bool forever);
    void enter();
    void mark_broken() noexcept;
    [[noreturn]] void leave_broken();

    process_mutex m_mutex; ///< first: the tests' peer holds it by the barrier's address
    unsigned m_participants;
    /// bits 0-31 arrivals this round, 32-62 generation, 63 broken.
    std::atomic<std::uint64_t> m_state{0};
    /// Bumped, and woken, after every change of m_state's generation or broken bit.
    std::atomic<std::uint32_t> m_epoch{0};
};

} // namespace topos
