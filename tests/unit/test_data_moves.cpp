// Data that moves: next-touch migration, replicas, per-worker and per-node
// storage, node_array layouts - the behaviour this machine can judge (one
// node is enough; placement across nodes is in tests/numa/test_numa_data.cpp).
#include <topos/memory.hpp>
#include <topos/next_touch.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/per_worker.hpp>
#include <topos/replicated.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <optional>
#include <stdexcept>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <setjmp.h>
#include <thread>
#include <vector>

namespace {

const std::size_t k_page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

struct page_block {
    explicit page_block(std::size_t pages) : bytes(pages * k_page) {
        p = static_cast<unsigned char*>(topos::allocate(bytes, topos::mem_policy::local(), {.alignment = k_page, .own_pages = true}));
    }
    ~page_block() { topos::deallocate(p, bytes); }
    page_block(const page_block&) = delete;
    page_block& operator=(const page_block&) = delete;
    std::size_t bytes;
    unsigned char* p;
};

TEST(NextTouch, TouchDisarmsEachPageAndKeepsTheData) {
    page_block b(16);
    for (std::size_t i = 0; i < b.bytes; ++i) {
        b.p[i] = static_cast<unsigned char>(i * 7);
    }
    const auto before = topos::get_next_touch_counters();
    EXPECT_EQ(topos::migrate_on_next_touch(b.p, b.bytes), 16U);
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 16U);
    // Touch pages 0, 3 and 15 only: exactly those are disarmed, one fault each.
    EXPECT_EQ(b.p[0], 0);
    EXPECT_EQ(b.p[3 * k_page + 1], static_cast<unsigned char>((3 * k_page + 1) * 7));
    b.p[15 * k_page] = 42;
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 13U);
    EXPECT_EQ(topos::armed_pages(b.p + 3 * k_page, k_page), 0U);
    EXPECT_EQ(topos::armed_pages(b.p + 4 * k_page, k_page), 1U);
    const auto after = topos::get_next_touch_counters();
    EXPECT_EQ(after.faults - before.faults, 3U);
    EXPECT_EQ(after.pages_touched - before.pages_touched, 3U);
    // After the touch the page stays: touching it again is no fault.
    b.p[1] = 1;
    EXPECT_EQ(topos::get_next_touch_counters().faults - before.faults, 3U);
    // Every byte is intact, touched or not.
    for (std::size_t i = 0; i < b.bytes; ++i) {
        const unsigned char want = i == 15 * k_page ? 42 : i == 1 ? 1 : static_cast<unsigned char>(i * 7);
        ASSERT_EQ(b.p[i], want) << "byte " << i;
    }
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 0U);
}

TEST(NextTouch, GroupsMoveTogether) {
    page_block b(32);
    std::memset(b.p, 1, b.bytes);
    topos::migrate_on_next_touch(b.p, b.bytes, {.group_pages = 8});
    const auto before = topos::get_next_touch_counters();
    b.p[9 * k_page] = 2; // group [8, 16)
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 24U);
    EXPECT_EQ(topos::armed_pages(b.p + 8 * k_page, 8 * k_page), 0U);
    EXPECT_EQ(topos::get_next_touch_counters().faults - before.faults, 1U);
    EXPECT_EQ(topos::get_next_touch_counters().pages_touched - before.pages_touched, 8U);
    EXPECT_EQ(topos::cancel_next_touch(b.p, b.bytes), 24U);
    EXPECT_EQ(b.p[0] + b.p[31 * k_page], 2);
}

TEST(NextTouch, CancelRearmAndFreeDisarm) {
    auto* p = static_cast<unsigned char*>(topos::allocate(8 * k_page, topos::mem_policy::local(), {.own_pages = true}));
    topos::migrate_on_next_touch(p, 8 * k_page);
    EXPECT_EQ(topos::cancel_next_touch(p + 2 * k_page, 2 * k_page), 2U);
    EXPECT_EQ(topos::armed_pages(p, 8 * k_page), 6U);
    p[2 * k_page] = 5; // cancelled: accessible, no fault
    const auto live = topos::get_next_touch_counters().ranges_live;
    EXPECT_EQ(topos::migrate_on_next_touch(p, 8 * k_page), 8U); // re-arm all: the old range is replaced
    EXPECT_EQ(topos::armed_pages(p, 8 * k_page), 8U);
    EXPECT_EQ(topos::get_next_touch_counters().ranges_live, live);
    topos::deallocate(p, 8 * k_page); // freeing drops the range
    EXPECT_EQ(topos::get_next_touch_counters().ranges_live, live - 1);
    EXPECT_EQ(topos::armed_pages(p, 8 * k_page), 0U);
}

