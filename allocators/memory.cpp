// allocators/memory.cpp - memory policies, page blocks and the public entry points.
//
// A page block is one mapping from the kernel, aligned to 4 MiB (or its
// alignment, when larger) so that its header sits at a region start the
// region map can find:
//
//   base: [page_header | ... padding to the alignment ...][user bytes ...]
//          ^ 4 MiB aligned                                ^ base + m_user_offset
//
// The policy is applied to the whole mapping before any page is touched.
//
// Medium blocks (more than k_small_max, at most k_medium_max bytes, `local`
// policy, page alignment or less, no huge or own pages: what malloc asks for)
// are page blocks too, but a freed one goes to a cache of its node instead of
// back to the kernel, and the next medium request of the same size class on
// that node takes it: no mmap, munmap or TLB shoot-down per request. To keep
// "node-1 memory is never handed out as node-0 memory" for them, a medium
// block is bound (MPOL_PREFERRED) to the node of the thread that maps it, and
// only requests from that node reuse it; a block that was migrated or given
// another policy is never cached. The cache holds at most k_cache_bytes a
// node (beyond it blocks are unmapped), of which at most k_cache_committed
// keep their pages: past that a block's pages are dropped (MADV_DONTNEED)
// before it is cached, and memory_trim() unmaps everything the caches hold.
// This departs from `local` as first touch only in that another node's
// thread touching a medium block first still gets the allocating node's pages.
#include <topos/memory.hpp>

