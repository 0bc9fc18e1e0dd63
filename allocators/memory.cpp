// allocators/memory.cpp - memory policies and the public entry points:
// allocate's slow path, deallocate, node_malloc, the page operations
// (page_nodes, migrate, set_mem_policy), status, counters and trim. Page
// blocks and the medium-block cache are in page_block.cpp, the small-block
// arenas behind arena.hpp.
#include <topos/memory.hpp>

#include "allocators/arena.hpp"
#include "allocators/arena_stats.hpp"
#include "allocators/numa_layer.hpp"
#include "allocators/next_touch.hpp"
#include "allocators/page_block.hpp"
#include "allocators/region.hpp"
#include "allocators/shared_mapping.hpp"
#include "os/memory.hpp"

#include <topos/error.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace topos {
namespace {

using detail::check_alignment;
using detail::check_size;
using detail::free_checked;
using detail::header_of;
using detail::hex;
using detail::is_pow2;
using detail::page_alloc;
using detail::page_header;
using detail::pages_count;
using detail::round_up;
using detail::user_of;

// The arena a small block under `policy` comes from.
int small_node_for(const mem_policy& policy) {
    switch (policy.type()) {
    case mem_policy::kind::local:
    case mem_policy::kind::next_touch: return detail::current_node();
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

// The page block holding [p, p+bytes), checked for page_nodes/migrate/set_mem_policy.
// nullptr for a range inside a registered shared mapping (no block header).
page_header* page_range(const void* p, std::size_t bytes, const char* what) {
    check_size(bytes, what);
    const std::size_t page = os::page_size();
    if (reinterpret_cast<std::uintptr_t>(p) % page != 0) {
        throw memory_error(std::string(what) + ": pointer " + hex(p) + " is not aligned to the page size (" +
                           std::to_string(page) + ")");
    }
    if (detail::in_shared_mapping(p, bytes)) {
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
    const std::size_t page = os::page_size();
    const std::size_t count = (bytes + page - 1) / page;
    std::vector<void*> pages(count);
    for (std::size_t i = 0; i < count; ++i) {
        pages[i] = const_cast<char*>(static_cast<const char*>(p)) + i * page;
    }
    return pages;
}

} // namespace

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
    case kind::next_touch: return "next_touch";
    }
    return "local";
}

// ---- allocation ---------------------------------------------------------------------

namespace detail {

void* allocate_slow(std::size_t bytes, const mem_policy& policy, const alloc_options& options) {
    if (policy.type() == mem_policy::kind::next_touch) {
        return next_touch_alloc(bytes, options);
    }
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
    detail::apply_policy(p, round_up(bytes, os::page_size()), target);
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
    detail::apply_policy(p, round_up(bytes, os::page_size()), policy);
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
    detail::medium_trim();
}

} // namespace topos
