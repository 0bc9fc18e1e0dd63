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
//
// Layouts (node_array(rt, n, layout)): layout::even() as above;
// layout::by_workers(rt), blocks weighted by each node's worker count;
// layout::blocks({sizes}), explicit element counts per node; and
// layout::interleaved(g), granules of g pages dealt round-robin over the
// nodes (block j holds the elements that start in granule j, whose pages are
// bound to node j % k). With a runtime, the elements are constructed in
// parallel, each block by its own node's workers (their first touch lands on
// the block's node even where binding is refused), and parallel_for over the
// array runs each block on its node, whatever the layout.
//
// rebalance_on_next_touch() arms every page for next-touch migration
// (next_touch.hpp): a later phase whose access pattern changed pulls each
// page to the node of its next user. The blocks keep their nodes as labels
// (parallel_for still sends them there); page_nodes tells where pages went.
#pragma once

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/next_touch.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
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

/// How a node_array's elements are split over its nodes.
class layout {
public:
    enum class kind : std::uint8_t { even, by_workers, blocks, interleaved };

    /// One block per node, as even as integer division makes them (the default).
    [[nodiscard]] static layout even() { return layout(kind::even); }
    /// Block sizes proportional to each node's worker count in `rt`'s plan
    /// (a node without workers gets an empty block). An unbound runtime
    /// (no worker has a node) gives even blocks.
    [[nodiscard]] static layout by_workers(const runtime& rt) {
        layout l(kind::by_workers);
        for (const auto& w : rt.plan().workers) {
            if (w.node >= 0) {
                if (static_cast<std::size_t>(w.node) >= l.m_sizes.size()) {
                    l.m_sizes.resize(static_cast<std::size_t>(w.node) + 1, 0);
                }
                ++l.m_sizes[static_cast<std::size_t>(w.node)];
            }
        }
        return l;
    }
    /// Block i holds sizes[i] elements, on the array's node i. The sizes must
    /// add up to the array's length and name one block per node (else
    /// index_error when the array is made).
    [[nodiscard]] static layout blocks(std::vector<std::size_t> sizes) {
        layout l(kind::blocks);
        l.m_sizes = std::move(sizes);
        return l;
    }
    /// Granules of `granularity_pages` pages dealt round-robin over the
    /// nodes. Throws memory_error for 0 pages.
    [[nodiscard]] static layout interleaved(std::size_t granularity_pages = 1) {
        if (granularity_pages == 0) {
            throw memory_error("layout::interleaved: granularity 0 pages; expected at least 1");
        }
        layout l(kind::interleaved);
        l.m_granularity = granularity_pages;
        return l;
    }

    [[nodiscard]] kind type() const noexcept { return m_kind; }
    [[nodiscard]] std::size_t granularity_pages() const noexcept { return m_granularity; }

