// allocators/node_arena.cpp - chunks made and unmapped, spans released, and
// the purge of empty spans (see node_arena.hpp).
#include "allocators/node_arena.hpp"

#include "os/memory.hpp"

#include <new>

namespace topos::detail {
namespace {

// Committed empty spans an arena keeps for reuse however long they wait.
constexpr std::size_t k_retained_spans = 32;
// Committed empty spans an arena keeps at most (8 MiB): beyond this the
// oldest are decommitted at once.
constexpr std::size_t k_max_retained_spans = 128;
// Between the two, a span is decommitted once it has been empty this long
// (checked whenever the arena lock is taken to give or take a span), so a
// program that frees and soon allocates again (a loop of parallel phases,
// threads that come and go) does not fault its pages back in each time,
// and memory it stops using goes back to the OS soon after.
constexpr std::uint32_t k_purge_delay_ms = 100;
// Wholly empty chunks an arena keeps mapped before unmapping more. A chunk
// is unmapped only once all its spans are empty and decommitted.
constexpr std::size_t k_retained_chunks = 1;

} // namespace

// pre: a.m_lock held. post: a fresh chunk's spans are on m_empty_fresh; false when out of memory.
bool new_chunk_locked(node_arena& a) {
    void* base = take_range_slot();
    if (base == nullptr) {
        base = os::map_aligned(k_chunk_size, k_chunk_size);
    }
    if (base == nullptr) {
        return false;
    }
    try {
        apply_policy(base, k_chunk_size, mem_policy::on_node(a.m_node));
    } catch (...) {
        release_chunk_memory(base);
        throw;
    }
    auto* c = new (base) chunk();
    c->m_node = a.m_node;
    for (span& sp : c->m_spans) {
        sp.m_node = static_cast<std::uint16_t>(a.m_node);
    }
    c->m_next = a.m_chunks;
    if (a.m_chunks != nullptr) {
        a.m_chunks->m_prev = c;
    }
    a.m_chunks = c;
    for (std::size_t i = k_spans_per_chunk - 1; i >= 1; --i) {
        a.m_empty_fresh.push_front(&c->m_spans[i]);
    }
    c->m_empty = k_spans_per_chunk - 1;
    ++a.m_empty_chunks;
    add_os_bytes(a, k_span_size); // the header span
    mark_regions(base, k_chunk_size, region::arena);
    return true;
}

void unmap_chunk_locked(node_arena& a, chunk* c) {
    for (std::size_t i = 1; i < k_spans_per_chunk; ++i) {
        span* s = &c->m_spans[i];
        if (s->m_committed) {
            a.m_empty_committed.remove(s);
            sub_os_bytes(a, k_span_size);
        } else {
            a.m_empty_fresh.remove(s);
        }
    }
    (c->m_prev != nullptr ? c->m_prev->m_next : a.m_chunks) = c->m_next;
    if (c->m_next != nullptr) {
        c->m_next->m_prev = c->m_prev;
    }
    --a.m_empty_chunks;
    sub_os_bytes(a, k_span_size);
    clear_regions(c, k_chunk_size);
    c->~chunk();
    release_chunk_memory(c);
}

// Decommits the span that has been empty longest; unmaps its chunk when that
// leaves the chunk wholly empty and decommitted, beyond the retained chunks.
void decommit_oldest_locked(node_arena& a) {
    TOPOS_ASSERT(!a.m_empty_committed.empty(), "decommit_oldest_locked: the arena has a committed empty span");
    span* old = a.m_empty_committed.back();
    a.m_empty_committed.remove(old);
    os::decommit(span_memory(old), k_span_size);
    old->m_committed = false;
    sub_os_bytes(a, k_span_size);
    a.m_empty_fresh.push_front(old);
    chunk* c = chunk_of(old);
    if (--c->m_committed_empty == 0 && c->m_empty == k_spans_per_chunk - 1 && a.m_empty_chunks > k_retained_chunks) {
        unmap_chunk_locked(a, c);
    }
}

// Gives back to the OS the empty spans beyond the retention: the oldest
// beyond k_max_retained_spans at once, those beyond k_retained_spans once
// they have waited k_purge_delay_ms. pre: a.m_lock held.
void purge_locked(node_arena& a) {
    if (a.m_empty_committed.size() <= k_retained_spans) {
        return;
    }
    const std::uint32_t now = os::coarse_ms();
    while (a.m_empty_committed.size() > k_retained_spans) {
        if (a.m_empty_committed.size() <= k_max_retained_spans &&
            now - a.m_empty_committed.back()->m_empty_since < k_purge_delay_ms) {
            break;
        }
        decommit_oldest_locked(a);
    }
}

void release_span_locked(node_arena& a, span* s) {
    TOPOS_ASSERT(used(s) == 0, "release_span_locked: no block of s is out");
    TOPOS_ASSERT(s != chunk_of(s)->m_spans.data(), "release_span_locked: s is not a chunk's header span");
    set_state(s, span_state::empty);
    s->m_local_free = nullptr;
    set_full(s, false);
    // relaxed: the span is on no thread's lists; the next owner is set under this lock
    s->m_owner.store(nullptr, std::memory_order_relaxed);
    s->m_empty_since = os::coarse_ms();
    a.m_empty_committed.push_front(s);
    chunk* c = chunk_of(s);
    ++c->m_committed_empty;
    if (++c->m_empty == k_spans_per_chunk - 1) {
        ++a.m_empty_chunks;
    }
    purge_locked(a);
}

} // namespace topos::detail
