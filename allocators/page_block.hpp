// allocators/page_block.hpp - page blocks (one mapping each, header at a
// region start) and the per-node cache of medium blocks (page_block.cpp).
#pragma once

#include <topos/memory.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace topos::detail {

inline constexpr std::uint64_t k_page_magic = 0x746f706f735f7067; // "topos_pg"
inline constexpr std::size_t k_max_alignment = std::size_t{1} << 30;
inline constexpr std::size_t k_huge_page = std::size_t{2} << 20;

struct page_header {
    std::uint64_t m_magic = k_page_magic;
    std::size_t m_map_bytes = 0;   // from base
    std::size_t m_user_offset = 0;
    std::size_t m_user_bytes = 0;  // as asked
    int m_node = -1;               // node the counters charge; -1 unplaced
    int m_cache_node = -1;         // medium or large block: the node whose cache takes it back; -1 unmapped when freed
    bool m_committed = true;       // cached medium block: its pages may be resident
    bool m_zeroed = true;          // the user bytes are known zero (fresh or dropped pages), for calloc
    bool m_next_touch = false;     // some pages were armed for next-touch (next_touch.cpp); never cached then
    page_header* m_next_cached = nullptr; // medium or large cache list (the cache's lock)
    page_header* m_lru_newer = nullptr;   // cached medium block with resident pages: the cache's
    page_header* m_lru_older = nullptr;   // list of those, newest first (the cache's lock)
};


// Counters of page blocks: one slot per node, the last for unplaced blocks.
struct page_counters {
    explicit page_counters(std::size_t nodes)
        : m_in_use(std::make_unique<std::atomic<std::int64_t>[]>(nodes + 1)),
          m_os(std::make_unique<std::atomic<std::uint64_t>[]>(nodes + 1)), m_nodes(nodes) {}
    std::unique_ptr<std::atomic<std::int64_t>[]> m_in_use;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_os;
    std::size_t m_nodes;

    [[nodiscard]] std::size_t slot(int node) const noexcept {
        return node < 0 ? m_nodes : static_cast<std::size_t>(node);
    }
    void add(int node, std::int64_t user, std::int64_t mapped) noexcept {
        m_in_use[slot(node)].fetch_add(user, std::memory_order_relaxed);
        m_os[slot(node)].fetch_add(static_cast<std::uint64_t>(mapped), std::memory_order_relaxed);
    }
};

page_counters& pages_count();

inline char* user_of(page_header* h) noexcept { return reinterpret_cast<char*>(h) + h->m_user_offset; }

inline constexpr bool is_pow2(std::size_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

inline std::size_t round_up(std::size_t v, std::size_t to) noexcept { return (v + to - 1) / to * to; }

// post: p as text ("0x..."), for error messages.
std::string hex(const void* p);
// post: throws memory_error naming `what` unless 0 < bytes <= k_max_block.
void check_size(std::size_t bytes, const char* what);
// post: throws memory_error unless alignment is a power of two up to 2^30.
void check_alignment(std::size_t alignment);

// pre: check_size(bytes) passed, options.alignment valid, policy's nodes the host's.
// post: a page block (a cached medium block where eligible) with the policy
// applied before any page is touched. Throws std::bad_alloc when the kernel
// has no memory, memory_error when it rejects the policy.
void* page_alloc(std::size_t bytes, const mem_policy& policy, const alloc_options& options);
// post: the header of the page block p lies in; nullptr when p lies in none.
page_header* header_of(const void* p) noexcept;
// Called by page_free for a block with m_next_touch set, with its user
// range: drops the range from the next-touch registry. Set by next_touch.cpp
// before it flags any block (the drop-in malloc never sets it).
using next_touch_release_fn = void (*)(void* user, std::size_t bytes) noexcept;
extern std::atomic<next_touch_release_fn> g_next_touch_release;

// pre: h heads a live page block. post: cached (medium) or unmapped.
void page_free(page_header* h) noexcept;
// Unmaps every block the medium caches hold.
void medium_trim() noexcept;

// Frees p (nullptr: nothing), an arena block or a page block; with
// check_bytes, first checks that the block holds `bytes`. Throws
// memory_error naming `what` for a pointer topos did not hand out.
void free_checked(void* p, std::size_t bytes, bool check_bytes, const char* what);
// node_free of a pointer outside the arenas: a page block, or a
// memory_error for a pointer topos did not hand out.
void free_foreign(void* p);

/// pre: region_of(p) is page_head, p the start of a page block's user bytes.
/// post: true when those bytes are known to be zero: a fresh mapping, or a
/// cached medium block whose pages were dropped. A cached block that kept
/// its pages holds old data (calloc must clear it).
bool page_block_zeroed(const void* p) noexcept;

/// fork() safety for the medium-block caches: leaf locks, taken after the
/// arena and status locks and released before them.
void medium_fork_prepare() noexcept;
void medium_fork_release() noexcept;

} // namespace topos::detail
