// bench/bench_shm.cpp - moving data between two processes: through a topos
// shared segment against a pipe pair and a Unix socketpair.
//
//   pingpong/*   one 8-byte message there and back per iteration; the time
//                per iteration is the round-trip latency
//                (shm_spin: atomics in the segment, busy-waiting;
//                 shm_semaphore: process_semaphore, sleeping in the kernel;
//                 pipe and socketpair: write + read each way)
//   stream/*     1 MiB chunks from a producer process to this one; bytes_per_second
//                (shm_ring: a ring of four 1 MiB slots in the segment, memcpy in
//                 and out; pipe (1 MiB pipe buffer) and socketpair: write/read)
//
// The other process is forked before the timed loop and pinned to a second
// CPU (this one to the first) when two are allowed. Each message carries its
// sequence number and is checked, so a lost or repeated one stops the run.
// Run: taskset -c 0,1 build/<dir>/bench/topos_bench_shm --benchmark_min_time=1
#include "bench_main.hpp"

#include "os/affinity.hpp"

#include <topos/detail/cache_line.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace {

using topos::shared_segment;

constexpr std::size_t k_chunk = std::size_t{1} << 20;
constexpr std::uint64_t k_stop = ~std::uint64_t{0};

// The first two CPUs this process may use, or -1.
std::pair<int, int> two_cpus() {
    const std::vector<int> cpus = topos::os::current_affinity();
    return {!cpus.empty() ? cpus[0] : -1, cpus.size() > 1 ? cpus[1] : -1};
}

void pin(int cpu) {
    if (cpu >= 0) {
        std::string why;
        (void)topos::os::pin_current_thread({cpu}, why);
    }
}

// Forks `child` on the second CPU, pins the caller to the first; the returned
// guard restores the caller's CPUs and reaps the child.
class peer {
public:
    template <class F>
    explicit peer(F child) : m_old(topos::os::current_affinity()) {
        const auto cpus = two_cpus();
        m_pid = ::fork();
        if (m_pid == 0) {
            pin(cpus.second);
            ::signal(SIGPIPE, SIG_IGN);
            child();
            ::_exit(0);
        }
        pin(cpus.first);
    }
    peer(const peer&) = delete;
    peer& operator=(const peer&) = delete;
    ~peer() {
        int status = 0;
        if (m_pid > 0) {
            ::waitpid(m_pid, &status, 0);
        }
        if (!m_old.empty()) {
            std::string why;
            (void)topos::os::pin_current_thread(m_old, why);
        }
    }

private:
    pid_t m_pid = -1;
    std::vector<int> m_old; ///< empty when the kernel would not say
};

shared_segment make_segment(const char* tag, std::size_t bytes) {
    const std::string name = "/topos-bench-" + std::string(tag) + "-" + std::to_string(::getpid());
    shared_segment seg = shared_segment::create(name, bytes, {.exclusive = false});
    seg.unlink(); // the forked peer inherits the mapping; nothing is left behind
    return seg;
}

inline void cpu_relax() { __builtin_ia32_pause(); }

// Spins on `word` until it differs from `old`; yields now and then so a
// shared core still makes progress.
std::uint64_t wait_change(const std::atomic<std::uint64_t>& word, std::uint64_t old) {
    for (unsigned spins = 1;; ++spins) {
        // acquire: pairs with the other side's release store, making its data visible.
        const std::uint64_t v = word.load(std::memory_order_acquire);
        if (v != old) {
            return v;
        }
        if (spins % 4096 == 0) {
            ::sched_yield();
        } else {
            cpu_relax();
        }
    }
}

void write_all(int fd, const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd, c, n);
        if (w <= 0) {
            ::_exit(0); // the reader went away: the benchmark is over
        }
        c += w;
        n -= static_cast<std::size_t>(w);
    }
}

