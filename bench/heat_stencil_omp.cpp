// The heat-equation stencil of examples/mpi/heat_stencil.cpp with each
// rank's block swept by OpenMP threads instead of topos: the peer for
// bench/stencil_compare.py. Same grid, split, halo exchange and check
// (examples/mpi/heat.hpp); the block is first touched by the OpenMP threads
// that sweep it (static schedule), OpenMP's usual NUMA placement.
#include <topos/mpi.hpp>

#include "../examples/mpi/heat.hpp"

#include <omp.h>

#include <cstdio>
#include <memory>

int main(int argc, char** argv) {
    try {
        topos::mpi::environment env(argc, argv, topos::mpi::threading::funneled);
        heat::options o;
        try {
            o = heat::parse(argc, argv);
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "heat_stencil_omp: %s\n", e.what());
            return 2;
        }
        auto world = topos::mpi::world();
        const int rank = world.rank();
        const int size = world.size();
        if (o.n < static_cast<std::size_t>(size)) {
            std::fprintf(stderr, "heat_stencil_omp: --n %zu gives fewer rows than the %d ranks\n", o.n, size);
            return 2;
        }
        if (o.threads) {
            omp_set_num_threads(static_cast<int>(*o.threads));
        }
        const heat::block b = heat::split(o.n, rank, size);
        const std::size_t w = b.width();
        const auto rows = static_cast<long>(b.rows + 2);
        std::unique_ptr<double[]> u(new double[b.elements()]);
        std::unique_ptr<double[]> v(new double[b.elements()]);
        double* pu = u.get();
        double* pv = v.get();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < w; ++j) {
                pu[static_cast<std::size_t>(i) * w + j] = 0.0;
                pv[static_cast<std::size_t>(i) * w + j] = 0.0;
            }
        }
        std::string how = "sweep=openmp threads=" + std::to_string(omp_get_max_threads());
        const auto last = static_cast<long>(b.rows);
        return heat::run("heat_stencil_omp", o, how, pu, pv, b, rank, size, world,
                         [&](const double* in, double* out) {
#pragma omp parallel for schedule(static)
                             for (long i = 1; i <= last; ++i) {
                                 heat::sweep_row(in, out, static_cast<std::size_t>(i), w);
                             }
                         });
    } catch (const topos::error& e) {
        std::fprintf(stderr, "heat_stencil_omp: %s\n", e.what());
        return 2;
    }
}
