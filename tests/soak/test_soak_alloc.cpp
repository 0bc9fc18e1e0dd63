// Allocator soak: heavy allocation from several threads while mmap, mremap
// and mbind fail at random (os/fault_injection.hpp).
//
// Every way in is exercised: topos::allocate under each policy and option,
// node_malloc, numa_allocator growing a vector, the pmr resource, and the
// entry points the malloc shim calls (small_alloc_local_inline,
// small_alloc_local_mid, small_alloc, allocate; freed the way its free()
// does). Checked:
//  - a failure is std::bad_alloc (the shim turns it into nullptr), never
//    another exception, never a crash; a success is a usable block, aligned
//    as asked, whose pattern survives until it is freed (no block is handed
//    out twice);
//  - after the faults stop and everything is freed, the allocator's bytes in
//    use are back to their baseline exactly, its mapped bytes and the
//    resident set come back near it, and allocation works again.
// TOPOS_SOAK_OPS and TOPOS_SOAK_SECONDS make it longer (scripts/soak).
#include "tests/soak/soak_support.hpp"
#include "tests/unit/test_sched_support.hpp"

#include <topos/allocator.hpp>
#include <topos/memory.hpp>

#include "allocators/arena.hpp"
#include "allocators/fast_path.hpp"
#include "allocators/numa_layer.hpp"
#include "allocators/region.hpp"
#include "os/fault_injection.hpp"
#include "os/process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

using topos::os::fault_site;

struct rng {
    explicit rng(std::uint64_t seed) : state(seed * 0x9e3779b97f4a7c15ULL + 7) {}
    std::uint64_t next() {
        state ^= state >> 12U;
        state ^= state << 25U;
        state ^= state >> 27U;
        return state * 0x2545f4914f6cdd1dULL;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    std::uint64_t state;
};

// How a block was made, so it is freed the same way.
enum class source { allocate, node_malloc, shim, pmr };

struct block {
    void* p = nullptr;
    std::size_t bytes = 0;
    std::size_t alignment = 0;
    source from = source::allocate;
    std::uint64_t id = 0;
};

struct counts {
    std::atomic<std::uint64_t> ops{0};
    std::atomic<std::uint64_t> successes{0};
    std::atomic<std::uint64_t> bad_alloc{0};
    std::atomic<std::uint64_t> wrong{0};
    std::atomic<std::uint64_t> peak_os_bytes{0}; ///< the allocator's mapped bytes, sampled at each thread's end
    std::mutex mutex;
    std::string first_wrong;

