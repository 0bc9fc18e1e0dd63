// topos/detail/deque.hpp - the growable work-stealing deque each worker owns.
#pragma once

#include <topos/detail/spin.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>

namespace topos::detail {

/// What a steal attempt found. `lost` means another thread won the race for
/// the item we saw: the deque may still hold work, so a thief retries the
/// victim (or comes back soon) instead of treating it as empty.
enum class steal_status : std::uint8_t { empty, lost, success };

template <class T>
struct steal_result {
    steal_status status = steal_status::empty;
    T value{};
    [[nodiscard]] explicit operator bool() const noexcept { return status == steal_status::success; }
};

/// A single-owner, multi-thief work-stealing deque.
///
/// The algorithm is Chase and Lev, "Dynamic Circular Work-Stealing Deque"
/// (SPAA 2005, DOI 10.1145/1073970.1073974), with the C11 memory orders of
/// Lê, Pop, Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for
/// Weak Memory Models" (PPoPP 2013, DOI 10.1145/2442516.2442524).
///
/// The owner pushes and pops at the bottom; thieves take from the top with a
/// CAS on `top`. Items live in a power-of-two ring indexed modulo capacity;
/// indices are 64-bit and never wrap in practice.
///
/// Departures from Lê et al., each on purpose:
///  - No stand-alone fences. Where the paper puts a seq_cst fence between
///    `bottom` and `top` (in take and steal), we make those accesses seq_cst
///    themselves. Both forms give the Dekker-style guarantee the algorithm
///    needs (they are all in the single total order S); on x86 the owner's
///    seq_cst store is one `xchg`, no dearer than `mfence`; and ThreadSanitizer,
///    which does not model fences, can check this form.
///  - push publishes with a release store of `bottom` instead of a release
///    fence followed by a relaxed store; every later store of `bottom` by the
///    owner is release too, so whichever value a thief reads, it synchronises
///    with the push that wrote the item it takes.
///  - The ring grows (doubles) when full and never aborts. Old rings are
///    retired, not freed: a thief may still be reading one. They are freed
///    when the deque is destroyed, which the runtime does only after every
///    thief has stopped. Because rings double, retired rings take at most as
///    much memory as the live one.
///  - Steal reports `lost` when its CAS fails instead of retrying, so the
///    caller decides (retry, try another victim, or back off).
///
/// T must be trivially copyable (the scheduler stores task pointers).
template <class T>
class chase_lev_deque {
    static_assert(std::is_trivially_copyable_v<T>, "deque items are copied with plain atomic loads and stores");

public:
    static constexpr std::int64_t k_default_capacity = 256;

    explicit chase_lev_deque(std::int64_t initial_capacity = k_default_capacity)
        : m_ring(new ring(round_up_pow2(initial_capacity))) {}

    chase_lev_deque(const chase_lev_deque&) = delete;
    chase_lev_deque& operator=(const chase_lev_deque&) = delete;

    ~chase_lev_deque() {
        delete m_ring.load(std::memory_order_relaxed);
        while (m_retired != nullptr) {
            ring* next = m_retired->m_retired_next;
            delete m_retired;
            m_retired = next;
        }
    }

    /// Owner only. Never fails: grows the ring when it is full.
    void push(T item) {
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed); // only the owner writes bottom
        ring* r = m_ring.load(std::memory_order_relaxed); // only the owner writes m_ring
        // top only grows, so a value read earlier is a lower bound: while it
        // leaves room, slot b holds no item a thief may still take, and top's
        // line (which the last thief's CAS took to its core) is not read again.
        if (b - m_top_seen > r->m_mask) {
            // acquire: pairs with the thieves' CAS on top (a release sequence
            // of RMWs), so every read of a slot below the value we see, the
            // one we may overwrite next included, happens before our write.
            m_top_seen = m_top.load(std::memory_order_acquire);
            if (b - m_top_seen > r->m_mask) {
                r = grow(r, m_top_seen, b);
            }
        }
        r->put(b, item);
        // release: publishes the slot (and what the item points to) to the
        // thief's seq_cst (hence acquire) load of bottom in steal().
        m_bottom.store(b + 1, std::memory_order_release);
    }

