// A distributed STREAM triad, hybrid MPI + topos: every rank runs
// a[i] = b[i] + s * c[i] over its own node_arrays with its own runtime, the
// ranks add up their checksums with MPI_Allreduce, and rank 0 compares the
// total with the value the triad must give: PASS or FAIL, and the exit status
// says which (2 for bad arguments). Also prints where each rank ran (the
// rank map) and the aggregate bandwidth.
//
//   mpirun -np 2 --map-by numa --bind-to numa stream_triad --n 4000000 --reps 10
#include <topos/mpi.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

namespace {

unsigned long long positive(const char* flag, const char* value) {
    char* end = nullptr;
    errno = 0;
    unsigned long long x = std::strtoull(value, &end, 10);
    if (*value == '\0' || *value == '-' || *end != '\0' || errno != 0 || x == 0 || x > (1ULL << 32)) {
        throw std::invalid_argument(std::string(flag) + " '" + value + "' is not an integer in 1..2^32");
    }
    return x;
}

} // namespace

int main(int argc, char** argv) {
    try {
        topos::mpi::environment env(argc, argv);
        std::size_t n = 1 << 22;
        int reps = 10;
        topos::runtime_options ro;
        try {
            for (int i = 1; i < argc; ++i) {
                std::string_view a = argv[i];
                if (i + 1 >= argc) {
                    throw std::invalid_argument("'" + std::string(a) + "' needs a value or is unknown");
                }
                if (a == "--n") {
                    n = positive("--n", argv[++i]);
                } else if (a == "--reps") {
                    reps = static_cast<int>(std::min<unsigned long long>(positive("--reps", argv[++i]), 100000));
                } else if (a == "--threads") {
                    ro.threads = static_cast<unsigned>(std::min<unsigned long long>(positive("--threads", argv[++i]), 4096));
                } else {
                    throw std::invalid_argument("unknown argument '" + std::string(a) +
                                                "'; expected --n, --reps or --threads");
                }
            }
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "stream_triad: %s\n", e.what());
            return 2;
        }
        auto world = topos::mpi::world();
        const int rank = world.rank();
        const int size = world.size();
        topos::runtime rt(ro);
        auto map = topos::mpi::rank_map::gather(rt);

        // Each rank's arrays on its workers' nodes; the values depend on the
        // global index so that a rank computing another's part would show.
        const auto first = static_cast<double>(static_cast<std::size_t>(rank) * n);
        topos::node_array<double> a(n, rt.nodes());
        topos::node_array<double> b(n, rt.nodes());
        topos::node_array<double> c(n, rt.nodes());
        topos::parallel_for(rt, b, [&](std::size_t i) {
            b[i] = std::fmod(first + static_cast<double>(i), 1000.0);
            c[i] = 2.0;
        });
        const double s = 3.0;
        MPI_Barrier(world);
        double t0 = MPI_Wtime();
        for (int r = 0; r < reps; ++r) {
            topos::parallel_for(rt, a, [&](std::size_t i) { a[i] = b[i] + s * c[i]; });
        }
        double local_time = MPI_Wtime() - t0;
        double seconds = 0.0;
        MPI_Allreduce(&local_time, &seconds, 1, MPI_DOUBLE, MPI_MAX, world);

        double local_sum = topos::parallel_reduce(rt, std::size_t{0}, n, 0.0, [&](std::size_t i) { return a[i]; },
                                                  std::plus<>{});
        double total = 0.0;
        topos::mpi::check(MPI_Allreduce(&local_sum, &total, 1, MPI_DOUBLE, MPI_SUM, world), "MPI_Allreduce");

        // The expected checksum: sum over every global index g of (g mod 1000) + 6.
        const std::size_t all = n * static_cast<std::size_t>(size);
        const std::size_t cycles = all / 1000;
        const std::size_t rest = all % 1000;
        double expected = static_cast<double>(cycles) * (999.0 * 1000.0 / 2.0) +
                          static_cast<double>(rest) * (static_cast<double>(rest) - 1.0) / 2.0 + 6.0 * static_cast<double>(all);
        double rel = std::fabs(total - expected) / expected;
        bool pass = rel < 1e-12;
        if (rank == 0) {
            for (const auto& info : map.ranks()) {
                std::printf("rank %d: host %s, local rank %d, kernel node %d\n", info.rank, info.host.c_str(),
                            info.local_rank, info.os_node());
            }
            double gbs = 3.0 * 8.0 * static_cast<double>(all) * reps / seconds / 1e9;
            std::printf("stream_triad: ranks=%d n/rank=%zu reps=%d threads/rank=%u time_s=%.6f GB/s=%.2f "
                        "checksum=%.12e expected=%.12e %s\n",
                        size, n, reps, rt.thread_count(), seconds, gbs, total, expected, pass ? "PASS" : "FAIL");
        }
        return pass ? 0 : 1;
    } catch (const topos::error& e) {
        std::fprintf(stderr, "stream_triad: %s\n", e.what());
        return 2;
    }
}
