// allocators/span.hpp - chunks, the 64 KiB spans they are cut into, span
// lists and the remote-free word (see arena.hpp). Header only: the
// allocation and free paths use all of it.
#pragma once

#include "allocators/region.hpp"
#include "allocators/size_class.hpp"

#include <topos/detail/assert.hpp>
#include <topos/detail/cache_line.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

inline constexpr std::size_t k_spans_per_chunk = k_chunk_size / k_span_size; // span 0 holds the header
inline constexpr std::uint64_t k_chunk_magic = 0x746f706f735f6368; // "topos_ch"

struct thread_heap;

struct free_block {
    free_block* m_next;
};

enum class span_state : std::uint8_t { empty, owned, abandoned };

// Fields without a note are written by the owning heap's thread while the span
// is owned, and by the arena under its lock otherwise.
struct span {
    free_block* m_local_free = nullptr;
    span* m_prev = nullptr;
    span* m_next = nullptr;
    // Blocks out of the local list (remote frees count until collected),
    // with k_full_bit set while the span is on its owner's full list: one
    // word, so the free fast path tells "now empty" and "was full" apart
    // from "nothing to do" with one signed test of the decremented value.
    // Atomic only so get_memory_counters can read it (relaxed) under the
    // arena lock: the holder writes it with a relaxed load and store, no RMW.
    std::atomic<std::uint32_t> m_used{0};
    std::uint32_t m_carved = 0;   // blocks cut from the span's memory so far
    std::uint32_t m_capacity = 0;
    std::uint32_t m_block_size = 0;
    std::uint16_t m_class = 0;
    std::uint16_t m_node = 0;     // the chunk's node, kept here so a free reads one cache line
    bool m_committed = false;     // pages may be resident (not decommitted since last use)
    // Written by the owner or the arena as above; read by any freeing thread
    // only to reject frees into empty spans.
    std::atomic<span_state> m_state{span_state::empty};
    std::uint32_t m_empty_since = 0; // now_ms() when it last went on m_empty_committed (arena lock)
    // Any thread reads it to decide local or remote free; only the owner and
    // the arena (under its lock) write it. A thread sees its own heap here
    // exactly while it owns the span, whatever order other writes arrive in.
    std::atomic<thread_heap*> m_owner{nullptr};
    // Blocks freed by other threads: any thread pushes, the span's holder
    // takes all. The word holds the top block's address in its low 48 bits
    // (arena memory lies below 2^47) and the list's length above them, so
    // the holder takes the blocks and their count in one exchange and never
    // walks the list (its blocks were last written by other cores: a walk
    // would miss on every one). 0 when empty.
    alignas(detail::cache_line) std::atomic<std::uintptr_t> m_remote_free{0};
};
static_assert(sizeof(span) == 128, "a span's owner fields fill one cache line, its remote list another");

inline constexpr unsigned k_remote_count_shift = 48;
inline constexpr std::uintptr_t k_remote_block_mask = (std::uintptr_t{1} << k_remote_count_shift) - 1;
static_assert(k_address_bits < k_remote_count_shift && k_span_size / 16 < (std::uintptr_t{1} << 16),
              "a block address and a span's block count share the remote list's word");

inline free_block* remote_top(std::uintptr_t word) noexcept {
    return reinterpret_cast<free_block*>(word & k_remote_block_mask); // NOLINT(performance-no-int-to-ptr)
}
inline std::uint32_t remote_count(std::uintptr_t word) noexcept {
    return static_cast<std::uint32_t>(word >> k_remote_count_shift);
}

struct chunk {
    std::uint64_t m_magic = k_chunk_magic;
    int m_node = 0;
    std::uint32_t m_empty = 0; // spans on the arena's empty lists (arena lock)
    std::uint32_t m_committed_empty = 0; // of which on m_empty_committed (arena lock)
    chunk* m_prev = nullptr;   // arena's chunk list (arena lock)
    chunk* m_next = nullptr;
    std::array<span, k_spans_per_chunk> m_spans; // [0] is unused: the header lives there
};
static_assert(sizeof(chunk) <= k_span_size, "the chunk header must fit in the first span");

inline void set_state(span* s, span_state state) noexcept {
    // relaxed: the state is published with the span by the arena lock or by the
    // hand-off of a block; the free-time check only needs some recent value
    s->m_state.store(state, std::memory_order_relaxed);
}

// The flag of span::m_used. Counts stay far below it (at most 4096 blocks).
inline constexpr std::uint32_t k_full_bit = 0x80000000U;

inline std::uint32_t used(const span* s) noexcept { return s->m_used.load(std::memory_order_relaxed) & ~k_full_bit; }

// pre: the caller holds s. Not a read-modify-write: only the holder writes
// m_used. Keeps the full flag.
inline void add_used(span* s, std::int32_t delta) noexcept {
    s->m_used.store(static_cast<std::uint32_t>(static_cast<std::int32_t>(s->m_used.load(std::memory_order_relaxed)) +
                                               delta),
                    std::memory_order_relaxed);
}

// True while s is on its owner's full list. pre: the caller holds s.
inline bool is_full(const span* s) noexcept { return (s->m_used.load(std::memory_order_relaxed) & k_full_bit) != 0; }

// pre: the caller holds s, and moves it onto (full) or off its full list.
inline void set_full(span* s, bool full) noexcept {
    s->m_used.store(used(s) | (full ? k_full_bit : 0U), std::memory_order_relaxed);
}

inline chunk* chunk_of(const void* p) noexcept {
    return reinterpret_cast<chunk*>(reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{k_chunk_size} - 1));
}