TEST(NextTouch, PolicyArmsNewAllocations) {
    const std::size_t bytes = 64 * 1024;
    auto* p = static_cast<unsigned char*>(topos::allocate(bytes, topos::mem_policy::next_touch()));
    EXPECT_EQ(topos::mem_policy::next_touch().to_string(), "next_touch");
    EXPECT_EQ(topos::armed_pages(p, bytes), bytes / k_page);
    std::memset(p, 3, bytes); // every page's first touch
    EXPECT_EQ(topos::armed_pages(p, bytes), 0U);
    EXPECT_EQ(p[bytes - 1], 3);
    topos::deallocate(p, bytes);
    // Small requests get their own pages too.
    auto* q = static_cast<unsigned char*>(topos::allocate(100, topos::mem_policy::next_touch()));
    EXPECT_EQ(topos::armed_pages(q, 100), 1U);
    q[99] = 1;
    topos::deallocate(q, 100);
}

TEST(NextTouch, ReadIntoArmedBufferWorksThroughPrepareForIo) {
    page_block b(4);
    std::memset(b.p, 0, b.bytes);
    topos::migrate_on_next_touch(b.p, b.bytes);
    int fd = open("/proc/self/exe", O_RDONLY);
    ASSERT_GE(fd, 0);
    // The kernel does not fault on user pages: read() into armed pages fails.
    EXPECT_EQ(read(fd, b.p, b.bytes), -1);
    EXPECT_EQ(errno, EFAULT);
    EXPECT_EQ(topos::prepare_for_io(b.p, b.bytes), 4U);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ASSERT_EQ(read(fd, b.p, b.bytes), static_cast<ssize_t>(b.bytes));
    close(fd);
    EXPECT_EQ(std::memcmp(b.p, "\x7f" "ELF", 4), 0);
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 0U);
}

TEST(NextTouch, TouchPagesPrefaults) {
    page_block b(8);
    topos::migrate_on_next_touch(b.p, b.bytes);
    topos::touch_pages(b.p, b.bytes);
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 0U);
    const auto nodes = topos::page_nodes(b.p, b.bytes);
    for (int n : nodes) {
        EXPECT_GE(n, 0); // present
    }
}

TEST(NextTouch, BadRangesAreTypedErrors) {
    page_block b(2);
    EXPECT_THROW(topos::migrate_on_next_touch(b.p + 1, k_page), topos::memory_error);
    EXPECT_THROW(topos::migrate_on_next_touch(b.p, 0), topos::memory_error);
    EXPECT_THROW(topos::migrate_on_next_touch(b.p, 100 * k_page), topos::memory_error);
    EXPECT_THROW(topos::migrate_on_next_touch(b.p, k_page, {.group_pages = 0}), topos::memory_error);
    EXPECT_THROW(topos::migrate_on_next_touch(b.p, k_page, {.group_pages = 65}), topos::memory_error);
    std::vector<unsigned char> not_ours(3 * k_page);
    EXPECT_THROW(topos::migrate_on_next_touch(not_ours.data(), k_page), topos::memory_error);
    void* small = topos::allocate(64);
    EXPECT_THROW(topos::cancel_next_touch(small, 64), topos::memory_error);
    topos::deallocate(small, 64);
}

