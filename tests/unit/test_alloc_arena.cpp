// The small-object arenas: a random oracle, cross-thread frees, thread exits,
// memory going back to the OS, and the counters.
#include <topos/memory.hpp>

#include "os/process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <barrier>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

unsigned char pattern_of(std::uint64_t id, std::size_t i) {
    return static_cast<unsigned char>((id * 131 + i * 7) & 0xff);
}

void fill(void* p, std::size_t bytes, std::uint64_t id) {
    auto* c = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < bytes; ++i) {
        c[i] = pattern_of(id, i);
    }
}

bool intact(const void* p, std::size_t bytes, std::uint64_t id) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < bytes; ++i) {
        if (c[i] != pattern_of(id, i)) {
            return false;
        }
    }
    return true;
}

struct live_block {
    std::size_t bytes = 0;
    std::uint64_t id = 0;
};

// The oracle: every live block's interval, which must never overlap another.
class interval_oracle {
public:
    // Returns false if [p, p+bytes) overlaps a live block.
    bool insert(void* p, std::size_t bytes, std::uint64_t id) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        auto next = m_live.lower_bound(a);
        if (next != m_live.end() && next->first < a + bytes) {
            return false;
        }
        if (next != m_live.begin()) {
            auto prev = std::prev(next);
            if (prev->first + prev->second.bytes > a) {
                return false;
            }
        }
        m_live.emplace(a, live_block{bytes, id});
        return true;
    }
    live_block erase(void* p) {
        auto it = m_live.find(reinterpret_cast<std::uintptr_t>(p));
        const live_block b = it->second;
        m_live.erase(it);
        return b;
    }
    [[nodiscard]] std::size_t size() const { return m_live.size(); }
    [[nodiscard]] void* nth(std::size_t i) const {
        return reinterpret_cast<void*>(std::next(m_live.begin(), static_cast<std::ptrdiff_t>(i))->first);
    }

private:
    std::map<std::uintptr_t, live_block> m_live;
};

TEST(AllocArena, RandomOperationsAgainstAnOracle) {
    std::mt19937_64 rng(12345);
    interval_oracle oracle;
    std::vector<void*> live;
    const std::vector<topos::mem_policy> policies = {topos::mem_policy::local(), topos::mem_policy::on_node(0),
                                                     topos::mem_policy::interleave(), topos::mem_policy::bind({0}),
                                                     topos::mem_policy::preferred(0)};
    std::uint64_t next_id = 1;
    for (int step = 0; step < 20000; ++step) {
        const bool do_alloc = live.empty() || rng() % 100 < 55;
        if (do_alloc) {
            std::size_t bytes = 0;
            switch (rng() % 10) {
            case 0: bytes = 1 + rng() % 16; break;
            case 1: bytes = 16384 + rng() % 50000; break; // page blocks
            case 2: bytes = 1025 + rng() % 15360; break;  // small, past the span table (1 KiB)
            default: bytes = 1 + rng() % 2048; break;
            }
            const std::size_t align = std::size_t{1} << (rng() % 8 == 0 ? 4 + rng() % 9 : 4); // 16..4096
            void* p = nullptr;
            if (rng() % 4 == 0) {
                p = topos::node_malloc(bytes, 0);
            } else {
                p = topos::allocate(bytes, policies[rng() % policies.size()], {.alignment = align});
                ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << "alignment " << align;
            }
            ASSERT_NE(p, nullptr);
            ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t), 0u);
            ASSERT_GE(topos::usable_size(p), bytes);
            ASSERT_TRUE(oracle.insert(p, bytes, next_id)) << "block " << p << " of " << bytes << " overlaps";
            fill(p, bytes, next_id++);
            live.push_back(p);
        } else {
            const std::size_t i = rng() % live.size();
            void* p = live[i];
            live[i] = live.back();
            live.pop_back();
            const live_block b = oracle.erase(p);
            ASSERT_TRUE(intact(p, b.bytes, b.id)) << "block " << p << " was overwritten";
            if (rng() % 2 == 0) {
                topos::deallocate(p, b.bytes);
            } else {
                topos::node_free(p);
            }
        }
    }
    for (void* p : live) {
        const live_block b = oracle.erase(p);
        ASSERT_TRUE(intact(p, b.bytes, b.id));
        topos::node_free(p);
    }
}

