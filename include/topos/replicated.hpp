// topos/replicated.hpp - read-mostly data with one copy per NUMA node.
//
//   topos::replicated<table> t(rt, load_table());      // a copy on every node of rt
//   topos::parallel_for(rt, 0, n, [&](std::size_t i) {
//       auto view = t.local();                        // this node's copy, held while in use
//       out[i] = view->lookup(keys[i]);
//   });
//   t.update([](table& x) { x.add(...); });            // every copy changes together
//
// Each copy lives in its own pages bound to its node (a page block, never
// shared with another object) and is built by a worker of that node, so the
// first touch of any storage T allocates itself (a vector's buffer through a
// node-local allocator, say) lands there too. Reads go to local memory; a
// write (update) costs k copies. It fits lookup tables, graph structure,
// model parameters: data read far more often than it changes.
//
// local() returns a view of the copy for the calling worker's node. From an
// outside thread, or a worker of an unbound runtime, it is the copy of the
// node of the CPU the thread runs on now (copy 0 when the replica has none
// there). The view must not outlive the replicated object.
//
// Consistency of update(f): f runs once, on a private copy of the current
// value (copy 0); that result is copied to every node, and then all copies
// are published together by one atomic pointer store. A reader sees, for the
// whole life of its view, either the complete old value or the complete new
// one, on every node: never a mix, never a copy being written. After
// update() returns every new view sees the new value. Updates are
// serialised (a mutex); readers never wait.
//
// Reclamation (an RCU-style grace period): readers count themselves in one
// of two counter sets chosen by a global phase bit (per reader slot, on its
// own cache line: one slot per worker plus shared slots for other threads).
// update() publishes the new version, flips the phase, then waits until the
// counters of the old phase drain to zero: every reader that could hold the
// old version has dropped its view. Only then are the old copies destroyed.
// A reader re-checks the phase after it loaded the version and retries when
// it moved, so no reader can hold a version under the other phase's count.
// Consequence: an update waits for views that are alive, so a thread must
// not call update() while it holds a view of the same object (it would wait
// for itself forever).
#pragma once

#include <topos/detail/cache_line.hpp>
#include <topos/memory.hpp>
#include <topos/per_worker.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace topos {

template <class T>
class replicated {
    /// One published generation: a copy per node.
    struct version {
        std::vector<T*> copies;
    };
    struct alignas(detail::cache_line) reader_slot {
        std::array<std::atomic<long>, 2> readers{};
    };
    static constexpr std::size_t k_outside_slots = 8;

public:
    /// A view of one copy; keeps it alive (see the file comment).
    class view {
    public:
        view(const view&) = delete;
        view& operator=(const view&) = delete;
        view(view&& other) noexcept
            : m_value(std::exchange(other.m_value, nullptr)), m_count(std::exchange(other.m_count, nullptr)) {}
        view& operator=(view&&) = delete;
        ~view() {
            if (m_count != nullptr) {
                // release: our reads of the copy happen before the updater's acquire load sees the count drop
                m_count->fetch_sub(1, std::memory_order_release);
            }
        }
        [[nodiscard]] const T& operator*() const noexcept { return *m_value; }
        [[nodiscard]] const T* operator->() const noexcept { return m_value; }
        [[nodiscard]] const T* get() const noexcept { return m_value; }

    private:
        friend class replicated;
        view(const T* value, std::atomic<long>* count) noexcept : m_value(value), m_count(count) {}
        const T* m_value;
        std::atomic<long>* m_count;
    };

    /// A copy of `value` on every node of `rt` (every node of its topology
    /// when it is unbound), each in pages bound there when rt's topology is
    /// this machine, each built by a worker of its node where there is one.
    replicated(runtime& rt, const T& value) : m_runtime(&rt), m_nodes(rt.nodes()) {
        if (m_nodes.empty()) {
            for (const auto& info : rt.topology().numa_nodes()) {
                m_nodes.push_back(info.id);
            }
        }
        m_place = rt.topology().is_this_system();
        m_slots = std::make_unique<reader_slot[]>(rt.thread_count() + k_outside_slots);
        m_current.store(make_version(value), std::memory_order_release); // release: publishes the copies
    }

    replicated(const replicated&) = delete;
    replicated& operator=(const replicated&) = delete;

    ~replicated() { destroy(m_current.load(std::memory_order_acquire)); }

    /// The copy of the calling worker's node, held by the returned view.
    [[nodiscard]] view local() const { return on_index(local_index()); }
    /// The copy on `node`, held by the returned view. Throws node_error when
    /// the replica has no copy there.
    [[nodiscard]] view on_node(int node) const {
        const auto it = std::find(m_nodes.begin(), m_nodes.end(), node);
        if (it == m_nodes.end()) {
            throw node_error("replicated: no copy on NUMA node " + std::to_string(node));
        }
        return on_index(static_cast<std::size_t>(it - m_nodes.begin()));
    }
    /// The nodes holding a copy, in copy order.
    [[nodiscard]] const std::vector<int>& nodes() const noexcept { return m_nodes; }

