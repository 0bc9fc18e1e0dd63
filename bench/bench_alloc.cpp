// Allocator workloads after mimalloc-bench, run through topos and its peers in
// the same process: glibc malloc, jemalloc, mimalloc and tbbmalloc.
//
// Peers are loaded with dlopen(RTLD_LOCAL) and called through their own entry
// points, so none of them replaces this process's malloc. topos is called
// through its public API with the `local` policy (what libtopos_malloc.so does
// for every malloc). Each workload checks its blocks outside the timing: a
// block whose tag changed while it was live fails the benchmark.
//
//   churn         random sizes 16-527 B, 4096 live objects a thread, no sharing
//                 (the figure in PEERS.md)
//   larson        server-like churn where threads trade their live sets, so most
//                 frees are of another thread's blocks
//   xmalloc       as xmalloc-test: 2 producers allocate batches of 4096 64-byte blocks, 2 consumers free them
//   alloc_test    Pareto-distributed sizes from 8 B to 64 KiB, random lifetimes
//   cache_scratch small objects written hard by each thread (false sharing if an
//                 allocator hands neighbouring bytes to different threads)
//   false_sharing_probe  no allocator: what two threads writing one cache line
//                 cost against writing lines apart (`slowdown`), i.e. whether
//                 this machine can show cache_scratch's difference at all
//
// Counters: Mops_per_s (millions of allocations and frees a second), cpu_ns_per_op (CPU time the
// workload's threads used per allocation or free: steadier than Mops_per_s when
// other processes share the cores, though it also counts xmalloc's waiting),
// rss_MiB (resident set after the workload's allocation phase, minus the
// process's before it: memory an allocator kept from an earlier repetition
// does not show), rss_held_MiB (the same resident set minus the process's
// before any workload ran: the allocator's whole footprint at its peak when
// --benchmark_filter names one workload and one allocator).
//
// Each benchmark runs 3 times (--benchmark_repetitions=N for more); compare
// the _median rows. The machine this was written on is shared and noisy:
// compare ratios from one run, not times (bench/alloc_compare.py prints them).
//
// Run: build/rel/bench/topos_bench_alloc --benchmark_format=json (build/rel: the
// Release build with -DTOPOS_BUILD_BENCH=ON, see README)
#include <topos/memory.hpp>

#include <benchmark/benchmark.h>
#include "bench_main.hpp"

#include "os/process.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern "C" {
void* __libc_malloc(std::size_t bytes); // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
void __libc_free(void* p);              // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
}

namespace {

struct allocator_api {
    std::string name;
    void* (*alloc)(std::size_t) = nullptr;
    void (*release)(void*) = nullptr;
};

// A program holds its policy (as numa_allocator does) rather than making one
// per call; constant options too, so the slow path's call needs no temporary.
constexpr topos::mem_policy k_local_policy{};
constexpr topos::alloc_options k_default_options{};

void* topos_alloc(std::size_t bytes) { return topos::allocate(bytes, k_local_policy, k_default_options); }

// A peer from its shared library; empty name when the library is missing.
allocator_api load_peer(const char* name, const char* library, const char* alloc_sym, const char* free_sym) {
    void* lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        std::fprintf(stderr, "bench_alloc: %s not loaded: %s\n", name, dlerror());
        return {};
    }
    allocator_api api;
    api.name = name;
    api.alloc = reinterpret_cast<void* (*)(std::size_t)>(dlsym(lib, alloc_sym));
    api.release = reinterpret_cast<void (*)(void*)>(dlsym(lib, free_sym));
    if (api.alloc == nullptr || api.release == nullptr) {
        return {};
    }
    return api;
}

std::vector<allocator_api> allocators() {
    std::vector<allocator_api> all;
    all.push_back({"topos", topos_alloc, topos::node_free});
    all.push_back({"glibc", __libc_malloc, __libc_free});
    for (auto api : {load_peer("jemalloc", "libjemalloc.so.2", "malloc", "free"),
                     load_peer("mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free"),
                     load_peer("tbbmalloc", "libtbbmalloc.so.2", "scalable_malloc", "scalable_free")}) {
        if (!api.name.empty()) {
            all.push_back(api);
        }
    }
    return all;
}