TEST(AllocArena, EverySizeClassBoundary) {
    for (std::size_t bytes = 1; bytes <= topos::k_small_max; bytes += (bytes < 256 ? 1 : 97)) {
        void* p = topos::node_malloc(bytes, 0);
        ASSERT_GE(topos::usable_size(p), bytes);
        std::memset(p, 0x5a, bytes);
        topos::node_free(p);
    }
}

// Up to 8 bytes at an alignment of 8 take the 8-byte class; the default
// alignment (16) and node_malloc never hand out 8-byte-aligned blocks.
TEST(AllocArena, TheEightByteClassServesOnlyWhatMayBeEightAligned) {
    std::vector<void*> small;
    std::vector<void*> aligned;
    for (int i = 0; i < 64; ++i) {
        void* p = topos::allocate(1 + static_cast<std::size_t>(i % 8), {}, {.alignment = 8});
        ASSERT_EQ(topos::usable_size(p), 8u);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 8, 0u);
        small.push_back(p);
        for (void* q : {topos::allocate(8), topos::node_malloc(8, 0)}) {
            ASSERT_EQ(reinterpret_cast<std::uintptr_t>(q) % alignof(std::max_align_t), 0u);
            ASSERT_EQ(topos::usable_size(q), 16u);
            aligned.push_back(q);
        }
    }
    std::vector<std::uintptr_t> at;
    for (void* p : small) {
        at.push_back(reinterpret_cast<std::uintptr_t>(p));
    }
    std::sort(at.begin(), at.end());
    for (std::size_t i = 1; i < at.size(); ++i) {
        ASSERT_GE(at[i] - at[i - 1], 8u) << "8-byte blocks overlap";
    }
    for (void* p : small) {
        topos::node_free(p);
    }
    for (void* p : aligned) {
        topos::node_free(p);
    }
}

