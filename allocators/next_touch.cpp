// allocators/next_touch.cpp - next-touch migration (include/topos/next_touch.hpp).
//
// The registry is a fixed table of k_slots ranges. A slot's life:
//   free --claim (CAS, normal context)--> claimed --publish (release)--> live
//   live --retire (CAS)--> retiring --(no user left)--> free
// Each live slot owns one state byte per page:
//   k_arming  being armed (protection not yet in place); a fault here retries
//   k_armed   protected, waiting for its next touch
//   k_moving  owned by whoever won the CAS from k_armed (a fault, a cancel,
//             prepare_for_io or a free); others that fault on it retry
//   k_idle    disarmed: accessible again
// The signal handler scans the table with loads only, then registers as a
// user of the slot it found (users, seq_cst) and checks the slot is still
// live (seq_cst): a retiring thread stores `retiring` (seq_cst) and then
// waits for users to reach 0, so either it sees the handler's increment or
// the handler sees `retiring` (the Dekker pattern, which needs seq_cst on
// all four accesses). Only then is the state array freed.
//
// Nothing in the handler path allocates, locks or throws: it calls
// os::current_cpu, os::move_pages (a system call), os::protect (mprotect) and
// atomics. The node table is read through a pointer captured when the first
// range was armed (the table never changes once loaded).
#include "allocators/next_touch.hpp"

#include "allocators/numa_layer.hpp"
#include "allocators/page_block.hpp"
#include "allocators/region.hpp"
#include "allocators/shared_mapping.hpp"
#include "os/cpu.hpp"
#include "os/fault.hpp"
#include "os/memory.hpp"

#include <topos/next_touch.hpp>

