// ipc/shm_heap.cpp - segment_heap: a first-fit free-list heap whose whole
// state lives in shared memory, addressed by offsets from the heap's start.
//
// Block layout (offsets from the heap state, all multiples of 16):
//   block + 0: total bytes of the block (header and padding included); bit 0
//              set while the block is allocated (sizes are multiples of 16)
//   free block:      block + 8 holds the offset of the next free block (0 = end)
//   allocated block: block + 8 holds back = p - block, where p is the user
//                    pointer align_up(address of block + 16, alignment); the 8
//                    bytes before p hold back too (so free finds the block,
//                    and the two copies must agree)
// Invariants (check() verifies them all):
//   - the blocks tile [first_block, region_bytes) exactly;
//   - the free list holds exactly the free blocks, sorted by offset, and no
//     two free blocks touch (deallocate coalesces);
//   - `used` is the sum of the allocated blocks' sizes;
//   - every name lies inside an allocated block's user bytes.
//
// Crashes (the redo record, as include/topos/shm.hpp explains): an operation
// computes every word it will write, stages them in a redo_writer, and
// commit() copies them into the record, arms it, writes them, disarms it.
// The order of those steps is what a killed process leaves behind: the
// instructions it executed, in program order as the compiler emitted them
// (its stores all reach the shared pages; the kernel does not undo them). So
// the steps are separated by compiler fences (atomic_signal_fence), which
// order this thread's stores as a kill (a signal, in effect) observes them;
// the lock's release and acquire order them for the next holder.
//
// Hostile bytes: every offset read from the segment goes through heap_view,
// which checks it against m_bytes (the size this process validated at
// attach, never re-read from the segment) before touching memory; and the
// free-list walks require rising offsets, so a cycle cannot trap them.
#include "ipc/shm_heap_layout.hpp"

#include <topos/detail/assert.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>

namespace topos {

namespace {

using detail::heap_state;

constexpr std::uint64_t k_grain = 16;
constexpr std::uint64_t k_min_block = 32;
constexpr std::uint64_t k_max_align = 4096;
constexpr std::uint64_t k_allocated = 1; ///< bit 0 of a block's size word
constexpr std::uint64_t k_size_flags = k_grain - 1;

constexpr std::uint64_t align_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

/// The first block's offset: the state, rounded up to the grain.
constexpr std::uint64_t k_first = align_up(sizeof(heap_state), k_grain);
/// The smallest region a heap can be formatted over.
constexpr std::uint64_t k_min_region = 4096;
static_assert(k_first + k_min_block <= k_min_region, "the state leaves room for a block");
static_assert(std::is_standard_layout_v<heap_state>, "offsetof the heap state's fields");

/// Where a redo word may point: the state's plain fields after the lock,
/// the names, and the blocks; never the magic, the lock or the record.
constexpr std::uint64_t k_fields_begin = offsetof(heap_state, free_head);
constexpr std::uint64_t k_fields_end = offsetof(heap_state, redo);
constexpr std::uint64_t k_names_begin = offsetof(heap_state, names);
static_assert(k_fields_end > k_fields_begin && k_names_begin >= k_fields_end + sizeof(detail::redo_record));
static_assert(offsetof(heap_state, names) % 8 == 0 && sizeof(detail::heap_name) % 8 == 0);

enum class heap_op : std::uint32_t { allocate = 1, deallocate = 2, add_name = 3, remove_name = 4 };

const char* op_name(std::uint32_t op) {
    switch (static_cast<heap_op>(op)) {
    case heap_op::allocate: return "allocate";
    case heap_op::deallocate: return "deallocate";
    case heap_op::add_name: return "add a name";
    case heap_op::remove_name: return "remove a name";
    }
    return "an unknown operation";
}

[[noreturn]] void corrupt(const std::string& what) {
    throw shm_error(shm_errc::heap_corrupt, "segment_heap: " + what +
                                                " (its metadata is inconsistent: written by a faulty or hostile process)");
}

[[noreturn]] void fail_broken() {
    throw shm_error(shm_errc::heap_broken,
                    "segment_heap: the heap is beyond repair (a dead process's redo record could not be replayed); "
                    "it refuses every operation (make a new segment)");
}

[[noreturn]] void bad_pointer(const void* p, const char* why) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    throw shm_error(shm_errc::invalid_argument,
                    std::string("segment_heap: pointer ") + buf + " was not allocated by this heap (" + why + ")");
}

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// One 8-byte word at `at`, read or written whole. memcpy of 8 bytes is one
// load or store, so a word is never seen half written by a process that
// finds its writer killed.
std::uint64_t load_word(const char* at) {
    std::uint64_t v = 0;
    std::memcpy(&v, at, sizeof v);
    return v;
}
void store_word(char* at, std::uint64_t v) { std::memcpy(at, &v, sizeof v); }

/// The heap's bytes as one process validated them: every access is checked
/// against `bytes` (a multiple of 16, at least k_min_region) before it is made.
class heap_view {
public:
    heap_view(const heap_state* s, std::uint64_t bytes) noexcept
        : m_base(reinterpret_cast<const char*>(s)), m_bytes(bytes) {}