inline span* span_of(chunk* c, const void* p) noexcept {
    const std::size_t index = (reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(c)) >> k_span_shift;
    TOPOS_ASSERT(index < k_spans_per_chunk, "span_of: p lies in chunk c");
    return &c->m_spans[index];
}

inline std::size_t index_of(const span* s) noexcept {
    const chunk* c = chunk_of(s);
    return static_cast<std::size_t>(s - c->m_spans.data());
}

inline char* span_memory(span* s) noexcept {
    return reinterpret_cast<char*>(chunk_of(s)) + index_of(s) * k_span_size;
}

// Intrusive doubly linked list of spans with a tail, so the oldest is at hand.
class span_list {
public:
    [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] span* front() const noexcept { return m_head; }
    [[nodiscard]] span* back() const noexcept { return m_tail; }

    void push_front(span* s) noexcept {
        s->m_prev = nullptr;
        s->m_next = m_head;
        if (m_head != nullptr) {
            m_head->m_prev = s;
        } else {
            m_tail = s;
        }
        m_head = s;
        ++m_size;
    }
    void push_back(span* s) noexcept {
        s->m_next = nullptr;
        s->m_prev = m_tail;
        if (m_tail != nullptr) {
            m_tail->m_next = s;
        } else {
            m_head = s;
        }
        m_tail = s;
        ++m_size;
    }
    void remove(span* s) noexcept {
        TOPOS_ASSERT(m_size > 0, "span_list::remove: the list holds s");
        TOPOS_ASSERT_EXPENSIVE(contains(s), "span_list::remove: the list holds s");
        (s->m_prev != nullptr ? s->m_prev->m_next : m_head) = s->m_next;
        (s->m_next != nullptr ? s->m_next->m_prev : m_tail) = s->m_prev;
        s->m_prev = s->m_next = nullptr;
        --m_size;
    }
    span* pop_front() noexcept {
        span* s = m_head;
        if (s != nullptr) {
            remove(s);
        }
        return s;
    }

    // True when s is on the list: a walk, for TOPOS_ASSERT_EXPENSIVE.
    [[nodiscard]] bool contains(const span* s) const noexcept {
        for (const span* i = m_head; i != nullptr; i = i->m_next) {
            if (i == s) {
                return true;
            }
        }
        return false;
    }

private:
    span* m_head = nullptr;
    span* m_tail = nullptr;
    std::size_t m_size = 0;
};

// The length of a free list: a walk, for TOPOS_ASSERT_EXPENSIVE.
inline std::uint32_t list_length(const free_block* b) noexcept {
    std::uint32_t n = 0;
    for (; b != nullptr; b = b->m_next) {
        ++n;
    }
    return n;
}

// Moves every remote-freed block of s onto its local list, adding their
// bytes to `credit` (the collecting heap's or arena's count, see m_in_use).
// pre: the caller holds s (its owner thread, or the arena lock for an unowned
// span) and is the only writer of credit.
inline void collect_remote(span* s, std::atomic<std::int64_t>& credit) noexcept {
    // relaxed: a look before the exchange, which costs a locked instruction
    if (s->m_remote_free.load(std::memory_order_relaxed) == 0) {
        return;
    }
    // acquire: pairs with the release CAS in free_remote, so each block's m_next is visible
    const std::uintptr_t word = s->m_remote_free.exchange(0, std::memory_order_acquire);
    if (word == 0) {
        return;
    }
    free_block* list = remote_top(word);
    const std::uint32_t n = remote_count(word);
    TOPOS_ASSERT(n <= used(s), "collect_remote: every remote-freed block was counted out of s");
    TOPOS_ASSERT_EXPENSIVE(list_length(list) == n, "collect_remote: the remote list's count matches its blocks");
    if (s->m_local_free != nullptr) {
        // Rare (the allocation path collects only when the local list is
        // empty): splice the local list behind the remote one's tail.
        free_block* tail = list;
        while (tail->m_next != nullptr) {
            tail = tail->m_next;
        }
        tail->m_next = s->m_local_free;
    }
    s->m_local_free = list;
    add_used(s, -static_cast<std::int32_t>(n));
    credit.store(credit.load(std::memory_order_relaxed) + static_cast<std::int64_t>(n) * s->m_block_size,
                 std::memory_order_relaxed);
}


// Cuts up to a page (at least 8 blocks) of never-used blocks onto the local list.
inline void carve(span* s) noexcept {
    const std::uint32_t left = s->m_capacity - s->m_carved;
    const std::uint32_t batch = std::min(left, std::max<std::uint32_t>(8, 4096 / s->m_block_size));
    char* base = span_memory(s) + static_cast<std::size_t>(s->m_carved) * s->m_block_size;
    free_block* next = s->m_local_free;
    for (std::uint32_t i = batch; i > 0; --i) {
        auto* b = reinterpret_cast<free_block*>(base + static_cast<std::size_t>(i - 1) * s->m_block_size);
        b->m_next = next;
        next = b;
    }
    s->m_local_free = next;
    s->m_carved += batch;
}

// pre: the caller holds s, which has no block out; cls < k_class_count.
// post: s serves class cls, nothing carved yet.
inline void init_span(span* s, std::size_t cls) noexcept {
    TOPOS_ASSERT(cls < k_class_count, "init_span: cls is a size class");
    s->m_class = static_cast<std::uint16_t>(cls);
    s->m_block_size = k_class_size[cls];
    s->m_capacity = static_cast<std::uint32_t>(k_span_size / s->m_block_size);
    s->m_carved = 0;
    s->m_used.store(0, std::memory_order_relaxed); // not full
    s->m_local_free = nullptr;
}

} // namespace topos::detail
