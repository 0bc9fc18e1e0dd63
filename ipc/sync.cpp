// ipc/sync.cpp - process-shared mutex, condition, semaphore and barrier.
#include <topos/sync.hpp>

#include "os/futex.hpp"

#include <topos/detail/assert.hpp>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <limits>
#include <algorithm>
#include <string>
#include <type_traits>

namespace topos {
namespace {

static_assert(std::is_standard_layout_v<process_mutex>);
static_assert(std::is_standard_layout_v<process_condition>);
static_assert(std::is_standard_layout_v<process_semaphore>);
static_assert(std::is_standard_layout_v<process_barrier>);

[[noreturn]] void fail(const std::string& what, int err) {
    throw sync_error(std::string(what) + ": " + std::strerror(err), err);
}

void check(const char* what, int rc) {
    if (rc != 0) {
        fail(what, rc);
    }
}

// The clock timed lock and semaphore waits measure on: CLOCK_MONOTONIC, so a
// step of the wall clock (NTP, an administrator) neither stretches nor cuts
// a timeout. GCC 12's ThreadSanitizer intercepts pthread_mutex_clocklock and
// sem_clockwait as no synchronisation at all (it would then report the
// unlock of a mutex it never saw locked), so its builds use the
// CLOCK_REALTIME calls it knows. Condition variables are made with
// CLOCK_MONOTONIC (pthread_condattr_setclock) in every build.
#if defined(__SANITIZE_THREAD__)
#define TOPOS_WAIT_ON_REALTIME 1
constexpr clockid_t k_timeout_clock = CLOCK_REALTIME;
#else
#define TOPOS_WAIT_ON_REALTIME 0
constexpr clockid_t k_timeout_clock = CLOCK_MONOTONIC;
#endif

// Absolute deadline on `clock`, `timeout` from now. A negative timeout counts
// as 0; one too large for the clock (nanoseconds::max(), a common way to say
// "forever") gives the latest deadline time_t can hold, which the kernel
// treats as never. Seconds and nanoseconds are added separately so no sum
// can overflow.
timespec deadline_after(std::chrono::nanoseconds timeout, clockid_t clock = CLOCK_MONOTONIC) {
    timespec now{};
    ::clock_gettime(clock, &now);
    constexpr long long k_ns_per_s = 1'000'000'000;
    const long long wait = std::max<long long>(0, timeout.count());
    long long sec = wait / k_ns_per_s;
    long long nsec = wait % k_ns_per_s + now.tv_nsec; // below 2 s
    if (nsec >= k_ns_per_s) {
        nsec -= k_ns_per_s;
        ++sec;
    }
    constexpr auto k_latest = std::numeric_limits<time_t>::max();
    TOPOS_ASSERT(now.tv_sec >= 0, "deadline_after: the clock reads a time after its epoch");
    timespec out{};
    if (sec > static_cast<long long>(k_latest - now.tv_sec)) {
        out.tv_sec = k_latest;
        out.tv_nsec = k_ns_per_s - 1;
        return out;
    }
    out.tv_sec = now.tv_sec + static_cast<time_t>(sec);
    out.tv_nsec = static_cast<long>(nsec);
    return out;
}

// A robust mutex reached with EOWNERDEAD is owned by the caller and
// inconsistent; marking it consistent here is what lets it be used again.
lock_result settle(pthread_mutex_t* m, int rc, const char* what) {
    if (rc == 0) {
        return lock_result::acquired;
    }
    if (rc == EOWNERDEAD) {
        check(what, ::pthread_mutex_consistent(m));
        return lock_result::owner_died;
    }
    fail(what, rc);
}

} // namespace

// ---- process_mutex -----------------------------------------------------------------------

process_mutex::process_mutex() : m_mutex() {
    pthread_mutexattr_t attr;
    check("process_mutex: pthread_mutexattr_init", ::pthread_mutexattr_init(&attr));
    int rc = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) { // relocking by the owner, and unlocking by another, are errors rather than hangs
        rc = ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    }
    if (rc == 0) {
        rc = ::pthread_mutex_init(&m_mutex, &attr);
    }
    ::pthread_mutexattr_destroy(&attr);
    check("process_mutex: init", rc);
}

process_mutex::~process_mutex() { ::pthread_mutex_destroy(&m_mutex); }

lock_result process_mutex::lock() {
    return settle(&m_mutex, ::pthread_mutex_lock(&m_mutex), "process_mutex::lock");
}

bool process_mutex::try_lock(lock_result* how) {
    const int rc = ::pthread_mutex_trylock(&m_mutex);
    if (rc == EBUSY) {
        return false;
    }
    const lock_result r = settle(&m_mutex, rc, "process_mutex::try_lock");
    if (how != nullptr) {
        *how = r;
    }
    return true;
}

bool process_mutex::try_lock(bool* died) {
    lock_result how = lock_result::acquired;
    const bool owned = try_lock(&how);
    if (owned && died != nullptr) {
        *died = how == lock_result::owner_died;
    }
    return owned;
}