#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace topos {
namespace {

constexpr std::size_t k_slots = 1024;
constexpr std::size_t k_max_group = 64;
constexpr std::size_t k_recent = 64;

enum : std::uint8_t { k_idle = 0, k_armed = 1, k_moving = 2, k_arming = 3 };
enum : int { k_free = 0, k_claimed = 1, k_live = 2, k_retiring = 3 };

struct slot {
    std::atomic<int> m_phase{k_free};
    std::atomic<int> m_users{0};
    std::atomic<std::uintptr_t> m_begin{0}; // page-aligned; written while claimed, read once live
    std::atomic<std::uintptr_t> m_end{0};
    std::atomic<std::size_t> m_group{1};
    std::atomic<std::atomic<std::uint8_t>*> m_states{nullptr};
    std::atomic<std::size_t> m_armed{0}; // pages in k_armed or k_arming
};

struct registry {
    std::array<slot, k_slots> m_slots{};
    std::mutex m_claim_lock; // serialises claim and retire-for-reuse (normal context only)
    std::atomic<const detail::node_table*> m_table{nullptr};
    std::atomic<bool> m_syscalls{false};
    std::atomic<std::uint64_t> m_pages_armed{0};
    std::atomic<std::uint64_t> m_faults{0};
    std::atomic<std::uint64_t> m_pages_touched{0};
    std::atomic<std::uint64_t> m_pages_moved{0};
    std::atomic<std::uint64_t> m_pages_disarmed{0};
    // Ranges of slots reclaimed while live with no page armed (all pages
    // accessible): a fault raised in one before its page was disarmed, and
    // handled after the reclaim, is still recognised as ours and retried.
    std::array<std::atomic<std::uintptr_t>, 2 * k_recent> m_recent{};
    std::atomic<std::size_t> m_recent_next{0};
};

registry& reg() noexcept {
    static registry* r = new registry(); // never destroyed: faults and frees may come after exit begins
    return *r;
}

std::size_t page_bytes() noexcept { return os::page_size(); }

// The kernel node of the CPU the caller runs on now, or -1 when unknown.
int caller_kernel_node() noexcept {
    const detail::node_table* t = reg().m_table.load(std::memory_order_acquire); // acquire: the table is complete
    if (t == nullptr) {
        return -1;
    }
    const int cpu = os::current_cpu();
    if (cpu < 0 || static_cast<std::size_t>(cpu) >= t->node_of_cpu.size()) {
        return -1;
    }
    const int logical = t->node_of_cpu[static_cast<std::size_t>(cpu)];
    if (logical < 0 || static_cast<std::size_t>(logical) >= t->os_of_logical.size()) {
        return -1;
    }
    return t->os_of_logical[static_cast<std::size_t>(logical)];
}

[[noreturn]] void die(const char* what) noexcept {
    // Async-signal-safe: write(2) and abort only.
    const char* prefix = "topos: next-touch: ";
    (void)!write(2, prefix, std::strlen(prefix));
    (void)!write(2, what, std::strlen(what));
    (void)!write(2, "\n", 1);
    std::abort();
}

enum class disarm_mode {
    touch,  ///< a fault: move to the caller's node, make accessible
    io,     ///< prepare_for_io: the same, called in normal context
    cancel, ///< make accessible where they are
    forget, ///< the block is being freed: no protection change, no move
};

// pre: the caller owns pages [first, first+count) of slot s (their states are
// k_moving). post: they are moved (touch, io), accessible (all but forget),
// k_idle, and counted. Returns the pages now on the caller's node.
std::size_t finish_pages(slot& s, std::uintptr_t begin, const std::size_t* index, std::size_t count,
                         disarm_mode mode) noexcept {
    registry& r = reg();
    const std::size_t page = page_bytes();
    std::atomic<std::uint8_t>* states = s.m_states.load(std::memory_order_relaxed); // stable while we are a user
    std::size_t on_target = 0;
    // Access first, then the move: move_pages skips pages without access
    // (PROT_NONE: the kernel's follow_page does not take them). The page is
    // still k_moving, so no one else disarms it meanwhile; a thread that
    // touches it now just uses it while it migrates (the kernel makes the
    // copy atomic for it).
    if (mode != disarm_mode::forget) {
        // Runs of consecutive pages share one mprotect.
        for (std::size_t i = 0; i < count;) {
            std::size_t j = i + 1;
            while (j < count && index[j] == index[j - 1] + 1) {
                ++j;
            }
            if (os::protect(reinterpret_cast<void*>(begin + index[i] * page), (j - i) * page, true) != 0) {
                die("mprotect could not make an armed page accessible again (vm.max_map_count reached?)");
            }
            i = j;
        }
    }
    if (mode == disarm_mode::touch || mode == disarm_mode::io) {
        const int target = caller_kernel_node();
        if (target >= 0 && r.m_syscalls.load(std::memory_order_relaxed)) {
            std::array<void*, k_max_group> pages{};
            std::array<int, k_max_group> targets{};
            std::array<int, k_max_group> status{};
            for (std::size_t done = 0; done < count;) {
                const std::size_t n = std::min(k_max_group, count - done);
                for (std::size_t i = 0; i < n; ++i) {
                    pages[i] = reinterpret_cast<void*>(begin + index[done + i] * page);
                    targets[i] = target;
                }
                // Ask first (cheap): move_pages with targets first drains every
                // CPU's LRU lists (work on each CPU), which costs more than the
                // move of one page; pages already on the target, or not yet
                // present (first touch places them), are left alone.
                std::size_t to_move = 0;
                if (os::page_nodes(pages.data(), n, status.data()) == 0) {
                    for (std::size_t i = 0; i < n; ++i) {
                        if (status[i] == target) {
                            ++on_target;
                        } else if (status[i] >= 0) {
                            pages[to_move++] = pages[i];
                        }
                    }
                } else {
                    to_move = n;
                }
                if (to_move != 0 && os::move_pages(pages.data(), to_move, targets.data(), status.data()) == 0) {
                    for (std::size_t i = 0; i < to_move; ++i) {
                        on_target += status[i] == target ? 1U : 0U;
                    }
                }
                done += n;
            }
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        // release: the move and the protection change above happen before anyone sees k_idle
        states[index[i]].store(k_idle, std::memory_order_release);
    }
    s.m_armed.fetch_sub(count, std::memory_order_relaxed);
    if (mode == disarm_mode::touch) {
        r.m_faults.fetch_add(1, std::memory_order_relaxed);
        r.m_pages_touched.fetch_add(count, std::memory_order_relaxed);
    } else {
        r.m_pages_disarmed.fetch_add(count, std::memory_order_relaxed);
    }
    r.m_pages_moved.fetch_add(on_target, std::memory_order_relaxed);
    return on_target;
}

// Registers the caller as a user of s when s is live and covers address a.
bool enter(slot& s, std::uintptr_t a) noexcept {
    // acquire: pairs with publish's release store of k_live; begin, end and states are then visible
    if (s.m_phase.load(std::memory_order_acquire) != k_live) {
        return false;
    }
    if (a < s.m_begin.load(std::memory_order_relaxed) || a >= s.m_end.load(std::memory_order_relaxed)) {
        return false;
    }
    s.m_users.fetch_add(1, std::memory_order_seq_cst); // seq_cst: Dekker with retire's store of k_retiring
    if (s.m_phase.load(std::memory_order_seq_cst) != k_live) {
        s.m_users.fetch_sub(1, std::memory_order_release);
        return false;
    }
    return true;
}

void leave(slot& s) noexcept {
    s.m_users.fetch_sub(1, std::memory_order_release); // release: our reads of states happen before it is freed
}

// The fault filter (os/fault.hpp): true when `address` lies in an armed range.
bool on_fault(void* address) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(address);
    const std::size_t page = page_bytes();
    bool ours = false;
    for (slot& s : reg().m_slots) {
        if (!enter(s, a)) {
            continue;
        }
        const std::uintptr_t begin = s.m_begin.load(std::memory_order_relaxed);
        const std::uintptr_t end = s.m_end.load(std::memory_order_relaxed);
        const std::size_t group = s.m_group.load(std::memory_order_relaxed);
        std::atomic<std::uint8_t>* states = s.m_states.load(std::memory_order_relaxed);
        const std::size_t pages = (end - begin) / page;
        const std::size_t i = (a - begin) / page;
        const std::size_t first = i / group * group;
        const std::size_t last = std::min(first + group, pages);
        std::array<std::size_t, k_max_group> owned{};
        std::size_t count = 0;
        for (std::size_t j = first; j < last; ++j) {
            std::uint8_t expected = k_armed;
            // acq_rel: we own the page from here; pairs with the release store of k_armed when it was armed
            if (states[j].compare_exchange_strong(expected, k_moving, std::memory_order_acq_rel)) {
                owned[count++] = j;
            }
        }
        if (count != 0) {
            finish_pages(s, begin, owned.data(), count, disarm_mode::touch);
            leave(s);
            return true;
        }
        // Not armed here: being armed or moved by someone else (retry the
        // access: it works once they are done), or already disarmed and made
        // accessible after this fault was raised (the retry works at once).
        ours = true;
        leave(s);
    }
    if (!ours) {
        registry& r = reg();
        for (std::size_t k = 0; k < k_recent; ++k) {
            // acquire: pairs with remember_reclaimed's release store of the end
            const std::uintptr_t e1 = r.m_recent[2 * k + 1].load(std::memory_order_acquire);
            const std::uintptr_t b = r.m_recent[2 * k].load(std::memory_order_acquire);
            const std::uintptr_t e2 = r.m_recent[2 * k + 1].load(std::memory_order_relaxed);
            if (e1 != 0 && e1 == e2 && a >= b && a < e1) {
                return true;
            }
        }
    }
    return ours;
}

// pre: the claim lock is held. post: [begin, end) is in the ring of reclaimed ranges.
void remember_reclaimed(std::uintptr_t begin, std::uintptr_t end) noexcept {
    registry& r = reg();
    const std::size_t k = r.m_recent_next.fetch_add(1, std::memory_order_relaxed) % k_recent;
    r.m_recent[2 * k + 1].store(0, std::memory_order_relaxed);
    r.m_recent[2 * k].store(begin, std::memory_order_release); // release: ordered after the end was cleared
    r.m_recent[2 * k + 1].store(end, std::memory_order_release); // release: pairs with on_fault's acquire load
}

// Installs the fault filter and captures the node table, once.
void ensure_installed() {
    static const int error = [] {
        registry& r = reg();
        const memory_status status = detail::current_status();
        r.m_syscalls.store(status.numa_syscalls, std::memory_order_relaxed);
        r.m_table.store(&detail::host_nodes(), std::memory_order_release); // release: the loaded table
        // release: set before any block is flagged (pairs with page_free's acquire)
        detail::g_next_touch_release.store(&detail::next_touch_forget, std::memory_order_release);
        return os::install_fault_filter(&on_fault);
    }();
    if (error != 0) {
        throw memory_error(std::string("migrate_on_next_touch: the SIGSEGV handler could not be installed: ") +
                           std::strerror(error));
    }
}

// Retires a live slot (waits for its users), frees its states. Normal context.
void retire(slot& s) noexcept {
    int expected = k_live;
    // seq_cst: Dekker with enter's users increment and phase re-check
    if (!s.m_phase.compare_exchange_strong(expected, k_retiring, std::memory_order_seq_cst)) {
        return;
    }
    while (s.m_users.load(std::memory_order_seq_cst) != 0) {
        std::this_thread::yield();
    }
    delete[] s.m_states.exchange(nullptr, std::memory_order_acquire); // acquire: pairs with leave's release
    s.m_begin.store(0, std::memory_order_relaxed);
    s.m_end.store(0, std::memory_order_relaxed);
    s.m_phase.store(k_free, std::memory_order_release); // release: the slot is empty before it is claimed again
}

enum class pass { count, disarm };

// Walks the live slots overlapping [lo, hi): counts armed pages, or disarms
// them by `mode`. Returns the pages counted or disarmed.
std::size_t walk(std::uintptr_t lo, std::uintptr_t hi, pass what, disarm_mode mode) noexcept {
    const std::size_t page = page_bytes();
    std::size_t total = 0;
    for (slot& s : reg().m_slots) {
        if (s.m_phase.load(std::memory_order_acquire) != k_live) { // acquire: as in enter
            continue;
        }
        const std::uintptr_t begin = s.m_begin.load(std::memory_order_relaxed);
        const std::uintptr_t end = s.m_end.load(std::memory_order_relaxed);
        if (end <= lo || begin >= hi || !enter(s, begin)) {
            continue;
        }
        std::atomic<std::uint8_t>* states = s.m_states.load(std::memory_order_relaxed);
        const std::size_t from = (std::max(lo, begin) - begin) / page;
        const std::size_t to = (std::min(hi, end) - begin + page - 1) / page;
        std::array<std::size_t, k_max_group> owned{};
        std::size_t count = 0;
        for (std::size_t j = from; j < to; ++j) {
            if (what == pass::count) {
                const std::uint8_t st = states[j].load(std::memory_order_relaxed);
                total += (st == k_armed || st == k_arming) ? 1U : 0U;
                continue;
            }
            std::uint8_t expected = k_armed;
            // acq_rel: as in on_fault
            if (states[j].compare_exchange_strong(expected, k_moving, std::memory_order_acq_rel)) {
                owned[count++] = j;
                if (count == owned.size()) {
                    finish_pages(s, begin, owned.data(), count, mode);
                    total += count;
                    count = 0;
                }
            }
        }
        if (count != 0) {
            finish_pages(s, begin, owned.data(), count, mode);
            total += count;
        }
        leave(s);
        if (what == pass::disarm && mode == disarm_mode::forget) {
            // The block is being freed: its slot goes now (a thread still
            // moving one of its pages is a use after free by the program;
            // retire waits for it to leave). Slots whose pages were all
            // touched or cancelled stay live, so that a fault raised just
            // before a page was disarmed still finds its range; arm()
            // reclaims them when the table is full.
            retire(s);
        }
    }
    return total;
}

// Checks a range for arming and the other operations: page-aligned, in one
// topos page block. Returns the block's header.
detail::page_header* checked_block(const void* p, std::size_t bytes, const char* what) {
    detail::check_size(bytes, what);
    const std::size_t page = page_bytes();
    if (reinterpret_cast<std::uintptr_t>(p) % page != 0) {
        throw memory_error(std::string(what) + ": pointer " + detail::hex(p) + " is not aligned to the page size (" +
                           std::to_string(page) + ")");
    }
    if (detail::in_shared_mapping(p, bytes)) {
        throw memory_error(std::string(what) + ": range " + detail::hex(p) +
                           " is in a shared segment; next-touch applies to private page blocks only");
    }
    if (detail::region_of(p) == detail::region::arena) {
        throw memory_error(std::string(what) + ": pointer " + detail::hex(p) +
                           " is a small block sharing pages with others; allocate with own_pages for page operations");
    }
    detail::page_header* h = detail::header_of(p);
    if (h == nullptr) {
        throw memory_error(std::string(what) + ": pointer " + detail::hex(p) + " is not in a block from topos::allocate");
    }
    const auto begin = reinterpret_cast<std::uintptr_t>(detail::user_of(h));
    const auto end = reinterpret_cast<std::uintptr_t>(h) + h->m_map_bytes;
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    if (q < begin || bytes > end - q) {
        throw memory_error(std::string(what) + ": range " + detail::hex(p) + " + " + std::to_string(bytes) +
                           " bytes runs outside its block of " + std::to_string(h->m_user_bytes) + " bytes");
    }
    return h;
}

std::size_t arm(void* p, std::size_t bytes, std::size_t group) {
    registry& r = reg();
    const std::size_t page = page_bytes();
    const auto lo = reinterpret_cast<std::uintptr_t>(p);
    const std::size_t pages = (bytes + page - 1) / page;
    const std::uintptr_t hi = lo + pages * page;
    walk(lo, hi, pass::disarm, disarm_mode::cancel); // pages armed before are re-armed below
    {
        // Ranges the new one covers whole go (a late fault in them finds the new range).
        const std::lock_guard lock(r.m_claim_lock);
        for (slot& s : r.m_slots) {
            if (s.m_phase.load(std::memory_order_acquire) == k_live && s.m_begin.load(std::memory_order_relaxed) >= lo &&
                s.m_end.load(std::memory_order_relaxed) <= hi && s.m_armed.load(std::memory_order_relaxed) == 0) {
                retire(s);
            }
        }
    }
    auto states = std::make_unique<std::atomic<std::uint8_t>[]>(pages);
    for (std::size_t i = 0; i < pages; ++i) {
        states[i].store(k_arming, std::memory_order_relaxed); // published by the release store of k_live
    }
    slot* claimed = nullptr;
    {
        const std::lock_guard lock(r.m_claim_lock);
        for (int attempt = 0; attempt < 2 && claimed == nullptr; ++attempt) {
            for (slot& s : r.m_slots) {
                int expected = k_free;
                if (s.m_phase.compare_exchange_strong(expected, k_claimed, std::memory_order_acquire)) {
                    claimed = &s; // acquire: pairs with retire's release store of k_free
                    break;
                }
            }
            if (claimed == nullptr) {
                // Reuse the slots of ranges whose pages have all been touched.
                for (slot& s : r.m_slots) {
                    if (s.m_phase.load(std::memory_order_acquire) == k_live &&
                        s.m_armed.load(std::memory_order_relaxed) == 0) {
                        remember_reclaimed(s.m_begin.load(std::memory_order_relaxed),
                                           s.m_end.load(std::memory_order_relaxed));
                        retire(s);
                    }
                }
            }
        }
    }
    if (claimed == nullptr) {
        throw memory_error("migrate_on_next_touch: " + std::to_string(k_slots) +
                           " ranges are armed already; disarm some (cancel_next_touch) or arm larger ranges");
    }
    slot& s = *claimed;
    s.m_begin.store(lo, std::memory_order_relaxed);
    s.m_end.store(hi, std::memory_order_relaxed);
    s.m_group.store(group, std::memory_order_relaxed);
    s.m_armed.store(pages, std::memory_order_relaxed);
    s.m_states.store(states.release(), std::memory_order_relaxed);
    // release: the fields above are visible to whoever loads k_live (enter, walk)
    s.m_phase.store(k_live, std::memory_order_release);
    if (const int err = os::protect(p, pages * page, false); err != 0) {
        enter(s, lo);
        std::atomic<std::uint8_t>* st = s.m_states.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < pages; ++i) {
            st[i].store(k_idle, std::memory_order_relaxed);
        }
        s.m_armed.store(0, std::memory_order_relaxed);
        leave(s);
        retire(s);
        (void)os::protect(p, pages * page, true);
        throw memory_error(std::string("migrate_on_next_touch: the kernel refused to protect the range (") +
                           std::strerror(err) + ")");
    }
    std::atomic<std::uint8_t>* st = s.m_states.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < pages; ++i) {
        st[i].store(k_armed, std::memory_order_release); // release: the protection is in place before a CAS owns it
    }
    r.m_pages_armed.fetch_add(pages, std::memory_order_relaxed);
    return pages;
}

} // namespace


