// allocators/fast_path.hpp - the allocation and free fast paths, inline so
// that each entry point (arena.cpp) and the slow paths that retry them
// (thread_heap.cpp) compile them in place: no call, no lock, no atomic
// read-modify-write (see arena.hpp).
#pragma once

#include "allocators/thread_heap.hpp"
#include "os/cpu.hpp"

#include <topos/detail/assert.hpp>

#include <cstddef>
#include <cstdint>

namespace topos::detail {

// Asks for the line of the block the next allocation of its class will hand
// out, for writing. A block that another thread freed was last written by
// that thread's core (its link), so taking it misses; the request made one
// allocation ahead overlaps that miss with the caller's use of this block
// (in a producer/consumer program, every allocation). A prefetch never
// faults, but one of null (the list's end) asks for a translation of page 0,
// which no TLB ever holds; `here` (the block just taken, in cache) stands in
// for null, without a branch. (Quiet runs, 2 threads: xmalloc-test and
// glibc-simple were within noise of a build without the prefetch.)
inline void prefetch_block(const free_block* next, const free_block* here) noexcept {
    __builtin_prefetch(next != nullptr ? next : here, 1, 3);
}

// A block from the span nh allocates class cls from; nullptr when it has none at hand.
inline free_block* pop_current(node_heap* nh, std::size_t cls) noexcept {
    span* s = nh->m_current[cls];
    if (s != nullptr) [[likely]] {
        free_block* blk = s->m_local_free;
        if (blk != nullptr) [[likely]] {
            s->m_local_free = blk->m_next;
            add_used(s, 1);
            return blk;
        }
    }
    return nullptr;
}

// The fast path of small_alloc_local without its slow path: a block, or
// nullptr when the thread's span of the class has none at hand (or the
// thread has no heap, or runs on another CPU than its cache serves). Never
// throws and calls nothing, so a caller that falls back with a tail call
// stays a leaf function (the drop-in malloc).
// pre: 0 < bytes <= k_fast_max.
inline void* small_alloc_try(std::size_t bytes) noexcept {
    const std::ptrdiff_t offset = t_local.m_cpu_offset;
    // t_local.m_cpu is k_no_cpu until the thread has a heap, so the test
    // also means "t_heap is set" (k_no_cpu is never a CPU rseq reports, nor
    // what the other words m_cpu_offset points at hold).
    if ((k_tp_word_is_pointer || t_local.m_cpu != k_no_cpu) && t_local.m_cpu == os::thread_word(offset)) [[likely]] {
        span* s = t_local.m_heap->m_direct[table_index(bytes)];
        free_block* blk = s->m_local_free; // null on g_no_span
        if (blk != nullptr) [[likely]] {
            free_block* next = blk->m_next;
            s->m_local_free = next;
            add_used(s, 1);
            prefetch_block(next, blk);
            return blk;
        }
    }
    return nullptr;
}

// The fast path of small_alloc_local (see arena.hpp).
// pre: 0 < bytes <= k_fast_max.
inline void* small_alloc_local_inline(std::size_t bytes) {
    TOPOS_ASSERT(bytes - 1 < k_fast_max, "small_alloc_local: 0 < bytes <= k_fast_max");
    if (void* p = small_alloc_try(bytes)) [[likely]] {
        return p;
    }
    return small_alloc_local_slow(bytes);
}

// The fast path of small_free and node_free (see span::m_owner).
// pre: region_of(p) == region::arena.
inline void small_free_inline(void* p) {
    span* s = span_of(chunk_of(p), p);
#ifndef NDEBUG
    // m_block_size cannot change while a block of s is out, so any thread may read it.
    const std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - span_memory(s));
    if (offset % s->m_block_size != 0) {
        bad_free(p, "it is not the start of a block of a topos arena");
    }
#endif
    const std::uintptr_t key = t_local.m_owner_key;
    // relaxed: the thread's heap is seen here exactly while this thread owns
    // s (see span::m_owner). An owned span is live, and span 0 (the header)
    // never has an owner, so the checks below need not run on this path.
    if (reinterpret_cast<std::uintptr_t>(s->m_owner.load(std::memory_order_relaxed)) == key) [[likely]] {
        auto* h = reinterpret_cast<thread_heap*>(key); // NOLINT(performance-no-int-to-ptr): t_heap, see local_cache
        auto* blk = static_cast<free_block*>(p);
        blk->m_next = s->m_local_free;
        s->m_local_free = blk;
        // Negative (as signed) while s is full: see span::m_used.
        const std::uint32_t left = s->m_used.load(std::memory_order_relaxed) - 1;
        s->m_used.store(left, std::memory_order_relaxed);
        if (static_cast<std::int32_t>(left) <= 0) [[unlikely]] {
            free_local_slow(h, s);
        }
        return;
    }
    free_not_owned(t_heap, p);
}

// small_free_inline without its slow paths: true when p was a block of a
// span this thread owns and the span stays in use (p is free then); false,
// with nothing done, when small_free_inline must decide. Calls nothing.
// pre: region_of(p) == region::arena.
inline bool small_free_try(void* p) noexcept {
    span* s = span_of(chunk_of(p), p);
#ifndef NDEBUG
    const std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - span_memory(s));
    if (offset % s->m_block_size != 0) {
        return false; // small_free_inline names it
    }
#endif
    // relaxed: as in small_free_inline.
    if (reinterpret_cast<std::uintptr_t>(s->m_owner.load(std::memory_order_relaxed)) != t_local.m_owner_key) {
        return false;
    }
    const std::uint32_t left = s->m_used.load(std::memory_order_relaxed) - 1;
    if (static_cast<std::int32_t>(left) <= 0) [[unlikely]] {
        return false; // the span's last block, or a full span: free_local_slow's work
    }
    auto* blk = static_cast<free_block*>(p);
    blk->m_next = s->m_local_free;
    s->m_local_free = blk;
    s->m_used.store(left, std::memory_order_relaxed);
    return true;
}

} // namespace topos::detail
