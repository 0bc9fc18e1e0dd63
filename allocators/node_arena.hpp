// allocators/node_arena.hpp - one arena per node: its chunks, its empty and
// abandoned spans, and the purge that gives spare spans back to the OS (see
// arena.hpp). Every *_locked function expects the arena's lock held.
#pragma once

#include "allocators/numa_layer.hpp"
#include "allocators/span.hpp"

#include <topos/detail/assert.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace topos::detail {

// Everything but m_os_bytes is guarded by m_lock.
struct node_arena {
    std::mutex m_lock;
    int m_node = 0;
    chunk* m_chunks = nullptr;
    std::size_t m_empty_chunks = 0;
    std::array<span_list, k_class_count> m_abandoned;
    span_list m_empty_committed; // front = most recently emptied
    span_list m_empty_fresh;     // never touched or decommitted
    // Written under m_lock; counters read it without the lock.
    std::atomic<std::uint64_t> m_os_bytes{0};
    // Bytes of remote frees collected by trims of abandoned spans (see
    // thread_heap::m_in_use). Written and read under m_lock.
    std::atomic<std::int64_t> m_collected{0};
};

inline std::vector<node_arena>& arenas() {
    // Never destroyed: threads may free into arenas after main returns.
    static auto* all = [] {
        auto* v = new std::vector<node_arena>(host_node_count());
        for (std::size_t i = 0; i < v->size(); ++i) {
            (*v)[i].m_node = static_cast<int>(i);
        }
        return v;
    }();
    return *all;
}

// pre: node is a logical node of the host.
inline node_arena& arena_of(int node) {
    TOPOS_ASSERT(node >= 0 && static_cast<std::size_t>(node) < arenas().size(), "arena_of: node is the host's");
    return arenas()[static_cast<std::size_t>(node)];
}

inline void add_os_bytes(node_arena& a, std::uint64_t bytes) noexcept {
    a.m_os_bytes.store(a.m_os_bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
}
inline void sub_os_bytes(node_arena& a, std::uint64_t bytes) noexcept {
    a.m_os_bytes.store(a.m_os_bytes.load(std::memory_order_relaxed) - bytes, std::memory_order_relaxed);
}


// pre: a.m_lock held. post: a fresh chunk's spans are on m_empty_fresh; false when out of memory.
bool new_chunk_locked(node_arena& a);
// pre: a.m_lock held, c wholly empty. post: unmapped.
void unmap_chunk_locked(node_arena& a, chunk* c);
// pre: a.m_lock held, a.m_empty_committed not empty. post: its oldest span
// is decommitted (see node_arena.cpp).
void decommit_oldest_locked(node_arena& a);
// pre: a.m_lock held. post: empty spans beyond the retention went back to the OS.
void purge_locked(node_arena& a);
// pre: a.m_lock held, s has no block out (m_used == 0) and is on no list.
// post: s is on the committed empty list; spare memory beyond the retention
// goes back to the OS (purge_locked).
void release_span_locked(node_arena& a, span* s);

} // namespace topos::detail
