// examples/mpi/heat.hpp - the parts of the 2-D heat-equation Jacobi stencil
// that do not depend on how a rank sweeps its block: options, the row split
// across ranks, the halo exchange by MPI, the serial reference and the check.
// heat_stencil.cpp sweeps with topos; bench/heat_stencil_omp.cpp with OpenMP.
//
// The grid has n x n interior points and a fixed boundary: 1.0 along the top
// edge, 0.0 elsewhere; the interior starts at 0.0. Each step sets every
// interior point to the mean of its four neighbours in the previous grid.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace heat {

struct options {
    std::size_t n = 512;          ///< interior points per side
    int steps = 200;
    bool check = true;            ///< compare with a serial run on rank 0
    std::optional<unsigned> threads;
    std::optional<std::string> places;
    std::string sweep = "topos";  ///< topos | serial (the plain loop, for one rank per core)
};

/// Parses --n N --steps S --threads T --places P --sweep K --no-check. Throws
/// std::invalid_argument naming the bad argument.
inline options parse(int argc, char** argv) {
    options o;
    auto number = [&](int& i, std::string_view name) -> unsigned long long {
        if (i + 1 >= argc) {
            throw std::invalid_argument(std::string(name) + " needs a value");
        }
        std::string v = argv[++i];
        char* end = nullptr;
        errno = 0;
        unsigned long long x = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-' || x == 0) {
            throw std::invalid_argument(std::string(name) + " '" + v + "' is not a positive integer");
        }
        return x;
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--n") {
            o.n = number(i, a);
            if (o.n > (1U << 16)) {
                throw std::invalid_argument("--n " + std::to_string(o.n) + " is larger than 65536");
            }
        } else if (a == "--steps") {
            auto s = number(i, a);
            if (s > 1000000) {
                throw std::invalid_argument("--steps " + std::to_string(s) + " is larger than 1000000");
            }
            o.steps = static_cast<int>(s);
        } else if (a == "--threads") {
            o.threads = static_cast<unsigned>(std::min<unsigned long long>(number(i, a), 4096));
        } else if (a == "--places") {
            if (i + 1 >= argc) {
                throw std::invalid_argument("--places needs a value");
            }
            o.places = argv[++i];
        } else if (a == "--sweep") {
            if (i + 1 >= argc) {
                throw std::invalid_argument("--sweep needs a value");
            }
            o.sweep = argv[++i];
            if (o.sweep != "topos" && o.sweep != "serial") {
                throw std::invalid_argument("--sweep '" + o.sweep + "': expected topos or serial");
            }
        } else if (a == "--no-check") {
            o.check = false;
        } else {
            throw std::invalid_argument("unknown argument '" + std::string(a) + "'; expected --n, --steps, --threads, "
                                        "--places, --sweep or --no-check");
        }
    }
    return o;
}

/// Rows [first, first + rows) of the interior belong to this rank.
struct block {
    std::size_t n = 0;
    std::size_t first = 0;
    std::size_t rows = 0;
    [[nodiscard]] std::size_t width() const noexcept { return n + 2; }
    /// Elements of the rank's grid: its rows plus a halo row above and below.
    [[nodiscard]] std::size_t elements() const noexcept { return (rows + 2) * width(); }
};

inline block split(std::size_t n, int rank, int size) {
    auto r = static_cast<std::size_t>(rank);
    auto k = static_cast<std::size_t>(size);
    std::size_t first = n * r / k;
    return {n, first, n * (r + 1) / k - first};
}

/// The fixed boundary of a rank's grid: the top edge (global row -1) is
/// hot on the first rank; the left and right columns and the bottom edge are 0.
inline void set_boundary(double* u, const block& b, int rank) {
    const std::size_t w = b.width();
    for (std::size_t i = 0; i < b.rows + 2; ++i) {
        u[i * w] = 0.0;
        u[i * w + w - 1] = 0.0;
    }
    if (rank == 0) {
        for (std::size_t j = 1; j <= b.n; ++j) {
            u[j] = 1.0;
        }
    }
}

/// One Jacobi update of interior row i (1-based in the rank's grid).
inline void sweep_row(const double* in, double* out, std::size_t i, std::size_t w) {
    const double* up = in + (i - 1) * w;
    const double* mid = in + i * w;
    const double* down = in + (i + 1) * w;
    double* dst = out + i * w;
    for (std::size_t j = 1; j + 1 < w; ++j) {
        dst[j] = 0.25 * (up[j] + down[j] + mid[j - 1] + mid[j + 1]);
    }
}

