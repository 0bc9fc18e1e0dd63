// topos/per_worker.hpp - storage with one slot per worker or per node, each on
// its owner's node and on cache lines of its own.
//
//   topos::per_worker<std::uint64_t> hits(rt);          // one counter per worker
//   topos::parallel_for(rt, 0, n, [&](std::size_t i) { hits.local() += f(i); });
//   std::uint64_t total = hits.combine(std::plus<>{});   // fold every slot
//
//   topos::per_node<std::atomic<long>> queued(rt);      // one per node of rt, shared by its workers
//
// per_worker<T> is oneTBB's enumerable_thread_specific for a topos runtime:
// slot i belongs to worker i, allocated from worker i's node (its arena, so
// the page is on that node) and aligned and padded to the cache line
// (detail::cache_line), so no two slots ever share a line and the workers'
// writes never invalidate each other's lines. Threads outside the runtime
// (a caller taking part in a parallel_for through a guest slot, any other
// thread) get slots of their own, made on first use on the caller's node
// (found under a mutex: slower than a worker's, which is an index).
//
// per_node<T> has one slot per node of the runtime (every node of its
// topology when it is unbound), on that node; all workers of a node share
// its slot, so T must take concurrent use (atomics, a lock of its own).
// local() from an outside thread or an unbound worker is the slot of the
// node of the CPU it runs on now (slot 0 when that node has none).
//
// Slots are value-initialised, or copies of the exemplar given to the
// constructor. Iteration visits every slot (workers first, in index order,
// then outside threads' in creation order, or nodes in order); it must not
// run concurrently with local() calls that create outside slots.
#pragma once

#include <topos/detail/cache_line.hpp>
#include <topos/memory.hpp>
#include <topos/runtime.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace topos {
namespace detail {

/// The logical node of the CPU the caller runs on now (0 when unknown).
[[nodiscard]] int memory_node_of_caller() noexcept; // allocators/next_touch.cpp

/// One slot: T alone on its cache lines.
template <class T>
struct alignas(cache_line) padded_slot {
    T value;
    template <class... A>
    explicit padded_slot(A&&... args) : value(std::forward<A>(args)...) {}
};

/// Slots placed one by one on their nodes; owns them.
template <class T>
class slot_store {
public:
    using slot = padded_slot<T>;
    slot_store() = default;
    slot_store(const slot_store&) = delete;
    slot_store& operator=(const slot_store&) = delete;
    ~slot_store() {
        for (slot* s : m_slots) {
            s->~slot();
            topos::deallocate(s, sizeof(slot));
        }
    }
    /// A new slot on `node` (-1: the caller's node), a copy of `exemplar` or value-initialised.
    T& add(int node, const T* exemplar) {
        const mem_policy policy = node < 0 ? mem_policy::local() : mem_policy::on_node(node);
        void* raw = topos::allocate(sizeof(slot), policy, {.alignment = alignof(slot)});
        try {
            slot* s = nullptr;
            if constexpr (std::is_copy_constructible_v<T>) {
                s = exemplar != nullptr ? new (raw) slot(*exemplar) : new (raw) slot();
            } else {
                s = new (raw) slot();
            }
            m_slots.push_back(s);
            return s->value;
        } catch (...) {
            topos::deallocate(raw, sizeof(slot));
            throw;
        }
    }
    [[nodiscard]] std::size_t size() const noexcept { return m_slots.size(); }
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return m_slots[i]->value; }
    void reserve(std::size_t n) { m_slots.reserve(n); }