    /// The blocks of `n` elements of `element_size` bytes over `nodes` (in
    /// block order), for pages of `page` bytes. Throws index_error for block
    /// sizes that do not fit (blocks layout).
    [[nodiscard]] std::vector<node_block> split(std::size_t n, std::size_t element_size, const std::vector<int>& nodes,
                                                std::size_t page) const {
        std::vector<node_block> out;
        const std::size_t k = nodes.size();
        switch (m_kind) {
        case kind::even:
            for (std::size_t i = 0; i < k; ++i) {
                out.push_back({nodes[i], i * n / k, (i + 1) * n / k});
            }
            break;
        case kind::by_workers: {
            std::vector<std::size_t> weights(k, 0);
            std::size_t total = 0;
            for (std::size_t i = 0; i < k; ++i) {
                const auto node = static_cast<std::size_t>(nodes[i]);
                weights[i] = node < m_sizes.size() ? m_sizes[node] : 0;
                total += weights[i];
            }
            if (total == 0) { // no worker on any of these nodes: even
                return layout::even().split(n, element_size, nodes, page);
            }
            std::size_t before = 0;
            for (std::size_t i = 0; i < k; ++i) {
                // floor(n * w / total) without overflow: (n / t) * w + (n % t) * w / t.
                auto cut = [&](std::size_t w) { return (n / total) * w + (n % total) * w / total; };
                out.push_back({nodes[i], cut(before), cut(before + weights[i])});
                before += weights[i];
            }
            break;
        }
        case kind::blocks: {
            if (m_sizes.size() != k) {
                throw index_error("layout::blocks: " + std::to_string(m_sizes.size()) + " block sizes for " +
                                  std::to_string(k) + " nodes; expected one size per node");
            }
            std::size_t begin = 0;
            for (std::size_t i = 0; i < k; ++i) {
                if (m_sizes[i] > n - begin) {
                    throw index_error("layout::blocks: the block sizes add up to more than the array's " +
                                      std::to_string(n) + " elements");
                }
                out.push_back({nodes[i], begin, begin + m_sizes[i]});
                begin += m_sizes[i];
            }
            if (begin != n) {
                throw index_error("layout::blocks: the block sizes add up to " + std::to_string(begin) +
                                  "; the array has " + std::to_string(n) + " elements");
            }
            break;
        }
        case kind::interleaved: {
            const std::size_t granule = m_granularity * page;
            // Block j: the elements whose first byte lies in granule j.
            auto first_in = [&](std::size_t j) {
                return std::min(n, (j * granule + element_size - 1) / element_size);
            };
            const std::size_t granules = n == 0 ? 0 : ((n * element_size) + granule - 1) / granule;
            for (std::size_t j = 0; j < granules; ++j) {
                const std::size_t begin = first_in(j);
                const std::size_t end = first_in(j + 1);
                if (end > begin) {
                    out.push_back({nodes[j % k], begin, end});
                }
            }
            break;
        }
        }
        return out;
    }

private:
    explicit layout(kind k) noexcept : m_kind(k) {}
    kind m_kind;
    std::vector<std::size_t> m_sizes; ///< blocks: per block; by_workers: worker count per node id
    std::size_t m_granularity = 1;
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

    /// n value-initialised elements over the nodes of `rt` (every node of its
    /// topology when it is unbound), split by `l`; each block is constructed
    /// by `rt`'s workers of its node. Pages are bound only when rt's topology
    /// describes this machine. Throws index_error for block sizes that do not
    /// fit, and what T's constructor throws (after destroying what was built).
    node_array(runtime& rt, std::size_t n, const layout& l = layout::even()) {
        std::vector<int> nodes = rt.nodes();
        if (nodes.empty()) {
            for (const auto& info : rt.topology().numa_nodes()) {
                nodes.push_back(info.id);
            }
        }
        const bool bind = rt.topology().is_this_system();
        m_blocks = l.split(n, sizeof(T), nodes, bind ? get_memory_status().page_size : k_plan_page);
        m_interleaved = l.type() == layout::kind::interleaved ? l.granularity_pages() : 0;
        allocate_and_bind(n, bind);
        construct_parallel(rt, n);
    }