#include "allocators/arena.hpp"
#include "allocators/numa_layer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace topos {
namespace {

constexpr std::uint64_t k_page_magic = 0x746f706f735f7067; // "topos_pg"
constexpr std::size_t k_max_alignment = std::size_t{1} << 30;
constexpr std::size_t k_huge_page = std::size_t{2} << 20;

struct page_header {
    std::uint64_t m_magic = k_page_magic;
    std::size_t m_map_bytes = 0;   // from base
    std::size_t m_user_offset = 0;
    std::size_t m_user_bytes = 0;  // as asked
    int m_node = -1;               // node the counters charge; -1 unplaced
    int m_cache_node = -1;         // medium block: the node whose cache takes it back; -1 unmapped when freed
    bool m_committed = true;       // cached medium block: its pages may be resident
    bool m_zeroed = true;          // the user bytes are known zero (fresh or dropped pages), for calloc
    page_header* m_next_cached = nullptr; // medium cache list (the cache's lock)
};

// Medium blocks: user bytes in (k_small_max, k_medium_max]; their mappings
// are rounded to four size classes per doubling, indexed by pages.
constexpr std::size_t k_medium_max = std::size_t{1} << 20;
constexpr std::size_t k_medium_page = 4096; // the cache runs only where pages are 4 KiB
constexpr std::size_t k_medium_slots = (k_medium_max + k_medium_max / 4) / k_medium_page + 1;
constexpr std::size_t k_cache_bytes = std::size_t{64} << 20;
constexpr std::size_t k_cache_committed = std::size_t{8} << 20;
constexpr std::uint32_t k_cache_per_class = 16;

// The mapping size of a medium block whose header and user bytes need `map` bytes.
constexpr std::size_t medium_class_bytes(std::size_t map) noexcept {
    const auto log = static_cast<std::size_t>(std::bit_width(map - 1)) - 1; // 2^log < map <= 2^(log+1)
    const std::size_t step = std::max(std::size_t{1} << (log - 2), k_medium_page);
    return (map + step - 1) / step * step;
}
static_assert(medium_class_bytes(k_medium_max + k_medium_page) / k_medium_page < k_medium_slots);
static_assert(medium_class_bytes(5 * k_medium_page) == 5 * k_medium_page &&
              medium_class_bytes(33 * k_medium_page) == 40 * k_medium_page);

// One node's cache of freed medium blocks. Everything is guarded by m_lock,
// a leaf lock: nothing else is taken while it is held.
struct medium_cache {
    std::mutex m_lock;
    std::array<page_header*, k_medium_slots> m_lists{};
    std::array<std::uint32_t, k_medium_slots> m_counts{};
    std::size_t m_bytes = 0;     // mapped bytes held
    std::size_t m_committed = 0; // of which possibly resident
};

std::vector<medium_cache>& medium_caches() {
    // Never destroyed: frees may run after main returns.
    static auto* caches = new std::vector<medium_cache>(detail::host_node_count());
    return *caches;
}

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

char* user_of(page_header* h) noexcept { return reinterpret_cast<char*>(h) + h->m_user_offset; }

bool medium_eligible(std::size_t bytes, const mem_policy& policy, const alloc_options& options,
                     std::size_t page) noexcept {
    return bytes <= k_medium_max && policy.type() == mem_policy::kind::local && !options.huge_pages &&
           !options.own_pages && options.alignment <= page && page == k_medium_page;
}

// A cached medium block of `class_bytes` for the caller's node, or a fresh one.
void* medium_alloc(std::size_t bytes, std::size_t page) {
    const std::size_t class_bytes = medium_class_bytes(page + bytes);
    const int node = detail::current_node();
    medium_cache& cache = medium_caches()[static_cast<std::size_t>(node)];
    page_header* h = nullptr;
    {
        const std::lock_guard lock(cache.m_lock);
        page_header*& list = cache.m_lists[class_bytes / page];
        h = list;
        if (h != nullptr) {
            list = h->m_next_cached;
            --cache.m_counts[class_bytes / page];
            cache.m_bytes -= class_bytes;
            if (h->m_committed) {
                cache.m_committed -= class_bytes;
            }
        }
    }
    if (h != nullptr) {
        pages_count().add(-1, static_cast<std::int64_t>(bytes),
                          h->m_committed ? 0 : static_cast<std::int64_t>(class_bytes));
        h->m_zeroed = !h->m_committed; // resident pages hold the last user's data
        h->m_committed = true;
        h->m_next_cached = nullptr;
        h->m_user_bytes = bytes;
        return user_of(h);
    }
    void* base = detail::map_aligned(class_bytes, detail::k_chunk_size);
    if (base == nullptr) {
        throw std::bad_alloc();
    }
    try {
        detail::apply_policy(base, class_bytes, mem_policy::preferred(node));
    } catch (...) {
        detail::unmap(base, class_bytes);
        throw;
    }
    detail::mark_regions(base, class_bytes, detail::region::page_head);
    h = new (base) page_header();
    h->m_map_bytes = class_bytes;
    h->m_user_offset = page;
    h->m_user_bytes = bytes;
    h->m_cache_node = node;
    pages_count().add(-1, static_cast<std::int64_t>(bytes), static_cast<std::int64_t>(class_bytes));
    return user_of(h);
}

void unmap_block(page_header* h) noexcept {
    const std::size_t map_bytes = h->m_map_bytes;
    detail::clear_regions(h, map_bytes);
    h->m_magic = 0;
    detail::unmap(h, map_bytes);
}

// pre: h->m_cache_node >= 0 and its user bytes were already taken off the
// counters. post: h is cached (its pages dropped when the cache holds enough
// resident ones) or unmapped when the cache is full.
void medium_free(page_header* h) noexcept {
    medium_cache& cache = medium_caches()[static_cast<std::size_t>(h->m_cache_node)];
    const std::size_t class_bytes = h->m_map_bytes;
    const std::size_t slot = class_bytes / k_medium_page;
    {
        const std::lock_guard lock(cache.m_lock);
        if (cache.m_counts[slot] < k_cache_per_class && cache.m_bytes + class_bytes <= k_cache_bytes) {
            if (cache.m_committed + class_bytes > k_cache_committed) {
                // Dropped under the lock: once listed, another thread may take the block.
                detail::decommit(user_of(h), class_bytes - h->m_user_offset);
                h->m_committed = false;
                pages_count().add(-1, 0, -static_cast<std::int64_t>(class_bytes));
            } else {
                cache.m_committed += class_bytes;
            }
            cache.m_bytes += class_bytes;
            ++cache.m_counts[slot];
            h->m_next_cached = cache.m_lists[slot];
            cache.m_lists[slot] = h;
            return;
        }
    }
    pages_count().add(-1, 0, -static_cast<std::int64_t>(class_bytes));
    unmap_block(h);
}

// Unmaps every block the medium caches hold.
void medium_trim() noexcept {
    for (medium_cache& cache : medium_caches()) {
        page_header* all = nullptr;
        {
            const std::lock_guard lock(cache.m_lock);
            for (std::size_t slot = 0; slot < k_medium_slots; ++slot) {
                while (page_header* h = cache.m_lists[slot]) {
                    cache.m_lists[slot] = h->m_next_cached;
                    h->m_next_cached = all;
                    all = h;
                }
                cache.m_counts[slot] = 0;
            }
            cache.m_bytes = 0;
            cache.m_committed = 0;
        }
        while (page_header* h = all) {
            all = h->m_next_cached;
            pages_count().add(-1, 0, h->m_committed ? -static_cast<std::int64_t>(h->m_map_bytes) : 0);
            unmap_block(h);
        }
    }
}

page_counters& pages_count() {
    static auto* c = new page_counters(detail::host_node_count()); // never destroyed
    return *c;
}

std::string hex(const void* p) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    return text;
}

