// allocators/arena.cpp - the small-block entry points: allocation, free and
// size queries over the fast paths of fast_path.hpp (see arena.hpp).
#include "allocators/arena.hpp"

#include "allocators/fast_path.hpp"
#include "allocators/numa_layer.hpp"
#include "allocators/page_block.hpp"

#include <topos/detail/assert.hpp>

namespace topos::detail {

constinit thread_local bool t_reentered = false;

void* small_alloc(std::size_t bytes, std::size_t alignment, int node) {
    TOPOS_ASSERT(bytes - 1 < k_small_max, "small_alloc: 0 < bytes <= k_small_max");
    TOPOS_ASSERT(node >= 0 && static_cast<std::size_t>(node) < host_node_count(), "small_alloc: node is the host's");
    const std::size_t cls = class_for(bytes, alignment);
    TOPOS_ASSERT(cls < k_class_count, "small_alloc: a size class holds bytes at alignment");
    thread_heap* h = t_heap;
    if (h != nullptr) [[likely]] {
        node_heap* nh = h->m_nodes[static_cast<std::size_t>(node)];
        if (nh != nullptr) [[likely]] {
            if (free_block* blk = pop_current(nh, cls)) {
                return blk;
            }
        }
    }
    return small_alloc_slow(cls, node);
}

void* small_alloc_local(std::size_t bytes) { return small_alloc_local_inline(bytes); }

void* small_alloc_local_mid(std::size_t bytes) {
    TOPOS_ASSERT(bytes > k_fast_max && bytes <= k_small_max,
                 "small_alloc_local_mid: k_fast_max < bytes <= k_small_max");
    return small_alloc_local_slow(bytes);
}

void small_free(void* p) { small_free_inline(p); }

} // namespace topos::detail

namespace topos {

// Here rather than in memory.cpp so that the arena's fast path is inlined
// behind the region test: one call per free.
void node_free(void* p) {
    // The range test first: constants only, no load of the region map.
    if ((detail::t_local.m_in_range && detail::in_range(p)) || detail::region_of(p) == detail::region::arena)
        [[likely]] {
        detail::small_free_inline(p);
        return;
    }
    detail::free_foreign(p);
}

} // namespace topos

namespace topos::detail {

std::size_t small_usable_size(const void* p) noexcept {
    chunk* c = chunk_of(p);
    return span_of(c, p)->m_block_size;
}

int small_node(const void* p) noexcept { return chunk_of(p)->m_node; }

} // namespace topos::detail