// Every thread allocates, then frees the blocks another thread allocated.
TEST(AllocArena, CrossThreadFreeStorm) {
    constexpr int k_threads = 4;
    constexpr int k_rounds = 6;
    constexpr std::size_t k_blocks = 3000;
    const auto before = topos::get_memory_counters();
    std::vector<std::vector<std::pair<void*, std::size_t>>> made(k_threads);
    std::barrier sync(k_threads);
    std::atomic<int> corrupt{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            for (int round = 0; round < k_rounds; ++round) {
                auto& mine = made[static_cast<std::size_t>(t)];
                for (std::size_t i = 0; i < k_blocks; ++i) {
                    const std::size_t bytes = 8 + rng() % 600;
                    void* p = topos::node_malloc(bytes, 0);
                    fill(p, bytes, reinterpret_cast<std::uintptr_t>(p));
                    mine.emplace_back(p, bytes);
                }
                sync.arrive_and_wait(); // everyone's blocks are made
                auto& theirs = made[static_cast<std::size_t>((t + 1 + round % (k_threads - 1)) % k_threads)];
                for (auto [p, bytes] : theirs) {
                    if (!intact(p, bytes, reinterpret_cast<std::uintptr_t>(p))) {
                        corrupt.fetch_add(1, std::memory_order_relaxed);
                    }
                    topos::node_free(p);
                }
                sync.arrive_and_wait(); // everyone's frees are done
                theirs.clear();
                sync.arrive_and_wait(); // lists are empty before the next round fills them
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(corrupt.load(), 0);
    const auto after = topos::get_memory_counters();
    EXPECT_EQ(after.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use) << "every block came back";
    EXPECT_GE(after.remote_frees - before.remote_frees,
              static_cast<std::uint64_t>(k_threads) * k_rounds * k_blocks);
}

// Blocks outlive the thread that made them; another thread frees them and
// new threads adopt the abandoned spans.
TEST(AllocArena, BlocksOutliveTheirThread) {
    std::vector<std::pair<void*, std::size_t>> orphans;
    for (int gen = 0; gen < 3; ++gen) {
        std::thread([&] {
            for (std::size_t i = 0; i < 2000; ++i) {
                const std::size_t bytes = 16 + i % 300;
                void* p = topos::node_malloc(bytes, 0);
                fill(p, bytes, bytes);
                orphans.emplace_back(p, bytes);
            }
        }).join();
        // Free half here, half by a fresh thread that also allocates from the same classes.
        for (std::size_t i = 0; i < orphans.size(); i += 2) {
            ASSERT_TRUE(intact(orphans[i].first, orphans[i].second, orphans[i].second));
            topos::node_free(orphans[i].first);
        }
        std::thread([&] {
            std::vector<void*> mine;
            for (std::size_t i = 0; i < 2000; ++i) {
                mine.push_back(topos::node_malloc(16 + i % 300, 0));
                std::memset(mine.back(), 0, 16 + i % 300);
            }
            for (std::size_t i = 1; i < orphans.size(); i += 2) {
                ASSERT_TRUE(intact(orphans[i].first, orphans[i].second, orphans[i].second));
                topos::node_free(orphans[i].first);
            }
            for (void* p : mine) {
                topos::node_free(p);
            }
        }).join();
        orphans.clear();
    }
}

TEST(AllocArena, CountersFollowAllocations) {
    const auto before = topos::get_memory_counters();
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) {
        blocks.push_back(topos::node_malloc(100, 0)); // class 112
    }
    const auto during = topos::get_memory_counters();
    EXPECT_EQ(during.nodes[0].bytes_in_use - before.nodes[0].bytes_in_use, 1000 * 112);
    EXPECT_GE(during.nodes[0].os_bytes, before.nodes[0].os_bytes);
    EXPECT_GT(during.nodes[0].os_bytes, 0u);
    std::thread([&] {
        for (void* p : blocks) {
            topos::node_free(p);
        }
    }).join();
    const auto after = topos::get_memory_counters();
    EXPECT_EQ(after.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use);
    EXPECT_EQ(after.nodes[0].remote_frees - before.nodes[0].remote_frees, 1000u);
}

// A thread whose first allocator call frees another thread's blocks (a
// consumer) gets a heap of its own for its counters: they are right while
// it lives and after it exits.
TEST(AllocArena, ConsumerThreadCountsWhileAliveAndAfterExit) {
    const auto before = topos::get_memory_counters();
    std::vector<void*> blocks;
    for (int i = 0; i < 500; ++i) {
        blocks.push_back(topos::node_malloc(48, 0)); // class 48
    }
    std::mutex m;
    std::condition_variable cv;
    int phase = 0; // 1: consumer freed everything; 2: main has read the counters
    std::thread consumer([&] {
        for (void* p : blocks) {
            topos::node_free(p);
        }
        std::unique_lock lock(m);
        phase = 1;
        cv.notify_all();
        cv.wait(lock, [&] { return phase == 2; });
    });
    topos::memory_counters during;
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return phase == 1; });
        during = topos::get_memory_counters();
        phase = 2;
        cv.notify_all();
    }
    consumer.join();
    const auto after = topos::get_memory_counters();
    EXPECT_EQ(during.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use);
    EXPECT_EQ(during.nodes[0].remote_frees - before.nodes[0].remote_frees, 500u);
    EXPECT_EQ(after.nodes[0].bytes_in_use, before.nodes[0].bytes_in_use);
    EXPECT_EQ(after.nodes[0].remote_frees - before.nodes[0].remote_frees, 500u);
}