// Tags the first 8 bytes of a block (every workload asks for at least 8) so a
// later check can see it was not reused: one store and one load, so that the
// check costs little next to an allocation.
std::uint64_t tag_word(std::uint8_t t) { return std::uint64_t{t} * 0x0101010101010101ULL; }
void tag(void* p, std::uint8_t t) {
    const std::uint64_t word = tag_word(t);
    std::memcpy(p, &word, sizeof word);
}
bool tagged(const void* p, std::uint8_t t) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, sizeof word);
    return word == tag_word(t);
}

// xorshift64* (S. Vigna, "An experimental exploration of Marsaglia's xorshift
// generators, scrambled", ACM TOMS 42(2), 2016): the workloads draw a number or
// two per operation, and std::mt19937 there took about a quarter of the time,
// which diluted every allocator's difference.
class fast_rng {
public:
    explicit fast_rng(std::uint64_t seed) : m_state((seed + 1) * 0x9E3779B97F4A7C15ULL) {}
    std::uint32_t operator()() {
        m_state ^= m_state >> 12;
        m_state ^= m_state << 25;
        m_state ^= m_state >> 27;
        return static_cast<std::uint32_t>((m_state * 0x2545F4914F6CDD1DULL) >> 32);
    }
    /// Uniform in [0, n) by a multiply and a shift (no division).
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>((std::uint64_t{(*this)()} * n) >> 32); }

private:
    std::uint64_t m_state;
};

// Resident set once every allocator is set up, before any workload.
std::size_t g_rss_start = 0;

struct slot {
    void* p = nullptr;
    std::uint32_t bytes = 0;
    std::uint8_t t = 0;
};

constexpr unsigned k_threads = 2;

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct timing {
    double wall = 0; ///< seconds
    double cpu = 0;  ///< seconds of CPU the workload's threads used, summed
};

// Runs body(thread index) on k_threads threads.
template <class F>
timing run_threads(F body) {
    std::vector<std::thread> threads;
    std::atomic<double> cpu{0};
    const auto start = std::chrono::steady_clock::now();
    for (unsigned t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            const double begin = thread_cpu_seconds();
            body(t);
            cpu.fetch_add(thread_cpu_seconds() - begin);
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), cpu.load()};
}

// Sums a per-iteration value; the library divides by the iteration count.
void add_average(benchmark::State& state, const char* name, double value) {
    auto& c = state.counters[name];
    c.flags = benchmark::Counter::kAvgIterations;
    c.value += value;
}

void finish(benchmark::State& state, timing time, double ops, std::size_t rss_before, std::size_t rss_peak,
            std::uint64_t bad) {
    state.SetIterationTime(time.wall);
    add_average(state, "Mops_per_s", ops / time.wall / 1e6);
    // CPU time per operation: on a shared machine other processes stretch the
    // wall time but not (much) the CPU time a workload's threads use.
    add_average(state, "cpu_ns_per_op", time.cpu / ops * 1e9);
    add_average(state, "rss_MiB",
                static_cast<double>(rss_peak > rss_before ? rss_peak - rss_before : 0) / (1024.0 * 1024.0));
    add_average(state, "rss_held_MiB",
                static_cast<double>(rss_peak > g_rss_start ? rss_peak - g_rss_start : 0) / (1024.0 * 1024.0));
    if (bad != 0) {
        state.SkipWithError("a live block was overwritten");
    }
}

// Each thread keeps k_live blocks and replaces a random one k_ops times; the
// sizes come from the thread's own generator, make_sizes(t)(). Every block is
// tagged when allocated and checked before it is freed.
template <class MakeSizes>
void bench_replace(benchmark::State& state, const allocator_api& a, std::size_t k_live, std::size_t k_ops,
                   MakeSizes make_sizes) {
    for (auto _ : state) {
        std::atomic<std::uint64_t> bad{0};
        std::atomic<std::size_t> rss_peak{0};
        const std::size_t rss_before = topos::os::resident_bytes();
        const timing elapsed = run_threads([&](unsigned t) {
            fast_rng rng(t + 1);
            auto next_size = make_sizes(t);
            std::vector<slot> live(k_live);
            for (auto& s : live) {
                s.bytes = next_size();
                s.t = static_cast<std::uint8_t>(rng());
                s.p = a.alloc(s.bytes);
                tag(s.p, s.t);
            }
            if (t == 0) {
                rss_peak.store(topos::os::resident_bytes());
            }
            std::uint64_t my_bad = 0;
            for (std::size_t i = 0; i < k_ops; ++i) {
                slot& s = live[rng.below(static_cast<std::uint32_t>(k_live))];
                my_bad += tagged(s.p, s.t) ? 0U : 1U;
                a.release(s.p);
                s.bytes = next_size();
                s.p = a.alloc(s.bytes);
                tag(s.p, s.t);
            }
            for (auto& s : live) {
                a.release(s.p);
            }
            bad += my_bad;
        });
        finish(state, elapsed, 2.0 * static_cast<double>(k_ops) * k_threads, rss_before, rss_peak.load(), bad.load());
    }
}

