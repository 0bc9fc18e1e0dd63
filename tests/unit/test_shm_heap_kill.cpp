// segment_heap against SIGKILL at random moments: forked workers loop over
// random heap operations (allocate, deallocate, construct_named, find,
// destroy), publishing what they hold in a ledger in the segment; the test
// kills them at random instants, recovers the heap, checks it, and verifies
// that every block anyone holds keeps its pattern and that no two overlap.
//
//   TOPOS_SHM_KILLS      kills of the single-worker test (default 150; the full run 1000)
//   TOPOS_SHM_SOAK_OPS   operations per process of the 8-process soak (default 20000)
//
// Each test prints its counts (kills, kills that landed inside a heap
// operation, recoveries, replayed redo records, leaked bytes).
#include "../shm/shm_test_support.hpp"

#include "ipc/shm_heap_layout.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace topos;
using namespace std::chrono_literals;
using topos::test::shm_test;

std::uint64_t env_count(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        return fallback;
    }
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    return end != nullptr && *end == '\0' && n > 0 ? n : fallback;
}

constexpr std::uint64_t k_mix = 0x9e3779b97f4a7c15ULL;

/// The byte at `i` of a block patterned from `seed`.
unsigned char pattern_byte(std::uint64_t seed, std::size_t i) {
    return static_cast<unsigned char>((seed * k_mix + i * 0x2545f491ULL) >> 24);
}
void fill(void* p, std::size_t n, std::uint64_t seed) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
        b[i] = pattern_byte(seed, i);
    }
}
bool intact(const void* p, std::size_t n, std::uint64_t seed) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
        if (b[i] != pattern_byte(seed, i)) {
            return false;
        }
    }
    return true;
}

/// A named object: whole when every word agrees with the seed.
struct named_blob {
    explicit named_blob(std::uint64_t s) : seed(s) {
        for (std::size_t k = 0; k < std::size(words); ++k) {
            words[k] = s * k_mix + k;
        }
    }
    [[nodiscard]] bool whole() const {
        for (std::size_t k = 0; k < std::size(words); ++k) {
            if (words[k] != seed * k_mix + k) {
                return false;
            }
        }
        return true;
    }
    std::uint64_t seed;
    std::uint64_t words[23];
};

/// A block one worker holds: its offset from the heap's region (0: slot
/// empty), published last, after the block was patterned.
struct held_block {
    std::atomic<std::uint64_t> offset{0};
    std::atomic<std::uint64_t> size{0};
    std::atomic<std::uint64_t> seed{0};
};

/// What one worker holds and does; it outlives the worker, so the next one
/// (after a kill) takes it over.
struct worker_ledger {
    static constexpr unsigned k_slots = 48;
    static constexpr unsigned k_names = 4;
    std::atomic<std::uint32_t> in_op{0};   ///< 1 while the worker is inside a heap call
    std::atomic<std::uint32_t> failed{0};  ///< nonzero: the worker found a fault (why[])
    std::atomic<std::uint32_t> running{0}; ///< set by a worker once it loops
    std::atomic<std::uint64_t> ops{0};     ///< heap operations completed
    std::atomic<std::uint64_t> target{0};  ///< a worker exits 0 once ops reaches this (0: never)
    std::atomic<std::uint32_t> died_armed{0}; ///< set by a worker killing itself with the redo record armed
    held_block slots[k_slots];
    char why[160]{};
};

struct board {
    static constexpr unsigned k_workers = 8;
    worker_ledger workers[k_workers];
};

/// A segment holding the board, then a heap over the rest (page-aligned).
struct heap_segment {
    heap_segment(const std::string& name, std::size_t heap_bytes)
        : seg(shared_segment::create(name, k_board_bytes + heap_bytes)),
          b(::new (seg.data()) board),
          region(static_cast<char*>(seg.data()) + k_board_bytes),
          region_bytes(seg.size() - k_board_bytes),
          heap(segment_heap::format(region, region_bytes)) {}

    static constexpr std::size_t k_board_bytes = (sizeof(board) + 4095) / 4096 * 4096;
    shared_segment seg;
    board* b;
    char* region;
    std::size_t region_bytes;
    segment_heap heap;
};

std::string name_of(unsigned worker, unsigned k) { return "w" + std::to_string(worker) + "-n" + std::to_string(k); }

