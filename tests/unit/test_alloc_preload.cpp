// A multi-threaded program of our own, run under LD_PRELOAD=libtopos_malloc.so:
// the C allocation functions, the C++ operators, cross-thread frees, fork.
//
// With `--numa-local NODE` it instead pins itself to NODE, allocates with
// malloc and operator new, and exits 0 when the kernel reports the memory on
// NODE (used by the numa-labelled tests).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <malloc.h>
#include <numa.h>
#include <numaif.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

bool preloaded() { return dlsym(RTLD_DEFAULT, "topos_malloc_active") != nullptr; }

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

TEST(AllocPreload, TheDropInIsActive) {
    ASSERT_TRUE(preloaded()) << "run this program with LD_PRELOAD=libtopos_malloc.so";
}

TEST(AllocPreload, MallocFreeEverySize) {
    for (std::size_t bytes = 0; bytes < 300000; bytes = bytes < 512 ? bytes + 1 : bytes * 5 / 4) {
        auto* p = static_cast<unsigned char*>(std::malloc(bytes));
        ASSERT_NE(p, nullptr) << bytes;
        // An object of up to 8 bytes needs no more than 8-byte alignment; larger ones get 16.
        const std::size_t align = bytes <= 8 ? 8 : alignof(std::max_align_t);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << bytes;
        ASSERT_GE(malloc_usable_size(p), bytes);
        std::memset(p, 0xee, bytes);
        std::free(p);
    }
    std::free(nullptr);
}

TEST(AllocPreload, CallocZeroesRecycledMemory) {
    // Small blocks, then medium blocks (cached per node when freed), then
    // large ones (cached with their pages: the same size, a larger one that
    // grows the cached block, a smaller one that takes it as it is).
    for (std::size_t bytes : {std::size_t{24}, std::size_t{1000}, std::size_t{20000}, std::size_t{20000},
                              std::size_t{100000}, std::size_t{100000}, std::size_t{700000},
                              std::size_t{6} << 20, std::size_t{6} << 20, std::size_t{9} << 20,
                              std::size_t{5} << 20}) {
        // Written through volatile: a memset just before free is a dead store the compiler drops.
        auto* dirty = static_cast<volatile unsigned char*>(std::malloc(bytes));
        for (std::size_t i = 0; i < bytes; ++i) {
            dirty[i] = 0xff;
        }
        std::free(const_cast<unsigned char*>(dirty));
        auto* p = static_cast<unsigned char*>(std::calloc(bytes / 8, 8));
        for (std::size_t i = 0; i < bytes; ++i) {
            ASSERT_EQ(p[i], 0) << bytes << " at " << i;
        }
        std::free(p);
    }
    errno = 0;
    volatile std::size_t huge = std::size_t{1} << 62; // hidden from the compiler's size checks
    EXPECT_EQ(std::calloc(huge, 16), nullptr);
    EXPECT_EQ(errno, ENOMEM);
}

TEST(AllocPreload, ReallocKeepsContents) {
    auto* p = static_cast<char*>(std::malloc(10));
    std::memcpy(p, "123456789", 10);
    for (std::size_t bytes : {20UL, 100UL, 5000UL, 70000UL, 3000000UL, 50UL, 9UL}) {
        p = static_cast<char*>(std::realloc(p, bytes));
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(std::memcmp(p, "123456789", 9), 0) << bytes;
    }
    p = static_cast<char*>(std::realloc(p, 0));
    std::free(p);
    errno = 0;
    volatile std::size_t huge = std::size_t{1} << 62; // hidden from the compiler's size checks
    void* q = reallocarray(nullptr, huge, 16);
    EXPECT_EQ(q, nullptr);
    EXPECT_EQ(errno, ENOMEM);
}

// malloc and new of up to 8 bytes take the 8-byte class; the aligned
// functions asked for 16 never do.
TEST(AllocPreload, EightBytesAreEightAlignedUnlessAskedForMore) {
    std::vector<void*> blocks;
    for (int i = 0; i < 32; ++i) {
        void* m = std::malloc(8);
        ASSERT_EQ(malloc_usable_size(m), 8u);
        void* a = aligned_alloc(16, 8);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(a) % 16, 0u);
        void* pm = nullptr;
        ASSERT_EQ(posix_memalign(&pm, 16, 4), 0);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(pm) % 16, 0u);
        void* ma = memalign(16, 1);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(ma) % 16, 0u);
        auto* n = new std::uint64_t(7);
        ASSERT_EQ(malloc_usable_size(n), 8u);
        blocks.insert(blocks.end(), {m, a, pm, ma});
        delete n;
    }
    for (void* p : blocks) {
        std::free(p);
    }
}

TEST(AllocPreload, AlignedFunctions) {
    for (std::size_t align = sizeof(void*); align <= (std::size_t{1} << 22); align *= 2) {
        void* p = nullptr;
        ASSERT_EQ(posix_memalign(&p, align, 100), 0) << align;
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << align;
        std::memset(p, 1, 100);
        std::free(p);
        void* q = aligned_alloc(align, align * 2);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(q) % align, 0u);
        std::free(q);
        void* r = memalign(align, 33);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r) % align, 0u);
        std::free(r);
    }
    void* bad = nullptr;
    EXPECT_EQ(posix_memalign(&bad, 3, 100), EINVAL);
    EXPECT_EQ(posix_memalign(&bad, 4, 100), EINVAL) << "not a multiple of sizeof(void*)";
    void* v = valloc(10);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v) % page(), 0u);
    std::free(v);
    void* pv = pvalloc(10);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pv) % page(), 0u);
    EXPECT_GE(malloc_usable_size(pv), page());
    std::free(pv);
}

struct alignas(256) wide {
    char bytes[256];
};