constexpr bool is_pow2(std::size_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

std::size_t round_up(std::size_t v, std::size_t to) noexcept { return (v + to - 1) / to * to; }

void check_size(std::size_t bytes, const char* what) {
    if (bytes == 0) {
        throw memory_error(std::string(what) + ": size 0 bytes; expected at least 1");
    }
    if (bytes > k_max_block) {
        throw memory_error(std::string(what) + ": size " + std::to_string(bytes) +
                           " bytes overflows the largest block topos maps (2^46 bytes)");
    }
}

void check_alignment(std::size_t alignment) {
    if (!is_pow2(alignment) || alignment > k_max_alignment) {
        throw memory_error("allocate: alignment " + std::to_string(alignment) +
                           " is not a power of two between 1 and 2^30");
    }
}

// The node charged for a page block under `policy`, -1 when several or unknown.
int charged_node(const mem_policy& policy) {
    switch (policy.type()) {
    case mem_policy::kind::on_node:
    case mem_policy::kind::preferred: return policy.first_node();
    case mem_policy::kind::bind: {
        const auto nodes = policy.nodes();
        return nodes.size() == 1 ? nodes.front() : -1;
    }
    case mem_policy::kind::local:
    case mem_policy::kind::interleave: return -1;
    }
    return -1;
}

// The arena a small block under `policy` comes from.
int small_node_for(const mem_policy& policy) {
    switch (policy.type()) {
    case mem_policy::kind::local: return detail::current_node();
    case mem_policy::kind::on_node:
    case mem_policy::kind::preferred: return policy.first_node();
    case mem_policy::kind::bind: {
        for (int n : detail::host_nodes().by_distance[static_cast<std::size_t>(detail::current_node())]) {
            if (policy.contains(n)) {
                return n;
            }
        }
        return policy.first_node();
    }
    case mem_policy::kind::interleave: {
        // Successive small objects of a thread rotate over the policy's nodes.
        thread_local std::size_t next = 0;
        const std::size_t count = detail::host_node_count();
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t n = (next + i) % count;
            if (policy.contains(static_cast<int>(n))) {
                next = n + 1;
                return static_cast<int>(n);
            }
        }
        return 0;
    }
    }
    return 0;
}

void* page_alloc(std::size_t bytes, const mem_policy& policy, const alloc_options& options) {
    const detail::alloc_reentry_guard guard;
    const std::size_t page = detail::page_size();
    if (medium_eligible(bytes, policy, options, page)) {
        return medium_alloc(bytes, page);
    }
    // With huge pages the user bytes start on a huge-page boundary; the
    // padding before them costs address space, not memory.
    const std::size_t offset = std::max(options.huge_pages ? k_huge_page : page, options.alignment);
    const std::size_t base_align = std::max(detail::k_chunk_size, options.alignment);
    std::size_t map_bytes = round_up(offset + bytes, page);
    if (options.huge_pages) {
        map_bytes = round_up(map_bytes, k_huge_page);
    }
    void* base = detail::map_aligned(map_bytes, base_align);
    if (base == nullptr) {
        throw std::bad_alloc();
    }
    try {
        detail::apply_policy(base, map_bytes, policy);
    } catch (...) {
        detail::unmap(base, map_bytes);
        throw;
    }
    if (options.huge_pages) {
        detail::advise_huge(static_cast<char*>(base) + offset, map_bytes - offset);
    }
    if (map_bytes >= k_huge_page) {
        // Writing the header must not fault in a transparent huge page that
        // also holds user pages (THP "always"): those would be placed before
        // a later set_mem_policy could place them.
        detail::advise_no_huge(base, offset);
    }
    detail::mark_regions(base, map_bytes, detail::region::page_head);
    auto* h = new (base) page_header();
    h->m_map_bytes = map_bytes;
    h->m_user_offset = offset;
    h->m_user_bytes = bytes;
    h->m_node = charged_node(policy);
    pages_count().add(h->m_node, static_cast<std::int64_t>(bytes), static_cast<std::int64_t>(map_bytes));
    return static_cast<char*>(base) + offset;
}

