// fib(n) with one labelled task per call, for looking at a trace:
//
//   TOPOS_TRACE=fib.json fib_trace 24
//   tools/topos-plot trace fib.json -o fib.png
//
// Prints the result and the runtime's counters.
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <semaphore>

namespace {

long fib(topos::runtime& rt, int n) {
    if (n < 2) {
        return n;
    }
    long a = 0;
    topos::task_group g(rt);
    g.run("fib", [&] { a = fib(rt, n - 1); });
    const long b = fib(rt, n - 2);
    g.wait();
    return a + b;
}

} // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 24;
    if (n < 0 || n > 40) {
        std::fprintf(stderr, "fib_trace: n must be 0 to 40, not '%s'\n", argv[1]);
        return 2;
    }
    try {
        topos::runtime rt;
        long result = 0;
        // The main thread only waits for the root task to finish (a thread
        // that waits in wait() would run tasks too, as a guest).
        std::binary_semaphore done{0};
        topos::task_group root(rt);
        root.run("root", [&] {
            result = fib(rt, n);
            done.release();
        });
        done.acquire();
        root.wait();
        const auto s = rt.stats();
        std::printf("fib(%d) = %ld on %u workers: %llu tasks, %llu steals (%llu remote), %llu parks\n", n, result,
                    rt.thread_count(), static_cast<unsigned long long>(s.tasks_run),
                    static_cast<unsigned long long>(s.steals_local + s.steals_remote),
                    static_cast<unsigned long long>(s.steals_remote), static_cast<unsigned long long>(s.parks));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fib_trace: %s\n", e.what());
        return 2;
    }
    return 0;
}