// Consumer threads free every block a producer made, first in runs that stay
// in one span, then in a shuffled order that changes span at nearly every
// free, so their remote frees go through their batches and the batches
// change span, fill and flush. While the consumers live on with batches still
// unpushed: the counters are already exact, the producer's trim releases all
// but at most one span per consumer, and the producer allocates again from
// its spans without ever getting a block that sits in a batch. Once the
// consumers exit, every block is home: the producer reuses them all without
// a block handed out twice, and a trim gives all the memory back.
TEST(AllocArena, BatchedRemoteFreesComeHomeExactly) {
    constexpr std::size_t k_consumers = 3;
    constexpr std::size_t k_blocks = 12000; // 64-byte blocks, about a dozen spans
    constexpr std::size_t k_span = std::size_t{64} << 10;
    topos::memory_trim();
    const auto base = topos::get_memory_counters();
    std::thread([&] {
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < k_blocks; ++i) {
            blocks.push_back(topos::node_malloc(64, 0));
            fill(blocks.back(), 64, i);
        }
        std::mutex m;
        std::condition_variable cv;
        std::size_t done = 0;
        bool go_home = false;
        std::atomic<int> corrupt{0};
        std::vector<std::thread> consumers;
        for (std::size_t c = 0; c < k_consumers; ++c) {
            consumers.emplace_back([&, c] {
                std::vector<std::size_t> mine;
                for (std::size_t i = c; i < k_blocks; i += k_consumers) {
                    mine.push_back(i);
                }
                std::mt19937 rng(static_cast<unsigned>(c));
                std::shuffle(mine.begin() + static_cast<std::ptrdiff_t>(mine.size() / 2), mine.end(), rng);
                for (std::size_t i : mine) {
                    if (!intact(blocks[i], 64, i)) {
                        corrupt.fetch_add(1, std::memory_order_relaxed);
                    }
                    topos::node_free(blocks[i]);
                }
                std::unique_lock lock(m);
                ++done;
                cv.notify_all();
                cv.wait(lock, [&] { return go_home; }); // alive, its last batch not pushed
            });
        }
        {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return done == k_consumers; });
        }
        EXPECT_EQ(corrupt.load(), 0);
        const auto freed = topos::get_memory_counters();
        EXPECT_EQ(freed.nodes[0].bytes_in_use, base.nodes[0].bytes_in_use) << "a batched free counts at once";
        EXPECT_EQ(freed.nodes[0].remote_frees - base.nodes[0].remote_frees, k_blocks);
        topos::memory_trim();
        // Each live consumer may hold back blocks of one span (and its chunk's header span).
        EXPECT_LE(topos::get_memory_counters().nodes[0].os_bytes, base.nodes[0].os_bytes + k_consumers * 2 * k_span);

        // Every live block, by address: none may be handed out twice.
        std::map<std::uintptr_t, std::size_t> live;
        std::size_t id = k_blocks;
        auto make = [&](std::size_t n) {
            for (std::size_t i = 0; i < n; ++i, ++id) {
                void* p = topos::node_malloc(64, 0);
                ASSERT_TRUE(live.emplace(reinterpret_cast<std::uintptr_t>(p), id).second)
                    << "block " << p << " handed out twice";
                fill(p, 64, id);
            }
        };
        make(k_blocks);
        {
            const std::lock_guard lock(m);
            go_home = true;
        }
        cv.notify_all();
        for (auto& t : consumers) {
            t.join(); // each pushes its last batch as it exits
        }
        make(2 * k_blocks);
        for (const auto& [p, n] : live) {
            EXPECT_TRUE(intact(reinterpret_cast<void*>(p), 64, n)) << "block " << n << " was overwritten";
            topos::node_free(reinterpret_cast<void*>(p));
        }
        const auto after = topos::get_memory_counters();
        EXPECT_EQ(after.nodes[0].bytes_in_use, base.nodes[0].bytes_in_use) << "every block came home";
        topos::memory_trim();
    }).join();
    topos::memory_trim();
    EXPECT_LE(topos::get_memory_counters().nodes[0].os_bytes, base.nodes[0].os_bytes) << "every span was released";
}

TEST(AllocArena, FreedMemoryGoesBackToTheOs) {
    topos::memory_trim();
    const std::size_t k_total = std::size_t{96} << 20;
    const std::size_t k_size = 1000;
    std::vector<void*> blocks;
    blocks.reserve(k_total / k_size);
    const auto base_counters = topos::get_memory_counters();
    const std::size_t base_rss = topos::os::resident_bytes();
    for (std::size_t done = 0; done < k_total; done += k_size) {
        void* p = topos::node_malloc(k_size, 0);
        std::memset(p, 1, k_size);
        blocks.push_back(p);
    }
    const auto peak_counters = topos::get_memory_counters();
    const std::size_t peak_rss = topos::os::resident_bytes();
    EXPECT_GE(peak_counters.nodes[0].os_bytes - base_counters.nodes[0].os_bytes, k_total);
    EXPECT_GE(peak_rss - base_rss, k_total * 3 / 4);

    for (void* p : blocks) {
        topos::node_free(p);
    }
    // Without an explicit trim: the arena keeps only a little spare.
    const auto freed_counters = topos::get_memory_counters();
    const std::size_t freed_rss = topos::os::resident_bytes();
    EXPECT_LT(freed_counters.nodes[0].os_bytes, base_counters.nodes[0].os_bytes + (std::size_t{12} << 20));
    EXPECT_LT(freed_rss, peak_rss - k_total / 2);

    topos::memory_trim();
    const auto trimmed = topos::get_memory_counters();
    EXPECT_LE(trimmed.nodes[0].os_bytes, freed_counters.nodes[0].os_bytes);
}

