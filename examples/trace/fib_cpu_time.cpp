// fib(n) with one task per call on a runtime of T workers, timed from inside
// the root task. Prints, per repetition, the wall time and the CPU time of the
// thread running the root (CLOCK_THREAD_CPUTIME_ID) in milliseconds; on one
// worker the CPU time is what a loaded machine distorts least. Used for the
// scheduler's fork-join cost figures: build it against two versions of the
// library and run them in turn (README, "Arenas and task priorities").
//
//   topos_fib_cpu_time THREADS N REPETITIONS
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

namespace {

long fib(topos::runtime& rt, int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
    topos::task_group g(rt);
    g.run([&] { a = fib(rt, n - 1); });
    const long b = fib(rt, n - 2);
    g.wait();
    return a + b;
}

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

// Parses a whole decimal argument in [lo, hi]; false otherwise.
bool parse(const char* text, int lo, int hi, int& out) {
    const std::string_view s(text);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && out >= lo && out <= hi;
}

constexpr const char* k_usage = "usage: topos_fib_cpu_time THREADS N REPETITIONS  (1-1024 threads, n 1-45, 1-1000 repetitions)\n";

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(k_usage, stdout);
        std::puts("Prints one line per repetition: wall ms, CPU ms of the thread running fib's root.");
        return 0;
    }
    int threads = 0;
    int n = 0;
    int reps = 0;
    if (argc != 4 || !parse(argv[1], 1, 1024, threads) || !parse(argv[2], 1, 45, n) || !parse(argv[3], 1, 1000, reps)) {
        std::fputs(k_usage, stderr);
        return 2;
    }
    topos::runtime rt({.places = {}, .bind = {}, .threads = static_cast<unsigned>(threads), .topology = {}});
    const long expected = fib_serial(n);
    bool wrong = false;
    topos::task_group g(rt);
    g.run([&] {
        for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = thread_cpu_ms();
            const long v = fib(rt, n);
            const double c1 = thread_cpu_ms();
            const auto t1 = std::chrono::steady_clock::now();
            wrong = wrong || v != expected;
            std::printf("%.3f %.3f\n", std::chrono::duration<double, std::milli>(t1 - t0).count(), c1 - c0);
        }
    });
    g.wait();
    if (wrong) {
        std::fprintf(stderr, "topos_fib_cpu_time: fib(%d) came out wrong (expected %ld)\n", n, expected);
        return 1;
    }
    return 0;
}
