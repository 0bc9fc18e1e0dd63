# Spack recipe for topos: `spack repo add packaging/spack-repo` style use, or
# copy this file to <repo>/packages/topos/package.py.
#
# Checked here for syntax and against a stub of Spack's API
# (packaging/spack/check_package.py, a ctest); no real `spack install` has
# been run with it.
from spack.package import *


class Topos(CMakePackage):
    """NUMA-aware parallel runtime: a work-stealing scheduler placed by the
    machine's topology, a NUMA allocator, shared-memory IPC, a C API and a
    Fortran 2008 module."""

    homepage = "https://github.com/topos-runtime/topos"
    git = "https://github.com/topos-runtime/topos.git"

    license("MIT")

    version("main", branch="main")
    version("0.1.0", tag="v0.1.0")

    variant("fortran", default=True, description="Build the Fortran module (use topos) and libtopos_fortran")
    variant(
        "mpi",
        default=False,
        description="Build with the MPI compiler wrappers, so that topos.mod and the libraries "
        "match the compilers MPI programs are built with",
    )
    variant("tools", default=True, description="Build the topos command")

    depends_on("c", type="build")
    depends_on("cxx", type="build")
    depends_on("fortran", type="build", when="+fortran")

    depends_on("cmake@3.25:", type="build")
    depends_on("ninja", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("hwloc@2.4:")
    depends_on("numactl")  # libnuma
    depends_on("mpi", when="+mpi")
    depends_on("cli11", type="build", when="+tools")
    depends_on("nlohmann-json@3.10:", type="build", when="+tools")

    conflicts("platform=darwin", msg="topos needs Linux (libnuma, futex, rseq)")
    conflicts("platform=windows", msg="topos needs Linux (libnuma, futex, rseq)")
    conflicts("%gcc@:11", msg="topos needs C++20 (GCC 12 or later)")

    generator("ninja")

    def cmake_args(self):
        args = [
            self.define("BUILD_SHARED_LIBS", True),
            self.define("TOPOS_BUILD_TESTS", False),
            self.define("TOPOS_BUILD_BENCH", False),
            self.define_from_variant("TOPOS_BUILD_FORTRAN", "fortran"),
            self.define_from_variant("TOPOS_BUILD_TOOLS", "tools"),
        ]
        if self.spec.satisfies("+mpi"):
            mpi = self.spec["mpi"]
            args.append(self.define("CMAKE_C_COMPILER", mpi.mpicc))
            args.append(self.define("CMAKE_CXX_COMPILER", mpi.mpicxx))
            if self.spec.satisfies("+fortran"):
                args.append(self.define("CMAKE_Fortran_COMPILER", mpi.mpifc))
        return args
