// fib(n) with one task per call on a runtime of T workers, timed from inside
// the root task: prints, per repetition, the wall time and the CPU time of the
// worker running the root (CLOCK_THREAD_CPUTIME_ID), which a loaded machine
// distorts far less than wall time. Used for the observer / nested-cancellation
// cost figures: fib_cpu_time 1 30 3, interleaved with the same program built
// against the commit before.
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <chrono>

static long fib(topos::runtime& rt, int n) {
    if (n < 2) return n;
    long a = 0;
    topos::task_group g(rt);
    g.run([&] { a = fib(rt, n - 1); });
    const long b = fib(rt, n - 2);
    g.wait();
    return a + b;
}
static double thread_cpu() { timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(int argc, char** argv) {
    const unsigned threads = static_cast<unsigned>(std::atoi(argv[1]));
    const int n = std::atoi(argv[2]);
    const int reps = std::atoi(argv[3]);
    topos::runtime rt({.places = {}, .bind = {}, .threads = threads, .topology = {}});
    topos::task_group g(rt);
    g.run([&] {
        for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = thread_cpu();
            const long v = fib(rt, n);
            const double c1 = thread_cpu();
            const auto t1 = std::chrono::steady_clock::now();
            if (v != 832040 && n == 30) std::abort();
            std::printf("%.3f %.3f\n", std::chrono::duration<double, std::milli>(t1 - t0).count(), (c1 - c0) * 1e3);
        }
    });
    g.wait();
}