    /// Owner only. The most recently pushed item, or nothing when empty.
    [[nodiscard]] std::optional<T> pop() {
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed) - 1;
        ring* r = m_ring.load(std::memory_order_relaxed);
        // seq_cst: claims slot b before we read top; pairs with steal()'s
        // seq_cst loads of top then bottom (Dekker: one of us sees the other).
        m_bottom.store(b, std::memory_order_seq_cst);
        std::int64_t t = m_top.load(std::memory_order_seq_cst); // seq_cst: the other half of that Dekker pair
        if (t > b) {
            // release: see the class comment; a thief reading this value must
            // still synchronise with the pushes of the items below it.
            m_bottom.store(b + 1, std::memory_order_release);
            return std::nullopt;
        }
        const T item = r->get(b);
        if (t < b) {
            return item; // more than one item: no thief can reach slot b
        }
        // Last item: race the thieves for it through top.
        // seq_cst: orders our claim with the thieves' CAS on top (same total order).
        const bool won = m_top.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed);
        // release: as above, for thieves that read this bottom.
        m_bottom.store(b + 1, std::memory_order_release);
        if (!won) {
            return std::nullopt;
        }
        return item;
    }

    /// Any thread. Takes the oldest item.
    [[nodiscard]] steal_result<T> steal() {
        // seq_cst: pairs with pop()'s seq_cst store of bottom (Dekker).
        std::int64_t t = m_top.load(std::memory_order_seq_cst);
        // seq_cst (so also acquire): synchronises with push()'s release store
        // of bottom, making the slot and the item's target visible.
        const std::int64_t b = m_bottom.load(std::memory_order_seq_cst);
        if (t >= b) {
            return {};
        }
        // acquire: pairs with grow()'s release store, so the copied slots of a
        // new ring are visible. An older ring is also fine: the owner never
        // writes a retired ring again, and it still holds slot t (see grow()).
        ring* r = m_ring.load(std::memory_order_acquire);
        const T item = r->get(t);
        if constexpr (std::is_pointer_v<T>) {
            // The thief reads what the item points to next: fetch it while the
            // CAS below waits for top's line.
            __builtin_prefetch(item);
        }
        // seq_cst: claims slot t; pairs with other thieves' CAS and pop()'s CAS.
        if (!m_top.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
            return {.status = steal_status::lost, .value = T{}};
        }
        return {.status = steal_status::success, .value = item};
    }

    /// Any thread. A snapshot that may be stale by the time it returns; used to
    /// skip victims that look empty without touching their top with a CAS.
    [[nodiscard]] bool empty_hint() const noexcept {
        return m_bottom.load(std::memory_order_relaxed) <= m_top.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::int64_t size_hint() const noexcept {
        const std::int64_t n = m_bottom.load(std::memory_order_relaxed) - m_top.load(std::memory_order_relaxed);
        return n < 0 ? 0 : n;
    }
    /// Owner only (or when no thread uses the deque): the ring's capacity.
    [[nodiscard]] std::int64_t capacity() const noexcept { return m_ring.load(std::memory_order_relaxed)->m_mask + 1; }

private:
    struct ring {
        explicit ring(std::int64_t capacity)
            : m_mask(capacity - 1), m_slots(new std::atomic<T>[static_cast<std::size_t>(capacity)]) {}
        // Slots are atomics only so that a thief reading a slot the owner is
        // overwriting is not a data race; the ordering comes from top/bottom.
        [[nodiscard]] T get(std::int64_t i) const noexcept {
            return m_slots[static_cast<std::size_t>(i & m_mask)].load(std::memory_order_relaxed);
        }
        void put(std::int64_t i, T v) noexcept {
            m_slots[static_cast<std::size_t>(i & m_mask)].store(v, std::memory_order_relaxed);
        }
        std::int64_t m_mask;
        std::unique_ptr<std::atomic<T>[]> m_slots;
        ring* m_retired_next = nullptr; // owner-private chain of retired rings
    };

    static std::int64_t round_up_pow2(std::int64_t n) noexcept {
        std::int64_t c = 2;
        while (c < n) {
            c *= 2;
        }
        return c;
    }

    // Slow path of push(): copies [t, b) into a ring twice as large. The old
    // ring keeps its contents, so a thief that loaded it before the switch
    // reads the same item for any index in [t, b).
    ring* grow(ring* old, std::int64_t t, std::int64_t b) {
        auto* bigger = new ring((old->m_mask + 1) * 2);
        for (std::int64_t i = t; i < b; ++i) {
            bigger->put(i, old->get(i));
        }
        old->m_retired_next = m_retired;
        m_retired = old;
        // release: publishes the copied slots to steal()'s acquire load of m_ring.
        m_ring.store(bigger, std::memory_order_release);
        return bigger;
    }

    // Written by thieves (CAS) and by the owner taking the last item.
    alignas(cache_line) std::atomic<std::int64_t> m_top{0};
    // Written by the owner only; read by thieves. The ring pointer changes
    // only on growth, so it shares bottom's line.
    alignas(cache_line) std::atomic<std::int64_t> m_bottom{0};
    std::atomic<ring*> m_ring;
    std::int64_t m_top_seen = 0; // owner-private: top as push last read it (a lower bound)
    ring* m_retired = nullptr; // owner-private
};

} // namespace topos::detail