bool read_all(int fd, void* p, std::size_t n) {
    auto* c = static_cast<char*>(p);
    while (n > 0) {
        const ssize_t r = ::read(fd, c, n);
        if (r <= 0) {
            return false;
        }
        c += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// ---- ping-pong -------------------------------------------------------------------------

struct alignas(topos::detail::cache_line) spin_line {
    std::atomic<std::uint64_t> value{0};
};
struct spin_pair {
    spin_line ping;
    spin_line pong;
};

void pingpong_shm_spin(benchmark::State& state) {
    const shared_segment seg = make_segment("spin", sizeof(spin_pair));
    auto* s = ::new (seg.data()) spin_pair;
    peer child([s] {
        std::uint64_t seen = 0;
        for (;;) {
            seen = wait_change(s->ping.value, seen);
            // release: hands the echo to the parent's acquire in wait_change.
            s->pong.value.store(seen, std::memory_order_release);
            if (seen == k_stop) {
                return;
            }
        }
    });
    std::uint64_t i = 0;
    for (auto _ : state) {
        ++i;
        // release: pairs with the child's acquire in wait_change.
        s->ping.value.store(i, std::memory_order_release);
        if (wait_change(s->pong.value, i - 1) != i) {
            state.SkipWithError("echo out of order");
            break;
        }
    }
    // release: as above; the stop value ends the child.
    s->ping.value.store(k_stop, std::memory_order_release);
    state.SetItemsProcessed(state.iterations());
}

struct semaphore_pair {
    topos::process_semaphore ping{0};
    topos::process_semaphore pong{0};
    std::uint64_t value = 0;
};

void pingpong_shm_semaphore(benchmark::State& state) {
    const shared_segment seg = make_segment("sem", sizeof(semaphore_pair));
    auto* s = ::new (seg.data()) semaphore_pair;
    peer child([s] {
        for (;;) {
            s->ping.wait();
            const std::uint64_t v = s->value;
            s->pong.post();
            if (v == k_stop) {
                return;
            }
        }
    });
    std::uint64_t i = 0;
    for (auto _ : state) {
        s->value = ++i;
        s->ping.post();
        s->pong.wait();
    }
    s->value = k_stop;
    s->ping.post();
    s->pong.wait();
    state.SetItemsProcessed(state.iterations());
    s->~semaphore_pair();
}

// Two one-way channels (pipes) or one two-way socket: `there` and `back` are
// the parent's ends, `their_in`/`their_out` the child's.
void pingpong_fds(benchmark::State& state, int there, int back, int their_in, int their_out) {
    {
        peer child([&] {
            std::uint64_t v = 0;
            while (read_all(their_in, &v, sizeof v)) {
                write_all(their_out, &v, sizeof v);
                if (v == k_stop) {
                    return;
                }
            }
        });
        std::uint64_t i = 0;
        for (auto _ : state) {
            ++i;
            std::uint64_t echo = 0;
            write_all(there, &i, sizeof i);
            if (!read_all(back, &echo, sizeof echo) || echo != i) {
                state.SkipWithError("echo lost or out of order");
                break;
            }
        }
        std::uint64_t stop = k_stop;
        write_all(there, &stop, sizeof stop);
        (void)read_all(back, &stop, sizeof stop);
    }
    state.SetItemsProcessed(state.iterations());
}

void pingpong_pipe(benchmark::State& state) {
    int a[2];
    int b[2];
    if (::pipe(a) != 0 || ::pipe(b) != 0) {
        state.SkipWithError("pipe failed");
        return;
    }
    pingpong_fds(state, a[1], b[0], a[0], b[1]);
    for (const int fd : {a[0], a[1], b[0], b[1]}) {
        ::close(fd);
    }
}

void pingpong_socketpair(benchmark::State& state) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        state.SkipWithError("socketpair failed");
        return;
    }
    pingpong_fds(state, sv[0], sv[0], sv[1], sv[1]);
    ::close(sv[0]);
    ::close(sv[1]);
}

// ---- streaming 1 MiB chunks ------------------------------------------------------------

struct chunk_ring {
    static constexpr std::uint64_t k_slots = 4;
    spin_line head; ///< chunks taken by the consumer
    spin_line tail; ///< chunks put by the producer
    spin_line stop;
    alignas(4096) unsigned char slots[k_slots][k_chunk];
};