    /// Iterates the slots' values.
    template <class V>
    class basic_iterator {
    public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = std::remove_const_t<V>;
        using difference_type = std::ptrdiff_t;
        using pointer = V*;
        using reference = V&;
        basic_iterator() = default;
        explicit basic_iterator(slot* const* p) noexcept : m_p(p) {}
        reference operator*() const noexcept { return (*m_p)->value; }
        pointer operator->() const noexcept { return &(*m_p)->value; }
        basic_iterator& operator++() noexcept { ++m_p; return *this; }
        basic_iterator operator++(int) noexcept { auto t = *this; ++m_p; return t; }
        basic_iterator& operator--() noexcept { --m_p; return *this; }
        basic_iterator operator--(int) noexcept { auto t = *this; --m_p; return t; }
        basic_iterator& operator+=(difference_type d) noexcept { m_p += d; return *this; }
        basic_iterator& operator-=(difference_type d) noexcept { m_p -= d; return *this; }
        basic_iterator operator+(difference_type d) const noexcept { return basic_iterator(m_p + d); }
        basic_iterator operator-(difference_type d) const noexcept { return basic_iterator(m_p - d); }
        difference_type operator-(const basic_iterator& other) const noexcept { return m_p - other.m_p; }
        reference operator[](difference_type d) const noexcept { return m_p[d]->value; }
        bool operator==(const basic_iterator& other) const noexcept { return m_p == other.m_p; }
        auto operator<=>(const basic_iterator& other) const noexcept { return m_p <=> other.m_p; }

    private:
        slot* const* m_p = nullptr;
    };
    [[nodiscard]] slot* const* data() const noexcept { return m_slots.data(); }

private:
    std::vector<slot*> m_slots;
};

} // namespace detail

template <class T>
class per_worker {
    using store = detail::slot_store<T>;

public:
    using value_type = T;
    using iterator = typename store::template basic_iterator<T>;
    using const_iterator = typename store::template basic_iterator<const T>;

    /// One value-initialised slot per worker of `rt`, each on its worker's node.
    explicit per_worker(runtime& rt) : per_worker(rt, nullptr) {}
    /// One copy of `exemplar` per worker of `rt`.
    per_worker(runtime& rt, const T& exemplar) : per_worker(rt, &exemplar) {}

    per_worker(const per_worker&) = delete;
    per_worker& operator=(const per_worker&) = delete;

    /// The calling thread's slot: its own when it is a worker of the
    /// runtime, else one made for this thread on first use.
    [[nodiscard]] T& local() {
        const int index = this_worker::index(); // -1 for a guest (an outside thread taking part)
        if (index >= 0 && this_worker::current_runtime() == m_runtime) [[likely]] {
            return *m_worker_slots[static_cast<std::size_t>(index)];
        }
        return outside_slot();
    }

    /// Slots made so far: one per worker, plus one per outside thread that called local().
    [[nodiscard]] std::size_t size() const {
        const std::lock_guard lock(m_lock);
        return m_slots.size();
    }
    [[nodiscard]] iterator begin() noexcept { return iterator(m_slots.data()); }
    [[nodiscard]] iterator end() noexcept { return iterator(m_slots.data() + m_slots.size()); }
    [[nodiscard]] const_iterator begin() const noexcept { return const_iterator(m_slots.data()); }
    [[nodiscard]] const_iterator end() const noexcept { return const_iterator(m_slots.data() + m_slots.size()); }

    /// op(...op(op(s0, s1), s2)..., sn) over every slot in iteration order
    /// (workers by index, then outside threads); T{} when there is no slot.
    template <class Op>
    [[nodiscard]] T combine(Op op) const {
        auto it = begin();
        if (it == end()) {
            return T{};
        }
        T acc = *it;
        for (++it; it != end(); ++it) {
            acc = op(std::move(acc), *it);
        }
        return acc;
    }
    /// op(...op(init, s0)..., sn): for slots that do not copy (atomics) or a
    /// result of another type.
    template <class R, class Op>
    [[nodiscard]] R combine(R init, Op op) const {
        for (const T& v : *this) {
            init = op(std::move(init), v);
        }
        return init;
    }
    /// Calls f(slot) for every slot, in iteration order.
    template <class F>
    void combine_each(F f) const {
        for (const T& v : *this) {
            f(v);
        }
    }

private:
    per_worker(runtime& rt, const T* exemplar) : m_runtime(&rt) {
        if (exemplar != nullptr) {
            m_exemplar = std::make_unique<T>(*exemplar);
        }
        const auto& workers = rt.plan().workers;
        m_slots.reserve(workers.size());
        const bool on_this_machine = rt.topology().is_this_system();
        for (const auto& w : workers) {
            m_worker_slots.push_back(&m_slots.add(on_this_machine ? w.node : -1, m_exemplar.get()));
        }
    }