page_header* header_of(const void* p) noexcept {
    auto* h = static_cast<page_header*>(detail::page_block_base(p));
    return (h != nullptr && h->m_magic == k_page_magic) ? h : nullptr;
}

void page_free(page_header* h) noexcept {
    if (h->m_cache_node >= 0) {
        pages_count().add(h->m_node, -static_cast<std::int64_t>(h->m_user_bytes), 0);
        medium_free(h);
        return;
    }
    pages_count().add(h->m_node, -static_cast<std::int64_t>(h->m_user_bytes),
                      -static_cast<std::int64_t>(h->m_map_bytes));
    unmap_block(h);
}

#ifndef TOPOS_ALLOC_STANDALONE
// Shared segments' mappings (base, bytes), registered by ipc/shm.cpp.
struct shared_mappings {
    std::mutex lock;
    std::vector<std::pair<std::uintptr_t, std::size_t>> ranges;
};
shared_mappings& mappings() {
    static shared_mappings m;
    return m;
}
#endif

// True when [p, p+bytes) lies inside one registered shared mapping.
bool in_shared_mapping([[maybe_unused]] const void* p, [[maybe_unused]] std::size_t bytes) {
#ifndef TOPOS_ALLOC_STANDALONE
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    return std::any_of(m.ranges.begin(), m.ranges.end(), [&](const auto& r) {
        return q >= r.first && q - r.first < r.second && bytes <= r.second - (q - r.first);
    });
#else
    return false;
#endif
}

// The page block holding [p, p+bytes), checked for page_nodes/migrate/set_mem_policy.
// nullptr for a range inside a registered shared mapping (no block header).
page_header* page_range(const void* p, std::size_t bytes, const char* what) {
    check_size(bytes, what);
    const std::size_t page = detail::page_size();
    if (reinterpret_cast<std::uintptr_t>(p) % page != 0) {
        throw memory_error(std::string(what) + ": pointer " + hex(p) + " is not aligned to the page size (" +
                           std::to_string(page) + ")");
    }
    if (in_shared_mapping(p, bytes)) {
        return nullptr;
    }
    const detail::region r = detail::region_of(p);
    if (r == detail::region::arena) {
        throw memory_error(std::string(what) + ": pointer " + hex(p) +
                           " is a small block sharing pages with others; allocate with own_pages for page operations");
    }
    page_header* h = header_of(p);
    if (h == nullptr) {
        throw memory_error(std::string(what) + ": pointer " + hex(p) + " is not in a block from topos::allocate");
    }
    const auto begin = reinterpret_cast<std::uintptr_t>(user_of(h));
    const auto end = reinterpret_cast<std::uintptr_t>(h) + h->m_map_bytes;
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    if (q < begin || bytes > end - q) {
        throw memory_error(std::string(what) + ": range " + hex(p) + " + " + std::to_string(bytes) +
                           " bytes runs outside its block of " + std::to_string(h->m_user_bytes) + " bytes");
    }
    return h;
}

std::vector<void*> pages_of(const void* p, std::size_t bytes) {
    const std::size_t page = detail::page_size();
    const std::size_t count = (bytes + page - 1) / page;
    std::vector<void*> pages(count);
    for (std::size_t i = 0; i < count; ++i) {
        pages[i] = const_cast<char*>(static_cast<const char*>(p)) + i * page;
    }
    return pages;
}

void free_checked(void* p, std::size_t bytes, bool check_bytes, const char* what) {
    if (p == nullptr) {
        return;
    }
    switch (detail::region_of(p)) {
    case detail::region::arena:
        if (check_bytes && bytes > detail::small_usable_size(p)) {
            throw memory_error(std::string(what) + ": size " + std::to_string(bytes) + " is larger than the block at " +
                               hex(p));
        }
        detail::small_free(p);
        return;
    case detail::region::page_head:
    case detail::region::page_tail: {
        page_header* h = header_of(p);
        if (h == nullptr || user_of(h) != p) {
            break;
        }
        if (check_bytes && bytes > h->m_user_bytes) {
            throw memory_error(std::string(what) + ": size " + std::to_string(bytes) + " is larger than the block of " +
                               std::to_string(h->m_user_bytes) + " bytes at " + hex(p));
        }
        page_free(h);
        return;
    }
    case detail::region::none: break;
    }
    throw memory_error(std::string(what) + ": pointer " + hex(p) + " was not allocated by topos");
}

} // namespace

namespace detail {
bool page_block_zeroed(const void* p) noexcept {
    const page_header* h = header_of(p);
    return h != nullptr && h->m_zeroed;
}
} // namespace detail

