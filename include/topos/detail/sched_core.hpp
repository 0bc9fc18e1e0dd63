// topos/detail/sched_core.hpp - the parts of the scheduler that templates
// (task_group::run, parallel_for) touch inline: task frames, the owner-side
// fast paths of a worker (allocate a frame, push it), the task-group counter,
// and a futex-backed parker. Everything slow or OS-specific is out of line in
// scheduler/.
#pragma once

#include <topos/detail/assert.hpp>
#include <topos/detail/deque.hpp>
#include <topos/detail/spin.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace topos::detail {

struct worker_core;
struct group_core;
struct detached_node; // scheduler/cancel.cpp
/// A runtime's scheduler state (scheduler/runtime_core.hpp). The inline
/// paths never look inside it: they compare its address (is the caller a
/// worker of this runtime?) and hand it to the out-of-line functions below.
class runtime_core;
/// An arena's scheduler state (scheduler/arena.hpp): its member workers, a
/// deque per member and its shared queues. Owned by the runtime.
struct arena_core;

/// Bytes a task frame holds a callable in; larger callables are boxed on the heap.
inline constexpr std::size_t k_task_storage = 32;

/// One spawned task. Frames are 64 bytes (one cache line) and come from the
/// spawning worker's free list, so a spawn does not call malloc.
/// What a task frame's invoke function does: skip (destroy the callable),
/// run (run it, then destroy it), or label (return the label of a callable
/// stored by task_group::run(label, f), else nullptr; destroys nothing).
enum class task_op : unsigned char { skip, run, label };

struct alignas(cache_line) task {
    /// Does `op`. For skip and run, the stored callable is destroyed either
    /// way; may throw what the callable throws. Returns the label for `label`.
    using invoke_fn = const char* (*)(task*, task_op op);

    invoke_fn m_invoke = nullptr;
    group_core* m_group = nullptr;
    task* m_next = nullptr;       ///< link in an inbox or a free list
    worker_core* m_home = nullptr; ///< worker whose free list owns the frame; nullptr: heap
    alignas(16) std::byte m_storage[k_task_storage];
};
static_assert(sizeof(task) == cache_line);

/// A callable with a label for observers and traces (task_group::run(label, f)).
template <class Fn>
struct labelled_fn {
    const char* m_label;
    Fn m_fn;
    void operator()() { m_fn(); }
};

template <class Fn>
struct label_of {
    static const char* get(const Fn& /*fn*/) noexcept { return nullptr; }
};
template <class Fn>
struct label_of<labelled_fn<Fn>> {
    static const char* get(const labelled_fn<Fn>& fn) noexcept { return fn.m_label; }
};

template <class Fn>
const char* invoke_inline(task* self, task_op op) {
    Fn* fn = std::launder(reinterpret_cast<Fn*>(self->m_storage));
    if (op == task_op::label) [[unlikely]] {
        return label_of<Fn>::get(*fn);
    }
    struct destroy_at_exit {
        Fn* fn;
        ~destroy_at_exit() { fn->~Fn(); }
    } guard{fn};
    if (op == task_op::run) {
        (*fn)();
    }
    return nullptr;
}

template <class Fn>
const char* invoke_boxed(task* self, task_op op) {
    Fn* fn = *std::launder(reinterpret_cast<Fn**>(self->m_storage));
    if (op == task_op::label) [[unlikely]] {
        return label_of<Fn>::get(*fn);
    }
    struct delete_at_exit {
        Fn* fn;
        ~delete_at_exit() { delete fn; }
    } guard{fn};
    if (op == task_op::run) {
        (*fn)();
    }
    return nullptr;
}

/// Stores `f` in the frame (inline when it fits, boxed otherwise). May throw
/// what copying/moving `f` or `new` throws; the frame is then untouched.
template <class F>
void store_callable(task* t, F&& f) {
    using fn_type = std::decay_t<F>;
    if constexpr (sizeof(fn_type) <= k_task_storage && alignof(fn_type) <= 16) {
        ::new (static_cast<void*>(t->m_storage)) fn_type(std::forward<F>(f));
        t->m_invoke = &invoke_inline<fn_type>;
    } else {
        auto* boxed = new fn_type(std::forward<F>(f));
        ::new (static_cast<void*>(t->m_storage)) fn_type*(boxed);
        t->m_invoke = &invoke_boxed<fn_type>;
    }
}

