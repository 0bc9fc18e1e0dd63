// ipc/shm_heap.cpp - segment_heap: a first-fit free-list heap whose whole
// state lives in shared memory, addressed by offsets from the heap's start.
//
// Block layout (offsets from the heap state, all multiples of 16):
//   block + 0: total bytes of the block (header and padding included)
//   free block:      block + 8 holds the offset of the next free block (0 = end)
//   allocated block: the user pointer p = align_up(block + 16, alignment), and
//                    the 8 bytes before p hold p - block (so free finds the block)
// Invariant: the free list is sorted by offset and no two free blocks touch
// (deallocate coalesces), so the heap cannot fragment into adjacent slivers.
//
// Crashes: the free list is not crash-consistent. A process killed while it
// holds the heap's lock may leave it half updated, and there is nothing to
// repair it from; so the next process to take the lock (it sees owner_died)
// marks the heap broken in its state, and every operation of every process
// from then on throws shm_error(heap_broken) instead of using it.
#include "ipc/shm_heap_layout.hpp"

#include <topos/detail/assert.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <thread>

namespace topos {

namespace {

using detail::heap_state;

constexpr std::size_t k_grain = 16;
constexpr std::size_t k_min_block = 32;
constexpr std::size_t k_max_align = 4096;

// pre: offset is 8-aligned and the word lies inside the heap's region (a
// block header or link; a stray offset would write outside the segment).
std::uint64_t& word(heap_state* s, std::uint64_t offset) {
    TOPOS_ASSERT(offset % 8 == 0 && offset >= s->first_block && offset + 8 <= s->region_bytes,
                 "segment_heap: a block word inside the region");
    return *reinterpret_cast<std::uint64_t*>(reinterpret_cast<char*>(s) + offset);
}

std::uint64_t align_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

[[noreturn]] void fail_broken() {
    throw shm_error(shm_errc::heap_broken,
                    "segment_heap: a process died holding the heap's lock, so its free list may be half updated; "
                    "the heap is broken and refuses every operation (make a new segment)");
}

// Holds the heap's mutex, or throws heap_broken: when the heap was marked
// broken, or when the previous holder died (then it marks it first).
class heap_lock {
public:
    explicit heap_lock(heap_state* s) : m_s(s) {
        // acquire: pairs with the release that marked it, for a fail-fast check before locking.
        if (m_s->broken.load(std::memory_order_acquire) != 0) {
            fail_broken();
        }
        if (m_s->mutex.lock() == lock_result::owner_died) {
            m_s->broken.store(1, std::memory_order_release);
        }
        if (m_s->broken.load(std::memory_order_relaxed) != 0) {
            m_s->mutex.unlock();
            fail_broken();
        }
    }
    heap_lock(const heap_lock&) = delete;
    heap_lock& operator=(const heap_lock&) = delete;
    ~heap_lock() { m_s->mutex.unlock(); }

private:
    heap_state* m_s;
};

[[noreturn]] void bad_pointer(const void* p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    throw shm_error(shm_errc::invalid_argument,
                    std::string("segment_heap: pointer ") + buf + " was not allocated by this heap");
}

} // namespace

// pre: nobody else uses [region, region + bytes) as a heap until the magic is stored.
detail::heap_state* segment_heap::format_state(void* region, std::size_t bytes) {
    const std::size_t state = align_up(sizeof(heap_state), k_grain);
    if (region == nullptr || reinterpret_cast<std::uintptr_t>(region) % 64 != 0 || bytes < 4096) {
        throw shm_error(shm_errc::invalid_argument,
                        "segment_heap: region must be 64-byte aligned and at least 4096 bytes, got " +
                            std::to_string(bytes) + " bytes");
    }
    // The magic starts as k_heap_formatting, so an attacher keeps waiting.
    auto* s = ::new (region) heap_state{};
    s->region_bytes = bytes / k_grain * k_grain;
    s->first_block = state;
    s->free_head = state;
    s->used = 0;
    word(s, state) = s->region_bytes - state;
    word(s, state + 8) = 0;
    // release: publishes the formatted state to an attaching process's acquire load.
    s->magic.store(detail::k_heap_magic, std::memory_order_release);
    return s;
}

detail::heap_state* segment_heap::attach_state(void* region) {
    auto* s = static_cast<heap_state*>(region);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    // acquire: pairs with format_state's release store of the magic.
    for (std::uint64_t m = s->magic.load(std::memory_order_acquire); m != detail::k_heap_magic;
         m = s->magic.load(std::memory_order_acquire)) {
        if ((m != 0 && m != detail::k_heap_formatting) || std::chrono::steady_clock::now() >= deadline) {
            throw shm_error(shm_errc::not_topos, "segment_heap: no heap was formatted at this address within 1 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return s;
}

detail::heap_state* segment_heap::attach_or_format_state(const shared_segment& seg) {
    if (seg.is_creator()) {
        // A fresh segment is zero: whoever turns the magic from 0 formats,
        // any other handle (a second one in this process too) attaches.
        auto* s = static_cast<heap_state*>(seg.data());
        std::uint64_t fresh = 0;
        // acq_rel: the winner's later stores follow the claim; a loser's attach re-reads with acquire.
        if (s->magic.compare_exchange_strong(fresh, detail::k_heap_formatting, std::memory_order_acq_rel)) {
            return format_state(seg.data(), seg.size());
        }
    }
    return attach_state(seg.data());
}

segment_heap segment_heap::format(void* region, std::size_t bytes) { return segment_heap(format_state(region, bytes)); }

segment_heap segment_heap::attach(void* region) { return segment_heap(attach_state(region)); }

segment_heap::segment_heap(const shared_segment& seg) : m_state(attach_or_format_state(seg)) {}

bool segment_heap::broken() const noexcept {
    // acquire: pairs with heap_lock's release store of the flag.
    return m_state->broken.load(std::memory_order_acquire) != 0;
}

std::size_t segment_heap::capacity() const noexcept { return m_state->region_bytes - m_state->first_block; }

std::size_t segment_heap::used_bytes() const {
    heap_lock lock(m_state);
    return m_state->used;
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
    const std::uint64_t need = std::max<std::uint64_t>(k_min_block, align_up(bytes + std::max(k_grain, alignment),
                                                                              k_grain));
    heap_state* s = m_state;
    heap_lock lock(s);
    std::uint64_t prev = 0;
    for (std::uint64_t cur = s->free_head; cur != 0; prev = cur, cur = word(s, cur + 8)) {
        const std::uint64_t size = word(s, cur);
        if (size < need) {
            continue;
        }
        std::uint64_t next = word(s, cur + 8);
        std::uint64_t taken = size;
        if (size - need >= k_min_block) {
            const std::uint64_t rest = cur + need;
            word(s, rest) = size - need;
            word(s, rest + 8) = next;
            next = rest;
            taken = need;
        }
        if (prev == 0) {
            s->free_head = next;
        } else {
            word(s, prev + 8) = next;
        }
        word(s, cur) = taken;
        s->used += taken;
        const std::uint64_t user = align_up(cur + k_grain, alignment);
        TOPOS_ASSERT(user + bytes <= cur + taken, "segment_heap: the block holds the aligned request");
        word(s, user - 8) = user - cur;
        return reinterpret_cast<char*>(s) + user;
    }
    throw std::bad_alloc();
}

void segment_heap::do_deallocate(void* p, std::size_t /*bytes*/, std::size_t /*alignment*/) {
    if (p == nullptr) {
        return;
    }
    heap_state* s = m_state;
    const auto base = reinterpret_cast<std::uintptr_t>(s);
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    if (q < base + s->first_block + k_grain || q >= base + s->region_bytes || q % k_grain != 0) {
        bad_pointer(p);
    }
    heap_lock lock(s);
    const std::uint64_t user = q - base;
    const std::uint64_t back = word(s, user - 8);
    if (back < k_grain || back % k_grain != 0 || back > user - s->first_block || back > k_max_align) {
        bad_pointer(p);
    }
    std::uint64_t block = user - back;
    std::uint64_t size = word(s, block);
    if (size < k_min_block || size % k_grain != 0 || size > s->region_bytes - block) {
        bad_pointer(p);
    }
    TOPOS_ASSERT(s->used >= size, "segment_heap: freeing more than is in use");
    s->used -= size;
    std::uint64_t prev = 0;
    std::uint64_t next = s->free_head;
    while (next != 0 && next < block) {
        prev = next;
        next = word(s, next + 8);
    }
    if (next == block) {
        bad_pointer(p); // freed twice
    }
    if (next != 0 && block + size == next) {
        size += word(s, next);
        next = word(s, next + 8);
    }
    if (prev != 0 && prev + word(s, prev) == block) {
        word(s, prev) += size;
        word(s, prev + 8) = next;
        return;
    }
    TOPOS_ASSERT(next == 0 || block + size < next, "segment_heap: the free list stays sorted and coalesced");
    word(s, block) = size;
    word(s, block + 8) = next;
    if (prev == 0) {
        s->free_head = block;
    } else {
        word(s, prev + 8) = block;
    }
}

bool segment_heap::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
    const auto* h = dynamic_cast<const segment_heap*>(&other);
    return h != nullptr && h->m_state == m_state;
}

void segment_heap::add_name(std::string_view name, void* obj, std::size_t bytes) {
    if (name.empty() || name.size() >= detail::k_heap_name_chars) {
        throw shm_error(shm_errc::invalid_name, "segment_heap: object name '" + std::string(name) +
                                                    "' must have 1 to 47 characters");
    }
    heap_state* s = m_state;
    heap_lock lock(s);
    detail::heap_name* free_slot = nullptr;
    for (auto& n : s->names) {
        if (n.name[0] == '\0') {
            free_slot = free_slot == nullptr ? &n : free_slot;
        } else if (name == n.name) {
            throw shm_error(shm_errc::exists, "segment_heap: an object named '" + std::string(name) + "' exists");
        }
    }
    if (free_slot == nullptr) {
        throw shm_error(shm_errc::no_memory, "segment_heap: all 32 object names are taken");
    }
    std::memset(free_slot->name, 0, sizeof free_slot->name);
    std::memcpy(free_slot->name, name.data(), name.size());
    free_slot->offset = reinterpret_cast<std::uintptr_t>(obj) - reinterpret_cast<std::uintptr_t>(s);
    free_slot->bytes = bytes;
}

void* segment_heap::find_name(std::string_view name, std::size_t bytes) const {
    heap_state* s = m_state;
    heap_lock lock(s);
    for (const auto& n : s->names) {
        if (n.name[0] != '\0' && name == n.name) {
            if (n.bytes != bytes) {
                throw shm_error(shm_errc::size_mismatch, "segment_heap: object '" + std::string(name) + "' has " +
                                                             std::to_string(n.bytes) + " bytes, expected " +
                                                             std::to_string(bytes));
            }
            return reinterpret_cast<char*>(s) + n.offset;
        }
    }
    return nullptr;
}

} // namespace topos