// ---- mem_policy -------------------------------------------------------------------

namespace {
void check_policy_node(int node, const char* what) {
    detail::check_node(node, what);
    if (static_cast<std::size_t>(node) >= mem_policy::k_max_nodes) {
        throw node_error(std::string(what) + ": NUMA node " + std::to_string(node) +
                         " is beyond the 256 nodes a memory policy can name");
    }
}
} // namespace

mem_policy mem_policy::on_node(int node) {
    check_policy_node(node, "on_node");
    std::bitset<k_max_nodes> set;
    set.set(static_cast<std::size_t>(node));
    return {kind::on_node, false, set};
}

mem_policy mem_policy::preferred(int node) {
    check_policy_node(node, "preferred");
    std::bitset<k_max_nodes> set;
    set.set(static_cast<std::size_t>(node));
    return {kind::preferred, false, set};
}

mem_policy mem_policy::interleave(const std::vector<int>& nodes) {
    std::bitset<k_max_nodes> set;
    if (nodes.empty()) {
        for (std::size_t n = 0; n < detail::host_node_count(); ++n) {
            set.set(n);
        }
        return {kind::interleave, true, set};
    }
    for (int n : nodes) {
        check_policy_node(n, "interleave");
        set.set(static_cast<std::size_t>(n));
    }
    return {kind::interleave, false, set};
}

mem_policy mem_policy::bind(const std::vector<int>& nodes) {
    if (nodes.empty()) {
        throw node_error("bind: the node list is empty; expected at least one NUMA node");
    }
    std::bitset<k_max_nodes> set;
    for (int n : nodes) {
        check_policy_node(n, "bind");
        set.set(static_cast<std::size_t>(n));
    }
    return {kind::bind, false, set};
}

std::vector<int> mem_policy::nodes() const {
    std::vector<int> out;
    if (m_kind == kind::local) {
        return out;
    }
    for (std::size_t n = 0; n < k_max_nodes; ++n) {
        if (m_nodes.test(n)) {
            out.push_back(static_cast<int>(n));
        }
    }
    return out;
}

int mem_policy::first_node() const noexcept {
    for (std::size_t n = 0; n < k_max_nodes; ++n) {
        if (m_nodes.test(n)) {
            return static_cast<int>(n);
        }
    }
    return -1;
}

bool mem_policy::contains(int node) const noexcept {
    return node >= 0 && static_cast<std::size_t>(node) < k_max_nodes && m_nodes.test(static_cast<std::size_t>(node));
}

std::string mem_policy::to_string() const {
    auto list = [&] {
        std::string s;
        for (int n : nodes()) {
            s += (s.empty() ? "" : ",") + std::to_string(n);
        }
        return s;
    };
    switch (m_kind) {
    case kind::local: return "local";
    case kind::on_node: return "on_node(" + list() + ")";
    case kind::preferred: return "preferred(" + list() + ")";
    case kind::interleave: return m_all ? std::string("interleave(all)") : "interleave(" + list() + ")";
    case kind::bind: return "bind(" + list() + ")";
    }
    return "local";
}

// ---- allocation ---------------------------------------------------------------------

namespace detail {

void* allocate_slow(std::size_t bytes, const mem_policy& policy, const alloc_options& options) {
    if (bytes - 1 < k_small_max && options.alignment <= alignof(std::max_align_t) && is_pow2(options.alignment) &&
        !options.own_pages && !options.huge_pages) {
        return detail::small_alloc(bytes, alignof(std::max_align_t), small_node_for(policy));
    }
    check_size(bytes, "allocate");
    check_alignment(options.alignment);
    if (bytes <= k_small_max && options.alignment <= detail::k_small_align_max && !options.own_pages &&
        !options.huge_pages) {
        return detail::small_alloc(bytes, options.alignment, small_node_for(policy));
    }
    return page_alloc(bytes, policy, options);
}

void free_foreign(void* p) { free_checked(p, 0, false, "node_free"); }

} // namespace detail

void deallocate(void* p, std::size_t bytes) {
    if (detail::region_of(p) == detail::region::arena && bytes <= detail::small_usable_size(p)) [[likely]] {
        detail::small_free(p);
        return;
    }
    free_checked(p, bytes, true, "deallocate");
}

void* node_malloc(std::size_t bytes, int node) {
    detail::check_node(node, "node_malloc");
    check_size(bytes, "node_malloc");
    if (bytes <= k_small_max) {
        return detail::small_alloc(bytes, alignof(std::max_align_t), node);
    }
    return page_alloc(bytes, mem_policy::on_node(node), {});
}

