// allocators/arena_stats.cpp - what the arenas hold (counters), giving back
// what they hold without use (trim), and their locks around fork().
#include "allocators/arena_stats.hpp"

#include "allocators/thread_heap.hpp"

namespace topos::detail {

// Lock order: registry, orphans, arenas by node; the status lock (numa_layer)
// nests inside an arena lock and is taken by its own fork handlers last.
void alloc_fork_prepare() noexcept {
    registry().m_lock.lock();
    orphans().m_lock.lock();
    for (node_arena& a : arenas()) {
        a.m_lock.lock();
    }
}

void alloc_fork_parent() noexcept {
    for (auto it = arenas().rbegin(); it != arenas().rend(); ++it) {
        it->m_lock.unlock();
    }
    orphans().m_lock.unlock();
    registry().m_lock.unlock();
}

void alloc_fork_child() noexcept {
    // The child has only the forking thread; the locks it took are its own.
    alloc_fork_parent();
}

void arena_trim() {
    if (thread_heap* h = t_heap) {
        // The blocks the thread batched go home first, so their spans can empty.
        flush_remote_batch(h);
        for (std::size_t n = 0; n < h->m_nodes.size(); ++n) {
            node_heap* nh = h->m_nodes[n];
            if (nh == nullptr) {
                continue;
            }
            for (bin& b : nh->m_bins) {
                for (span* s = b.m_full.front(); s != nullptr;) {
                    span* next = s->m_next;
                    collect_remote(s, credit_of(h, s));
                    if (s->m_local_free != nullptr || used(s) == 0) {
                        b.m_full.remove(s);
                        set_full(s, false);
                        b.m_partial.push_front(s);
                    }
                    s = next;
                }
                auto release = [&](span* s) {
                    node_arena& a = arenas()[n];
                    const std::lock_guard lock(a.m_lock);
                    release_span_locked(a, s);
                };
                b.m_spare = nullptr;
                for (span* s = b.m_partial.front(); s != nullptr;) {
                    span* next = s->m_next;
                    collect_remote(s, credit_of(h, s));
                    if (used(s) == 0) {
                        b.m_partial.remove(s);
                        release(s);
                    }
                    s = next;
                }
                if (*b.m_current != nullptr) {
                    collect_remote(*b.m_current, credit_of(h, *b.m_current));
                    if (used(*b.m_current) == 0) {
                        release(*b.m_current);
                        set_current(b, nullptr);
                    }
                }
            }
        }
    }
    for (node_arena& a : arenas()) {
        const std::lock_guard lock(a.m_lock);
        for (span_list& list : a.m_abandoned) {
            for (span* s = list.front(); s != nullptr;) {
                span* next = s->m_next;
                collect_remote(s, a.m_collected);
                if (used(s) == 0) {
                    list.remove(s);
                    release_span_locked(a, s);
                }
                s = next;
            }
        }
        while (!a.m_empty_committed.empty()) {
            decommit_oldest_locked(a);
        }
        for (chunk* c = a.m_chunks; c != nullptr;) {
            chunk* next = c->m_next;
            if (c->m_empty == k_spans_per_chunk - 1) {
                unmap_chunk_locked(a, c);
            }
            c = next;
        }
    }
}

void arena_counters(memory_counters& out) {
    auto& all = arenas();
    for (std::size_t n = 0; n < all.size() && n < out.nodes.size(); ++n) {
        node_arena& a = all[n];
        out.nodes[n].os_bytes += a.m_os_bytes.load(std::memory_order_relaxed);
        // Blocks out of every span of the node, read under the lock that
        // guards the chunk list and every span's size class.
        const std::lock_guard lock(a.m_lock);
        std::int64_t in_use = a.m_collected.load(std::memory_order_relaxed);
        for (const chunk* c = a.m_chunks; c != nullptr; c = c->m_next) {
            for (std::size_t i = 1; i < k_spans_per_chunk; ++i) {
                const span& sp = c->m_spans[i];
                in_use += static_cast<std::int64_t>(used(&sp)) * sp.m_block_size;
            }
        }
        out.nodes[n].bytes_in_use += in_use;
    }
    auto add_heap = [&](const thread_heap* h) {
        for (std::size_t n = 0; n < out.nodes.size(); ++n) {
            out.nodes[n].bytes_in_use += h->m_in_use[n].load(std::memory_order_relaxed);
            out.nodes[n].remote_frees += h->m_remote_frees[n].load(std::memory_order_relaxed);
        }
    };
    {
        auto& o = orphans();
        const std::lock_guard lock(o.m_lock);
        add_heap(o.m_heap);
    }
    auto& r = registry();
    const std::lock_guard lock(r.m_lock);
    for (const thread_heap* h = r.m_heaps; h != nullptr; h = h->m_reg_next) {
        add_heap(h);
    }
    for (std::size_t n = 0; n < out.nodes.size(); ++n) {
        out.nodes[n].bytes_in_use += r.m_retired_in_use[n].load(std::memory_order_relaxed);
        out.nodes[n].remote_frees += r.m_retired_remote[n].load(std::memory_order_relaxed);
    }
}

} // namespace topos::detail
