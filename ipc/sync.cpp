// ipc/sync.cpp - process-shared mutex, condition, semaphore and barrier.
#include <topos/sync.hpp>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
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

// Absolute deadline on `clock`, `timeout` from now (negative counts as 0).
timespec deadline_after(std::chrono::nanoseconds timeout, clockid_t clock = CLOCK_MONOTONIC) {
    timespec now{};
    ::clock_gettime(clock, &now);
    const long long total = std::max<long long>(0, timeout.count()) + now.tv_nsec;
    timespec out{};
    out.tv_sec = now.tv_sec + static_cast<time_t>(total / 1'000'000'000);
    out.tv_nsec = static_cast<long>(total % 1'000'000'000);
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

bool process_mutex::try_lock(bool* died) {
    const int rc = ::pthread_mutex_trylock(&m_mutex);
    if (rc == EBUSY) {
        return false;
    }
    const lock_result r = settle(&m_mutex, rc, "process_mutex::try_lock");
    if (died != nullptr) {
        *died = r == lock_result::owner_died;
    }
    return true;
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

process_barrier::process_barrier(unsigned participants) : m_participants(participants) {
    if (participants == 0) {
        throw sync_error("process_barrier: participants must be at least 1, got 0", EINVAL);
    }
}

bool process_barrier::arrive_and_wait() {
    const auto r = arrive_and_wait_for(std::chrono::nanoseconds::max(), true);
    return r.value_or(false);
}

std::optional<bool> process_barrier::arrive_and_wait_for(std::chrono::nanoseconds timeout) {
    return arrive_and_wait_for(timeout, false);
}

std::optional<bool> process_barrier::arrive_and_wait_for(std::chrono::nanoseconds timeout, bool forever) {
    // A dead owner of m_mutex cannot have left the counters half-written: each
    // update below is one store made while holding it, so owner_died needs no repair.
    (void)m_mutex.lock();
    const std::uint64_t generation = m_generation;
    if (++m_waiting == m_participants) {
        m_waiting = 0;
        ++m_generation;
        m_mutex.unlock();
        m_cond.notify_all();
        return true;
    }
    const timespec when = deadline_after(forever ? std::chrono::nanoseconds(0) : timeout);
    while (m_generation == generation) {
        int rc = 0;
        if (forever) {
            rc = ::pthread_cond_wait(m_cond.native_handle(), m_mutex.native_handle());
        } else {
            rc = ::pthread_cond_timedwait(m_cond.native_handle(), m_mutex.native_handle(), &when);
        }
        if (rc == ETIMEDOUT) {
            if (m_generation != generation) {
                break;
            }
            --m_waiting;
            m_mutex.unlock();
            return std::nullopt;
        }
        (void)settle(m_mutex.native_handle(), rc, "process_barrier::arrive_and_wait");
    }
    m_mutex.unlock();
    return false;
}

} // namespace topos