std::size_t usable_size(const void* p) {
    switch (detail::region_of(p)) {
    case detail::region::arena: return detail::small_usable_size(p);
    case detail::region::page_head:
    case detail::region::page_tail: {
        page_header* h = header_of(p);
        if (h != nullptr && user_of(h) == p) {
            return h->m_map_bytes - h->m_user_offset;
        }
        break;
    }
    case detail::region::none: break;
    }
    throw memory_error("usable_size: pointer " + hex(p) + " was not allocated by topos");
}

// ---- pages ----------------------------------------------------------------------------

#ifndef TOPOS_ALLOC_STANDALONE
void detail::register_shared_mapping(void* base, std::size_t bytes) {
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    m.ranges.emplace_back(reinterpret_cast<std::uintptr_t>(base), bytes);
}

void detail::unregister_shared_mapping(void* base) noexcept {
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    const auto q = reinterpret_cast<std::uintptr_t>(base);
    std::erase_if(m.ranges, [q](const auto& r) { return r.first == q; });
}
#endif

std::vector<int> page_nodes(const void* p, std::size_t bytes) {
    page_range(p, bytes, "page_nodes");
    std::vector<int> out;
    detail::query_pages(pages_of(p, bytes), out);
    return out;
}

std::size_t migrate(void* p, std::size_t bytes, int node) {
    page_header* h = page_range(p, bytes, "migrate");
    detail::check_node(node, "migrate");
    if (h != nullptr) {
        h->m_cache_node = -1; // its pages may now sit elsewhere: never cached
    }
    const mem_policy target = mem_policy::on_node(node);
    detail::apply_policy(p, round_up(bytes, detail::page_size()), target);
    std::vector<int> where;
    detail::move_pages_to(pages_of(p, bytes), node, where);
    if (h != nullptr && p == user_of(h) && bytes >= h->m_user_bytes && h->m_node != node) {
        auto& c = pages_count();
        c.add(h->m_node, -static_cast<std::int64_t>(h->m_user_bytes), -static_cast<std::int64_t>(h->m_map_bytes));
        h->m_node = node;
        c.add(h->m_node, static_cast<std::int64_t>(h->m_user_bytes), static_cast<std::int64_t>(h->m_map_bytes));
    }
    return static_cast<std::size_t>(std::count(where.begin(), where.end(), node));
}

void set_mem_policy(void* p, std::size_t bytes, const mem_policy& policy) {
    page_header* h = page_range(p, bytes, "set_mem_policy");
    if (h != nullptr) {
        h->m_cache_node = -1; // its pages may now sit elsewhere: never cached
    }
    detail::apply_policy(p, round_up(bytes, detail::page_size()), policy);
}

// ---- status and counters ---------------------------------------------------------------

memory_status get_memory_status() {
    detail::arena_reserve_range(); // so the status says whether the arena range is ours
    return detail::current_status();
}

memory_counters get_memory_counters() {
    memory_counters out;
    const std::size_t count = detail::host_node_count();
    out.nodes.resize(count);
    for (std::size_t n = 0; n < count; ++n) {
        out.nodes[n].node = static_cast<int>(n);
    }
    detail::arena_counters(out);
    auto& c = pages_count();
    for (std::size_t n = 0; n <= count; ++n) {
        const std::int64_t in_use = c.m_in_use[n].load(std::memory_order_relaxed);
        const std::uint64_t os = c.m_os[n].load(std::memory_order_relaxed);
        if (n == count) {
            out.unplaced_bytes_in_use = in_use;
            out.unplaced_os_bytes = os;
        } else {
            out.nodes[n].bytes_in_use += in_use;
            out.nodes[n].os_bytes += os;
        }
    }
    out.bytes_in_use = out.unplaced_bytes_in_use;
    out.os_bytes = out.unplaced_os_bytes;
    for (const auto& n : out.nodes) {
        out.bytes_in_use += n.bytes_in_use;
        out.os_bytes += n.os_bytes;
        out.remote_frees += n.remote_frees;
    }
    return out;
}

void memory_trim() {
    detail::arena_trim();
    medium_trim();
}

namespace detail {
void medium_fork_prepare() noexcept {
    for (medium_cache& cache : medium_caches()) {
        cache.m_lock.lock();
    }
}
void medium_fork_release() noexcept {
    for (medium_cache& cache : medium_caches()) {
        cache.m_lock.unlock();
    }
}
} // namespace detail

} // namespace topos