bool process_mutex::try_lock_for(std::chrono::nanoseconds timeout, lock_result* how) {
    const timespec when = deadline_after(timeout, k_timeout_clock);
#if TOPOS_WAIT_ON_REALTIME
    const int rc = ::pthread_mutex_timedlock(&m_mutex, &when);
#else
    const int rc = ::pthread_mutex_clocklock(&m_mutex, k_timeout_clock, &when);
#endif
    if (rc == ETIMEDOUT) {
        return false;
    }
    const lock_result r = settle(&m_mutex, rc, "process_mutex::try_lock_for");
    if (how != nullptr) {
        *how = r;
    }
    return true;
}

void process_mutex::unlock() { check("process_mutex::unlock", ::pthread_mutex_unlock(&m_mutex)); }

// ---- process_condition -------------------------------------------------------------------

process_condition::process_condition() : m_cond() {
    pthread_condattr_t attr;
    check("process_condition: pthread_condattr_init", ::pthread_condattr_init(&attr));
    int rc = ::pthread_condattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = ::pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    }
    if (rc == 0) {
        rc = ::pthread_cond_init(&m_cond, &attr);
    }
    ::pthread_condattr_destroy(&attr);
    check("process_condition: init", rc);
}

process_condition::~process_condition() { ::pthread_cond_destroy(&m_cond); }

lock_result process_condition::wait(process_mutex& m) {
    return settle(m.native_handle(), ::pthread_cond_wait(&m_cond, m.native_handle()), "process_condition::wait");
}

bool process_condition::wait_for(process_mutex& m, std::chrono::nanoseconds timeout, lock_result* how) {
    const timespec when = deadline_after(timeout);
    int rc = ::pthread_cond_timedwait(&m_cond, m.native_handle(), &when);
    const bool timed_out = rc == ETIMEDOUT;
    if (timed_out) {
        rc = 0;
    }
    const lock_result r = settle(m.native_handle(), rc, "process_condition::wait_for");
    if (how != nullptr) {
        *how = r;
    }
    return !timed_out;
}

void process_condition::notify_one() noexcept { ::pthread_cond_signal(&m_cond); }
void process_condition::notify_all() noexcept { ::pthread_cond_broadcast(&m_cond); }

// ---- process_semaphore -------------------------------------------------------------------

process_semaphore::process_semaphore(unsigned initial) : m_sem() {
    if (initial > static_cast<unsigned>(SEM_VALUE_MAX)) {
        throw sync_error("process_semaphore: initial count " + std::to_string(initial) + " is above SEM_VALUE_MAX (" +
                             std::to_string(SEM_VALUE_MAX) + ")",
                         EINVAL);
    }
    if (::sem_init(&m_sem, 1, initial) != 0) {
        fail("process_semaphore: sem_init", errno);
    }
}

process_semaphore::~process_semaphore() { ::sem_destroy(&m_sem); }

void process_semaphore::post() {
    if (::sem_post(&m_sem) != 0) {
        fail("process_semaphore::post", errno);
    }
}

void process_semaphore::wait() {
    while (::sem_wait(&m_sem) != 0) {
        if (errno != EINTR) {
            fail("process_semaphore::wait", errno);
        }
    }
}

bool process_semaphore::try_wait() {
    while (::sem_trywait(&m_sem) != 0) {
        if (errno == EAGAIN) {
            return false;
        }
        if (errno != EINTR) {
            fail("process_semaphore::try_wait", errno);
        }
    }
    return true;
}

