// A histogram whose few bins every thread updates, filled in many small
// rounds: each increment pulls the bins' cache line to the core that makes it,
// and each round is a fork-join whose work is too small to pay for waking and
// synchronising another worker. More threads, or threads farther apart (other
// cores, other sockets), make it slower, not faster, so the best placement is
// not topos's default of one worker per core.
//
//   topos tune -- contended_histogram [ITEMS [ROUNDS]]
//
// The runtime takes its placement from TOPOS_NUM_THREADS, TOPOS_PLACES and
// TOPOS_PROC_BIND, which `topos tune` sets for each candidate. Prints the time
// and the placement; exits 1 if the histogram is wrong.
#include <topos/topos.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    const std::size_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::size_t{1} << 23;
    const std::size_t rounds = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 8192;
    if (items == 0 || rounds == 0 || rounds > items) {
        std::cerr << "usage: contended_histogram [ITEMS [ROUNDS]] with 0 < ROUNDS <= ITEMS\n";
        return 2;
    }
    constexpr std::size_t k_bins = 8; // 64 bytes: one cache line shared by all threads
    std::array<std::atomic<std::uint64_t>, k_bins> bins{};

    topos::runtime rt; // placement from the TOPOS_* environment
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t r = 0; r < rounds; ++r) {
        const std::size_t lo = items * r / rounds;
        const std::size_t hi = items * (r + 1) / rounds;
        topos::parallel_for(rt, lo, hi, [&](std::size_t i) {
            // A cheap hash spreads the items over the bins.
            const std::uint64_t h = (i * 0x9E3779B97F4A7C15ULL) >> 61;
            // relaxed: the counts are only read after parallel_for has joined.
            bins[h % k_bins].fetch_add(1, std::memory_order_relaxed);
        });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::uint64_t total = 0;
    for (const auto& b : bins) {
        total += b.load(std::memory_order_relaxed);
    }
    std::cout << items << " items in " << rounds << " rounds in " << seconds << " s on " << rt.thread_count() << " worker(s), places "
              << rt.plan().places_text << ", bind " << topos::to_string(rt.plan().bind) << '\n';
    return total == items ? 0 : 1;
}