    [[nodiscard]] std::uint64_t bytes() const noexcept { return m_bytes; }
    [[nodiscard]] const heap_state& state() const noexcept { return *reinterpret_cast<const heap_state*>(m_base); }

    /// true when `off` is a block's start: in the block area, on the grain,
    /// with room for a minimal block.
    [[nodiscard]] bool is_block(std::uint64_t off) const noexcept {
        return off >= k_first && off % k_grain == 0 && off <= m_bytes - k_min_block;
    }
    /// The word at `off` of the block area, or heap_corrupt naming `what`.
    /// (The walks run through these: the checks inline, the messages out of line.)
    [[nodiscard]] std::uint64_t word(std::uint64_t off, const char* what) const {
        if (off < k_first || off % 8 != 0 || off > m_bytes - 8) [[unlikely]] {
            outside(what, off);
        }
        return load_word(m_base + off);
    }
    /// A free block's size, validated: flags clear, at least the minimum, inside the heap.
    /// pre: is_block(block) (it came from free_head() or free_next()).
    [[nodiscard]] std::uint64_t free_size(std::uint64_t block) const {
        const std::uint64_t w = load_word(m_base + block);
        if ((w & k_size_flags) != 0 || w < k_min_block || w > m_bytes - block) [[unlikely]] {
            bad_free_size(block, w);
        }
        return w;
    }
    /// The next free block after `block`, validated: 0, or a block start after `block`.
    /// pre: is_block(block).
    [[nodiscard]] std::uint64_t free_next(std::uint64_t block) const {
        const std::uint64_t next = load_word(m_base + block + 8);
        if (next != 0 && (next <= block || next % k_grain != 0 || next > m_bytes - k_min_block)) [[unlikely]] {
            bad_link(block, next);
        }
        return next;
    }
    /// The list head, validated as free_next validates a link.
    [[nodiscard]] std::uint64_t free_head() const {
        const std::uint64_t head = state().free_head;
        if (head != 0 && !is_block(head)) {
            corrupt("the free list starts at " + hex(head) + ", not a block of the heap");
        }
        return head;
    }

private:
    [[noreturn, gnu::cold, gnu::noinline]] void outside(const char* what, std::uint64_t off) const {
        corrupt(std::string(what) + " at offset " + hex(off) + " lies outside the heap's " + std::to_string(m_bytes) +
                " bytes");
    }
    [[noreturn, gnu::cold, gnu::noinline]] static void bad_free_size(std::uint64_t block, std::uint64_t w) {
        corrupt("the free block at " + hex(block) + " has size word " + hex(w));
    }
    [[noreturn, gnu::cold, gnu::noinline]] static void bad_link(std::uint64_t block, std::uint64_t next) {
        corrupt("the free block at " + hex(block) + " links to " + hex(next) + " (the list must rise through the heap)");
    }