bool process_semaphore::wait_for(std::chrono::nanoseconds timeout) {
    const timespec when = deadline_after(timeout, k_timeout_clock);
#if TOPOS_WAIT_ON_REALTIME
    while (::sem_timedwait(&m_sem, &when) != 0) {
#else
    while (::sem_clockwait(&m_sem, k_timeout_clock, &when) != 0) {
#endif
        if (errno == ETIMEDOUT) {
            return false;
        }
        if (errno != EINTR) {
            fail("process_semaphore::wait_for", errno);
        }
    }
    return true;
}

int process_semaphore::value() const {
    int v = 0;
    if (::sem_getvalue(&m_sem, &v) != 0) {
        fail("process_semaphore::value", errno);
    }
    return v;
}

// ---- process_barrier ---------------------------------------------------------------------

namespace {

// The barrier's state word: arrivals, generation and the broken bit.
constexpr std::uint64_t k_count_mask = 0xffff'ffffULL;
constexpr std::uint64_t k_broken = 1ULL << 63;
constexpr std::uint64_t k_generation_mask = ~k_count_mask & ~k_broken;
constexpr std::uint64_t k_generation_one = 1ULL << 32;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the state word is shared between processes");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "the epoch is a futex word shared between processes");

constexpr std::chrono::milliseconds k_barrier_probe{200}; ///< how often a waiter looks for a dead lock holder

[[noreturn]] void fail_barrier_broken() {
    throw sync_error("process_barrier: a participant died inside the barrier, which is broken (make a new one)",
                     EOWNERDEAD);
}

} // namespace

process_barrier::process_barrier(unsigned participants) : m_participants(participants) {
    if (participants == 0) {
        throw sync_error("process_barrier: participants must be at least 1, got 0", EINVAL);
    }
}

bool process_barrier::broken() const noexcept {
    // acquire: pairs with the release that set the bit, for a caller that then reads shared data.
    return (m_state.load(std::memory_order_acquire) & k_broken) != 0;
}

unsigned process_barrier::arrived() const noexcept {
    // relaxed: a snapshot for diagnostics and tests; it orders nothing.
    return static_cast<unsigned>(m_state.load(std::memory_order_relaxed) & k_count_mask);
}

// pre: the caller holds m_mutex. Sets the broken bit and wakes every waiter.
void process_barrier::mark_broken() noexcept {
    // release: pairs with the waiters' acquire loads of the word, outside the mutex.
    m_state.fetch_or(k_broken, std::memory_order_release);
    // release: the state above is visible to whoever sees the new epoch.
    m_epoch.fetch_add(1, std::memory_order_release);
    os::futex_wake_all_shared(m_epoch);
}

// Takes the mutex. A dead owner was a participant inside the barrier: it will
// not arrive again, so the barrier is broken and everyone waiting is woken to see it.
void process_barrier::enter() {
    if (m_mutex.lock() == lock_result::owner_died) {
        mark_broken();
    }
    if ((m_state.load(std::memory_order_relaxed) & k_broken) != 0) {
        leave_broken();
    }
}

// pre: the caller holds m_mutex. post: it does not; throws the broken error.
void process_barrier::leave_broken() {
    m_mutex.unlock();
    fail_barrier_broken();
}

bool process_barrier::arrive_and_wait() {
    const auto r = arrive_and_wait_for(std::chrono::nanoseconds::max(), true);
    return r.value_or(false);
}

std::optional<bool> process_barrier::arrive_and_wait_for(std::chrono::nanoseconds timeout) {
    return arrive_and_wait_for(timeout, false);
}

std::optional<bool> process_barrier::arrive_and_wait_for(std::chrono::nanoseconds timeout, bool forever) {
    const auto start = std::chrono::steady_clock::now();
    enter();
    // The word changes only under m_mutex, and each change is one store: a
    // participant killed anywhere leaves a whole round, old or new.
    const std::uint64_t state = m_state.load(std::memory_order_relaxed);
    const std::uint64_t generation = state & k_generation_mask;
    const auto count = static_cast<unsigned>(state & k_count_mask);
    TOPOS_ASSERT(count < m_participants, "process_barrier: a round holds fewer arrivals than participants");
    if (count + 1 == m_participants) {
        // release: pairs with the waiters' acquire loads of the word (they read it without the mutex).
        m_state.store((generation + k_generation_one) & k_generation_mask, std::memory_order_release);
        // release: a waiter that sees the new epoch sees the new round. Woken before the
        // unlock, so a kill after it leaves nobody asleep: a kill before it holds the lock.
        m_epoch.fetch_add(1, std::memory_order_release);
        os::futex_wake_all_shared(m_epoch);
        m_mutex.unlock();
        return true;
    }
    m_state.store(state + 1, std::memory_order_relaxed);
    m_mutex.unlock();
    // A saturating deadline: nanoseconds::max() (or forever) never runs out.
    const auto limit = forever || timeout > std::chrono::hours(24 * 365 * 100)
                           ? std::chrono::steady_clock::time_point::max()
                           : start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                         std::max(timeout, std::chrono::nanoseconds(0)));
    for (;;) {
        // acquire: pairs with the release increments; read before the state, so a
        // change after this read makes the futex wait below return at once.
        const std::uint32_t epoch = m_epoch.load(std::memory_order_acquire);
        // acquire: pairs with the release store that ended the round or broke the barrier.
        const std::uint64_t now_state = m_state.load(std::memory_order_acquire);
        if ((now_state & k_generation_mask) != generation) {
            return false; // our round ended
        }
        if ((now_state & k_broken) != 0) {
            fail_barrier_broken();
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= limit) {
            // Withdraw this arrival, unless the round ended or broke meanwhile.
            enter();
            const std::uint64_t s = m_state.load(std::memory_order_relaxed);
            if ((s & k_generation_mask) != generation) {
                m_mutex.unlock();
                return false;
            }
            TOPOS_ASSERT((s & k_count_mask) != 0, "process_barrier: a waiter's own arrival is counted");
            m_state.store(s - 1, std::memory_order_relaxed);
            m_mutex.unlock();
            return std::nullopt;
        }
        const auto slice = std::min<std::chrono::steady_clock::duration>(k_barrier_probe, limit - now);
        os::futex_wait_shared(m_epoch, epoch, slice);
        // Nothing changed for a whole slice: a holder of the lock may have died
        // where nobody else will come to see it. relaxed: only a hint to probe.
        lock_result how = lock_result::acquired;
        if (m_epoch.load(std::memory_order_relaxed) == epoch && m_mutex.try_lock(&how)) {
            if (how == lock_result::owner_died) {
                mark_broken();
            }
            m_mutex.unlock();
        }
    }
}

} // namespace topos