    void wrong_result(const std::string& what) {
        if (wrong.fetch_add(1) == 0) {
            std::lock_guard lock(mutex);
            first_wrong = what;
        }
    }
};

// The block's id in a pattern over all of a small block, and over 16 bytes
// at each end and in the middle of a larger one: a block handed out twice,
// or memory changed under a live block, breaks it.
unsigned char pattern(const block& b, std::size_t i) { return static_cast<unsigned char>(b.id * 131 + i * 7); }

template <class Visit>
void pattern_positions(std::size_t bytes, Visit visit) {
    if (bytes <= 64) {
        for (std::size_t i = 0; i < bytes; ++i) {
            visit(i);
        }
        return;
    }
    for (std::size_t i = 0; i < 16; ++i) {
        visit(i);
        visit(bytes / 2 + i);
        visit(bytes - 16 + i);
    }
}

void stamp(const block& b) {
    auto* c = static_cast<unsigned char*>(b.p);
    pattern_positions(b.bytes, [&](std::size_t i) { c[i] = pattern(b, i); });
}

bool intact(const block& b) {
    const auto* c = static_cast<const unsigned char*>(b.p);
    bool ok = true;
    pattern_positions(b.bytes, [&](std::size_t i) { ok = ok && c[i] == pattern(b, i); });
    return ok;
}

// malloc of the drop-in shim (allocators/malloc_shim.cpp), its path through
// the allocator: nullptr exactly where the allocator threw bad_alloc.
void* shim_malloc(std::size_t bytes, std::size_t alignment, counts& c) {
    try {
        if (bytes <= topos::k_small_max) {
            if (alignment <= alignof(std::max_align_t)) {
                const std::size_t at_least = topos::detail::min_block(bytes, alignment);
                return at_least <= topos::detail::k_fast_max ? topos::detail::small_alloc_local_inline(at_least)
                                                             : topos::detail::small_alloc_local_mid(at_least);
            }
            if (alignment <= topos::detail::k_small_align_max) {
                return topos::detail::small_alloc(bytes, alignment, topos::detail::current_node());
            }
        }
        return topos::allocate(bytes, topos::mem_policy::local(), {.alignment = alignment});
    } catch (const std::bad_alloc&) {
        return nullptr;
    } catch (const std::exception& e) {
        c.wrong_result(std::string("shim path threw ") + e.what() + " instead of bad_alloc");
        return nullptr;
    }
}

void shim_free(void* p) {
    if (topos::detail::region_of(p) == topos::detail::region::arena) {
        topos::detail::small_free_inline(p);
    } else {
        topos::node_free(p);
    }
}

void release(const block& b, std::pmr::memory_resource& pmr) {
    switch (b.from) {
    case source::allocate: topos::deallocate(b.p, b.bytes); break;
    case source::node_malloc: topos::node_free(b.p); break;
    case source::shim: shim_free(b.p); break;
    case source::pmr: pmr.deallocate(b.p, b.bytes, b.alignment); break;
    }
}

std::size_t random_size(rng& r) {
    switch (r.below(8)) {
    case 0: return 1 + r.below(64);
    case 1:
    case 2: return 1 + r.below(1024);
    case 3: return 1024 + r.below(topos::k_small_max - 1024);
    case 4: return topos::k_small_max + r.below(256 << 10);
    case 5: return (std::size_t{1} << 20) + r.below(3 << 20); // the large-block cache's sizes
    default: return 1 + r.below(4096);
    }
}

topos::mem_policy random_policy(rng& r) {
    switch (r.below(6)) {
    case 0: return topos::mem_policy::on_node(0);
    case 1: return topos::mem_policy::preferred(0);
    case 2: return topos::mem_policy::interleave();
    case 3: return topos::mem_policy::bind({0});
    default: return topos::mem_policy::local();
    }
}

// One thread's share of a phase: `ops` operations over a pool of live blocks.
void churn(std::uint64_t seed, std::uint64_t ops, counts& c, std::pmr::memory_resource& pmr) {
    rng r(seed);
    std::vector<block> live;
    std::uint64_t next_id = seed << 32U;
    for (std::uint64_t op = 0; op < ops; ++op) {
        c.ops.fetch_add(1, std::memory_order_relaxed);
        if (!live.empty() && (live.size() > 64 || r.below(2) == 0)) {
            const std::size_t at = r.below(live.size());
            const block b = live[at];
            live[at] = live.back();
            live.pop_back();
            if (!intact(b)) {
                c.wrong_result("a live block of " + std::to_string(b.bytes) + " bytes was overwritten");
            }
            release(b, pmr);
            continue;
        }
        block b;
        b.bytes = random_size(r);
        b.alignment = alignof(std::max_align_t);
        b.id = ++next_id;
        const std::size_t kind = r.below(6);
        try {
            switch (kind) {
            case 0:
            case 1: {
                topos::alloc_options o;
                o.alignment = std::size_t{1} << r.below(14);
                o.own_pages = r.below(8) == 0;
                o.huge_pages = r.below(16) == 0;
                b.alignment = o.alignment;
                b.p = topos::allocate(b.bytes, random_policy(r), o);
                b.from = source::allocate;
                break;
            }
            case 2:
                b.p = topos::node_malloc(b.bytes, 0);
                b.from = source::node_malloc;
                break;
            case 3: {
                b.alignment = std::size_t{1} << r.below(13);
                b.from = source::shim;
                b.p = shim_malloc(b.bytes, b.alignment, c);
                if (b.p == nullptr) {
                    c.bad_alloc.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                break;
            }
            case 4:
                b.alignment = std::size_t{1} << r.below(7);
                b.p = pmr.allocate(b.bytes, b.alignment);
                b.from = source::pmr;
                break;
            default: {
                // A container growing under a policy: every reallocation may fail.
                std::vector<std::uint32_t, topos::numa_allocator<std::uint32_t>> v(
                    topos::numa_allocator<std::uint32_t>(random_policy(r)));
                // Up to 800 KB; under the sanitizers up to 100 KB, still
                // past the small blocks (a push_back there is a few function
                // calls, and these loops were most of the soak's time).
                const std::size_t n = 1 + r.below(topos::test::scaled(200000, 8));
                for (std::size_t i = 0; i < n; ++i) {
                    v.push_back(static_cast<std::uint32_t>(i));
                }
                for (std::size_t i = 0; i < n; i += 997) {
                    if (v[i] != i) {
                        c.wrong_result("a numa_allocator vector lost its contents while growing");
                        break;
                    }
                }
                c.successes.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            }
        } catch (const std::bad_alloc&) {
            c.bad_alloc.fetch_add(1, std::memory_order_relaxed);
            continue;
        } catch (const std::exception& e) {
            c.wrong_result(std::string("an allocation threw ") + e.what() + " instead of std::bad_alloc");
            continue;
        }
        if (b.p == nullptr) {
            c.wrong_result("an allocation returned nullptr without throwing");
            continue;
        }
        if (reinterpret_cast<std::uintptr_t>(b.p) % b.alignment != 0) {
            c.wrong_result("a block of " + std::to_string(b.bytes) + " bytes is not aligned to " +
                           std::to_string(b.alignment));
        }
        if (b.from != source::pmr && topos::usable_size(b.p) < b.bytes) {
            c.wrong_result("usable_size is smaller than the request");
        }
        c.successes.fetch_add(1, std::memory_order_relaxed);
        stamp(b);
        live.push_back(b);
    }
    const std::uint64_t mapped = topos::get_memory_counters().os_bytes;
    for (std::uint64_t seen = c.peak_os_bytes.load(); mapped > seen && !c.peak_os_bytes.compare_exchange_weak(seen, mapped);) {
    }
    for (const block& b : live) {
        if (!intact(b)) {
            c.wrong_result("a live block was overwritten");
        }
        release(b, pmr);
    }
}

// `threads` threads each run `ops_each` operations.
void phase(unsigned threads, std::uint64_t ops_each, std::uint64_t seed, counts& c) {
    topos::numa_resource pmr(topos::mem_policy::local());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] { churn(seed * 16 + t, ops_each, c, pmr); });
    }
    for (auto& th : pool) {
        th.join();
    }
}