    const char* m_base;
    std::uint64_t m_bytes;
};

/// A redo word's target is allowed: 8-aligned, inside the region, and one of
/// the state's plain fields, a name or a block word.
bool redo_target_ok(std::uint64_t off, std::uint64_t bytes) noexcept {
    if (off % 8 != 0 || off > bytes - 8) {
        return false;
    }
    return (off >= k_fields_begin && off < k_fields_end) || off >= k_names_begin;
}

/// Writes an armed record's words and disarms it. false when the record
/// cannot be replayed (a word outside the heap, a count too large).
/// pre: the caller holds the lock (or owns a private copy).
bool replay(heap_state* s, std::uint64_t bytes) {
    // relaxed: the lock (or the private copy) orders the record with its writer.
    if (s->redo.armed.load(std::memory_order_relaxed) == 0) {
        return true;
    }
    const std::uint32_t count = s->redo.count;
    if (count > detail::k_redo_words) {
        return false;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        if (!redo_target_ok(s->redo.words[i].offset, bytes)) {
            return false;
        }
    }
    char* base = reinterpret_cast<char*>(s);
    for (std::uint32_t i = 0; i < count; ++i) {
        store_word(base + s->redo.words[i].offset, s->redo.words[i].value);
    }
    // The words above reach memory before the record is disarmed, should this process die too.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    s->redo.armed.store(0, std::memory_order_relaxed);
    return true;
}

std::atomic<detail::heap_commit_hook> g_commit_hook{nullptr};

// The test hook at one step of a commit (relaxed: a test sets it before the operations it is for).
void at_step(unsigned step, unsigned count) {
    if (const detail::heap_commit_hook hook = g_commit_hook.load(std::memory_order_relaxed)) [[unlikely]] {
        hook(step, count);
    }
}

/// The words one operation writes, staged, then committed through the redo record.
class redo_writer {
public:
    redo_writer(heap_state* s, std::uint64_t bytes, heap_op op) noexcept : m_s(s), m_bytes(bytes), m_op(op) {}

    void set(std::uint64_t offset, std::uint64_t value) {
        TOPOS_ASSERT(m_count < detail::k_redo_words && redo_target_ok(offset, m_bytes),
                     "segment_heap: a redo word inside the heap, within the record's room");
        m_words[m_count++] = {offset, value};
    }

