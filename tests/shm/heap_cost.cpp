// topos_shm_heap_cost - what one segment_heap allocate + deallocate pair
// costs, in ns: a heap in a private 4 MiB region holding 256 live blocks,
// and a loop that frees one at random and allocates another of a random
// size (16 to 1024 bytes) in its place. Prints one line; the figure is only
// comparable with another run on the same machine (before/after a change).
//   topos_shm_heap_cost [PAIRS]   (default 2000000)
#include <topos/shm.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <vector>

int main(int argc, char** argv) {
    const long pairs = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    constexpr std::size_t k_bytes = std::size_t{4} << 20;
    void* region = ::operator new(k_bytes, std::align_val_t{4096});
    {
        auto heap = topos::segment_heap::format(region, k_bytes);
        std::mt19937_64 rng(42);
        std::uniform_int_distribution<std::size_t> size(16, 1024);
        struct live {
            void* p;
            std::size_t n;
        };
        std::vector<live> blocks;
        for (int i = 0; i < 256; ++i) {
            const std::size_t n = size(rng);
            blocks.push_back({heap.allocate(n), n});
        }
        std::vector<std::size_t> order(static_cast<std::size_t>(pairs));
        std::vector<std::size_t> sizes(static_cast<std::size_t>(pairs));
        for (long i = 0; i < pairs; ++i) {
            order[static_cast<std::size_t>(i)] = rng() % blocks.size();
            sizes[static_cast<std::size_t>(i)] = size(rng);
        }
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < pairs; ++i) {
            live& b = blocks[order[static_cast<std::size_t>(i)]];
            heap.deallocate(b.p, b.n);
            b.n = sizes[static_cast<std::size_t>(i)];
            b.p = heap.allocate(b.n);
        }
        const auto t1 = std::chrono::steady_clock::now();
        for (const live& b : blocks) {
            heap.deallocate(b.p, b.n);
        }
        const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(pairs);
        std::printf("segment_heap allocate+deallocate: %.1f ns per pair (%ld pairs, 256 live blocks)\n", ns, pairs);
    }
    ::operator delete(region, std::align_val_t{4096});
    return 0;
}