std::uint64_t injected_total() {
    return topos::os::faults_injected(fault_site::map) + topos::os::faults_injected(fault_site::remap) +
           topos::os::faults_injected(fault_site::bind);
}

TEST(SoakAlloc, FailingSystemCallsGiveBadAllocAndMemoryComesBack) {
    constexpr unsigned k_threads = 4;
    // A quarter of the operations under the sanitizers.
    const topos::soak::budget budget("TOPOS_SOAK_OPS", topos::test::scaled(80000, 4));
    const std::uint64_t ops_each = topos::test::scaled(5000, 4);

    // Warm up without faults, so lazily made state (thread heaps, the node
    // table, the reserved range) is part of the baseline.
    counts warm;
    phase(k_threads, 2000, 1, warm);
    ASSERT_EQ(warm.wrong.load(), 0U) << warm.first_wrong;
    ASSERT_EQ(warm.bad_alloc.load(), 0U) << "allocation failed before any fault was injected";
    topos::memory_trim();
    const auto base = topos::get_memory_counters();
    const std::size_t base_rss = topos::os::resident_bytes();

    counts c;
    std::uint64_t rounds = 0;
    const std::uint64_t injected_before = injected_total();
    topos::test::with_timeout(std::chrono::seconds(600 + budget.seconds() * 2), "allocator soak", [&] {
        for (std::uint64_t seed = 2; budget.more(c.ops.load()); ++seed, ++rounds) {
            topos::os::set_fault_rate(fault_site::map, 3 + static_cast<std::uint32_t>(seed % 13), seed);
            topos::os::set_fault_rate(fault_site::remap, 2, seed);
            topos::os::set_fault_rate(fault_site::bind, 4 + static_cast<std::uint32_t>(seed % 7), seed);
            phase(k_threads, ops_each, seed, c);
            topos::os::clear_faults();
            ASSERT_EQ(c.wrong.load(), 0U) << c.first_wrong;
        }
    });
    const std::uint64_t injected = injected_total() - injected_before;

    // Recovery: everything was freed; with the faults off, allocation works.
    topos::memory_trim();
    const auto after = topos::get_memory_counters();
    const std::size_t after_rss = topos::os::resident_bytes();
    counts again;
    phase(k_threads, 2000, 999, again);
    EXPECT_EQ(again.wrong.load(), 0U) << again.first_wrong;
    EXPECT_EQ(again.bad_alloc.load(), 0U) << "allocation still fails after the faults stopped";

    std::printf("soak allocator: %llu rounds, %llu alloc ops, %llu succeeded, %llu failed as bad_alloc/nullptr, "
                "%llu failures injected (mmap %llu, mremap %llu, mbind %llu), %llu wrong results; bytes in use "
                "%lld -> %lld, mapped %llu -> (peak %llu) -> %llu, resident %zu -> %zu KiB\n",
                static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(c.ops.load()),
                static_cast<unsigned long long>(c.successes.load()), static_cast<unsigned long long>(c.bad_alloc.load()),
                static_cast<unsigned long long>(injected),
                static_cast<unsigned long long>(topos::os::faults_injected(fault_site::map)),
                static_cast<unsigned long long>(topos::os::faults_injected(fault_site::remap)),
                static_cast<unsigned long long>(topos::os::faults_injected(fault_site::bind)),
                static_cast<unsigned long long>(c.wrong.load()), static_cast<long long>(base.bytes_in_use),
                static_cast<long long>(after.bytes_in_use), static_cast<unsigned long long>(base.os_bytes),
                static_cast<unsigned long long>(c.peak_os_bytes.load()), static_cast<unsigned long long>(after.os_bytes), base_rss >> 10U, after_rss >> 10U);

    EXPECT_GT(injected, 0U);
    EXPECT_GT(c.bad_alloc.load(), 0U) << "no injected failure reached an allocation";
    EXPECT_GT(c.successes.load(), 0U);
    EXPECT_GT(c.peak_os_bytes.load(), base.os_bytes) << "the soak never had memory mapped: the checks below say nothing";
    EXPECT_EQ(after.bytes_in_use, base.bytes_in_use) << "blocks leaked across the failures";
    // Spare chunks and cached large blocks the trim keeps are bounded: 16 MiB.
    constexpr std::size_t k_slack = std::size_t{16} << 20;
    EXPECT_LE(after.os_bytes, base.os_bytes + k_slack);
    EXPECT_LE(after_rss, base_rss + k_slack);
}

} // namespace