    T& outside_slot() {
        const std::lock_guard lock(m_lock);
        const auto me = std::this_thread::get_id();
        for (const auto& [id, index] : m_outside) {
            if (id == me) {
                return m_slots[index];
            }
        }
        T& s = m_slots.add(-1, m_exemplar.get());
        m_outside.emplace_back(me, m_slots.size() - 1);
        return s;
    }

    runtime* m_runtime;
    std::unique_ptr<T> m_exemplar;
    store m_slots;                  ///< every slot, for iteration; grows under m_lock
    std::vector<T*> m_worker_slots; ///< worker i's slot; fixed after construction, read by local() without a lock
    mutable std::mutex m_lock; // guards m_outside and the growth of m_slots
    std::vector<std::pair<std::thread::id, std::size_t>> m_outside;
};

template <class T>
class per_node {
    using store = detail::slot_store<T>;

public:
    using value_type = T;
    using iterator = typename store::template basic_iterator<T>;
    using const_iterator = typename store::template basic_iterator<const T>;

    /// One value-initialised slot per node of `rt`, each on its node.
    explicit per_node(runtime& rt) : per_node(rt, nullptr) {}
    per_node(runtime& rt, const T& exemplar) : per_node(rt, &exemplar) {}

    per_node(const per_node&) = delete;
    per_node& operator=(const per_node&) = delete;

    /// The slot of the calling worker's node (see the file comment for others).
    [[nodiscard]] T& local() noexcept { return m_slots[index_of(this_worker::node())]; }
    /// The slot of `node`. Throws node_error when the array has no slot for it.
    [[nodiscard]] T& on_node(int node) {
        for (std::size_t i = 0; i < m_nodes.size(); ++i) {
            if (m_nodes[i] == node) {
                return m_slots[i];
            }
        }
        throw node_error("per_node: NUMA node " + std::to_string(node) + " has no slot; the runtime's nodes are " +
                         std::to_string(m_nodes.size()));
    }
    /// The node of slot i, in iteration order.
    [[nodiscard]] const std::vector<int>& nodes() const noexcept { return m_nodes; }
    [[nodiscard]] std::size_t size() const noexcept { return m_slots.size(); }
    [[nodiscard]] iterator begin() noexcept { return iterator(m_slots.data()); }
    [[nodiscard]] iterator end() noexcept { return iterator(m_slots.data() + m_slots.size()); }
    [[nodiscard]] const_iterator begin() const noexcept { return const_iterator(m_slots.data()); }
    [[nodiscard]] const_iterator end() const noexcept { return const_iterator(m_slots.data() + m_slots.size()); }

    /// op over every slot in node order (see per_worker::combine).
    template <class Op>
    [[nodiscard]] T combine(Op op) const {
        auto it = begin();
        T acc = *it;
        for (++it; it != end(); ++it) {
            acc = op(std::move(acc), *it);
        }
        return acc;
    }
    /// op(...op(init, s0)..., sn) in node order.
    template <class R, class Op>
    [[nodiscard]] R combine(R init, Op op) const {
        for (const T& v : *this) {
            init = op(std::move(init), v);
        }
        return init;
    }

private:
    per_node(runtime& rt, const T* exemplar) : m_nodes(rt.nodes()) {
        if (m_nodes.empty()) {
            for (const auto& info : rt.topology().numa_nodes()) {
                m_nodes.push_back(info.id);
            }
        }
        const bool on_this_machine = rt.topology().is_this_system();
        m_slots.reserve(m_nodes.size());
        for (int node : m_nodes) {
            m_slots.add(on_this_machine ? node : -1, exemplar);
        }
    }

    [[nodiscard]] std::size_t index_of(int node) const noexcept {
        if (node < 0) {
            node = detail::memory_node_of_caller();
        }
        const auto it = std::find(m_nodes.begin(), m_nodes.end(), node);
        return it == m_nodes.end() ? 0 : static_cast<std::size_t>(it - m_nodes.begin());
    }

    std::vector<int> m_nodes;
    store m_slots;
};

} // namespace topos