[[noreturn]] void worker_fail(worker_ledger& l, const std::string& why) {
    std::snprintf(l.why, sizeof l.why, "%s", why.c_str());
    l.failed.store(1, std::memory_order_release);
    ::_exit(3);
}

// One worker's loop (in a forked child): random operations until ops reaches
// target (then _exit(0)) or it is killed. Never returns.
[[noreturn]] void worker_main(heap_segment& hs, unsigned w, std::uint64_t seed) {
    worker_ledger& l = hs.b->workers[w];
    segment_heap& heap = hs.heap;
    std::mt19937_64 rng(seed);
    auto slot_of = [&](bool want_empty) -> int {
        const auto start = static_cast<unsigned>(rng() % worker_ledger::k_slots);
        for (unsigned i = 0; i < worker_ledger::k_slots; ++i) {
            const unsigned s = (start + i) % worker_ledger::k_slots;
            if ((l.slots[s].offset.load(std::memory_order_relaxed) == 0) == want_empty) {
                return static_cast<int>(s);
            }
        }
        return -1;
    };
    auto free_one = [&](int s) {
        held_block& h = l.slots[s];
        char* p = hs.region + h.offset.load(std::memory_order_relaxed);
        const std::size_t n = h.size.load(std::memory_order_relaxed);
        if (!intact(p, n, h.seed.load(std::memory_order_relaxed))) {
            worker_fail(l, "a held block lost its pattern before it was freed");
        }
        h.offset.store(0, std::memory_order_release); // unpublish first: a kill below leaks it, nothing worse
        l.in_op.store(1, std::memory_order_release);
        heap.deallocate(p, n);
        l.in_op.store(0, std::memory_order_release);
    };
    l.running.store(1, std::memory_order_release);
    try {
        for (;;) {
            const std::uint64_t target = l.target.load(std::memory_order_relaxed);
            if (target != 0 && l.ops.load(std::memory_order_relaxed) >= target) {
                ::_exit(0);
            }
            const unsigned dice = static_cast<unsigned>(rng() % 100);
            if (dice < 45) {
                const int s = slot_of(true);
                if (s < 0) {
                    free_one(slot_of(false));
                } else {
                    const std::size_t n = 1 + rng() % 1500;
                    const std::size_t align = std::size_t{8} << (rng() % 5);
                    const std::uint64_t block_seed = rng() | 1;
                    void* p = nullptr;
                    l.in_op.store(1, std::memory_order_release);
                    try {
                        p = heap.allocate(n, align);
                    } catch (const std::bad_alloc&) {
                        p = nullptr;
                    }
                    l.in_op.store(0, std::memory_order_release);
                    if (p == nullptr) {
                        const int victim = slot_of(false);
                        if (victim >= 0) {
                            free_one(victim);
                        }
                    } else {
                        if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
                            worker_fail(l, "allocate gave a misaligned block");
                        }
                        fill(p, n, block_seed);
                        held_block& h = l.slots[s];
                        h.size.store(n, std::memory_order_relaxed);
                        h.seed.store(block_seed, std::memory_order_relaxed);
                        // release: the pattern and size above are complete before the block is published.
                        h.offset.store(static_cast<std::uint64_t>(static_cast<char*>(p) - hs.region),
                                       std::memory_order_release);
                    }
                }
            } else if (dice < 80) {
                const int s = slot_of(false);
                if (s >= 0) {
                    free_one(s);
                }
            } else if (dice < 88) {
                const auto k = static_cast<unsigned>(rng() % worker_ledger::k_names);
                l.in_op.store(1, std::memory_order_release);
                try {
                    (void)heap.construct_named<named_blob>(name_of(w, k), rng());
                } catch (const shm_error& e) {
                    if (e.code() != shm_errc::exists && e.code() != shm_errc::no_memory) {
                        throw;
                    }
                } catch (const std::bad_alloc&) { // NOLINT(bugprone-empty-catch): a full heap is a fine answer
                }
                l.in_op.store(0, std::memory_order_release);
            } else if (dice < 95) {
                const auto k = static_cast<unsigned>(rng() % worker_ledger::k_names);
                l.in_op.store(1, std::memory_order_release);
                const named_blob* p = heap.find<named_blob>(name_of(w, k));
                l.in_op.store(0, std::memory_order_release);
                if (p != nullptr && !p->whole()) {
                    worker_fail(l, "found " + name_of(w, k) + " not whole");
                }
            } else if (dice < 99) {
                const auto k = static_cast<unsigned>(rng() % worker_ledger::k_names);
                l.in_op.store(1, std::memory_order_release);
                if (named_blob* p = heap.find<named_blob>(name_of(w, k))) {
                    heap.destroy(p);
                }
                l.in_op.store(0, std::memory_order_release);
            } else {
                l.in_op.store(1, std::memory_order_release);
                heap.check();
                l.in_op.store(0, std::memory_order_release);
            }
            l.ops.fetch_add(1, std::memory_order_relaxed);
        }
    } catch (const std::exception& e) {
        worker_fail(l, std::string("worker threw: ") + e.what());
    }
}