std::size_t migrate_on_next_touch(void* p, std::size_t bytes, const next_touch_options& options) {
    if (options.group_pages == 0 || options.group_pages > k_max_group) {
        throw memory_error("migrate_on_next_touch: group_pages " + std::to_string(options.group_pages) +
                           " is out of range; expected 1 to " + std::to_string(k_max_group));
    }
    detail::page_header* h = checked_block(p, bytes, "migrate_on_next_touch");
    ensure_installed();
    h->m_cache_node = -1; // its pages may end anywhere: never cached
    h->m_next_touch = true;
    const std::size_t page = page_bytes();
    const std::size_t span = (bytes + page - 1) / page * page;
    if (reg().m_syscalls.load(std::memory_order_relaxed)) {
        // Untouched pages are then placed by their first toucher, not by an
        // earlier bind (a node_array's blocks, migrate).
        (void)os::bind_range(p, span, os::mem_mode::local, os::node_mask{});
    }
    return arm(p, bytes, options.group_pages);
}

std::size_t cancel_next_touch(void* p, std::size_t bytes) {
    checked_block(p, bytes, "cancel_next_touch");
    const auto lo = reinterpret_cast<std::uintptr_t>(p);
    return walk(lo, lo + bytes, pass::disarm, disarm_mode::cancel);
}