TEST(AllocPreload, CppOperators) {
    auto* w = new wide[7];
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w) % 256, 0u);
    delete[] w;
    auto s = std::make_unique<std::string>(1000, 'x');
    EXPECT_EQ(s->size(), 1000u);
    auto* n = new (std::nothrow) int[100]();
    EXPECT_EQ(n[99], 0);
    delete[] n;
    std::vector<std::vector<int>> vv(1000);
    for (std::size_t i = 0; i < vv.size(); ++i) {
        vv[i].resize(i, static_cast<int>(i));
    }
    EXPECT_EQ(vv[999][998], 999);
}

// operator new that cannot be served calls the program's new-handler (set in
// the program's libstdc++, not the drop-in's), then throws std::bad_alloc,
// which the program catches by its own type.
std::atomic<int> g_handler_calls{0};

TEST(AllocPreload, NewHandlerIsTheProgramsAndBadAllocIsCaught) {
    g_handler_calls = 0;
    std::set_new_handler([] {
        g_handler_calls.fetch_add(1);
        std::set_new_handler(nullptr); // the next failure throws
    });
    const std::size_t impossible = std::size_t{1} << 62;
    bool caught = false;
    try {
        void* p = ::operator new(impossible);
        ::operator delete(p);
    } catch (const std::bad_alloc&) {
        caught = true;
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(g_handler_calls.load(), 1);
    // A handler that is never set: a caught exception of the standard base.
    bool caught_base = false;
    try {
        auto* v = new std::vector<char>(impossible);
        delete v;
    } catch (const std::exception& e) {
        caught_base = true;
    }
    EXPECT_TRUE(caught_base);
}

// Producers allocate, consumers on other threads check and free.
TEST(AllocPreload, CrossThreadProducersAndConsumers) {
    constexpr int k_pairs = 3;
    constexpr int k_items = 20000;
    std::mutex lock;
    std::condition_variable ready;
    std::deque<std::pair<unsigned char*, std::size_t>> queue;
    int producers_left = k_pairs;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_pairs; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            for (int i = 0; i < k_items; ++i) {
                const std::size_t bytes = 1 + rng() % 2000;
                auto* p = static_cast<unsigned char*>(std::malloc(bytes));
                std::memset(p, static_cast<int>(bytes & 0xff), bytes);
                const std::lock_guard g(lock);
                queue.emplace_back(p, bytes);
                ready.notify_one();
            }
            const std::lock_guard g(lock);
            --producers_left;
            ready.notify_all();
        });
        threads.emplace_back([&] {
            for (;;) {
                std::unique_lock g(lock);
                ready.wait(g, [&] { return !queue.empty() || producers_left == 0; });
                if (queue.empty()) {
                    return;
                }
                auto [p, bytes] = queue.front();
                queue.pop_front();
                g.unlock();
                for (std::size_t i = 0; i < bytes; ++i) {
                    if (p[i] != static_cast<unsigned char>(bytes & 0xff)) {
                        bad.fetch_add(1, std::memory_order_relaxed);
                        break;
                    }
                }
                std::free(p);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(bad.load(), 0);
}

TEST(AllocPreload, ForkWhileOtherThreadsAllocate) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> churn;
    for (int t = 0; t < 2; ++t) {
        churn.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                std::vector<void*> v;
                for (std::size_t i = 0; i < 100; ++i) {
                    v.push_back(std::malloc(16 + i * 64));
                }
                for (void* p : v) {
                    std::free(p);
                }
            }
        });
    }
    for (int round = 0; round < 20; ++round) {
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            std::vector<std::string> v;
            for (int i = 0; i < 1000; ++i) {
                v.emplace_back(static_cast<std::size_t>(i), 'c');
            }
            void* big = std::malloc(1 << 20);
            std::free(big);
            _exit(v[999].size() == 999 ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "round " << round;
    }
    stop.store(true);
    for (auto& th : churn) {
        th.join();
    }
}

// --numa-local NODE: pin to the node, allocate, ask the kernel.
int numa_local(int node) {
    if (!preloaded()) {
        std::fprintf(stderr, "libtopos_malloc.so is not preloaded\n");
        return 2;
    }
    if (numa_run_on_node(node) != 0) {
        std::perror("numa_run_on_node");
        return 2;
    }
    int failures = 0;
    auto check = [&](const char* what, void* p, std::size_t bytes) {
        std::memset(p, 1, bytes);
        void* pages[1] = {reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) / page() * page())};
        int status[1] = {-1};
        if (move_pages(0, 1, pages, nullptr, status, 0) != 0 || status[0] != node) {
            std::fprintf(stderr, "%s: on node %d, expected %d\n", what, status[0], node);
            ++failures;
        }
    };
    void* small = std::malloc(64);
    check("malloc(64)", small, 64);
    void* medium = std::malloc(10000);
    check("malloc(10000)", medium, 10000);
    void* large = std::malloc(std::size_t{1} << 20);
    check("malloc(1 MiB)", large, std::size_t{1} << 20);
    // A large block, then one that grows it from the node's cache: the
    // pages that the cache's mremap added fault in on this node too.
    const std::size_t k_big = std::size_t{8} << 20;
    void* big = std::malloc(k_big);
    check("malloc(8 MiB)", big, k_big);
    std::free(big);
    auto* grown = static_cast<char*>(std::malloc(2 * k_big));
    check("malloc(16 MiB) after free(8 MiB)", grown + k_big + 4096, k_big - 4096);
    std::free(grown);
    auto* object = new std::string(500, 'n');
    check("operator new", object->data(), object->size());
    delete object;
    std::free(large);
    std::free(medium);
    std::free(small);
    return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--numa-local") {
        return numa_local(std::atoi(argv[2]));
    }
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