// Passive false sharing (mimalloc-bench's cache-scratch): a block one thread
// allocated and another thread freed must not come back to the freeing
// thread, and threads allocating side by side never get bytes of one cache
// line. Spans belong to one thread and blocks never straddle spans, so no
// 64-byte line ever holds blocks of two threads.
TEST(AllocArena, ThreadsNeverShareACacheLine) {
    constexpr unsigned k_threads = 4;
    constexpr std::size_t k_blocks = 2000;
    // Neighbours made by this thread, handed one to each worker.
    std::vector<void*> handed(k_threads);
    for (auto& p : handed) {
        p = topos::node_malloc(8, 0);
    }
    // Each block as its first and last byte.
    std::vector<std::vector<std::pair<std::uintptr_t, std::uintptr_t>>> got(k_threads);
    std::barrier sync(k_threads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            topos::node_free(handed[t]); // a remote free: the block goes back to its owner
            sync.arrive_and_wait();
            std::mt19937 rng(t);
            std::vector<void*> mine;
            for (std::size_t i = 0; i < k_blocks; ++i) {
                const std::size_t bytes = 8 + rng() % 200;
                mine.push_back(topos::node_malloc(bytes, 0));
                const auto first = reinterpret_cast<std::uintptr_t>(mine.back());
                got[t].emplace_back(first, first + bytes - 1);
            }
            sync.arrive_and_wait(); // every thread holds its blocks while the others allocate
            for (void* p : mine) {
                topos::node_free(p);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    std::map<std::uintptr_t, unsigned> owner_of_line;
    for (unsigned t = 0; t < k_threads; ++t) {
        for (const auto& [first, last] : got[t]) {
            for (std::uintptr_t line = first / 64; line <= last / 64; ++line) {
                const auto [it, fresh] = owner_of_line.emplace(line, t);
                ASSERT_TRUE(fresh || it->second == t)
                    << "threads " << it->second << " and " << t << " got bytes of the line at " << std::hex << line * 64;
            }
        }
    }
    for (void* p : handed) {
        EXPECT_EQ(owner_of_line.count(reinterpret_cast<std::uintptr_t>(p) / 64), 0u)
            << "a worker got a block in the line of the blocks the main thread made";
    }
}

// Small blocks live in an address range reserved at a fixed address where
// the kernel allows it; where it does not, topos says so in the memory
// status and the arena works through the region map. The ctest
// alloc_arena_without_range runs these tests with the address space limited
// so that the reservation is refused, and sets TOPOS_TEST_RANGE_REFUSED.
// The memory status names a refused range exactly when the environment says
// the reservation was refused.
void expect_range_note_matches_environment() {
    const bool refused = std::getenv("TOPOS_TEST_RANGE_REFUSED") != nullptr;
    const std::string note = topos::get_memory_status().note;
    EXPECT_EQ(note.find("address range could not be reserved") != std::string::npos, refused) << note;
}

TEST(AllocArena, RangeRefusalIsReported) {
    topos::node_free(topos::node_malloc(64, 0)); // this thread's heap exists: the range was tried
    expect_range_note_matches_environment();
}

// `topos info` reports the memory status before anything was allocated: the
// status tries the range itself.
TEST(AllocArena, RangeStateIsKnownBeforeTheFirstAllocation) {
    expect_range_note_matches_environment(); // first thing this process does with topos memory
}

// Empty spans up to the cap stay committed for a while, so a program that
// frees and soon allocates again does not fault its pages back in; once they
// have waited (100 ms) the next arena operation gives them back to the OS,
// down to the 32 an arena always keeps.
TEST(AllocArena, EmptySpansGoBackToTheOsAfterTheyWait) {
    topos::memory_trim();
    constexpr std::uint64_t k_span = 64 * 1024;
    constexpr std::size_t k_size = 16384; // four blocks a span
    constexpr std::size_t k_spans = 96;   // more than the 32 kept, fewer than the 128 cap
    const std::uint64_t base = topos::get_memory_counters().nodes[0].os_bytes;
    // In a thread of its own, whose exit hands its last spans to the arena.
    std::thread([&] {
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < k_spans * (k_span / k_size); ++i) {
            blocks.push_back(topos::node_malloc(k_size, 0));
        }
        for (void* p : blocks) {
            topos::node_free(p);
        }
    }).join();
    const std::uint64_t held = topos::get_memory_counters().nodes[0].os_bytes - base;
    EXPECT_GE(held, 64 * k_span) << "freed spans are kept for a while";

    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::thread([] { topos::node_free(topos::node_malloc(k_size, 0)); }).join();
    const std::uint64_t after = topos::get_memory_counters().nodes[0].os_bytes - base;
    // 32 spans kept, plus the headers of the chunks still mapped.
    EXPECT_LE(after, (32 + 4) * k_span) << "spans that waited went back to the OS";
    EXPECT_LT(after, held);
}

TEST(AllocArena, PageBlocksGoBackToTheOs) {
    const std::size_t bytes = std::size_t{64} << 20;
    const std::size_t base_rss = topos::os::resident_bytes();
    const auto base = topos::get_memory_counters();
    auto* p = static_cast<char*>(topos::allocate(bytes, topos::mem_policy::on_node(0)));
    std::memset(p, 2, bytes);
    EXPECT_GE(topos::os::resident_bytes() - base_rss, bytes * 3 / 4);
    EXPECT_GE(topos::get_memory_counters().os_bytes - base.os_bytes, bytes);
    topos::deallocate(p, bytes);
    EXPECT_LT(topos::os::resident_bytes(), base_rss + bytes / 4);
    EXPECT_EQ(topos::get_memory_counters().os_bytes, base.os_bytes);
}

// Medium blocks (more than k_small_max, up to 1 MiB, local policy) go to a
// cache of their node when freed and come back from it.
TEST(AllocArena, MediumBlocksAreReusedAndTrimmed) {
    topos::memory_trim();
    const auto base = topos::get_memory_counters();
    const std::size_t bytes = 100000;
    void* a = topos::allocate(bytes);
    std::memset(a, 1, bytes);
    EXPECT_GE(topos::usable_size(a), bytes);
    EXPECT_EQ(topos::get_memory_counters().unplaced_bytes_in_use - base.unplaced_bytes_in_use,
              static_cast<std::int64_t>(bytes));
    topos::deallocate(a, bytes);
    const auto cached = topos::get_memory_counters();
    EXPECT_EQ(cached.unplaced_bytes_in_use, base.unplaced_bytes_in_use);
    EXPECT_GT(cached.unplaced_os_bytes, base.unplaced_os_bytes) << "the freed block is held for reuse";
    void* b = topos::allocate(bytes - 1000); // same size class
    if (topos::get_memory_status().node_count == 1) {
        EXPECT_EQ(b, a) << "the cached block is handed out again";
    }
    std::memset(b, 2, bytes - 1000);
    topos::deallocate(b, bytes - 1000);
    topos::memory_trim();
    const auto trimmed = topos::get_memory_counters();
    EXPECT_EQ(trimmed.unplaced_os_bytes, base.unplaced_os_bytes) << "trim unmaps what the cache held";
    EXPECT_EQ(trimmed.unplaced_bytes_in_use, base.unplaced_bytes_in_use);
}

// A small medium class keeps many more freed blocks than a large one
// (4 MiB of them, at least 16): a program that frees a hundred 24 KiB blocks
// at once and asks for them again maps nothing new.
TEST(AllocArena, ManyFreedBlocksOfASmallMediumClassAreAllKept) {
    topos::memory_trim();
    const std::size_t bytes = 24 << 10;
    const std::size_t count = 100;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
        blocks.push_back(topos::allocate(bytes));
        std::memset(blocks.back(), 5, bytes);
    }
    const auto held = topos::get_memory_counters();
    for (void* p : blocks) {
        topos::deallocate(p, bytes);
    }
    EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, held.unplaced_os_bytes)
        << "all " << count << " freed blocks are kept for reuse";
    for (void*& p : blocks) {
        p = topos::allocate(bytes);
    }
    EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, held.unplaced_os_bytes)
        << "and taken again without a new mapping";
    for (void* p : blocks) {
        topos::deallocate(p, bytes);
    }
    topos::memory_trim();
}