TEST(NextTouch, ConcurrentTouchesKeepTheData) {
    page_block b(256);
    auto* words = reinterpret_cast<std::uint64_t*>(b.p);
    const std::size_t n = b.bytes / sizeof(std::uint64_t);
    std::iota(words, words + n, std::uint64_t{0});
    topos::migrate_on_next_touch(b.p, b.bytes);
    // Four threads touch every page at once, each reading everything and
    // adding to its own slice (atomic: pages are shared).
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> sum{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::uint64_t local = 0;
            for (std::size_t i = 0; i < n; ++i) {
                local += std::atomic_ref<std::uint64_t>(words[(i + static_cast<std::size_t>(t) * 97) % n]).load(std::memory_order_relaxed);
            }
            sum += local;
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(sum.load(), 4 * (n * (n - 1) / 2));
    EXPECT_EQ(topos::armed_pages(b.p, b.bytes), 0U);
}

// A foreign SIGSEGV (outside every armed range) reaches the handler the
// program installed before topos's.
sigjmp_buf g_jump;
std::atomic<int> g_foreign_faults{0};
void foreign_handler(int, siginfo_t*, void*) {
    g_foreign_faults.fetch_add(1);
    siglongjmp(g_jump, 1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool k_sanitizer_segv_handler = true;
#else
constexpr bool k_sanitizer_segv_handler = false;
#endif

// With no handler of the program's, a foreign fault ends the process as it
// would without topos: killed by SIGSEGV; under ASan or TSan the sanitizer's
// own SEGV handler (installed before topos's, so chained to) reports it and
// ends the process.
TEST(NextTouchDeathTest, ForeignFaultWithoutHandlerStillKills) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const auto fault = [] {
        page_block b(1);
        topos::migrate_on_next_touch(b.p, b.bytes); // installs topos's handler
        b.p[0] = 1;
        void* guard = mmap(nullptr, k_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *static_cast<volatile int*>(guard) = 1; // not ours: the previous action
    };
    if (k_sanitizer_segv_handler) {
        EXPECT_DEATH(fault(), "Sanitizer: SEGV");
    } else {
        EXPECT_EXIT(fault(), ::testing::KilledBySignal(SIGSEGV), "");
    }
}

TEST(NextTouchDeathTest, ForeignFaultGoesToTheProgramsHandler) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // In a child process, so that the handler order starts fresh: the
    // program's handler first, then topos's on the first arm.
    EXPECT_EXIT(
        {
            struct sigaction sa {};
            sa.sa_sigaction = foreign_handler;
            sa.sa_flags = SA_SIGINFO | SA_NODEFER;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGSEGV, &sa, nullptr);
            page_block b(2);
            topos::migrate_on_next_touch(b.p, b.bytes);
            b.p[0] = 1; // ours: handled without the program's handler
            if (g_foreign_faults.load() != 0) {
                std::_Exit(3);
            }
            void* guard = mmap(nullptr, k_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (sigsetjmp(g_jump, 1) == 0) {
                *static_cast<volatile int*>(guard) = 1; // not ours: chained
            }
            b.p[k_page] = 2; // still ours after the foreign fault
            std::_Exit(g_foreign_faults.load() == 1 && topos::armed_pages(b.p, b.bytes) == 0 ? 0 : 4);
        },
        ::testing::ExitedWithCode(0), "");
}

// ---- node_array layouts ------------------------------------------------------

topos::runtime_options on_synthetic(const char* desc, std::optional<unsigned> threads = {}) {
    return {.places = {}, .bind = topos::proc_bind::close, .threads = threads,
            .topology = topos::topology::synthetic(desc)};
}

TEST(Layout, EvenByWorkersBlocksAndInterleavedBoundaries) {
    const std::vector<int> nodes{0, 1, 2};
    using topos::node_block;
    EXPECT_EQ(topos::layout::even().split(10, 8, nodes, 4096),
              (std::vector<node_block>{{0, 0, 3}, {1, 3, 6}, {2, 6, 10}}));
    EXPECT_EQ(topos::layout::blocks({1, 0, 9}).split(10, 8, nodes, 4096),
              (std::vector<node_block>{{0, 0, 1}, {1, 1, 1}, {2, 1, 10}}));
    EXPECT_THROW((void)topos::layout::blocks({1, 2}).split(10, 8, nodes, 4096), topos::index_error);
    EXPECT_THROW((void)topos::layout::blocks({1, 2, 3}).split(10, 8, nodes, 4096), topos::index_error);
    EXPECT_THROW((void)topos::layout::blocks({5, 6, 0}).split(10, 8, nodes, 4096), topos::index_error);
    EXPECT_THROW((void)topos::layout::interleaved(0), topos::memory_error);
    // Interleaved, doubles, 2-page granules: 1024 elements a granule, round robin.
    const auto il = topos::layout::interleaved(2).split(5000, 8, nodes, 4096);
    EXPECT_EQ(il, (std::vector<node_block>{{0, 0, 1024}, {1, 1024, 2048}, {2, 2048, 3072}, {0, 3072, 4096},
                                           {1, 4096, 5000}}));
    // 24-byte elements: block j holds the elements whose first byte is in granule j.
    const auto odd = topos::layout::interleaved(1).split(400, 24, {0, 1}, 4096);
    ASSERT_EQ(odd.size(), 3U);
    EXPECT_EQ(odd[0], (node_block{0, 0, 171}));   // 170 * 24 = 4080 < 4096 <= 171 * 24
    EXPECT_EQ(odd[1], (node_block{1, 171, 342})); // 341 * 24 = 8184 < 8192
    EXPECT_EQ(odd[2], (node_block{0, 342, 400}));
}

TEST(Layout, ByWorkersWeighsEachNodesWorkers) {
    // Three workers, close: two on node 0, one on node 1.
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1", 3));
    ASSERT_EQ(rt.plan().workers_on_node(0).size(), 2U);
    ASSERT_EQ(rt.plan().workers_on_node(1).size(), 1U);
    const auto blocks = topos::layout::by_workers(rt).split(3000, 8, {0, 1}, 4096);
    EXPECT_EQ(blocks, (std::vector<topos::node_block>{{0, 0, 2000}, {1, 2000, 3000}}));
    topos::node_array<std::uint64_t> a(rt, 3001, topos::layout::by_workers(rt));
    EXPECT_EQ(a.block(0).end, 2000U); // floor(3001 * 2 / 3)
    EXPECT_EQ(a.size(), 3001U);
}

TEST(Layout, ParallelConstructionAndLoopsFollowTheLayout) {
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1"));
    struct counted {
        counted() : node(topos::this_worker::node()) {}
        int node;
    };
    for (const auto& l : {topos::layout::even(), topos::layout::interleaved(1), topos::layout::blocks({100, 50'000})}) {
        topos::node_array<counted> a(rt, 50'100, l);
        ASSERT_EQ(a.size(), 50'100U);
        // Every element was built by a worker of its block's node (synthetic
        // workers are not pinned, but each runs its node's inbox).
        std::size_t on_node = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            on_node += a[i].node == a.node_of_index(i) ? 1U : 0U;
        }
        EXPECT_GT(on_node, a.size() / 2);
        std::vector<std::atomic<int>> seen(a.size());
        const auto before = rt.stats();
        topos::parallel_for(rt, a, [&](std::size_t i) { seen[i].fetch_add(1); });
        for (auto& s : seen) {
            ASSERT_EQ(s.load(), 1);
        }
        const auto after = rt.stats();
        EXPECT_EQ(after.iterations_on_data_node + after.iterations_off_data_node - before.iterations_on_data_node -
                      before.iterations_off_data_node,
                  a.size());
    }
}

TEST(Layout, ConstructionFailureDestroysWhatWasBuilt) {
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1"));
    static std::atomic<int> alive{0};
    static std::atomic<int> made{0};
    struct fragile {
        fragile() {
            if (made.fetch_add(1) == 30'000) {
                throw std::runtime_error("element 30000");
            }
            alive.fetch_add(1);
        }
        fragile(const fragile&) = delete;
        ~fragile() { alive.fetch_sub(1); }
    };
    EXPECT_THROW(topos::node_array<fragile>(rt, 40'000, topos::layout::even()), std::runtime_error);
    EXPECT_EQ(alive.load(), 0);
}

TEST(Layout, RebalanceArmsEveryPage) {
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1"));
    topos::node_array<double> a(rt, 100'000);
    const std::size_t pages = (a.size() * sizeof(double) + k_page - 1) / k_page;
    EXPECT_EQ(a.rebalance_on_next_touch(), pages);
    EXPECT_EQ(topos::armed_pages(a.data(), a.size() * sizeof(double)), pages);
    topos::parallel_for(rt, a, [&](std::size_t i) { a[i] = static_cast<double>(i); });
    EXPECT_EQ(topos::armed_pages(a.data(), a.size() * sizeof(double)), 0U);
    EXPECT_EQ(a[99'999], 99'999.0);
}

// ---- per_worker / per_node -----------------------------------------------------

bool share_a_line(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
    const auto lo_a = reinterpret_cast<std::uintptr_t>(a) / 64;
    const auto hi_a = (reinterpret_cast<std::uintptr_t>(a) + a_bytes - 1) / 64;
    const auto lo_b = reinterpret_cast<std::uintptr_t>(b) / 64;
    const auto hi_b = (reinterpret_cast<std::uintptr_t>(b) + b_bytes - 1) / 64;
    return lo_a <= hi_b && lo_b <= hi_a;
}

TEST(PerWorker, SlotsNeverShareALineAndCombineIsTheSerialResult) {
    topos::runtime rt({.places = {}, .bind = {}, .threads = 4, .topology = {}});
    topos::per_worker<std::uint64_t> sums(rt);
    const std::size_t n = 1'000'000;
    topos::parallel_for(rt, std::size_t{0}, n, [&](std::size_t i) { sums.local() += i * i % 1013; });
    std::uint64_t serial = 0;
    for (std::size_t i = 0; i < n; ++i) {
        serial += i * i % 1013;
    }
    EXPECT_EQ(sums.combine(std::plus<>{}), serial);
    EXPECT_GE(sums.size(), 4U); // one per worker, plus the caller's when it took part
    std::vector<const std::uint64_t*> slots;
    for (const auto& s : sums) {
        slots.push_back(&s);
    }
    for (std::size_t i = 0; i < slots.size(); ++i) {
        for (std::size_t j = i + 1; j < slots.size(); ++j) {
            EXPECT_FALSE(share_a_line(slots[i], sizeof(std::uint64_t), slots[j], sizeof(std::uint64_t)))
                << "slots " << i << " and " << j;
        }
    }
}

TEST(PerWorker, ExemplarOutsideThreadsAndNodes) {
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1"));
    topos::per_worker<std::vector<int>> lists(rt, std::vector<int>{7});
    EXPECT_EQ(lists.size(), 4U);
    std::thread outside([&] { lists.local().push_back(8); });
    outside.join();
    lists.local().push_back(9); // this thread: another outside slot
    EXPECT_EQ(lists.size(), 6U);
    const auto all = lists.combine([](std::vector<int> a, const std::vector<int>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    });
    EXPECT_EQ(std::count(all.begin(), all.end(), 7), 6);
    EXPECT_EQ(std::count(all.begin(), all.end(), 8) + std::count(all.begin(), all.end(), 9), 2);

    topos::per_node<std::atomic<long>> per(rt);
    ASSERT_EQ(per.size(), 2U);
    EXPECT_FALSE(share_a_line(&per.on_node(0), sizeof(long), &per.on_node(1), sizeof(long)));
    topos::parallel_for(rt, 0, 10'000, [&](int) { per.local().fetch_add(1); });
    EXPECT_EQ(per.combine(0L, [](long a, const std::atomic<long>& b) { return a + b.load(); }), 10'000);
    EXPECT_THROW((void)per.on_node(5), topos::node_error);
}

// ---- replicated ------------------------------------------------------------------

struct table {
    std::array<std::uint64_t, 512> v{}; // 4 KiB: a torn copy would show mixed values
};

TEST(Replicated, LocalUpdateAndNodes) {
    topos::runtime rt(on_synthetic("pack:2 numa:1 core:2 pu:1"));
    table t;
    t.v.fill(1);
    topos::replicated<table> r(rt, t);
    ASSERT_EQ(r.nodes(), (std::vector<int>{0, 1}));
    EXPECT_NE(r.on_node(0).get(), r.on_node(1).get());
    EXPECT_THROW((void)r.on_node(2), topos::node_error);
    r.update([](table& x) { x.v.fill(2); });
    EXPECT_EQ(r.on_node(0)->v[0], 2U);
    EXPECT_EQ(r.on_node(1)->v[511], 2U);
    // Workers of node k read copy k (by address).
    std::atomic<int> wrong{0};
    topos::task_group g(rt);
    for (int node : {0, 1}) {
        for (int k = 0; k < 8; ++k) {
            g.run_on_node(node, [&] {
                const auto view = r.local();
                if (view.get() != r.on_node(topos::this_worker::node()).get()) {
                    wrong.fetch_add(1);
                }
            });
        }
    }
    g.wait();
    EXPECT_EQ(wrong.load(), 0);
    // A throwing update leaves the value as it was.
    EXPECT_THROW(r.update([](table&) { throw std::runtime_error("no"); }), std::runtime_error);
    EXPECT_EQ(r.on_node(1)->v[3], 2U);
}

TEST(Replicated, ReadersSeeOldOrNewNeverTorn) {
    // The readers never end until told, so the updating thread must not be
    // able to pick one up while it waits: a guest caller takes no node's
    // inbox work, while worker 0 (the default caller role) would.
    auto options = on_synthetic("pack:2 numa:1 core:2 pu:1");
    options.caller = topos::caller_role::guest;
    topos::runtime rt(options);
    topos::replicated<table> r(rt, table{});
    std::atomic<bool> stop{false};
    std::atomic<long> torn{0};
    std::atomic<long> reads{0};
    std::atomic<std::uint64_t> newest_seen{0};
    auto reader = [&] {
        while (!stop.load(std::memory_order_relaxed)) {
            const auto view = r.local();
            const std::uint64_t first = view->v[0];
            for (std::uint64_t x : view->v) {
                if (x != first) {
                    torn.fetch_add(1);
                    break;
                }
            }
            std::uint64_t seen = newest_seen.load();
            while (first > seen && !newest_seen.compare_exchange_weak(seen, first)) {
            }
            reads.fetch_add(1);
        }
    };
    // One reader on a worker of each node (node inboxes: a waiting guest
    // never takes those, so update's own waits cannot pick up an endless
    // reader), and two outside threads.
    topos::task_group readers(rt);
    readers.run_on_node(0, reader);
    readers.run_on_node(1, reader);
    std::thread outside_a(reader);
    std::thread outside_b(reader);
    const std::uint64_t updates = 50;
    for (std::uint64_t u = 1; u <= updates; ++u) {
        r.update([u](table& x) { x.v.fill(u); });
        // Visible everywhere once update returns.
        ASSERT_EQ(r.on_node(0)->v[100], u);
        ASSERT_EQ(r.on_node(1)->v[100], u);
    }
    stop.store(true);
    readers.wait();
    outside_a.join();
    outside_b.join();
    EXPECT_EQ(torn.load(), 0);
    EXPECT_GT(reads.load(), 0);
    EXPECT_LE(newest_seen.load(), updates);
}

// A handler installed after topos's replaces it; through the documented
// hook it passes next-touch faults back to topos and keeps the rest.
void later_handler(int, siginfo_t* info, void*) {
    if (topos::handle_next_touch_fault(info->si_addr)) {
        return;
    }
    g_foreign_faults.fetch_add(1);
    siglongjmp(g_jump, 1);
}

TEST(NextTouchDeathTest, HandlerInstalledLaterChainsBackThroughTheHook) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            page_block b(2);
            topos::migrate_on_next_touch(b.p, b.bytes);
            struct sigaction sa {};
            sa.sa_sigaction = later_handler;
            sa.sa_flags = SA_SIGINFO | SA_NODEFER;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGSEGV, &sa, nullptr);
            b.p[0] = 1; // reaches later_handler, which hands it to topos
            void* guard = mmap(nullptr, k_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (sigsetjmp(g_jump, 1) == 0) {
                *static_cast<volatile int*>(guard) = 1;
            }
            b.p[k_page] = 2;
            std::_Exit(g_foreign_faults.load() == 1 && topos::armed_pages(b.p, b.bytes) == 0 && b.p[0] == 1 ? 0 : 4);
        },
        ::testing::ExitedWithCode(0), "");
}

} // namespace