/// A thread's sleeping place: a 32-bit generation counter used as a futex word.
/// prepare() reads the generation; park(g) sleeps until it differs; unpark()
/// bumps it and wakes the owner. Any unpark after prepare() makes park return,
/// so wake-ups are never lost; callers re-check their condition after park
/// (spurious returns are allowed).
class parker {
public:
    [[nodiscard]] std::uint32_t prepare() const noexcept {
        // acquire: pairs with unpark()'s release increment, so whatever the
        // waker wrote before waking an earlier generation is visible.
        return m_generation.load(std::memory_order_acquire);
    }
    void park(std::uint32_t generation) noexcept; // scheduler/parking.cpp
    void unpark() noexcept;                        // scheduler/parking.cpp

private:
    std::atomic<std::uint32_t> m_generation{0};
};

/// A thread blocked in task_group::wait(), linked into the group's waiter list.
/// It lives on the waiting thread's stack; see group_core for the hand-off.
struct group_waiter {
    parker* m_parker = nullptr;
    group_waiter* m_next = nullptr;
    /// Set (last, by the thread that unlinked this node) once nobody will touch
    /// the node again; the waiter may not leave wait() before that.
    std::atomic<bool> m_released{false};
};

/// The state the scheduler shares with a task_group.
///
/// m_state holds (pending tasks << 1) | W, where W says "the waiter list is
/// non-empty". Keeping W in the same word as the count means the task that
/// takes the count to zero sees, in the same atomic RMW, whether anyone must be
/// woken, and a waiter that registers after that sees the zero: no Dekker
/// fence is needed. W and the list change only under m_lock.
struct group_core {
    explicit group_core(runtime_core* rt) noexcept : m_runtime(rt) {}