void stream_shm_ring(benchmark::State& state) {
    const shared_segment seg = make_segment("ring", sizeof(chunk_ring));
    auto* r = ::new (seg.data()) chunk_ring;
    peer child([r] {
        std::vector<unsigned char> source(k_chunk, 0x5A);
        for (std::uint64_t seq = 0;; ++seq) {
            // acquire: pairs with the consumer's release of head, so the slot is free to overwrite.
            std::uint64_t head = r->head.value.load(std::memory_order_acquire);
            while (seq - head >= chunk_ring::k_slots) {
                // relaxed: only ends the loop; no data is read after it.
                if (r->stop.value.load(std::memory_order_relaxed) != 0) {
                    return;
                }
                head = wait_change(r->head.value, head);
            }
            std::memcpy(source.data(), &seq, sizeof seq);
            std::memcpy(r->slots[seq % chunk_ring::k_slots], source.data(), k_chunk);
            // release: publishes the chunk written above to the consumer's acquire of tail.
            r->tail.value.store(seq + 1, std::memory_order_release);
        }
    });
    std::vector<unsigned char> sink(k_chunk);
    std::uint64_t seq = 0;
    for (auto _ : state) {
        // acquire: pairs with the producer's release store of tail.
        std::uint64_t tail = r->tail.value.load(std::memory_order_acquire);
        while (tail == seq) {
            tail = wait_change(r->tail.value, tail);
        }
        std::memcpy(sink.data(), r->slots[seq % chunk_ring::k_slots], k_chunk);
        // release: the slot's bytes were read before the producer may reuse it.
        r->head.value.store(seq + 1, std::memory_order_release);
        std::uint64_t got = 0;
        std::memcpy(&got, sink.data(), sizeof got);
        if (got != seq || sink[k_chunk - 1] != 0x5A) {
            state.SkipWithError("chunk lost, repeated or torn");
            break;
        }
        ++seq;
    }
    // relaxed: published by the release store of head just below.
    r->stop.value.store(1, std::memory_order_relaxed);
    // release: wakes the producer's wait on head (its acquire load), which then sees stop.
    r->head.value.store(seq + chunk_ring::k_slots + 1, std::memory_order_release);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_chunk));
}

void stream_fds(benchmark::State& state, int read_end, int write_end) {
    std::vector<unsigned char> sink(k_chunk);
    {
        peer child([&] {
            ::close(read_end);
            std::vector<unsigned char> source(k_chunk, 0x5A);
            for (std::uint64_t seq = 0;; ++seq) {
                std::memcpy(source.data(), &seq, sizeof seq);
                write_all(write_end, source.data(), k_chunk);
            }
        });
        ::close(write_end);
        std::uint64_t seq = 0;
        for (auto _ : state) {
            std::uint64_t got = 0;
            if (!read_all(read_end, sink.data(), k_chunk) || (std::memcpy(&got, sink.data(), sizeof got), got != seq) ||
                sink[k_chunk - 1] != 0x5A) {
                state.SkipWithError("chunk lost, repeated or torn");
                break;
            }
            ++seq;
        }
        ::close(read_end); // the producer's next write fails and it exits
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_chunk));
}

void stream_pipe(benchmark::State& state) {
    int p[2];
    if (::pipe(p) != 0) {
        state.SkipWithError("pipe failed");
        return;
    }
    // The largest buffer an unprivileged process may ask for by default (1 MiB).
    (void)::fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(k_chunk));
    stream_fds(state, p[0], p[1]);
}

void stream_socketpair(benchmark::State& state) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        state.SkipWithError("socketpair failed");
        return;
    }
    const int bytes = static_cast<int>(k_chunk);
    ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    ::setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    stream_fds(state, sv[0], sv[1]);
}

} // namespace

BENCHMARK(pingpong_shm_spin)->Name("pingpong/shm_spin")->UseRealTime();
BENCHMARK(pingpong_shm_semaphore)->Name("pingpong/shm_semaphore")->UseRealTime();
BENCHMARK(pingpong_pipe)->Name("pingpong/pipe")->UseRealTime();
BENCHMARK(pingpong_socketpair)->Name("pingpong/socketpair")->UseRealTime();
BENCHMARK(stream_shm_ring)->Name("stream/shm_ring")->UseRealTime();
BENCHMARK(stream_pipe)->Name("stream/pipe")->UseRealTime();
BENCHMARK(stream_socketpair)->Name("stream/socketpair")->UseRealTime();

int main(int argc, char** argv) { return topos::bench::run_benchmarks(argc, argv); }