    /// Record, arm, write, disarm: a kill anywhere leaves the heap as it was
    /// (record not armed), or a record whose replay finishes the operation.
    void commit() {
        const std::uint64_t seq = m_s->sequence + 1;
        set(offsetof(heap_state, sequence), seq);
        at_step(0, m_count);
        detail::redo_record& r = m_s->redo;
        r.count = m_count;
        r.op = static_cast<std::uint32_t>(m_op);
        std::copy_n(m_words.begin(), m_count, r.words);
        at_step(1, m_count);
        // The record is complete before it is armed, and armed before any word changes.
        std::atomic_signal_fence(std::memory_order_seq_cst);
        r.armed.store(seq, std::memory_order_relaxed);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        at_step(2, m_count);
        char* base = reinterpret_cast<char*>(m_s);
        for (std::uint32_t i = 0; i < m_count; ++i) {
            store_word(base + m_words[i].offset, m_words[i].value);
            at_step(3 + i, m_count);
        }
        std::atomic_signal_fence(std::memory_order_seq_cst);
        r.armed.store(0, std::memory_order_relaxed);
        at_step(3 + m_count, m_count);
    }

private:
    heap_state* m_s;
    std::uint64_t m_bytes;
    heap_op m_op;
    std::uint32_t m_count = 0;
    std::array<detail::redo_word, detail::k_redo_words> m_words{};
};

/// The name in a slot, or empty when the slot is free; heap_corrupt when it
/// is not NUL-terminated.
std::string_view slot_name(const detail::heap_name& n, std::size_t index) {
    const void* end = std::memchr(n.name, '\0', sizeof n.name);
    if (end == nullptr) {
        corrupt("name slot " + std::to_string(index) + " is not NUL-terminated");
    }
    return {n.name, static_cast<std::size_t>(static_cast<const char*>(end) - n.name)};
}

/// The whole-heap walk of check() and check_image().
/// pre: `s` may be read for view.bytes() bytes; nobody changes it meanwhile.
void check_state(const heap_view& v) {
    const heap_state& s = v.state();
    // relaxed: the caller holds the lock or reads a private copy.
    if (s.redo.armed.load(std::memory_order_relaxed) != 0) {
        corrupt("a redo record is armed while nobody holds the lock");
    }
    if (s.region_bytes != v.bytes() || s.first_block != k_first) {
        corrupt("the state records a region of " + std::to_string(s.region_bytes) + " bytes from offset " +
                std::to_string(s.first_block) + ", attached as " + std::to_string(v.bytes()) + " from " +
                std::to_string(k_first));
    }
    struct named {
        std::uint64_t offset;
        std::uint64_t bytes;
        std::size_t index;
    };
    std::array<named, detail::k_heap_names> names{};
    std::size_t name_count = 0;
    for (std::size_t i = 0; i < detail::k_heap_names; ++i) {
        if (!slot_name(s.names[i], i).empty()) {
            names[name_count++] = {s.names[i].offset, s.names[i].bytes, i};
        }
    }
    std::sort(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(name_count),
              [](const named& a, const named& b) { return a.offset < b.offset; });

    std::size_t next_name = 0;
    std::uint64_t expect_free = v.free_head();
    std::uint64_t used = 0;
    bool previous_free = false;
    std::uint64_t block = k_first;
    while (block < v.bytes()) {
        if (v.bytes() - block < k_min_block) {
            corrupt("the block chain leaves a sliver of " + std::to_string(v.bytes() - block) + " bytes at " +
                    hex(block));
        }
        const std::uint64_t w = v.word(block, "a block's size");
        const std::uint64_t size = w & ~k_size_flags;
        if ((w & (k_size_flags & ~k_allocated)) != 0 || size < k_min_block || size > v.bytes() - block) {
            corrupt("the block at " + hex(block) + " has size word " + hex(w));
        }
        if (next_name < name_count && names[next_name].offset < block) {
            corrupt("name slot " + std::to_string(names[next_name].index) + " points at " +
                    hex(names[next_name].offset) + ", not inside an allocated block");
        }
        if ((w & k_allocated) == 0) {
            if (block != expect_free) {
                corrupt("the free block at " + hex(block) + " is not where the free list goes next (" +
                        hex(expect_free) + ")");
            }
            if (previous_free) {
                corrupt("the free block at " + hex(block) + " touches the one before it (not coalesced)");
            }
            expect_free = v.free_next(block);
            if (expect_free != 0 && expect_free < block + size) {
                corrupt("the free block at " + hex(block) + " links into itself");
            }
            previous_free = true;
        } else {
            const std::uint64_t back = v.word(block + 8, "an allocated block's back offset");
            if (back < k_grain || back % k_grain != 0 || back > k_max_align || back >= size) {
                corrupt("the allocated block at " + hex(block) + " has back offset " + hex(back));
            }
            if (v.word(block + back - 8, "a user pointer's back offset") != back) {
                corrupt("the allocated block at " + hex(block) + " has two back offsets that differ");
            }
            while (next_name < name_count && names[next_name].offset < block + size) {
                const named& n = names[next_name];
                if (n.offset < block + back || n.bytes > block + size - n.offset) {
                    corrupt("name slot " + std::to_string(n.index) + " (" + hex(n.offset) + ", " +
                            std::to_string(n.bytes) + " bytes) is not inside the user bytes of the block at " +
                            hex(block));
                }
                ++next_name;
            }
            used += size;
            previous_free = false;
        }
        block += size;
    }
    if (expect_free != 0) {
        corrupt("the free list goes on to " + hex(expect_free) + ", which is not a free block");
    }
    if (next_name != name_count) {
        corrupt("name slot " + std::to_string(names[next_name].index) + " points past the last block");
    }
    if (used != s.used) {
        corrupt("the allocated blocks add up to " + std::to_string(used) + " bytes, the state says " +
                std::to_string(s.used));
    }
}

// Counters read without the lock (recoveries(), replays()): relaxed, they order nothing.
void bump(std::uint64_t& counter) {
    std::atomic_ref<std::uint64_t>(counter).fetch_add(1, std::memory_order_relaxed);
}

// Holds the heap's mutex, or throws: heap_broken when the heap is beyond
// repair. A record left armed (its writer died) is replayed first; after a
// dead holder the whole heap is checked before anyone uses it.
class heap_lock {
public:
    heap_lock(heap_state* s, std::uint64_t bytes) : m_s(s) {
        // acquire: pairs with the release that marked it, for a fail-fast check before locking.
        if (m_s->broken.load(std::memory_order_acquire) != 0) {
            fail_broken();
        }
        lock_result how = lock_result::acquired;
        try {
            how = m_s->mutex.lock();
        } catch (const sync_error& e) {
            throw shm_error(shm_errc::heap_broken, std::string("segment_heap: its lock cannot be taken: ") + e.what(),
                            e.sys_errno());
        }
        if (how == lock_result::owner_died) {
            bump(m_s->recoveries);
        }
        // relaxed: the lock orders the record with its writer.
        if (m_s->redo.armed.load(std::memory_order_relaxed) != 0) {
            if (!replay(m_s, bytes)) {
                // release: pairs with the acquire fail-fast check above, in every process.
                m_s->broken.store(1, std::memory_order_release);
            } else {
                bump(m_s->replays);
            }
        }
        if (m_s->broken.load(std::memory_order_relaxed) != 0) {
            m_s->mutex.unlock();
            fail_broken();
        }
        if (how == lock_result::owner_died) {
            try {
                check_state(heap_view(m_s, bytes));
            } catch (...) {
                m_s->mutex.unlock();
                throw;
            }
        }
    }
    heap_lock(const heap_lock&) = delete;
    heap_lock& operator=(const heap_lock&) = delete;
    ~heap_lock() { m_s->mutex.unlock(); }

private:
    heap_state* m_s;
};

/// The region size a heap state records, validated against `limit` (0: no limit known).
std::uint64_t recorded_bytes(const heap_state* s, std::uint64_t limit) {
    const std::uint64_t bytes = s->region_bytes;
    if (bytes < k_min_region || bytes % k_grain != 0 || (limit != 0 && bytes > limit) ||
        s->first_block != k_first) {
        corrupt("the state records a region of " + std::to_string(bytes) + " bytes from offset " +
                std::to_string(s->first_block) + (limit != 0 ? " in " + std::to_string(limit) + " bytes" : ""));
    }
    return bytes;
}

} // namespace