// Small-object churn: uniform sizes 16-527 B, 4096 live blocks a thread.
void bench_churn(benchmark::State& state, const allocator_api& a) {
    bench_replace(state, a, 4096, std::size_t{1} << 21, [](unsigned t) {
        return [gen = fast_rng(t + 101)]() mutable { return 16 + gen.below(512); };
    });
}

void bench_larson(benchmark::State& state, const allocator_api& a) {
    constexpr std::size_t k_live = 2000;
    constexpr std::size_t k_rounds = 16;
    constexpr std::size_t k_ops_per_round = 1 << 16;
    for (auto _ : state) {
        std::vector<std::vector<slot>> sets(k_threads, std::vector<slot>(k_live));
        std::barrier sync(k_threads);
        std::atomic<std::uint64_t> bad{0};
        std::atomic<std::size_t> rss_peak{0};
        const std::size_t rss_before = topos::os::resident_bytes();
        const timing elapsed = run_threads([&](unsigned t) {
            fast_rng rng(t + 7);
            for (auto& s : sets[t]) {
                s.bytes = 10 + rng.below(500);
                s.t = static_cast<std::uint8_t>(rng());
                s.p = a.alloc(s.bytes);
                tag(s.p, s.t);
            }
            sync.arrive_and_wait();
            if (t == 0) {
                rss_peak.store(topos::os::resident_bytes());
            }
            std::uint64_t my_bad = 0;
            for (std::size_t round = 0; round < k_rounds; ++round) {
                // Each round works on another thread's set: its frees are remote.
                auto& set = sets[(t + round + 1) % k_threads];
                for (std::size_t i = 0; i < k_ops_per_round; ++i) {
                    slot& s = set[rng.below(k_live)];
                    my_bad += tagged(s.p, s.t) ? 0U : 1U;
                    a.release(s.p);
                    s.bytes = 10 + rng.below(500);
                    s.p = a.alloc(s.bytes);
                    tag(s.p, s.t);
                }
                sync.arrive_and_wait();
            }
            for (auto& s : sets[t]) {
                a.release(s.p);
            }
            bad += my_bad;
        });
        finish(state, elapsed, 2.0 * k_rounds * k_ops_per_round * k_threads, rss_before, rss_peak.load(), bad.load());
    }
}

