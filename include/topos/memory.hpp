// topos/memory.hpp - memory policies, node-local allocation, page placement.
//
// Node ids here are logical NUMA node ids of topos::topology::host() (the ids
// topology::numa_nodes() uses), never the kernel's numbers; topos translates.
//
// Two kinds of block come out of topos:
//   - small blocks (up to k_small_max bytes) from per-node arenas with a
//     per-thread cache in front: node_malloc/node_free, or allocate() with a
//     policy that names one node per object;
//   - page blocks with their own pages (larger sizes, or alloc_options::own_pages):
//     mapped from the kernel with the policy applied by mbind. Only page blocks
//     accept page_nodes, migrate and set_mem_policy.
#pragma once

#include <topos/error.hpp>

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace topos {

/// Bad memory request: zero or overflowing size, bad alignment, a pointer that
/// topos did not hand out (or that is not page-aligned where pages are meant),
/// or a kernel refusal that cannot be worked around.
class memory_error : public error {
public:
    using error::error;
};

/// Where a block's pages go. The five forms follow the kernel's memory policies.
class mem_policy {
public:
    enum class kind : std::uint8_t {
        local,      ///< the node of the CPU that first touches a page
        on_node,    ///< bound to one node
        preferred,  ///< one node first, others when it is full
        interleave, ///< pages round-robin over a node set (all nodes by default)
        bind,       ///< bound to a node set
        next_touch, ///< armed for next-touch migration (next_touch.hpp): each page moves to the node of the thread that touches it next
    };
    /// Largest node id + 1 a policy can name. Kept small because policies
    /// are values passed to every allocation (and held by every allocator).
    static constexpr std::size_t k_max_nodes = 256;

    constexpr mem_policy() noexcept = default;

    [[nodiscard]] static mem_policy local() noexcept { return {}; }
    /// A page block (own pages, never a shared small block) whose pages are
    /// armed for next-touch migration as soon as it is mapped (see
    /// next_touch.hpp): each page then lands on the node of the thread that
    /// touches it first, even where a reused block's pages were present.
    [[nodiscard]] static mem_policy next_touch() noexcept { return {kind::next_touch, false, {}}; }
    /// Throws node_error when the host has no such node.
    [[nodiscard]] static mem_policy on_node(int node);
    /// Throws node_error when the host has no such node.
    [[nodiscard]] static mem_policy preferred(int node);
    /// Empty means every node of the host. Throws node_error for unknown nodes.
    [[nodiscard]] static mem_policy interleave(const std::vector<int>& nodes = {});
    /// Throws node_error when the list is empty or names an unknown node.
    [[nodiscard]] static mem_policy bind(const std::vector<int>& nodes);

    [[nodiscard]] kind type() const noexcept { return m_kind; }
    /// True for interleave() over every node of the host.
    [[nodiscard]] bool all_nodes() const noexcept { return m_all; }
    /// The nodes named, ascending; every host node for interleave over all.
    [[nodiscard]] std::vector<int> nodes() const;
    /// First node named (the node of on_node and preferred), -1 for local.
    [[nodiscard]] int first_node() const noexcept;
    [[nodiscard]] bool contains(int node) const noexcept;
    /// "local", "on_node(1)", "preferred(0)", "interleave(all)", "bind(0,2)".
    [[nodiscard]] std::string to_string() const;

    friend bool operator==(const mem_policy& a, const mem_policy& b) noexcept {
        return a.m_kind == b.m_kind && a.m_all == b.m_all && a.m_nodes == b.m_nodes;
    }

private:
    mem_policy(kind k, bool all, const std::bitset<k_max_nodes>& nodes) noexcept
        : m_kind(k), m_all(all), m_nodes(nodes) {}

    kind m_kind = kind::local;
    bool m_all = false;
    std::bitset<k_max_nodes> m_nodes;
};

/// Largest size served from the per-node small-object arenas.
inline constexpr std::size_t k_small_max = 16384;
/// Largest block allocate() accepts (64 TiB); more is a memory_error.
inline constexpr std::size_t k_max_block = std::size_t{1} << 46;

struct alloc_options {
    /// Power of two. Up to 4096 small blocks stay in the arenas; more is a page block.
    /// At 8 or less, a request of up to 8 bytes takes an 8-byte block (malloc does).
    std::size_t alignment = alignof(std::max_align_t);
    /// Ask for transparent huge pages (madvise MADV_HUGEPAGE) on a page block.
    bool huge_pages = false;
    /// Give the block its own pages even when it is small, so page_nodes,
    /// migrate and set_mem_policy apply to it.
    bool own_pages = false;
};

namespace detail {
/// Sizes up to this take the arena's shortest path (a span looked up by size).
inline constexpr std::size_t k_fast_max = 1024;
/// The size to look up for `bytes` at `alignment`: a request of up to 8 bytes
/// at an alignment of 8 or less fits the 8-byte class, while one that asks
/// for 16 (the default of allocate()) must skip it. Every class above 8 bytes
/// is a multiple of 16, so rounding up to the alignment is all it takes.
constexpr std::size_t min_block(std::size_t bytes, std::size_t alignment) noexcept {
    return bytes < alignment ? alignment : bytes;
}
// Internal entry points of allocate(), out of line in the library.
// pre: 0 < bytes <= k_fast_max. post: a block from the arena of the caller's node.
[[nodiscard]] void* small_alloc_local(std::size_t bytes);
// pre: k_fast_max < bytes <= k_small_max. post: as small_alloc_local.
[[nodiscard]] void* small_alloc_local_mid(std::size_t bytes);
// Every request allocate()'s inline test does not send to small_alloc_local.
[[nodiscard]] void* allocate_slow(std::size_t bytes, const mem_policy& policy, const alloc_options& options);
} // namespace detail

/// Allocates `bytes` placed by `policy`. Small requests under local, on_node,
/// preferred and bind go to the arena of the chosen node (bind: the nearest
/// named node to the caller); under interleave, successive small objects
/// rotate over the nodes. Everything else is a page block with the policy
/// applied to its pages.
/// Throws memory_error for zero or overflowing sizes and bad alignment,
/// node_error for nodes the host lacks, std::bad_alloc when memory runs out.
///
/// Inline so that a caller's constant policy and options fold away: the test
/// below is then one compare of `bytes` in front of the arena's fast path
/// (two for sizes above detail::k_fast_max).
[[nodiscard]] inline void* allocate(std::size_t bytes, const mem_policy& policy = {},
                                    const alloc_options& options = {}) {
    // 1..k_small_max bytes (bytes - 1 wraps for 0) at the default alignment or
    // less (alignment - 1 wraps for 0), under the local policy.
    if (options.alignment - 1 < alignof(std::max_align_t) && (options.alignment & (options.alignment - 1)) == 0 &&
        policy.type() == mem_policy::kind::local && !options.own_pages && !options.huge_pages) [[likely]] {
        if (bytes - 1 < detail::k_fast_max) [[likely]] {
            return detail::small_alloc_local(detail::min_block(bytes, options.alignment));
        }
        if (bytes - 1 < k_small_max) {
            return detail::small_alloc_local_mid(bytes);
        }
    }
    return detail::allocate_slow(bytes, policy, options);
}

/// Returns a block from allocate(). `bytes` must be at most what was asked for.
/// nullptr is ignored. Throws memory_error for a pointer topos did not hand out.
void deallocate(void* p, std::size_t bytes);

/// A small block from `node`'s arena (a page block above k_small_max), via the
/// calling thread's cache. Throws node_error, memory_error or std::bad_alloc.
[[nodiscard]] void* node_malloc(std::size_t bytes, int node);
/// Frees any block from node_malloc or allocate, from any thread. nullptr is
/// ignored; throws memory_error for a pointer topos did not hand out.
void node_free(void* p);
/// The bytes usable at p (at least what was asked). Throws memory_error.
[[nodiscard]] std::size_t usable_size(const void* p);

/// The logical node each page of [p, p+bytes) sits on now, asked of the kernel
/// (move_pages without a target); -1 for a page not yet touched (no memory
/// behind it). p must be page-aligned and the range must lie inside one page
/// block; else memory_error.
[[nodiscard]] std::vector<int> page_nodes(const void* p, std::size_t bytes);

/// Moves the present pages of [p, p+bytes) to `node` (move_pages) and binds the
/// range there for pages touched later. Same validation as page_nodes, plus
/// node_error. Returns the number of present pages now on `node`.
std::size_t migrate(void* p, std::size_t bytes, int node);

/// Applies `policy` to [p, p+bytes) of a page block for pages touched from now
/// on (mbind without moving). Same validation as page_nodes.
void set_mem_policy(void* p, std::size_t bytes, const mem_policy& policy);

/// What topos could do with this machine's memory, for `topos info`.
struct memory_status {
    bool numa_syscalls = false;   ///< mbind and move_pages work
    bool huge_pages = false;      ///< transparent huge pages can be requested by madvise
    std::size_t node_count = 1;   ///< logical nodes of the host
    std::size_t page_size = 4096;
    std::string note;             ///< one line per thing topos could not do; empty when all works
};
[[nodiscard]] memory_status get_memory_status();

struct node_memory_counters {
    int node = 0;
    std::int64_t bytes_in_use = 0;   ///< bytes handed out and not freed (block sizes)
    std::uint64_t os_bytes = 0;      ///< bytes mapped from the OS and not given back
    std::uint64_t remote_frees = 0;  ///< small blocks freed by a thread that did not own their span
};

struct memory_counters {
    std::vector<node_memory_counters> nodes;
    /// Page blocks whose policy names no single node (local, interleave, multi-node bind).
    std::int64_t unplaced_bytes_in_use = 0;
    std::uint64_t unplaced_os_bytes = 0;
    std::int64_t bytes_in_use = 0;   ///< total over nodes and unplaced
    std::uint64_t os_bytes = 0;      ///< total over nodes and unplaced
    std::uint64_t remote_frees = 0;  ///< total
};
/// A snapshot; fields are read one by one while other threads work.
[[nodiscard]] memory_counters get_memory_counters();

/// Gives back to the OS what the arenas hold without use: empty spans are
/// decommitted and empty chunks unmapped. Arenas also do this by themselves,
/// keeping a little spare memory to avoid churn.
void memory_trim();

} // namespace topos