// The step at which a worker started by start_worker_dying kills itself: at
// step g_die_step of its g_die_commit-th committed heap operation (inherited
// through fork; the child's copy counts down).
std::uint64_t g_die_commit = 0;
unsigned g_die_step = 0;
std::atomic<std::uint32_t>* g_died_armed = nullptr;

void die_at_step(unsigned step, unsigned count) {
    if (step == 0 && g_die_commit > 0) {
        --g_die_commit;
    }
    if (g_die_commit == 0 && step == std::min(g_die_step, 3 + count)) {
        // Armed from step 2 (armed) through 2 + count (the last word written), disarmed at 3 + count.
        g_died_armed->store(step >= 2 && step <= 2 + count ? 1 : 0, std::memory_order_release);
        ::raise(SIGKILL);
    }
}

pid_t start_worker(heap_segment& hs, unsigned w, std::uint64_t seed, bool dying = false) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (dying) {
            g_died_armed = &hs.b->workers[w].died_armed;
            detail::set_heap_commit_hook(&die_at_step);
        }
        worker_main(hs, w, seed);
    }
    return pid;
}

/// Waits for `pid` to end, up to `timeout`; its exit status, 128 + signal, or -1 (then killed).
int reap(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 || std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(1ms);
    }
}

/// One block someone holds, as offsets from the region.
struct span_held {
    std::uint64_t offset;
    std::uint64_t size;
    std::uint64_t seed;
    const char* who;
};

/// Verifies worker w's ledger: every published block inside the heap with
/// its pattern, every one of its names whole or absent. Adds its blocks to `all`.
void verify_worker(heap_segment& hs, unsigned w, std::vector<span_held>& all) {
    worker_ledger& l = hs.b->workers[w];
    ASSERT_EQ(l.failed.load(std::memory_order_acquire), 0U) << "worker " << w << ": " << l.why;
    for (auto& h : l.slots) {
        const std::uint64_t off = h.offset.load(std::memory_order_acquire);
        if (off == 0) {
            continue;
        }
        const std::uint64_t n = h.size.load(std::memory_order_relaxed);
        ASSERT_TRUE(off < hs.region_bytes && n <= hs.region_bytes - off) << "a ledger entry outside the heap";
        ASSERT_TRUE(intact(hs.region + off, n, h.seed.load(std::memory_order_relaxed)))
            << "worker " << w << "'s block at offset " << off << " (" << n << " bytes) lost its pattern";
        all.push_back({off, n, h.seed.load(std::memory_order_relaxed), "a worker"});
    }
    for (unsigned k = 0; k < worker_ledger::k_names; ++k) {
        const named_blob* p = hs.heap.find<named_blob>(name_of(w, k));
        if (p != nullptr) {
            ASSERT_TRUE(p->whole()) << name_of(w, k) << " is there but not whole";
            all.push_back({static_cast<std::uint64_t>(reinterpret_cast<const char*>(p) - hs.region), sizeof(named_blob),
                           0, "a named object"});
        }
    }
}

/// No two held blocks overlap: none was handed out twice.
void expect_disjoint(std::vector<span_held> all) {
    std::sort(all.begin(), all.end(), [](const span_held& a, const span_held& b) { return a.offset < b.offset; });
    for (std::size_t i = 1; i < all.size(); ++i) {
        ASSERT_LE(all[i - 1].offset + all[i - 1].size, all[i].offset)
            << all[i - 1].who << " and " << all[i].who << " hold overlapping blocks at offsets " << all[i - 1].offset
            << " and " << all[i].offset;
    }
}