std::size_t prepare_for_io(void* p, std::size_t bytes) {
    checked_block(p, bytes, "prepare_for_io");
    const auto lo = reinterpret_cast<std::uintptr_t>(p);
    return walk(lo, lo + bytes, pass::disarm, disarm_mode::io);
}

void touch_pages(void* p, std::size_t bytes) {
    checked_block(p, bytes, "touch_pages");
    const auto lo = reinterpret_cast<std::uintptr_t>(p);
    walk(lo, lo + bytes, pass::disarm, disarm_mode::io);
    const std::size_t page = page_bytes();
    const std::size_t span = (bytes + page - 1) / page * page;
    if (os::populate_write(p, span) != 0) {
        // Older kernels: a locked add of zero writes every page without changing it.
        for (std::size_t off = 0; off < span; off += page) {
            std::atomic_ref<unsigned char>(static_cast<unsigned char*>(p)[off]).fetch_add(0, std::memory_order_relaxed);
        }
    }
}

std::size_t armed_pages(const void* p, std::size_t bytes) noexcept {
    const auto lo = reinterpret_cast<std::uintptr_t>(p) / page_bytes() * page_bytes();
    return walk(lo, reinterpret_cast<std::uintptr_t>(p) + bytes, pass::count, disarm_mode::cancel);
}

