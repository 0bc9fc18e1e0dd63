// A 2-D heat-equation Jacobi stencil, hybrid MPI + topos: the grid's rows are
// split across the ranks, halos are exchanged by MPI, and each rank's block
// is a topos node_array swept by parallel_for on the rank's own runtime. The
// result is compared with a serial run on rank 0: PASS or FAIL, and the exit
// status says which (2 for bad arguments).
//
//   mpirun -np 4 --map-by numa --bind-to numa heat_stencil --n 1024 --steps 200
//   mpirun -np 1 --bind-to none heat_stencil --threads 8 --places cores
#include <topos/mpi.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>

#include "heat.hpp"

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    try {
        topos::mpi::environment env(argc, argv, topos::mpi::threading::funneled);
        heat::options o;
        try {
            o = heat::parse(argc, argv);
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "heat_stencil: %s\n", e.what());
            return 2;
        }
        auto world = topos::mpi::world();
        const int rank = world.rank();
        const int size = world.size();
        if (o.n < static_cast<std::size_t>(size)) {
            if (rank == 0) {
                std::fprintf(stderr, "heat_stencil: --n %zu gives fewer rows than the %d ranks\n", o.n, size);
            }
            return 2;
        }
        const heat::block b = heat::split(o.n, rank, size);

        if (o.sweep == "serial") {
            // One rank per core: the plain loop in the calling thread.
            std::vector<double> u(b.elements(), 0.0);
            std::vector<double> v(b.elements(), 0.0);
            return heat::run("heat_stencil", o, "sweep=serial", u.data(), v.data(), b, rank, size, world,
                             [&](const double* in, double* out) {
                                 for (std::size_t i = 1; i <= b.rows; ++i) {
                                     heat::sweep_row(in, out, i, b.width());
                                 }
                             });
        }

        // The rank's runtime: threads and places as given, else from the
        // environment (TOPOS_*) and the CPUs the launcher left this rank.
        topos::runtime_options ro;
        ro.threads = o.threads;
        ro.places = o.places;
        topos::runtime rt(ro);
        // The rank's block on the nodes of its workers (one node when the
        // launcher binds the rank to a NUMA node).
        topos::node_array<double> u(b.elements(), rt.nodes());
        topos::node_array<double> v(b.elements(), rt.nodes());
        const std::size_t w = b.width();
        std::string how = "sweep=topos threads=" + std::to_string(rt.thread_count());
        return heat::run("heat_stencil", o, how, u.data(), v.data(), b, rank, size, world,
                         [&](const double* in, double* out) {
                             topos::parallel_for(
                                 rt, std::size_t{1}, b.rows + 1, [&](std::size_t i) { heat::sweep_row(in, out, i, w); },
                                 0);
                         });
    } catch (const topos::error& e) {
        std::fprintf(stderr, "heat_stencil: %s\n", e.what());
        return 2;
    }
}