/// The end of every test: fill the heap with patterned blocks until it is
/// full, verify them and everything held, check; then free the filler and
/// everything the workers hold (the caller frees its own blocks).
void fill_verify_and_drain(heap_segment& hs, const std::vector<span_held>& held) {
    std::mt19937_64 rng(7);
    std::vector<span_held> filled;
    std::size_t size = 4096;
    while (size > 0) {
        void* p = nullptr;
        try {
            p = hs.heap.allocate(size);
        } catch (const std::bad_alloc&) {
            size /= 2;
            continue;
        }
        const std::uint64_t seed = rng() | 1;
        fill(p, size, seed);
        filled.push_back({static_cast<std::uint64_t>(static_cast<char*>(p) - hs.region), size, seed, "the filler"});
    }
    EXPECT_GT(filled.size(), 0U);
    for (const auto& f : filled) {
        EXPECT_TRUE(intact(hs.region + f.offset, f.size, f.seed)) << "a filler block lost its pattern";
    }
    for (const auto& h : held) {
        if (h.seed != 0) {
            EXPECT_TRUE(intact(hs.region + h.offset, h.size, h.seed)) << "a held block lost its pattern when full";
        }
    }
    std::vector<span_held> all = held;
    all.insert(all.end(), filled.begin(), filled.end());
    expect_disjoint(all);
    hs.heap.check();
    for (const auto& f : filled) {
        hs.heap.deallocate(hs.region + f.offset, f.size);
    }
    // Everything the workers hold, and their names.
    for (unsigned w = 0; w < board::k_workers; ++w) {
        worker_ledger& l = hs.b->workers[w];
        for (auto& h : l.slots) {
            if (const std::uint64_t off = h.offset.exchange(0)) {
                hs.heap.deallocate(hs.region + off, h.size.load());
            }
        }
        for (unsigned k = 0; k < worker_ledger::k_names; ++k) {
            if (named_blob* p = hs.heap.find<named_blob>(name_of(w, k))) {
                hs.heap.destroy(p);
            }
        }
    }
    hs.heap.check();
}

class ShmHeapKillTest : public shm_test {};

// The worker kills itself (SIGKILL) at a chosen step of a chosen commit:
// before the record, with the record written but not armed, armed, after
// each word, after the disarm. Every kill with the record armed must be
// finished by a replay; every other one must leave the heap as it was or as
// it became. Spreads kills over each step evenly, which random instants
// cannot (the armed window is a few stores).
TEST_F(ShmHeapKillTest, HeapSurvivesKillsAtEveryStepOfACommit) {
    const std::uint64_t kills = env_count("TOPOS_SHM_KILLS", 150);
    heap_segment hs(unique_name("heap-step"), std::size_t{4} << 20);
    std::mt19937_64 rng(0x57e9);
    std::uint64_t armed_kills = 0;
    std::uint64_t per_step[16]{};
    for (std::uint64_t k = 0; k < kills; ++k) {
        g_die_commit = 1 + rng() % 400;
        g_die_step = static_cast<unsigned>(rng() % 14);
        worker_ledger& l = hs.b->workers[0];
        const std::uint64_t replays = hs.heap.replays();
        const pid_t pid = start_worker(hs, 0, rng(), true);
        ASSERT_GT(pid, 0);
        ASSERT_EQ(reap(pid, 60s), 128 + SIGKILL) << "the worker did not die at its step: " << l.why;
        ASSERT_EQ(l.in_op.exchange(0), 1U) << "a kill inside a commit is inside a heap operation";
        hs.heap.check();
        const bool armed = l.died_armed.exchange(0) != 0;
        std::vector<span_held> all;
        verify_worker(hs, 0, all);
        expect_disjoint(all);
        if (HasFatalFailure()) {
            return;
        }
        const std::uint64_t replayed = hs.heap.replays() - replays;
        EXPECT_EQ(replayed, armed ? 1U : 0U) << "a kill with the record armed is finished by exactly one replay, "
                                                "any other by none (step "
                                             << g_die_step << ")";
        armed_kills += armed ? 1 : 0;
        ++per_step[g_die_step];
    }
    EXPECT_GT(armed_kills, kills / 4) << "many kills should land with the record armed";
    std::vector<span_held> held;
    verify_worker(hs, 0, held);
    fill_verify_and_drain(hs, held);
    std::string steps;
    for (unsigned i = 0; i < 14; ++i) {
        steps += (i == 0 ? "" : " ") + std::to_string(per_step[i]);
    }
    std::printf("[ steps ] %llu kills inside a commit (per step 0..13: %s), %llu with the record armed and replayed, "
                "%llu lock recoveries, %zu bytes leaked\n",
                static_cast<unsigned long long>(kills), steps.c_str(), static_cast<unsigned long long>(armed_kills),
                static_cast<unsigned long long>(hs.heap.recoveries()), hs.heap.used_bytes());
    EXPECT_FALSE(hs.heap.broken());
    shared_segment::remove(hs.seg.name());
}