// As xmalloc-test (Lever and Boreham) runs it in mimalloc-bench (-w 2 -s 64):
// two producer threads allocate batches of 4096 64-byte blocks (the batch
// itself is allocated too, 32 KiB), write them and push each batch on a
// shared LIFO of at most 100 batches (mutex and condition variables); two
// consumer threads pop batches and free every block. Every free is remote and
// blocks cross threads in bulk. A fixed number of batches is made, so the time
// is the measure (the real program counts frees in a fixed time).
void bench_xmalloc(benchmark::State& state, const allocator_api& a) {
    constexpr std::size_t k_objects = 4096;
    constexpr std::size_t k_object_bytes = 64;
    constexpr std::size_t k_limit = 100;
    constexpr unsigned k_producers = 2;
    constexpr std::size_t k_batches_each = 150;
    struct batch {
        batch* next;
        void* objects[k_objects];
    };
    for (auto _ : state) {
        std::mutex lock;
        std::condition_variable not_empty;
        std::condition_variable not_full;
        batch* head = nullptr;
        std::size_t count = 0;
        unsigned producing = k_producers;
        std::atomic<std::uint64_t> bad{0};
        std::atomic<std::size_t> rss_peak{0};
        const std::size_t rss_before = topos::os::resident_bytes();
        std::atomic<double> cpu{0};
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < 2 * k_producers; ++t) {
            threads.emplace_back([&, t] {
                const double begin = thread_cpu_seconds();
                if (t % 2 == 1) { // producer
                    for (std::size_t k = 0; k < k_batches_each; ++k) {
                        auto* b = static_cast<batch*>(a.alloc(sizeof(batch)));
                        for (std::size_t i = 0; i < k_objects; ++i) {
                            b->objects[i] = a.alloc(k_object_bytes);
                            std::memset(b->objects[i], static_cast<int>(i % 256), k_object_bytes);
                        }
                        if (t == 1 && k == k_batches_each / 2) {
                            rss_peak.store(topos::os::resident_bytes());
                        }
                        std::unique_lock g(lock);
                        not_full.wait(g, [&] { return count < k_limit; });
                        b->next = head;
                        head = b;
                        ++count;
                        not_empty.notify_one();
                    }
                    const std::lock_guard g(lock);
                    if (--producing == 0) {
                        not_empty.notify_all();
                    }
                } else { // consumer
                    std::uint64_t my_bad = 0;
                    for (;;) {
                        batch* b = nullptr;
                        {
                            std::unique_lock g(lock);
                            not_empty.wait(g, [&] { return head != nullptr || producing == 0; });
                            if (head == nullptr) {
                                break;
                            }
                            b = head;
                            head = b->next;
                            --count;
                            not_full.notify_one();
                        }
                        for (std::size_t i = 0; i < k_objects; ++i) {
                            const auto* bytes = static_cast<const unsigned char*>(b->objects[i]);
                            my_bad += bytes[k_object_bytes - 1] == i % 256 ? 0U : 1U;
                            a.release(b->objects[i]);
                        }
                        a.release(b);
                    }
                    bad += my_bad;
                }
                cpu.fetch_add(thread_cpu_seconds() - begin);
            });
        }
        for (auto& th : threads) {
            th.join();
        }
        const timing elapsed{std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                             cpu.load()};
        finish(state, elapsed, 2.0 * k_producers * k_batches_each * (k_objects + 1), rss_before, rss_peak.load(),
               bad.load());
    }
}

// Sizes with a Pareto tail (alpha 1.2, from 8 B, capped at 64 KiB), drawn once.
const std::vector<std::uint32_t>& pareto_sizes() {
    static const std::vector<std::uint32_t> sizes = [] {
        std::mt19937 rng(11);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        std::vector<std::uint32_t> v(1 << 16);
        for (auto& s : v) {
            const double x = 8.0 / std::pow(1.0 - u(rng), 1.0 / 1.2);
            s = static_cast<std::uint32_t>(std::min(x, 65536.0));
        }
        return v;
    }();
    return sizes;
}

void bench_alloc_test(benchmark::State& state, const allocator_api& a) {
    const auto& sizes = pareto_sizes();
    bench_replace(state, a, 4096, std::size_t{1} << 19, [&sizes](unsigned t) {
        return [&sizes, next = std::size_t{t} * 977]() mutable { return sizes[next++ % sizes.size()]; };
    });
}

// The writes cache_scratch times, out of line and on a 64-byte boundary: a
// loop this tight runs at a speed that depends on where its few instructions
// fall (a jump across a 32-byte boundary costs several times more on some
// Intel cores), and the loop inlined moved with every change elsewhere.
[[gnu::noinline, gnu::aligned(64)]] void scratch(volatile std::uint64_t* obj, std::size_t writes) {
    for (std::size_t w = 0; w < writes; ++w) {
        *obj = *obj + 1;
    }
}

