// Data that moves: next-touch migration, replicas, per-worker and per-node
// storage, node_array layouts - the behaviour this machine can judge (one
// node is enough; placement across nodes is in tests/numa/test_numa_data.cpp).
#include <topos/memory.hpp>
#include <topos/next_touch.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
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

TEST(NextTouchDeathTest, ForeignFaultWithoutHandlerStillKills) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            page_block b(1);
            topos::migrate_on_next_touch(b.p, b.bytes); // installs topos's handler
            b.p[0] = 1;
            void* guard = mmap(nullptr, k_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            *static_cast<volatile int*>(guard) = 1; // not ours: the default action
        },
        ::testing::KilledBySignal(SIGSEGV), "");
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

} // namespace