// Large blocks (more than 1 MiB, local policy) are cached with their
// pages: a larger request grows the cached block (only the difference is
// mapped anew), a smaller one takes it as it is, and trim unmaps it.
TEST(AllocArena, LargeBlocksAreReusedGrownAndTrimmed) {
    topos::memory_trim();
    const auto base = topos::get_memory_counters();
    const std::size_t mib = std::size_t{1} << 20;
    auto* a = static_cast<char*>(topos::allocate(8 * mib));
    std::memset(a, 1, 8 * mib);
    const auto held = topos::get_memory_counters();
    const std::uint64_t a_map = held.unplaced_os_bytes - base.unplaced_os_bytes;
    EXPECT_GE(a_map, 8 * mib);
    topos::deallocate(a, 8 * mib);
    const auto cached = topos::get_memory_counters();
    EXPECT_EQ(cached.unplaced_bytes_in_use, base.unplaced_bytes_in_use);
    EXPECT_EQ(cached.unplaced_os_bytes, held.unplaced_os_bytes) << "the freed block is held for reuse";
    const bool one_node = topos::get_memory_status().node_count == 1;

    auto* b = static_cast<char*>(topos::allocate(12 * mib));
    const auto grown = topos::get_memory_counters();
    if (one_node) {
        EXPECT_EQ(grown.unplaced_os_bytes - cached.unplaced_os_bytes, 4 * mib)
            << "the cached block grew by the difference and was not mapped again";
        EXPECT_EQ(b[0], 1) << "the cached block's pages moved with it";
        EXPECT_EQ(b[8 * mib - 1], 1);
    }
    EXPECT_GE(topos::usable_size(b), 12 * mib);
    std::memset(b, 2, 12 * mib);
    topos::deallocate(b, 12 * mib);

    // 12 MiB and a header took 12 MiB and a page (rounding up to 14 MiB would
    // add more than an eighth); 11 MiB and a header round up to 12 MiB.
    auto* c = static_cast<char*>(topos::allocate(11 * mib));
    if (one_node) {
        EXPECT_EQ(c, b) << "a request a little smaller takes the cached block as it is";
        EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, grown.unplaced_os_bytes);
    }
    std::memset(c, 3, 11 * mib);
    topos::deallocate(c, 11 * mib);

    auto* d = static_cast<char*>(topos::allocate(2 * mib));
    if (one_node) {
        EXPECT_EQ(d, b) << "the cached block, trimmed";
        EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, cached.unplaced_os_bytes - 6 * mib)
            << "a block whose tail is over a quarter of the request gives the tail back (2 MiB and a header "
               "take 2 MiB and a page)";
    }
    std::memset(d, 4, 2 * mib);
    topos::deallocate(d, 2 * mib);
    topos::memory_trim();
    const auto trimmed = topos::get_memory_counters();
    EXPECT_EQ(trimmed.unplaced_os_bytes, base.unplaced_os_bytes) << "trim unmaps what the cache held";
    EXPECT_EQ(trimmed.unplaced_bytes_in_use, base.unplaced_bytes_in_use);
}