bool handle_next_touch_fault(const void* address) noexcept { return on_fault(const_cast<void*>(address)); }

next_touch_counters get_next_touch_counters() noexcept {
    registry& r = reg();
    next_touch_counters c;
    c.pages_armed = r.m_pages_armed.load(std::memory_order_relaxed);
    c.faults = r.m_faults.load(std::memory_order_relaxed);
    c.pages_touched = r.m_pages_touched.load(std::memory_order_relaxed);
    c.pages_moved = r.m_pages_moved.load(std::memory_order_relaxed);
    c.pages_disarmed = r.m_pages_disarmed.load(std::memory_order_relaxed);
    for (const slot& s : r.m_slots) {
        c.ranges_live += s.m_phase.load(std::memory_order_relaxed) == k_live ? 1U : 0U;
    }
    return c;
}

namespace detail {

void next_touch_forget(void* user, std::size_t bytes) noexcept {
    const auto lo = reinterpret_cast<std::uintptr_t>(user);
    walk(lo, lo + bytes, pass::disarm, disarm_mode::forget);
}

void* next_touch_alloc(std::size_t bytes, const alloc_options& options) {
    check_size(bytes, "allocate");
    check_alignment(options.alignment);
    alloc_options own = options;
    own.own_pages = true;
    void* p = page_alloc(bytes, mem_policy::next_touch(), own);
    try {
        migrate_on_next_touch(p, bytes);
    } catch (...) {
        free_checked(p, bytes, false, "allocate");
        throw;
    }
    return p;
}

} // namespace detail
} // namespace topos

namespace topos::detail {
int memory_node_of_caller() noexcept { return current_node(); }
} // namespace topos::detail
