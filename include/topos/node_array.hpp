// topos/node_array.hpp - an array block-distributed over NUMA nodes.
//
// The n elements are split into one contiguous block per chosen node, as even
// as integer division makes them: block i holds [i*n/k, (i+1)*n/k). The array
// is one page block, and each block's pages are bound to its node before any
// element is constructed, so the construction's first touch already lands on
// the right node. A page that straddles two blocks lives on the lower block's
// node; a block smaller than a page may then own no page of its own.
//
// The layout tells which index range lives on which node, so a scheduler can
// run each block's work on its node.
#pragma once

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/topology.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace topos {

/// One block of a node_array: elements [begin, end) live on `node`.
struct node_block {
    int node = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    friend bool operator==(const node_block&, const node_block&) = default;
};

template <class T>
class node_array {
public:
    using value_type = T;
    using size_type = std::size_t;
    using iterator = T*;
    using const_iterator = const T*;

    /// n value-initialised elements over every node of this machine.
    explicit node_array(std::size_t n) : node_array(n, all_host_nodes()) {}

    /// n value-initialised elements over `nodes` of this machine (logical ids,
    /// in block order); every node when the list is empty, so that
    /// node_array(n, rt.nodes()) works for an unbound runtime too. Throws
    /// node_error for an unknown node.
    node_array(std::size_t n, const std::vector<int>& nodes) {
        if (nodes.empty()) {
            init(n, all_host_nodes(), true);
            return;
        }
        for (int node : nodes) {
            (void)mem_policy::on_node(node); // throws node_error naming an unknown node
        }
        init(n, nodes, true);
    }

    /// n value-initialised elements over `nodes` of `topo` (all of its nodes
    /// when empty). Pages are bound only when topo describes this machine;
    /// otherwise the layout is computed alone (for planning on other machines).
    node_array(std::size_t n, const topology& topo, std::vector<int> nodes = {}) {
        if (nodes.empty()) {
            for (const auto& info : topo.numa_nodes()) {
                nodes.push_back(info.id);
            }
        }
        for (int node : nodes) {
            if (node < 0 || static_cast<std::size_t>(node) >= topo.node_count()) {
                throw node_error("node_array: NUMA node " + std::to_string(node) +
                                 " does not exist; the topology has nodes 0-" + std::to_string(topo.node_count() - 1));
            }
        }
        init(n, nodes, topo.is_this_system());
    }

    node_array(const node_array&) = delete;
    node_array& operator=(const node_array&) = delete;
    node_array(node_array&& other) noexcept
        : m_data(std::exchange(other.m_data, nullptr)), m_size(std::exchange(other.m_size, 0)),
          m_blocks(std::move(other.m_blocks)) {}
    node_array& operator=(node_array&& other) noexcept {
        if (this != &other) {
            release();
            m_data = std::exchange(other.m_data, nullptr);
            m_size = std::exchange(other.m_size, 0);
            m_blocks = std::move(other.m_blocks);
        }
        return *this;
    }
    ~node_array() { release(); }

    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] T* data() noexcept { return m_data; }
    [[nodiscard]] const T* data() const noexcept { return m_data; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_data[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return m_data[i]; }
    /// The element at index i. Throws index_error when i >= size().
    [[nodiscard]] T& at(std::size_t i) {
        check_index(i);
        return m_data[i];
    }
    [[nodiscard]] const T& at(std::size_t i) const {
        check_index(i);
        return m_data[i];
    }
    [[nodiscard]] iterator begin() noexcept { return m_data; }
    [[nodiscard]] iterator end() noexcept { return m_data + m_size; }
    [[nodiscard]] const_iterator begin() const noexcept { return m_data; }
    [[nodiscard]] const_iterator end() const noexcept { return m_data + m_size; }

    [[nodiscard]] std::size_t block_count() const noexcept { return m_blocks.size(); }
    /// Throws index_error when i >= block_count().
    [[nodiscard]] const node_block& block(std::size_t i) const {
        if (i >= m_blocks.size()) {
            throw index_error("node_array: block " + std::to_string(i) + " does not exist; there are " +
                              std::to_string(m_blocks.size()) + " blocks");
        }
        return m_blocks[i];
    }
    [[nodiscard]] const std::vector<node_block>& blocks() const noexcept { return m_blocks; }
    /// The node the element at index i lives on. Throws index_error when i >= size().
    [[nodiscard]] int node_of_index(std::size_t i) const {
        check_index(i);
        auto it = std::upper_bound(m_blocks.begin(), m_blocks.end(), i,
                                   [](std::size_t index, const node_block& b) { return index < b.end; });
        return it->node;
    }

private:
    void check_index(std::size_t i) const {
        if (i >= m_size) {
            throw index_error("node_array: index " + std::to_string(i) + " is out of range; size is " +
                              std::to_string(m_size));
        }
    }

    static std::vector<int> all_host_nodes() {
        std::vector<int> nodes(get_memory_status().node_count);
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            nodes[i] = static_cast<int>(i);
        }
        return nodes;
    }

    void init(std::size_t n, const std::vector<int>& nodes, bool bind) {
        const std::size_t k = nodes.size();
        m_blocks.reserve(k);
        for (std::size_t i = 0; i < k; ++i) {
            m_blocks.push_back({nodes[i], i * n / k, (i + 1) * n / k});
        }
        if (n == 0) {
            return;
        }
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
            throw std::bad_array_new_length();
        }
        const std::size_t bytes = n * sizeof(T);
        void* raw = topos::allocate(bytes, mem_policy::local(),
                                    {.alignment = std::max(alignof(T), alignof(std::max_align_t)), .own_pages = true});
        try {
            if (bind) {
                bind_blocks(raw);
            }
            m_data = static_cast<T*>(raw);
            std::uninitialized_value_construct_n(m_data, n);
        } catch (...) {
            m_data = nullptr;
            topos::deallocate(raw, bytes);
            throw;
        }
        m_size = n;
    }

    // Binds the pages from each block's first page boundary to the next block's.
    void bind_blocks(void* raw) const {
        const std::size_t page = get_memory_status().page_size;
        auto up = [page](std::size_t v) { return (v + page - 1) / page * page; };
        for (std::size_t i = 0; i < m_blocks.size(); ++i) {
            const std::size_t first = i == 0 ? 0 : up(m_blocks[i].begin * sizeof(T));
            const std::size_t last = up(m_blocks[i].end * sizeof(T));
            if (last > first) {
                set_mem_policy(static_cast<char*>(raw) + first, last - first, mem_policy::on_node(m_blocks[i].node));
            }
        }
    }

    void release() noexcept {
        if (m_data != nullptr) {
            std::destroy_n(m_data, m_size);
            deallocate_noexcept(m_data, m_size * sizeof(T));
            m_data = nullptr;
            m_size = 0;
        }
    }

    static void deallocate_noexcept(void* p, std::size_t bytes) noexcept {
        try {
            topos::deallocate(p, bytes);
        } catch (...) {
            std::terminate();
        }
    }

    T* m_data = nullptr;
    std::size_t m_size = 0;
    std::vector<node_block> m_blocks;
};

} // namespace topos