    node_array(const node_array&) = delete;
    node_array& operator=(const node_array&) = delete;
    node_array(node_array&& other) noexcept
        : m_data(std::exchange(other.m_data, nullptr)), m_size(std::exchange(other.m_size, 0)),
          m_blocks(std::move(other.m_blocks)), m_interleaved(other.m_interleaved) {}
    node_array& operator=(node_array&& other) noexcept {
        if (this != &other) {
            release();
            m_data = std::exchange(other.m_data, nullptr);
            m_size = std::exchange(other.m_size, 0);
            m_blocks = std::move(other.m_blocks);
            m_interleaved = other.m_interleaved;
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

    /// Arms every page of the array for next-touch migration: each moves to
    /// the node of the thread that touches it next, then stays (see
    /// next_touch.hpp). Returns the pages armed (0 for an empty array).
    std::size_t rebalance_on_next_touch(const next_touch_options& options = {}) {
        if (m_size == 0) {
            return 0;
        }
        return migrate_on_next_touch(m_data, m_size * sizeof(T), options);
    }

    /// The layout's granularity in pages for an interleaved array, else 0.
    [[nodiscard]] std::size_t interleave_granularity() const noexcept { return m_interleaved; }

private:
    static constexpr std::size_t k_plan_page = 4096; ///< page size assumed for machines that are not this one

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
        m_blocks = layout::even().split(n, sizeof(T), nodes, k_plan_page);
        allocate_and_bind(n, bind);
        if (m_data == nullptr) {
            return;
        }
        try {
            std::uninitialized_value_construct_n(m_data, n);
        } catch (...) {
            deallocate_noexcept(m_data, n * sizeof(T));
            m_data = nullptr;
            throw;
        }
        m_size = n;
    }

    // post: m_data holds room for n elements (nullptr when n is 0), its pages
    // bound by the blocks when `bind`; m_size stays 0 until construction.
    void allocate_and_bind(std::size_t n, bool bind) {
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
            if (bind && m_interleaved != 0) {
                bind_granules(raw, bytes);
            } else if (bind) {
                bind_blocks(raw);
            }
        } catch (...) {
            topos::deallocate(raw, bytes);
            throw;
        }
        m_data = static_cast<T*>(raw);
    }

    // Granule j's pages go to node j % k (the nodes in block order).
    void bind_granules(void* raw, std::size_t bytes) const {
        const std::size_t granule = m_interleaved * get_memory_status().page_size;
        std::vector<int> order; // the node of granule j is the node of the block starting in it
        for (std::size_t off = 0, b = 0; off < bytes; off += granule) {
            const std::size_t first = (off + sizeof(T) - 1) / sizeof(T);
            while (b + 1 < m_blocks.size() && m_blocks[b].end <= first) {
                ++b;
            }
            set_mem_policy(static_cast<char*>(raw) + off, std::min(granule, bytes - off),
                           mem_policy::on_node(m_blocks[b].node));
        }
    }

    // Constructs the elements, each block's pieces on its node's workers.
    void construct_parallel(runtime& rt, std::size_t n) {
        if (m_data == nullptr) {
            return;
        }
        struct piece {
            int node;
            std::size_t begin, end;
        };
        std::vector<piece> pieces;
        for (const node_block& b : m_blocks) {
            // About 16 pieces a block, so that the node's workers share it.
            const std::size_t per_piece = std::max<std::size_t>(4096, (b.end - b.begin) / 16);
            for (std::size_t i = b.begin; i < b.end; i += per_piece) {
                pieces.push_back({b.node, i, std::min(b.end, i + per_piece)});
            }
        }
        auto done = std::make_unique<std::atomic<bool>[]>(pieces.size());
        std::exception_ptr failure;
        {
            task_group group(rt);
            const std::vector<int> nodes = rt.nodes();
            try {
                for (std::size_t i = 0; i < pieces.size(); ++i) {
                    auto task = [this, &pieces, &done, i] {
                        std::uninitialized_value_construct_n(m_data + pieces[i].begin, pieces[i].end - pieces[i].begin);
                        done[i].store(true, std::memory_order_relaxed); // read after wait(), which orders it
                    };
                    if (std::binary_search(nodes.begin(), nodes.end(), pieces[i].node)) {
                        group.run_on_node(pieces[i].node, task);
                    } else {
                        group.run(task);
                    }
                }
            } catch (...) {
                failure = std::current_exception();
                group.cancel();
            }
            try {
                group.wait();
            } catch (...) {
                if (!failure) {
                    failure = std::current_exception();
                }
            }
        }
        if (failure) {
            for (std::size_t i = 0; i < pieces.size(); ++i) {
                if (done[i].load(std::memory_order_relaxed)) {
                    std::destroy_n(m_data + pieces[i].begin, pieces[i].end - pieces[i].begin);
                }
            }
            deallocate_noexcept(m_data, n * sizeof(T));
            m_data = nullptr;
            std::rethrow_exception(failure);
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
    std::size_t m_interleaved = 0; ///< granule pages of an interleaved layout, 0 otherwise
};

} // namespace topos