    void add_pending() noexcept {
        // relaxed: the increment happens before the push that publishes the task
        // (release), so the decrement of whoever runs it is ordered after it.
        m_state.fetch_add(2, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t pending() const noexcept {
        // acquire: pairs with finish_one()'s release decrement, so a waiter that
        // sees zero also sees every finished task's effects.
        return m_state.load(std::memory_order_acquire) >> 1;
    }
    /// Called once per task, after it ran (or was skipped) and its callable
    /// was destroyed.
    void finish_one() noexcept {
        // acq_rel: release publishes the task's effects to the waiter's acquire
        // load of the count; acquire orders the wake-up below after them too.
        const std::uint64_t before = m_state.fetch_sub(2, std::memory_order_acq_rel);
        TOPOS_ASSERT(before >= 2, "task_group: a task finished that was never counted (pending count underflow)");
        if (before == 3) { // count 1 -> 0 with waiters registered
            wake_waiters();
        }
    }
    void wake_waiters() noexcept;                           // scheduler/task_group.cpp
    void record_exception(std::exception_ptr e) noexcept;   // scheduler/task_group.cpp

    std::atomic<std::uint64_t> m_state{0};
    /// Read before running each task; set by cancel_group(), and by a check
    /// that finds a group above cancelled (hence mutable).
    mutable std::atomic<bool> m_cancelled{false};
    std::atomic<bool> m_failed{false};    ///< some task threw; m_exception holds the first
    runtime_core* m_runtime;
    /// The arena its tasks are confined to (task_group(arena), or inherited
    /// from the group of the task that created it); nullptr: the whole runtime.
    arena_core* m_arena = nullptr;
    spin_lock m_lock;                    ///< guards the three fields below and W
    group_waiter* m_waiters = nullptr;
    std::exception_ptr m_exception;

    // Nesting, for cancellation (scheduler/cancel.cpp has the design). A
    // group created in a task of a group of the same runtime is nested in
    // that group. When it lies in the task's own stack frames it keeps a
    // pointer to the parent (alive as long as the group is); otherwise it is
    // "detached": listed in the runtime with the ids of its ancestors.
    std::uint64_t m_id = 0;            ///< unique in the process; never 0
    const group_core* m_parent = nullptr; ///< the parent when nested in the task's frames
    detached_node* m_detached = nullptr;  ///< the runtime's record when detached
    /// The runtime's cancellation epoch at which no ancestor was cancelled:
    /// a task start re-checks the ancestors only when the epoch moved on.
    mutable std::atomic<std::uint64_t> m_clean_epoch{0};
};

/// An id for a group that is not nested (created outside any task): from a
/// global counter, below the ids worker slots give nested groups.
[[nodiscard]] std::uint64_t new_root_group_id() noexcept; // scheduler/cancel.cpp

/// The worker the calling thread is, or nullptr for threads outside any runtime.
extern constinit thread_local worker_core* tls_worker;

/// Owner-side state of a worker that the inline paths use. The full worker
/// (scheduler/worker.hpp) derives from it; it is allocated on the worker's node.
struct worker_core {
    /// `sleepers` and `push_fence` are the runtime's (see push()); both
    /// outlive the worker.
    worker_core(runtime_core* rt, const std::atomic<std::uint32_t>& sleepers, bool push_fence,
                const std::atomic<std::uint64_t>& cancel_epoch, unsigned slot) noexcept
        : m_runtime(rt), m_sleepers(&sleepers), m_push_fence(push_fence), m_cancel_epoch(&cancel_epoch),
          m_next_group_id((std::uint64_t{slot} + 1) << 40) {}

    /// pre: the caller is the owner, running a task of `parent` (same
    /// runtime). Makes `g` nested in `parent`; it starts cancelled when
    /// `parent` (or a group above it) is cancelled.
    void enter_nested(const group_core& parent, group_core& g) noexcept {
        g.m_id = m_next_group_id++;
        // seq_cst: before the flags below; pairs with cancel_group()'s increment after its flag store.
        const std::uint64_t epoch = m_cancel_epoch->load(std::memory_order_seq_cst);
        if (in_task_frames(&g)) [[likely]] {
            g.m_parent = &parent;
        } else {
            detach(parent, g);
        }
        // seq_cst: after the link (detach); a cancel that missed it set the flag first.
        if (parent.m_cancelled.load(std::memory_order_seq_cst) ||
            (parent.m_clean_epoch.load(std::memory_order_relaxed) != epoch && cancelled_above(parent, epoch)))
            [[unlikely]] {
            g.m_cancelled.store(true, std::memory_order_relaxed); // our own group: nobody runs its tasks yet
        } else {
            g.m_clean_epoch.store(epoch, std::memory_order_relaxed);
        }
    }
    /// True when `p` lies in the frames of the task this slot runs now
    /// (between the stack pointer and the frame the task was called from),
    /// so it ends before the task does. Conservative: false where the stack
    /// pointer cannot be read.
    [[nodiscard]] bool in_task_frames(const void* p) const noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
        const char* sp = nullptr;
#if defined(__x86_64__)
        asm volatile("mov %%rsp, %0" : "=r"(sp));
#else
        asm volatile("mov %0, sp" : "=r"(sp));
#endif
        const auto at = reinterpret_cast<std::uintptr_t>(p);
        return reinterpret_cast<std::uintptr_t>(sp) <= at && at < reinterpret_cast<std::uintptr_t>(m_task_frame);
#else
        (void)p;
        return false;
#endif
    }
    /// Out of line (scheduler/cancel.cpp): lists `g` in the runtime with its
    /// ancestors' ids; m_parent stays null.
    void detach(const group_core& parent, group_core& g) noexcept;
    /// True when a group above `g` is cancelled (and then marks `g`
    /// cancelled); otherwise records `epoch` as clean for `g`. pre: `g` is
    /// alive (so are the groups above it that it points to).
    static bool cancelled_above(const group_core& g, std::uint64_t epoch) noexcept; // scheduler/cancel.cpp

    /// pre: the caller is the owner. A frame from the free list; refills it out of line.
    [[nodiscard]] task* allocate() {
        TOPOS_ASSERT(tls_worker == this, "a worker's frames are allocated by another thread");
        task* t = m_free;
        if (t != nullptr) [[likely]] {
            m_free = t->m_next;
            return t;
        }
        return allocate_slow();
    }
    /// pre: the caller is the owner; `t`'s callable is gone. Returns the frame.
    void release(task* t) noexcept {
        TOPOS_ASSERT(tls_worker == this, "a worker's frames are released by another thread");
        if (t->m_home == this) [[likely]] {
            t->m_next = m_free;
            m_free = t;
        } else {
            release_slow(t);
        }
    }
    /// pre: the caller is the owner. Makes `t` runnable and wakes a sleeper if there is one.
    void push(task* t) {
        TOPOS_ASSERT(tls_worker == this, "a task was pushed onto another thread's deque");
        TOPOS_ASSERT(t->m_group != nullptr, "a task was pushed before it joined a group");
        m_deque.push(t);
        // Asymmetric Dekker with a worker going to sleep: it publishes itself in
        // m_sleepers, runs membarrier(2) (a fence on every running thread, ours
        // included), then re-scans the deques. Either its scan sees our item or
        // our load below sees it. The compiler must not hoist the load above
        // the push; without membarrier we pay for a real fence here.
        if (m_push_fence) [[unlikely]] {
            push_fence();
        }
        std::atomic_signal_fence(std::memory_order_seq_cst); // compiler-only: the load stays after the push
        if (m_sleepers->load(std::memory_order_relaxed) != 0) [[unlikely]] {
            wake_after_push();
        }
    }

    task* allocate_slow();        // scheduler/frames.cpp
    void release_slow(task* t) noexcept;
    void wake_after_push() noexcept;
    static void push_fence() noexcept;

    chase_lev_deque<task*> m_deque;
    runtime_core* m_runtime;
    /// The runtime's count of workers parked (or about to park): read after
    /// every push, written only when a worker goes to sleep or is woken.
    const std::atomic<std::uint32_t>* m_sleepers;
    /// True when membarrier(2) is unavailable and push must fence itself.
    bool m_push_fence;
    /// The runtime's cancellation epoch (scheduler/cancel.cpp): moves on at
    /// every cancel; read at every task start and nested group creation.
    const std::atomic<std::uint64_t>* m_cancel_epoch;
    std::uint64_t m_next_group_id; ///< owner-private: ids of groups nested here, (slot + 1) << 40 upwards
    task* m_free = nullptr; ///< owner-private free list
    /// Owner-private: the group of the task this slot runs now (nullptr
    /// between tasks); a group created meanwhile is nested in it.
    group_core* m_current_group = nullptr;
    /// Owner-private: the frame the running task's body was called from;
    /// the task's own frames lie below it (in_task_frames()).
    const void* m_task_frame = nullptr;
    /// Frames of ours released by other workers (a Treiber stack, many pushers,
    /// the owner takes all at once). On its own line: other threads write it.
    alignas(cache_line) std::atomic<task*> m_remote_free{nullptr};
};

/// A frame for a thread that is not a worker of the target runtime.
[[nodiscard]] task* allocate_heap_task();
/// Frees a frame that was never pushed (constructing its callable threw).
void discard_task(task* t) noexcept;
/// Queues a task from outside the runtime, or for a node's inbox
/// (node >= 0). The group's count must already include it.
void submit(runtime_core& rt, task* t, int node);
/// Queues a task that does not go onto the spawning worker's own deque: a
/// task of an arena group (onto the owner's deque in that arena when the
/// owner is a member, else into the arena's queue) or one spawned outside
/// the runtime (owner nullptr). The group's count must already include it.
void spawn_elsewhere(group_core& g, task* t, worker_core* owner);
/// Queues a high-priority task: into the arena's high queue for an arena
/// group, else the spawning worker's node's high queue, else (outside
/// threads, guests) the runtime's. Wakes a worker that may take it.
void spawn_high(group_core& g, task* t, worker_core* owner);
/// True when the calling thread is a member worker of the arena (a worker
/// of its runtime, or an outside thread holding such a slot).
[[nodiscard]] bool arena_has_caller(const arena_core& a) noexcept;
/// Throws node_error unless the runtime has a worker on NUMA node `node`.
void check_node(const runtime_core& rt, int node);
/// True when the calling worker of `rt` runs on `node`.
[[nodiscard]] bool on_node(const runtime_core& rt, int node) noexcept;
/// Blocks until the group's count is zero, helping when called on a worker.
void wait_for(group_core& g);
/// Takes a detached group off the runtime's list (any thread).
void forget_detached(group_core& g) noexcept;
/// True when `g` or a group above it is cancelled (task_group::is_cancelling()).
[[nodiscard]] bool cancelling(const group_core& g) noexcept;
/// Cancels `g` and every group nested in it (scheduler/cancel.cpp).
void cancel_group(group_core& g) noexcept;

/// Lends the calling outside thread worker slot 0 (when the caller is worker
/// 0 and nobody holds it; pinned to its place) or else one of the runtime's
/// guest slots (a deque and a free list without a thread of their own), so
/// that it runs tasks while it waits. nullptr when the caller is a worker of
/// `rt`, or no slot is free for it.
[[nodiscard]] worker_core* enter_caller(runtime_core& rt) noexcept;
/// Runs what is left on the slot's deque, then gives the slot back (and the
/// thread its own mask and identity).
void leave_caller(worker_core* slot) noexcept;

/// Holds slot 0 or a guest slot for a scope when the caller is outside the runtime.
class caller_scope {
public:
    explicit caller_scope(runtime_core& rt) noexcept : m_slot(enter_caller(rt)) {}
    ~caller_scope() {
        if (m_slot != nullptr) {
            leave_caller(m_slot);
        }
    }
    caller_scope(const caller_scope&) = delete;
    caller_scope& operator=(const caller_scope&) = delete;

private:
    worker_core* m_slot;
};

/// Allocates a frame on the calling thread (from its worker's free list when
/// it is a worker of `rt`), stores `f`, and counts it in `g`.
template <class F>
task* make_task(runtime_core* rt, group_core& g, F&& f, worker_core*& owner) {
    worker_core* w = tls_worker;
    owner = (w != nullptr && w->m_runtime == rt) ? w : nullptr;
    task* t = owner != nullptr ? owner->allocate() : allocate_heap_task();
    try {
        store_callable(t, std::forward<F>(f));
    } catch (...) {
        if (owner != nullptr) {
            owner->release(t);
        } else {
            discard_task(t);
        }
        throw;
    }
    t->m_group = &g;
    g.add_pending();
    return t;
}

} // namespace topos::detail
