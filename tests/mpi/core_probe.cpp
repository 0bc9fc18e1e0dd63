// A program linked with libtopos only (not topos::mpi): tests/components/mpi.cmake
// runs it where libmpi is missing, to show the core library needs no MPI.
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>

#include <atomic>
#include <cstdio>

int main() {
    topos::runtime rt;
    std::atomic<long> sum{0};
    topos::parallel_for(rt, 0, 1000, [&](int i) { sum.fetch_add(i, std::memory_order_relaxed); });
    std::printf("core_probe: %u workers, sum %ld\n", rt.thread_count(), sum.load());
    return sum.load() == 999L * 1000 / 2 ? 0 : 1;
}