void detail::set_heap_commit_hook(heap_commit_hook hook) noexcept {
    g_commit_hook.store(hook, std::memory_order_relaxed);
}

// pre: nobody else uses [region, region + bytes) as a heap until the magic is stored.
detail::heap_state* segment_heap::format_state(void* region, std::size_t bytes) {
    if (region == nullptr || reinterpret_cast<std::uintptr_t>(region) % 64 != 0 || bytes < k_min_region) {
        throw shm_error(shm_errc::invalid_argument,
                        "segment_heap: region must be 64-byte aligned and at least 4096 bytes, got " +
                            std::to_string(bytes) + " bytes");
    }
    // The magic starts as k_heap_formatting, so an attacher keeps waiting.
    auto* s = ::new (region) heap_state{};
    s->region_bytes = bytes / k_grain * k_grain;
    s->first_block = k_first;
    s->free_head = k_first;
    s->used = 0;
    char* base = static_cast<char*>(region);
    store_word(base + k_first, s->region_bytes - k_first);
    store_word(base + k_first + 8, 0);
    // release: publishes the formatted state to an attaching process's acquire load.
    s->magic.store(detail::k_heap_magic, std::memory_order_release);
    return s;
}

// Waits for the magic and validates the recorded size; returns it.
std::size_t segment_heap::attach_state(void* region, std::size_t bytes) {
    if (region == nullptr || reinterpret_cast<std::uintptr_t>(region) % 64 != 0 ||
        (bytes != 0 && bytes < k_min_region)) {
        throw shm_error(shm_errc::invalid_argument,
                        "segment_heap: attach needs a 64-byte aligned region of at least 4096 bytes, got " +
                            std::to_string(bytes) + " bytes");
    }
    auto* s = static_cast<heap_state*>(region);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    // acquire: pairs with format_state's release store of the magic.
    for (std::uint64_t m = s->magic.load(std::memory_order_acquire); m != detail::k_heap_magic;
         m = s->magic.load(std::memory_order_acquire)) {
        if ((m != 0 && m != detail::k_heap_formatting) || std::chrono::steady_clock::now() >= deadline) {
            throw shm_error(shm_errc::not_topos, "segment_heap: no heap of this layout was formatted at this "
                                                 "address within 1 s (magic " + hex(m) + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return recorded_bytes(s, bytes / k_grain * k_grain);
}

segment_heap segment_heap::attach_or_format(const shared_segment& seg) {
    if (seg.is_creator()) {
        // A fresh segment is zero: whoever turns the magic from 0 formats,
        // any other handle (a second one in this process too) attaches.
        auto* s = static_cast<heap_state*>(seg.data());
        std::uint64_t fresh = 0;
        // acq_rel: the winner's later stores follow the claim; a loser's attach re-reads with acquire.
        if (seg.size() >= k_min_region &&
            s->magic.compare_exchange_strong(fresh, detail::k_heap_formatting, std::memory_order_acq_rel)) {
            auto* state = format_state(seg.data(), seg.size());
            return {state, static_cast<std::size_t>(state->region_bytes)};
        }
    }
    return attach(seg.data(), seg.size());
}

segment_heap segment_heap::format(void* region, std::size_t bytes) {
    auto* s = format_state(region, bytes);
    return {s, static_cast<std::size_t>(s->region_bytes)};
}

segment_heap segment_heap::attach(void* region, std::size_t bytes) {
    const std::size_t recorded = attach_state(region, bytes);
    segment_heap h(static_cast<heap_state*>(region), recorded);
    h.check();
    return h;
}

segment_heap segment_heap::attach(void* region) { return attach(region, 0); }

segment_heap::segment_heap(const shared_segment& seg) : segment_heap(attach_or_format(seg)) {}

void segment_heap::check_image(const void* region, std::size_t bytes) {
    if (region == nullptr || bytes < sizeof(heap_state)) {
        throw shm_error(shm_errc::not_topos, "segment_heap: an image of " + std::to_string(bytes) +
                                                 " bytes is too short for a heap's state");
    }
    // A private copy: 16-aligned (operator new's), so the state's fields are aligned, and free to replay on.
    const std::size_t limit = bytes / k_grain * k_grain;
    const auto copy = std::make_unique<std::uint64_t[]>(limit / 8);
    std::memcpy(copy.get(), region, limit);
    auto* s = reinterpret_cast<heap_state*>(copy.get());
    // relaxed: a private copy.
    if (const std::uint64_t m = s->magic.load(std::memory_order_relaxed); m != detail::k_heap_magic) {
        throw shm_error(shm_errc::not_topos, "segment_heap: the image holds no heap of this layout (magic " +
                                                 hex(m) + ")");
    }
    const std::uint64_t recorded = recorded_bytes(s, limit);
    if (!replay(s, recorded)) {
        corrupt("the redo record of '" + std::string(op_name(s->redo.op)) + "' leads outside the heap");
    }
    check_state(heap_view(s, recorded));
}

std::pair<std::size_t, std::size_t> segment_heap::lock_range() noexcept {
    return {offsetof(heap_state, mutex), sizeof(process_mutex)};
}

bool segment_heap::broken() const noexcept {
    // acquire: pairs with heap_lock's release store of the flag.
    return m_state->broken.load(std::memory_order_acquire) != 0;
}

std::uint64_t segment_heap::recoveries() const noexcept {
    return std::atomic_ref<std::uint64_t>(m_state->recoveries).load(std::memory_order_relaxed);
}

std::uint64_t segment_heap::replays() const noexcept {
    return std::atomic_ref<std::uint64_t>(m_state->replays).load(std::memory_order_relaxed);
}

std::size_t segment_heap::capacity() const noexcept { return m_bytes - k_first; }

std::size_t segment_heap::used_bytes() const {
    heap_lock lock(m_state, m_bytes);
    return m_state->used;
}

void segment_heap::check() const {
    heap_lock lock(m_state, m_bytes);
    check_state(heap_view(m_state, m_bytes));
}

void* segment_heap::do_allocate(std::size_t bytes, std::size_t alignment) {
    TOPOS_ASSERT(m_state != nullptr, "segment_heap: a formatted or attached heap");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > k_max_align) {
        throw shm_error(shm_errc::invalid_argument, "segment_heap: alignment " + std::to_string(alignment) +
                                                        " is not a power of two up to 4096");
    }
    if (bytes > capacity()) {
        throw std::bad_alloc();
    }
    const std::uint64_t need =
        std::max<std::uint64_t>(k_min_block, align_up(bytes + std::max<std::uint64_t>(k_grain, alignment), k_grain));
    heap_state* s = m_state;
    const heap_view v(s, m_bytes);
    const auto base = reinterpret_cast<std::uintptr_t>(s);
    heap_lock lock(s, m_bytes);
    std::uint64_t prev = 0;
    for (std::uint64_t cur = v.free_head(); cur != 0; cur = v.free_next(cur)) {
        const std::uint64_t size = v.free_size(cur);
        if (size < need) {
            prev = cur;
            continue;
        }
        std::uint64_t next = v.free_next(cur);
        redo_writer redo(s, m_bytes, heap_op::allocate);
        std::uint64_t taken = size;
        if (size - need >= k_min_block) {
            const std::uint64_t rest = cur + need;
            redo.set(rest, size - need);
            redo.set(rest + 8, next);
            next = rest;
            taken = need;
        }
        redo.set(prev == 0 ? offsetof(heap_state, free_head) : prev + 8, next);
        const std::uint64_t user = align_up(base + cur + k_grain, alignment) - base;
        TOPOS_ASSERT(user + bytes <= cur + taken, "segment_heap: the block holds the aligned request");
        redo.set(cur, taken | k_allocated);
        redo.set(cur + 8, user - cur);
        if (user - 8 != cur + 8) {
            redo.set(user - 8, user - cur);
        }
        redo.set(offsetof(heap_state, used), s->used + taken);
        redo.commit();
        return reinterpret_cast<char*>(s) + user;
    }
    throw std::bad_alloc();
}

void segment_heap::do_deallocate(void* p, std::size_t /*bytes*/, std::size_t /*alignment*/) {
    if (p == nullptr) {
        return;
    }
    heap_state* s = m_state;
    const heap_view v(s, m_bytes);
    const auto base = reinterpret_cast<std::uintptr_t>(s);
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    if (q < base + k_first + k_grain || q >= base + m_bytes || q % k_grain != 0) {
        bad_pointer(p, "outside the heap's blocks or misaligned");
    }
    heap_lock lock(s, m_bytes);
    const std::uint64_t user = q - base;
    const std::uint64_t back = v.word(user - 8, "a user pointer's back offset");
    if (back < k_grain || back % k_grain != 0 || back > user - k_first || back > k_max_align) {
        bad_pointer(p, "no block header before it");
    }
    const std::uint64_t block = user - back;
    const std::uint64_t w = v.word(block, "a block's size");
    std::uint64_t size = w & ~k_size_flags;
    if ((w & k_allocated) == 0) {
        bad_pointer(p, "its block is free: freed twice?");
    }
    if ((w & (k_size_flags & ~k_allocated)) != 0 || size < k_min_block || size > m_bytes - block ||
        back >= size || v.word(block + 8, "an allocated block's back offset") != back) {
        bad_pointer(p, "no sound block header before it");
    }
    if (s->used < size) {
        corrupt("freeing a block of " + std::to_string(size) + " bytes while " + std::to_string(s->used) +
                " are in use");
    }
    redo_writer redo(s, m_bytes, heap_op::deallocate);
    redo.set(offsetof(heap_state, used), s->used - size);
    std::uint64_t prev = 0;
    std::uint64_t next = v.free_head();
    while (next != 0 && next < block) {
        prev = next;
        next = v.free_next(next);
    }
    if (next == block || (next != 0 && next < block + size) || (prev != 0 && prev + v.free_size(prev) > block)) {
        corrupt("the block at " + hex(block) + " overlaps a free block");
    }
    if (next != 0 && block + size == next) {
        size += v.free_size(next);
        next = v.free_next(next);
    }
    if (prev != 0 && prev + v.free_size(prev) == block) {
        redo.set(prev, v.free_size(prev) + size);
        redo.set(prev + 8, next);
    } else {
        redo.set(block, size);
        redo.set(block + 8, next);
        redo.set(prev == 0 ? offsetof(heap_state, free_head) : prev + 8, block);
    }
    redo.commit();
}

bool segment_heap::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
    const auto* h = dynamic_cast<const segment_heap*>(&other);
    return h != nullptr && h->m_state == m_state;
}

void segment_heap::add_name(std::string_view name, void* obj, std::size_t bytes) {
    if (name.empty() || name.size() >= detail::k_heap_name_chars || name.find('\0') != std::string_view::npos) {
        throw shm_error(shm_errc::invalid_name, "segment_heap: object name '" + std::string(name) +
                                                    "' must have 1 to 47 characters, none of them NUL");
    }
    heap_state* s = m_state;
    heap_lock lock(s, m_bytes);
    std::size_t free_slot = detail::k_heap_names;
    for (std::size_t i = 0; i < detail::k_heap_names; ++i) {
        const std::string_view n = slot_name(s->names[i], i);
        if (n.empty()) {
            free_slot = std::min(free_slot, i);
        } else if (name == n) {
            throw shm_error(shm_errc::exists, "segment_heap: an object named '" + std::string(name) + "' exists");
        }
    }
    if (free_slot == detail::k_heap_names) {
        throw shm_error(shm_errc::no_memory, "segment_heap: all 32 object names are taken");
    }
    // The whole slot, name first-word included, is written by one committed operation.
    detail::heap_name slot{};
    std::memcpy(slot.name, name.data(), name.size());
    slot.offset = reinterpret_cast<std::uintptr_t>(obj) - reinterpret_cast<std::uintptr_t>(s);
    slot.bytes = bytes;
    const std::uint64_t at = offsetof(heap_state, names) + free_slot * sizeof(detail::heap_name);
    redo_writer redo(s, m_bytes, heap_op::add_name);
    const auto* words = reinterpret_cast<const char*>(&slot);
    for (std::size_t w = 0; w < sizeof slot; w += 8) {
        redo.set(at + w, load_word(words + w));
    }
    redo.commit();
}

void segment_heap::remove_names(const void* obj) {
    heap_state* s = m_state;
    const std::uint64_t off = reinterpret_cast<std::uintptr_t>(obj) - reinterpret_cast<std::uintptr_t>(s);
    heap_lock lock(s, m_bytes);
    for (std::size_t i = 0; i < detail::k_heap_names; ++i) {
        if (!slot_name(s->names[i], i).empty() && s->names[i].offset == off) {
            redo_writer redo(s, m_bytes, heap_op::remove_name);
            redo.set(offsetof(heap_state, names) + i * sizeof(detail::heap_name), 0);
            redo.commit();
        }
    }
}

void* segment_heap::find_name(std::string_view name, std::size_t bytes, std::size_t alignment) const {
    heap_state* s = m_state;
    heap_lock lock(s, m_bytes);
    for (std::size_t i = 0; i < detail::k_heap_names; ++i) {
        const detail::heap_name& n = s->names[i];
        if (slot_name(n, i) != name || name.empty()) {
            continue;
        }
        if (n.bytes != bytes) {
            throw shm_error(shm_errc::size_mismatch, "segment_heap: object '" + std::string(name) + "' has " +
                                                         std::to_string(n.bytes) + " bytes, expected " +
                                                         std::to_string(bytes));
        }
        const auto at = reinterpret_cast<std::uintptr_t>(s) + n.offset;
        if (n.offset < k_first + k_grain || n.offset > m_bytes || m_bytes - n.offset < bytes || at % alignment != 0) {
            corrupt("object '" + std::string(name) + "' is recorded at offset " + hex(n.offset) +
                    ", outside the heap's blocks or misaligned");
        }
        return reinterpret_cast<void*>(at);
    }
    return nullptr;
}

} // namespace topos