// A large block's mapping is rounded up to whole huge pages only when that
// adds at most an eighth of the request: the huge page of a rounded tail is
// resident as a whole once touched.
TEST(AllocArena, LargeBlocksRoundUpToHugePagesOnlyWhenTheTailIsSmall) {
    topos::memory_trim();
    const std::size_t mib = std::size_t{1} << 20;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const auto mapped_by = [](std::size_t bytes) {
        const auto before = topos::get_memory_counters().unplaced_os_bytes;
        void* p = topos::allocate(bytes);
        const auto after = topos::get_memory_counters().unplaced_os_bytes;
        topos::deallocate(p, bytes);
        topos::memory_trim();
        return after - before;
    };
    EXPECT_EQ(mapped_by(4 * mib), 4 * mib + page) << "a 4 MiB block and its header page, not 6 MiB";
    EXPECT_EQ(mapped_by(16 * mib - 64 * 1024), 16 * mib) << "60 KiB of tail rounds up to the huge page";
    EXPECT_EQ(mapped_by(3 * mib), 3 * mib + page);
}

// A large block given another policy or migrated is never cached: it goes
// back to the kernel when freed.
TEST(AllocArena, LargeBlocksWithAPolicyChangeAreNotCached) {
    topos::memory_trim();
    const auto base = topos::get_memory_counters();
    const std::size_t bytes = std::size_t{6} << 20;
    void* a = topos::allocate(bytes);
    topos::set_mem_policy(a, bytes, topos::mem_policy::on_node(0));
    topos::deallocate(a, bytes);
    EXPECT_EQ(topos::get_memory_counters().os_bytes, base.os_bytes);
}