void bench_cache_scratch(benchmark::State& state, const allocator_api& a) {
    constexpr std::size_t k_objects = 1000;
    constexpr std::size_t k_writes = 2000;
    for (auto _ : state) {
        // One thread hands out neighbouring objects; each worker frees its own
        // and then allocates, writes and frees in a loop.
        std::vector<void*> handed(k_threads);
        for (auto& p : handed) {
            p = a.alloc(8);
        }
        std::atomic<std::uint64_t> bad{0};
        const std::size_t rss_before = topos::os::resident_bytes();
        const timing elapsed = run_threads([&](unsigned t) {
            a.release(handed[t]);
            std::uint64_t my_bad = 0;
            for (std::size_t i = 0; i < k_objects; ++i) {
                auto* obj = static_cast<volatile std::uint64_t*>(a.alloc(8));
                scratch(obj, k_writes);
                *obj = t;
                my_bad += *obj == t ? 0U : 1U;
                a.release(const_cast<std::uint64_t*>(obj));
            }
            bad += my_bad;
        });
        finish(state, elapsed, 2.0 * k_objects * k_threads, rss_before, rss_before, bad.load());
        add_average(state, "Mwrites_per_s", static_cast<double>(k_objects * k_writes * k_threads) / elapsed.wall / 1e6);
    }
}

// What false sharing costs on this machine: two threads increment a counter
// each, first in one cache line, then 256 bytes apart. cache_scratch can
// only tell allocators apart where this slowdown is well above 1 (on a VM
// whose two CPUs are one core's hyperthreads it is not).
void bench_false_sharing_probe(benchmark::State& state) {
    constexpr std::size_t k_increments = std::size_t{1} << 24;
    struct alignas(256) counters {
        volatile std::uint64_t word[64];
    };
    static counters c{};
    auto run = [](std::size_t apart) {
        return run_threads([apart](unsigned t) {
            volatile std::uint64_t& w = c.word[t * apart];
            for (std::size_t i = 0; i < k_increments; ++i) {
                w = w + 1;
            }
        });
    };
    for (auto _ : state) {
        const timing same = run(1);  // words 8 bytes apart: one line
        const timing apart = run(32); // 256 bytes apart: no line (nor adjacent-line pair) shared
        state.SetIterationTime(same.wall + apart.wall);
        add_average(state, "same_line_ns_per_write", same.wall / static_cast<double>(k_increments) * 1e9);
        add_average(state, "apart_ns_per_write", apart.wall / static_cast<double>(k_increments) * 1e9);
        add_average(state, "slowdown", same.wall / apart.wall);
    }
}

} // namespace

int main(int argc, char** argv) {
    // jemalloc uses initial-exec TLS: dlopen needs room in the static TLS
    // block, which only a tunable at process start gives. Restart with it.
    if (const char* t = std::getenv("GLIBC_TUNABLES"); t == nullptr || std::strstr(t, "optional_static_tls") == nullptr) {
        setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=16384", 1);
        execv("/proc/self/exe", argv);
    }
    static const auto all = allocators();
    // One-time set-up (topos loads the host topology, peers make their
    // arenas) stays out of the timings.
    for (const auto& a : all) {
        for (std::size_t bytes : {16UL, 1000UL, 100000UL}) {
            a.release(a.alloc(bytes));
        }
    }
    g_rss_start = topos::os::resident_bytes();
    struct workload {
        const char* name;
        void (*fn)(benchmark::State&, const allocator_api&);
    };
    const workload workloads[] = {{"churn", bench_churn},
                                  {"larson", bench_larson},
                                  {"xmalloc", bench_xmalloc},
                                  {"alloc_test", bench_alloc_test},
                                  {"cache_scratch", bench_cache_scratch}};
    for (const auto& w : workloads) {
        for (const auto& a : all) {
            benchmark::RegisterBenchmark((std::string(w.name) + "/" + a.name).c_str(),
                                         [fn = w.fn, &a](benchmark::State& s) { fn(s, a); })
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond)
                ->MinTime(0.3)
                ->ReportAggregatesOnly(true);
        }
    }
    benchmark::RegisterBenchmark("false_sharing_probe", bench_false_sharing_probe)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3)
        ->Repetitions(3)
        ->ReportAggregatesOnly(true);
    // Three repetitions unless the command line asks for another number (a
    // count set on each benchmark would override the flag).
    std::vector<char*> args(argv, argv + argc);
    std::string reps = "--benchmark_repetitions=3";
    if (std::none_of(args.begin(), args.end(),
                     [](const char* a) { return std::strncmp(a, "--benchmark_repetitions", 23) == 0; })) {
        args.push_back(reps.data());
    }
    args.push_back(nullptr);
    return topos::bench::run_benchmarks(static_cast<int>(args.size()) - 1, args.data());
}