    /// Applies f(T&) once to a fresh copy of the value, copies the result to
    /// every node and publishes all copies together; returns when no reader
    /// can still see the old ones and they are destroyed. f may throw: the
    /// replicas then stay as they were. Must not be called while the calling
    /// thread holds a view of this object.
    template <class F>
    void update(F&& f) {
        const std::lock_guard lock(m_update_lock);
        version* old = m_current.load(std::memory_order_relaxed); // writers hold m_update_lock
        T next(*old->copies.front());
        std::forward<F>(f)(next);
        version* fresh = make_version(next);
        // seq_cst: ordered with the readers' seq_cst increment and phase re-check (see the file comment)
        m_current.store(fresh, std::memory_order_seq_cst);
        const int old_phase = m_phase.load(std::memory_order_relaxed); // writers hold m_update_lock
        m_phase.store(1 - old_phase, std::memory_order_seq_cst);         // seq_cst: as above
        const std::size_t slots = m_runtime->thread_count() + k_outside_slots;
        for (std::size_t i = 0; i < slots; ++i) {
            // acquire: pairs with view's release decrement; the reader's reads of `old` are done
            while (m_slots[i].readers[static_cast<std::size_t>(old_phase)].load(std::memory_order_acquire) != 0) {
                std::this_thread::yield();
            }
        }
        destroy(old);
    }

private:
    [[nodiscard]] std::size_t local_index() const noexcept {
        int node = this_worker::node();
        if (node < 0) {
            node = detail::memory_node_of_caller();
        }
        const auto it = std::find(m_nodes.begin(), m_nodes.end(), node);
        return it == m_nodes.end() ? 0 : static_cast<std::size_t>(it - m_nodes.begin());
    }

    [[nodiscard]] reader_slot& my_slot() const noexcept {
        const int index = this_worker::index(); // -1 for a guest (an outside thread taking part)
        if (index >= 0 && this_worker::current_runtime() == m_runtime) {
            return m_slots[static_cast<std::size_t>(index)];
        }
        const std::size_t h = std::hash<std::thread::id>{}(std::this_thread::get_id());
        return m_slots[m_runtime->thread_count() + h % k_outside_slots];
    }

    [[nodiscard]] view on_index(std::size_t index) const {
        reader_slot& slot = my_slot();
        for (;;) {
            const int phase = m_phase.load(std::memory_order_seq_cst);
            std::atomic<long>& count = slot.readers[static_cast<std::size_t>(phase)];
            count.fetch_add(1, std::memory_order_seq_cst); // seq_cst: seen by the updater's drain, or ...
            const version* v = m_current.load(std::memory_order_seq_cst);
            if (m_phase.load(std::memory_order_seq_cst) == phase) { // ... we see its flip and retry
                return view(v->copies[index], &count);
            }
            count.fetch_sub(1, std::memory_order_release); // release: as in ~view
        }
    }

    version* make_version(const T& value) {
        auto v = std::make_unique<version>();
        v->copies.assign(m_nodes.size(), nullptr);
        try {
            task_group group(*m_runtime);
            const std::vector<int> worker_nodes = m_runtime->nodes();
            for (std::size_t i = 0; i < m_nodes.size(); ++i) {
                auto build = [this, &v, &value, i] { v->copies[i] = make_copy(m_nodes[i], value); };
                if (std::binary_search(worker_nodes.begin(), worker_nodes.end(), m_nodes[i])) {
                    group.run_on_node(m_nodes[i], build);
                } else {
                    build();
                }
            }
            group.wait();
        } catch (...) {
            destroy(v.release());
            throw;
        }
        return v.release();
    }

    T* make_copy(int node, const T& value) const {
        const mem_policy policy = m_place ? mem_policy::bind({node}) : mem_policy::local();
        void* raw = topos::allocate(sizeof(T), policy,
                                    {.alignment = std::max(alignof(T), detail::cache_line), .own_pages = true});
        try {
            return new (raw) T(value);
        } catch (...) {
            topos::deallocate(raw, sizeof(T));
            throw;
        }
    }

    static void destroy(version* v) noexcept {
        if (v == nullptr) {
            return;
        }
        for (T* copy : v->copies) {
            if (copy != nullptr) {
                copy->~T();
                try {
                    topos::deallocate(copy, sizeof(T));
                } catch (...) {
                    std::terminate();
                }
            }
        }
        delete v;
    }

    runtime* m_runtime;
    std::vector<int> m_nodes;
    bool m_place = false;
    std::unique_ptr<reader_slot[]> m_slots;
    alignas(detail::cache_line) std::atomic<version*> m_current{nullptr};
    std::atomic<int> m_phase{0};
    std::mutex m_update_lock;
};

} // namespace topos