TEST(AllocArena, FreedMediumBlocksGoBackToTheOs) {
    topos::memory_trim();
    const std::size_t k_size = 200 << 10;
    const std::size_t k_count = 256; // 50 MiB
    const auto base = topos::get_memory_counters();
    const std::size_t base_rss = topos::os::resident_bytes();
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < k_count; ++i) {
        blocks.push_back(topos::allocate(k_size));
        std::memset(blocks.back(), 3, k_size);
    }
    const std::size_t peak_rss = topos::os::resident_bytes();
    EXPECT_GE(peak_rss - base_rss, k_size * k_count * 3 / 4);
    for (void* p : blocks) {
        topos::deallocate(p, k_size);
    }
    const std::size_t freed_rss = topos::os::resident_bytes();
    EXPECT_LT(freed_rss, peak_rss - k_size * k_count / 2) << "the cache keeps little memory resident";
    EXPECT_LT(topos::get_memory_counters().unplaced_os_bytes, base.unplaced_os_bytes + (std::size_t{12} << 20));
    topos::memory_trim();
    EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, base.unplaced_os_bytes);
}

// Past the medium cache's resident bound, the oldest cached blocks give
// their pages back, not the one just freed: the next allocation of its size
// takes it with its pages (no fault, no os bytes added), and each free drops
// at most the pages of blocks freed before it.
TEST(AllocArena, MediumCacheKeepsTheNewestBlocksResident) {
    topos::memory_trim();
    const std::size_t k_size = 1000 << 10;
    const std::size_t k_count = 12; // 12 MiB of one class, over the 8 MiB bound
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < k_count; ++i) {
        blocks.push_back(topos::allocate(k_size));
        std::memset(blocks.back(), 5, k_size);
    }
    const auto held = topos::get_memory_counters();
    for (void* p : blocks) {
        topos::deallocate(p, k_size);
    }
    const auto cached = topos::get_memory_counters();
    EXPECT_LT(cached.unplaced_os_bytes, held.unplaced_os_bytes) << "some cached blocks gave their pages back";
    void* again = topos::allocate(k_size);
    EXPECT_EQ(again, blocks.back()) << "the newest freed block comes back first";
    EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, cached.unplaced_os_bytes)
        << "it kept its pages: nothing had to be committed again";
    topos::deallocate(again, k_size);
    EXPECT_EQ(topos::get_memory_counters().unplaced_os_bytes, cached.unplaced_os_bytes)
        << "freeing it again dropped nothing: it stays the newest";
    topos::memory_trim();
}

// Threads trade medium blocks of random sizes: every block reaches its
// reader intact, whichever cache it comes from.
TEST(AllocArena, MediumBlocksAcrossThreads) {
    constexpr int k_threads = 4;
    constexpr std::size_t k_blocks = 200;
    std::vector<std::vector<std::pair<void*, std::size_t>>> made(k_threads);
    std::barrier sync(k_threads);
    std::atomic<int> corrupt{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) + 100);
            for (int round = 0; round < 3; ++round) {
                auto& mine = made[static_cast<std::size_t>(t)];
                for (std::size_t i = 0; i < k_blocks; ++i) {
                    const std::size_t bytes = topos::k_small_max + 1 + rng() % (std::size_t{1} << 20);
                    void* p = topos::allocate(bytes);
                    fill(p, 64, reinterpret_cast<std::uintptr_t>(p));
                    std::memset(static_cast<char*>(p) + bytes - 64, 7, 64);
                    mine.emplace_back(p, bytes);
                }
                sync.arrive_and_wait();
                auto& theirs = made[static_cast<std::size_t>((t + 1) % k_threads)];
                for (auto [p, bytes] : theirs) {
                    const auto* tail = static_cast<const unsigned char*>(p) + bytes - 64;
                    if (!intact(p, 64, reinterpret_cast<std::uintptr_t>(p)) || tail[0] != 7 || tail[63] != 7) {
                        corrupt.fetch_add(1, std::memory_order_relaxed);
                    }
                    topos::deallocate(p, bytes);
                }
                sync.arrive_and_wait();
                theirs.clear();
                sync.arrive_and_wait();
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(corrupt.load(), 0);
    topos::memory_trim();
}

TEST(AllocArena, SmallPoliciesPickTheirNode) {
    const int n = static_cast<int>(topos::get_memory_status().node_count);
    for (int node = 0; node < n; ++node) {
        const auto before = topos::get_memory_counters();
        void* p = topos::allocate(48, topos::mem_policy::on_node(node));
        const auto during = topos::get_memory_counters();
        EXPECT_EQ(during.nodes[static_cast<std::size_t>(node)].bytes_in_use -
                      before.nodes[static_cast<std::size_t>(node)].bytes_in_use,
                  48);
        topos::deallocate(p, 48);
    }
}

} // namespace