/// Sends this rank's first and last rows to its neighbours and receives
/// their edge rows into the halos. The outer halos stay as set_boundary left them.
inline void exchange_halos(double* u, const block& b, int rank, int size, MPI_Comm comm) {
    const int w = static_cast<int>(b.width());
    const int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
    const int down = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
    double* first = u + b.width();
    double* last = u + b.rows * b.width();
    double* halo_top = u;
    double* halo_bottom = u + (b.rows + 1) * b.width();
    MPI_Sendrecv(first, w, MPI_DOUBLE, up, 0, halo_bottom, w, MPI_DOUBLE, down, 0, comm, MPI_STATUS_IGNORE);
    MPI_Sendrecv(last, w, MPI_DOUBLE, down, 1, halo_top, w, MPI_DOUBLE, up, 1, comm, MPI_STATUS_IGNORE);
}

/// The whole grid after `steps` steps, computed by one thread.
inline std::vector<double> serial_reference(std::size_t n, int steps) {
    block whole{n, 0, n};
    std::vector<double> u(whole.elements(), 0.0);
    std::vector<double> v(whole.elements(), 0.0);
    set_boundary(u.data(), whole, 0);
    set_boundary(v.data(), whole, 0);
    for (int s = 0; s < steps; ++s) {
        for (std::size_t i = 1; i <= n; ++i) {
            sweep_row(u.data(), v.data(), i, whole.width());
        }
        std::swap(u, v);
    }
    return u;
}

/// Gathers the interior rows on rank 0 and returns the largest difference
/// from the serial run there (0 on the other ranks).
inline double max_difference(const double* u, const block& b, int rank, int size, int steps, MPI_Comm comm) {
    const std::size_t w = b.width();
    int count = static_cast<int>(b.rows * w);
    std::vector<int> counts(static_cast<std::size_t>(size));
    MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm);
    std::vector<int> displs(static_cast<std::size_t>(size), 0);
    std::vector<double> all;
    if (rank == 0) {
        for (std::size_t r = 1; r < counts.size(); ++r) {
            displs[r] = displs[r - 1] + counts[r - 1];
        }
        all.resize(b.n * w);
    }
    MPI_Gatherv(u + w, count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0, comm);
    if (rank != 0) {
        return 0.0;
    }
    std::vector<double> ref = serial_reference(b.n, steps);
    double worst = 0.0;
    for (std::size_t i = 0; i < b.n; ++i) {
        for (std::size_t j = 1; j <= b.n; ++j) {
            worst = std::max(worst, std::fabs(all[i * w + j] - ref[(i + 1) * w + j]));
        }
    }
    return worst;
}

/// Sum of the interior (a checksum the runs can be compared by).
inline double interior_sum(const double* u, const block& b, MPI_Comm comm) {
    double local = 0.0;
    for (std::size_t i = 1; i <= b.rows; ++i) {
        for (std::size_t j = 1; j <= b.n; ++j) {
            local += u[i * b.width() + j];
        }
    }
    double total = 0.0;
    MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, comm);
    return total;
}

/// Runs the steps with `sweep(in, out)` computing rows 1..b.rows of out from
/// in, then checks and reports. u and v are the rank's two grids, zeroed.
/// Returns the exit status: 0 PASS, 1 FAIL.
template <class Sweep>
int run(const char* name, const options& o, const std::string& how, double* u, double* v, const block& b, int rank,
        int size, MPI_Comm comm, Sweep&& sweep) {
    set_boundary(u, b, rank);
    set_boundary(v, b, rank);
    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    for (int s = 0; s < o.steps; ++s) {
        exchange_halos(u, b, rank, size, comm);
        sweep(static_cast<const double*>(u), v);
        std::swap(u, v);
    }
    double local = MPI_Wtime() - t0;
    double seconds = 0.0;
    MPI_Allreduce(&local, &seconds, 1, MPI_DOUBLE, MPI_MAX, comm);
    double sum = interior_sum(u, b, comm);
    double diff = o.check ? max_difference(u, b, rank, size, o.steps, comm) : 0.0;
    MPI_Bcast(&diff, 1, MPI_DOUBLE, 0, comm);
    // The same operations in the same order as the serial run: equal to the bit.
    bool pass = !o.check || diff == 0.0;
    if (rank == 0) {
        std::printf("%s: n=%zu steps=%d ranks=%d %s time_s=%.6f checksum=%.12e", name, o.n, o.steps, size,
                    how.c_str(), seconds, sum);
        if (o.check) {
            std::printf(" max_diff_vs_serial=%.3e %s\n", diff, pass ? "PASS" : "FAIL");
        } else {
            std::printf(" (not checked)\n");
        }
    }
    return pass ? 0 : 1;
}

} // namespace heat
