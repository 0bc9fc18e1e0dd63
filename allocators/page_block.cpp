// allocators/page_block.cpp - page blocks and the medium-block cache.
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
//
// Large blocks (more than k_medium_max, at most k_large_max bytes, otherwise
// eligible as above) are cached the same way but keep their pages: a program
// that frees a 20 MiB buffer and asks for a 24 MiB one gets the freed block
// back, moved by mremap (page tables move, nothing is copied or faulted) to
// a fresh aligned place 4 MiB larger, and only the new 4 MiB fault in; a
// smaller request gets the freed block as it is, or with its tail unmapped
// when the tail is over a quarter of the request (see large_map_bytes for
// the huge pages). The cache
// holds at most k_large_cached blocks and k_large_cache_bytes a node, the
// oldest going back to the kernel first. glibc does the same through its
// heap once a freed mapping has raised its mmap threshold; without it
// malloc-large faulted in every page of every block (7.8M faults, 15x glibc).
#include "allocators/page_block.hpp"

#include "allocators/arena.hpp"
#include "allocators/numa_layer.hpp"
#include "os/memory.hpp"

#include <topos/detail/assert.hpp>
#include <topos/error.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <mutex>
#include <new>
#include <vector>

namespace topos::detail {
namespace {

// Medium blocks: user bytes in (k_small_max, k_medium_max]; their mappings
// are rounded to four size classes per doubling, indexed by pages.
constexpr std::size_t k_medium_max = std::size_t{1} << 20;
constexpr std::size_t k_medium_page = 4096; // the cache runs only where pages are 4 KiB
constexpr std::size_t k_medium_slots = (k_medium_max + k_medium_max / 4) / k_medium_page + 1;
constexpr std::size_t k_cache_bytes = std::size_t{64} << 20;
constexpr std::size_t k_cache_committed = std::size_t{8} << 20;
// A class keeps at most max(16, 4 MiB / its size) blocks: 16 of 1 MiB, 128 of
// 32 KiB. With 16 for every class, mstress freed its retained 25.6 KB blocks
// at the end of each round past the count: 830 munmaps (and as many mmaps,
// each with two trims of the alignment slack) a run.
constexpr std::uint32_t k_cache_per_class = 16;
constexpr std::size_t k_cache_class_bytes = std::size_t{4} << 20;
constexpr std::uint32_t cache_class_limit(std::size_t class_bytes) noexcept {
    return std::max(k_cache_per_class, static_cast<std::uint32_t>(k_cache_class_bytes / class_bytes));
}
static_assert(cache_class_limit(k_medium_max) == 16 && cache_class_limit(32 << 10) == 128);
// Large blocks: cached while at most k_large_max bytes.
constexpr std::size_t k_large_max = std::size_t{64} << 20;
constexpr std::size_t k_large_cache_bytes = std::size_t{96} << 20;
constexpr std::uint32_t k_large_cached = 4;
// Large blocks are asked to be backed by transparent huge pages
// (MADV_HUGEPAGE on the whole mapping; nothing changes where THP is
// "never"): one fault per 2 MiB instead of 512. The kernel backs only the
// aligned 2 MiB ranges that lie wholly inside a mapping with huge pages, so
// a mapping rounded up to whole huge pages gets a huge page for its tail too,
// resident as a whole once touched, while one that ends at the user's last
// page gets 4 KiB pages there, a fault each. The mapping is rounded up when
// that adds at most an eighth of the request: alloc-test's 4 MiB array (with
// a page of header before it) was 6 MiB resident when always rounded, its
// peak RSS 1.2-1.3x mimalloc's; malloc-large (5-25 MiB buffers) never
// rounded faulted 433k times instead of 3.7k. A cached block reused for a
// smaller request gives back what lies beyond it once that is over a quarter
// of it (kept, it is resident memory the program never uses). malloc-large,
// against glibc's 13.8 s, 534 MiB peak and 510k faults: 4 KiB pages with the
// tail kept up to 4x, 11.8 s, 515 MiB, 441k faults; huge pages, always
// rounded, tail beyond a quarter given back: ~4 s, 434 MiB, 3.7k faults
// (mimalloc: 466 MiB).
inline std::size_t large_map_bytes(std::size_t bytes, std::size_t page) noexcept {
    const std::size_t exact = round_up(page + bytes, page);
    const std::size_t whole = round_up(exact, k_huge_page);
    return whole - exact <= bytes / 8 ? whole : exact;
}

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
    // The cached blocks whose pages may be resident, newest first: past
    // k_cache_committed the oldest give their pages back, so that blocks of
    // sizes no longer asked for do not hold the bound while every new free
    // drops its pages and the next allocation of its size faults them in
    // again (mstress: 10k madvise calls a run, each a TLB-shootdown IPI).
    page_header* m_lru_newest = nullptr;
    page_header* m_lru_oldest = nullptr;
    // Large blocks, newest first; their pages are kept.
    page_header* m_large = nullptr;
    std::uint32_t m_large_count = 0;
    std::size_t m_large_bytes = 0;
};

std::vector<medium_cache>& medium_caches() {
    // Never destroyed: frees may run after main returns.
    static auto* caches = new std::vector<medium_cache>(detail::host_node_count());
    return *caches;
}


// pre: the cache's lock held, h cached and resident, on no list of resident blocks.
void lru_push(medium_cache& cache, page_header* h) noexcept {
    h->m_lru_newer = nullptr;
    h->m_lru_older = cache.m_lru_newest;
    (cache.m_lru_newest != nullptr ? cache.m_lru_newest->m_lru_newer : cache.m_lru_oldest) = h;
    cache.m_lru_newest = h;
}

// pre: the cache's lock held, h on the cache's list of resident blocks.
void lru_remove(medium_cache& cache, page_header* h) noexcept {
    (h->m_lru_newer != nullptr ? h->m_lru_newer->m_lru_older : cache.m_lru_newest) = h->m_lru_older;
    (h->m_lru_older != nullptr ? h->m_lru_older->m_lru_newer : cache.m_lru_oldest) = h->m_lru_newer;
    h->m_lru_newer = nullptr;
    h->m_lru_older = nullptr;
}

// What the node caches take: `local` blocks as malloc asks for them.
bool cache_eligible(const mem_policy& policy, const alloc_options& options, std::size_t page) noexcept {
    return policy.type() == mem_policy::kind::local && !options.huge_pages && !options.own_pages &&
           options.alignment <= page && page == k_medium_page;
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
                lru_remove(cache, h);
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
    void* base = os::map_aligned(class_bytes, detail::k_chunk_size);
    if (base == nullptr) {
        throw std::bad_alloc();
    }
    try {
        detail::apply_policy(base, class_bytes, mem_policy::preferred(node));
    } catch (...) {
        os::unmap(base, class_bytes);
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
    os::unmap(h, map_bytes);
}

// pre: h->m_cache_node >= 0 and its user bytes were already taken off the
// counters. post: h is cached (its pages dropped when the cache holds enough
// resident ones) or unmapped when the cache is full.
void medium_free(page_header* h) noexcept {
    TOPOS_ASSERT(h->m_cache_node >= 0, "medium_free: h is a cacheable medium block");
    medium_cache& cache = medium_caches()[static_cast<std::size_t>(h->m_cache_node)];
    const std::size_t class_bytes = h->m_map_bytes;
    const std::size_t slot = class_bytes / k_medium_page;
    {
        const std::lock_guard lock(cache.m_lock);
        if (cache.m_counts[slot] < cache_class_limit(class_bytes) && cache.m_bytes + class_bytes <= k_cache_bytes) {
            // The newest keeps its pages (the next allocation of its size takes
            // it); the oldest resident ones drop theirs, under the lock: a
            // listed block may be taken by another thread at any time.
            cache.m_committed += class_bytes;
            lru_push(cache, h);
            while (cache.m_committed > k_cache_committed) {
                page_header* old = cache.m_lru_oldest;
                lru_remove(cache, old);
                os::decommit(user_of(old), old->m_map_bytes - old->m_user_offset);
                old->m_committed = false;
                cache.m_committed -= old->m_map_bytes;
                pages_count().add(-1, 0, -static_cast<std::int64_t>(old->m_map_bytes));
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

// pre: the caller holds cache.m_lock. post: the cached block best suited to
// `map` bytes (the smallest that holds them, else the largest) is off the
// list; nullptr when the cache holds none.
page_header* take_large(medium_cache& cache, std::size_t map) noexcept {
    page_header** best = nullptr;
    for (page_header** link = &cache.m_large; *link != nullptr; link = &(*link)->m_next_cached) {
        const std::size_t have = (*link)->m_map_bytes;
        if (best == nullptr) {
            best = link;
            continue;
        }
        const std::size_t best_have = (*best)->m_map_bytes;
        const bool fits = have >= map;
        const bool best_fits = best_have >= map;
        if ((fits && (!best_fits || have < best_have)) || (!fits && !best_fits && have > best_have)) {
            best = link;
        }
    }
    if (best == nullptr) {
        return nullptr;
    }
    page_header* h = *best;
    *best = h->m_next_cached;
    h->m_next_cached = nullptr;
    --cache.m_large_count;
    cache.m_large_bytes -= h->m_map_bytes;
    return h;
}

// pre: h is a cached large block taken off its cache, `map` a page multiple.
// post: h's mapping holds exactly `map` bytes, its old pages kept; the new
// header (h itself when the block stayed in place); nullptr when the kernel
// refused (h is then unmapped).
page_header* resize_large(page_header* h, std::size_t map) noexcept {
    const std::size_t have = h->m_map_bytes;
    if (have >= map) {
        if (have - map > map / 4) {
            detail::clear_regions(h, have);
            os::unmap(reinterpret_cast<char*>(h) + map, have - map);
            h->m_map_bytes = map;
            detail::mark_regions(h, map, detail::region::page_head);
            pages_count().add(-1, 0, -static_cast<std::int64_t>(have - map));
        }
        return h;
    }
    void* target = os::map_aligned(map, detail::k_chunk_size);
    detail::clear_regions(h, have);
    if (target == nullptr || !os::remap_to(h, have, map, target)) {
        if (target != nullptr) {
            os::unmap(target, map);
        }
        h->m_magic = 0;
        os::unmap(h, have);
        pages_count().add(-1, 0, -static_cast<std::int64_t>(have));
        return nullptr;
    }
    auto* moved = static_cast<page_header*>(target);
    moved->m_map_bytes = map;
    detail::mark_regions(moved, map, detail::region::page_head);
    pages_count().add(-1, 0, static_cast<std::int64_t>(map - have));
    return moved;
}

// A cached large block resized to the request, or nullptr when the caller's
// node caches none.
void* large_alloc_cached(std::size_t bytes, std::size_t page) noexcept {
    const std::size_t map = large_map_bytes(bytes, page);
    medium_cache& cache = medium_caches()[static_cast<std::size_t>(detail::current_node())];
    page_header* h = nullptr;
    {
        const std::lock_guard lock(cache.m_lock);
        h = take_large(cache, map);
    }
    if (h == nullptr || (h = resize_large(h, map)) == nullptr) {
        return nullptr;
    }
    pages_count().add(-1, static_cast<std::int64_t>(bytes), 0);
    h->m_zeroed = false; // the kept pages hold the last user's data
    h->m_user_bytes = bytes;
    return user_of(h);
}

// pre: h is a large block of a node cache whose user bytes were taken off
// the counters. post: cached, the oldest cached blocks unmapped to make room;
// unmapped itself when it alone is over the bound.
void large_free(page_header* h) noexcept {
    medium_cache& cache = medium_caches()[static_cast<std::size_t>(h->m_cache_node)];
    page_header* evicted = nullptr;
    if (h->m_map_bytes <= k_large_cache_bytes) {
        const std::lock_guard lock(cache.m_lock);
        h->m_next_cached = cache.m_large;
        cache.m_large = h;
        ++cache.m_large_count;
        cache.m_large_bytes += h->m_map_bytes;
        // The newest stays: drop from the end of the list (the oldest).
        while (cache.m_large_count > k_large_cached || cache.m_large_bytes > k_large_cache_bytes) {
            page_header** link = &cache.m_large;
            while ((*link)->m_next_cached != nullptr) {
                link = &(*link)->m_next_cached;
            }
            page_header* old = *link;
            *link = nullptr;
            --cache.m_large_count;
            cache.m_large_bytes -= old->m_map_bytes;
            old->m_next_cached = evicted;
            evicted = old;
        }
        h = nullptr;
    }
    if (h != nullptr) {
        evicted = h;
        h->m_next_cached = nullptr;
    }
    while (evicted != nullptr) {
        page_header* next = evicted->m_next_cached;
        pages_count().add(-1, 0, -static_cast<std::int64_t>(evicted->m_map_bytes));
        unmap_block(evicted);
        evicted = next;
    }
}

} // namespace

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
            cache.m_lru_newest = nullptr;
            cache.m_lru_oldest = nullptr;
            while (page_header* h = cache.m_large) {
                cache.m_large = h->m_next_cached;
                h->m_next_cached = all;
                all = h;
            }
            cache.m_large_count = 0;
            cache.m_large_bytes = 0;
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

namespace {

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
    case mem_policy::kind::interleave:
    case mem_policy::kind::next_touch: return -1;
    }
    return -1;
}

} // namespace

void* page_alloc(std::size_t bytes, const mem_policy& policy, const alloc_options& options) {
    const detail::alloc_reentry_guard guard;
    const std::size_t page = os::page_size();
    const bool cacheable = cache_eligible(policy, options, page) && bytes <= k_large_max;
    if (cacheable && bytes <= k_medium_max) {
        return medium_alloc(bytes, page);
    }
    if (cacheable) {
        if (void* p = large_alloc_cached(bytes, page)) {
            return p;
        }
    }
    // With huge pages the user bytes start on a huge-page boundary; the
    // padding before them costs address space, not memory.
    const std::size_t offset = std::max(options.huge_pages ? k_huge_page : page, options.alignment);
    const std::size_t base_align = std::max(detail::k_chunk_size, options.alignment);
    // A cacheable block here is large (its offset is one page): sized as the cache resizes it.
    std::size_t map_bytes = cacheable ? large_map_bytes(bytes, page) : round_up(offset + bytes, page);
    if (options.huge_pages) {
        map_bytes = round_up(map_bytes, k_huge_page);
    }
    void* base = os::map_aligned(map_bytes, base_align);
    if (base == nullptr) {
        throw std::bad_alloc();
    }
    // A cacheable block is bound to its node like a medium block, so that
    // the cache never hands node-1 pages out as node-0 memory.
    const int cache_node = cacheable ? detail::current_node() : -1;
    try {
        detail::apply_policy(base, map_bytes, cacheable ? mem_policy::preferred(cache_node) : policy);
    } catch (...) {
        os::unmap(base, map_bytes);
        throw;
    }
    if (options.huge_pages) {
        detail::advise_huge(static_cast<char*>(base) + offset, map_bytes - offset);
    } else if (cacheable) {
        (void)os::advise_huge(base, map_bytes); // best effort, the whole mapping: it stays one VMA for mremap
    }
    if (map_bytes >= k_huge_page && !cacheable) {
        // Writing the header must not fault in a transparent huge page that
        // also holds user pages (THP "always"): those would be placed before
        // a later set_mem_policy could place them. A cacheable block is
        // already bound to its node, and must stay one mapping (one VMA,
        // which an madvise of its first page would split) for mremap.
        os::advise_no_huge(base, offset);
    }
    detail::mark_regions(base, map_bytes, detail::region::page_head);
    auto* h = new (base) page_header();
    h->m_map_bytes = map_bytes;
    h->m_user_offset = offset;
    h->m_user_bytes = bytes;
    h->m_node = charged_node(policy);
    h->m_cache_node = cache_node;
    pages_count().add(h->m_node, static_cast<std::int64_t>(bytes), static_cast<std::int64_t>(map_bytes));
    return static_cast<char*>(base) + offset;
}

page_header* header_of(const void* p) noexcept {
    auto* h = static_cast<page_header*>(detail::page_block_base(p));
    return (h != nullptr && h->m_magic == k_page_magic) ? h : nullptr;
}

std::atomic<next_touch_release_fn> g_next_touch_release{nullptr};

void page_free(page_header* h) noexcept {
    if (h->m_next_touch) {
        // Armed pages leave the next-touch registry before the mapping goes
        // (so no later mapping at these addresses is taken for them). An
        // armed block is never cached (m_cache_node is -1), so it is unmapped below.
        // acquire: pairs with the release store in next_touch.cpp made before any block was flagged
        if (const next_touch_release_fn release = g_next_touch_release.load(std::memory_order_acquire)) {
            release(user_of(h), h->m_map_bytes - h->m_user_offset);
        }
        h->m_next_touch = false;
    }
    if (h->m_cache_node >= 0) {
        pages_count().add(h->m_node, -static_cast<std::int64_t>(h->m_user_bytes), 0);
        if (h->m_user_bytes > k_medium_max) { // large: only medium requests get medium blocks
            large_free(h);
        } else {
            medium_free(h);
        }
        return;
    }
    pages_count().add(h->m_node, -static_cast<std::int64_t>(h->m_user_bytes),
                      -static_cast<std::int64_t>(h->m_map_bytes));
    unmap_block(h);
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


void free_foreign(void* p) { free_checked(p, 0, false, "node_free"); }

bool page_block_zeroed(const void* p) noexcept {
    const page_header* h = header_of(p);
    return h != nullptr && h->m_zeroed;
}

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

} // namespace topos::detail