// One worker at a time, SIGKILLed at a random instant; the test holds blocks
// of its own and changes them between kills. After each kill: recover
// (the next lock), check(), every held block intact, no two overlap.
TEST_F(ShmHeapKillTest, HeapSurvivesKillsAtRandomInstants) {
    const std::uint64_t kills = env_count("TOPOS_SHM_KILLS", 150);
    heap_segment hs(unique_name("heap-kill"), std::size_t{4} << 20);
    std::mt19937_64 rng(0x14a);
    std::uniform_int_distribution<int> delay_us(0, 3000);
    struct mine {
        void* p;
        std::size_t n;
        std::uint64_t seed;
    };
    std::vector<mine> parent;
    std::uint64_t in_op = 0;
    std::uint64_t exited = 0;
    for (std::uint64_t k = 0; k < kills; ++k) {
        worker_ledger& l = hs.b->workers[0];
        l.running.store(0);
        const pid_t pid = start_worker(hs, 0, rng());
        ASSERT_GT(pid, 0);
        for (int i = 0; i < 10000 && l.running.load(std::memory_order_acquire) == 0; ++i) {
            std::this_thread::sleep_for(50us);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
        ::kill(pid, SIGKILL);
        const int status = reap(pid, 30s);
        ASSERT_NE(status, -1) << "a killed worker did not end";
        if (status != 128 + SIGKILL) {
            ++exited;
        }
        in_op += l.in_op.exchange(0);
        hs.heap.check(); // the first lock after the kill recovers
        std::vector<span_held> all;
        verify_worker(hs, 0, all);
        for (const auto& m : parent) {
            ASSERT_TRUE(intact(m.p, m.n, m.seed)) << "the test's own block lost its pattern after kill " << k;
            all.push_back({static_cast<std::uint64_t>(static_cast<char*>(m.p) - hs.region), m.n, m.seed, "the test"});
        }
        expect_disjoint(all);
        if (HasFatalFailure()) {
            return;
        }
        // The test's own operations between kills.
        if (!parent.empty() && rng() % 2 == 0) {
            const std::size_t i = rng() % parent.size();
            hs.heap.deallocate(parent[i].p, parent[i].n);
            parent.erase(parent.begin() + static_cast<std::ptrdiff_t>(i));
        }
        if (parent.size() < 64) {
            const std::size_t n = 1 + rng() % 900;
            try {
                void* p = hs.heap.allocate(n);
                const std::uint64_t seed = rng() | 1;
                fill(p, n, seed);
                parent.push_back({p, n, seed});
            } catch (const std::bad_alloc&) { // NOLINT(bugprone-empty-catch): full now; the next round frees
            }
        }
    }
    EXPECT_EQ(exited, 0U) << "workers should only end by the kill";
    EXPECT_FALSE(hs.heap.broken());
    std::vector<span_held> held;
    verify_worker(hs, 0, held);
    for (const auto& m : parent) {
        held.push_back({static_cast<std::uint64_t>(static_cast<char*>(m.p) - hs.region), m.n, m.seed, "the test"});
    }
    fill_verify_and_drain(hs, held);
    for (const auto& m : parent) {
        hs.heap.deallocate(m.p, m.n);
    }
    // What is still in use was leaked: allocated by a worker killed before it published the block.
    const std::size_t leaked = hs.heap.used_bytes();
    std::printf("[ kills ] %llu kills, %llu inside a heap operation, %llu lock recoveries, %llu redo records "
                "replayed, %llu worker ops, %zu bytes leaked\n",
                static_cast<unsigned long long>(kills), static_cast<unsigned long long>(in_op),
                static_cast<unsigned long long>(hs.heap.recoveries()),
                static_cast<unsigned long long>(hs.heap.replays()),
                static_cast<unsigned long long>(hs.b->workers[0].ops.load()), leaked);
    EXPECT_GT(in_op, 0U) << "no kill landed inside a heap operation: the delays are not spread";
    shared_segment::remove(hs.seg.name());
}

// 8 worker processes on one heap, each to TOPOS_SHM_SOAK_OPS operations; the
// test kills one at random every few milliseconds and starts a successor on
// its ledger. After each kill: check(), the dead worker's blocks intact. At
// the end: every ledger verified, no overlap, the heap filled and verified.
TEST_F(ShmHeapKillTest, EightProcessSoakWithKills) {
    const std::uint64_t ops = env_count("TOPOS_SHM_SOAK_OPS", 20000);
    heap_segment hs(unique_name("heap-soak"), std::size_t{8} << 20);
    std::mt19937_64 rng(0x50a6);
    pid_t pids[board::k_workers]{};
    std::uint64_t ops_at_start[board::k_workers]{};
    for (unsigned w = 0; w < board::k_workers; ++w) {
        hs.b->workers[w].target.store(ops);
        pids[w] = start_worker(hs, w, rng());
        ASSERT_GT(pids[w], 0);
    }
    std::uint64_t kills = 0;
    std::uint64_t in_op = 0;
    const auto deadline = std::chrono::steady_clock::now() + 600s;
    unsigned alive = board::k_workers;
    while (alive > 0) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the soak did not finish";
        // Each worker lives ~k_workers intervals on average, however many are
        // left: with a fixed interval the last one would be killed every ~1 ms,
        // and under TSan (a slow fork, slow first operations) it never finished.
        std::this_thread::sleep_for(std::chrono::microseconds((200 + rng() % 2000) * board::k_workers / alive));
        // Reap the ones that finished.
        for (unsigned w = 0; w < board::k_workers; ++w) {
            int status = 0;
            if (pids[w] > 0 && ::waitpid(pids[w], &status, WNOHANG) == pids[w]) {
                pids[w] = 0;
                --alive;
                ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
                    << "worker " << w << " failed: " << hs.b->workers[w].why;
            }
        }
        if (alive == 0) {
            break;
        }
        // Kill one still running that has done an operation since it started
        // (so that every life moves its ledger on), and start its successor.
        unsigned w = static_cast<unsigned>(rng() % board::k_workers);
        unsigned looked = 0;
        while (looked < board::k_workers &&
               (pids[w] == 0 || hs.b->workers[w].ops.load(std::memory_order_acquire) == ops_at_start[w])) {
            w = (w + 1) % board::k_workers;
            ++looked;
        }
        if (looked == board::k_workers) {
            continue; // none has moved yet
        }
        ::kill(pids[w], SIGKILL);
        const int status = reap(pids[w], 30s);
        ASSERT_NE(status, -1);
        worker_ledger& l = hs.b->workers[w];
        if (status != 128 + SIGKILL) {
            ASSERT_EQ(status, 0) << "worker " << w << " failed: " << l.why;
            pids[w] = 0;
            --alive;
            continue;
        }
        ++kills;
        in_op += l.in_op.exchange(0);
        hs.heap.check();
        std::vector<span_held> dead;
        verify_worker(hs, w, dead);
        if (HasFatalFailure()) {
            return;
        }
        ops_at_start[w] = hs.b->workers[w].ops.load(std::memory_order_acquire);
        pids[w] = start_worker(hs, w, rng());
        ASSERT_GT(pids[w], 0);
    }
    std::vector<span_held> all;
    std::uint64_t total = 0;
    for (unsigned w = 0; w < board::k_workers; ++w) {
        verify_worker(hs, w, all);
        total += hs.b->workers[w].ops.load();
    }
    expect_disjoint(all);
    fill_verify_and_drain(hs, all);
    const std::size_t leaked = hs.heap.used_bytes();
    std::printf("[ soak ] %u processes x %llu ops = %llu heap ops, %llu kills, %llu inside a heap operation, "
                "%llu lock recoveries, %llu redo records replayed, %zu bytes leaked\n",
                board::k_workers, static_cast<unsigned long long>(ops), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(kills), static_cast<unsigned long long>(in_op),
                static_cast<unsigned long long>(hs.heap.recoveries()),
                static_cast<unsigned long long>(hs.heap.replays()), leaked);
    EXPECT_FALSE(hs.heap.broken());
    shared_segment::remove(hs.seg.name());
}

} // namespace
