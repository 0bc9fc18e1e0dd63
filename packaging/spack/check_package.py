#!/usr/bin/env python3
"""Checks packaging/spack/package.py without Spack: compiles it, then loads it
against a stub of the spack.package API that records the directives, and
checks the variants (mpi, fortran), the dependencies they add and the CMake
arguments for each combination.

Usage: packaging/spack/check_package.py [PATH_TO_package.py]
Exits 1 with one line per problem, 0 when all hold.
"""
import importlib.util
import py_compile
import sys
import types
from pathlib import Path

RECORDED = {"version": [], "variant": {}, "depends_on": [], "conflicts": [], "license": [], "generator": []}


def directive(name):
    def record(*args, **kwargs):
        if name == "variant":
            RECORDED["variant"][args[0]] = kwargs
        else:
            RECORDED[name].append((args, kwargs))
    return record


class Spec:
    """The few parts of a concrete spec that cmake_args uses."""

    def __init__(self, variants):
        self.variants = variants

    def satisfies(self, constraint):
        sign, name = constraint[0], constraint[1:]
        assert sign in "+~", f"unexpected constraint {constraint!r}"
        return self.variants[name] == (sign == "+")

    def __getitem__(self, name):
        assert name == "mpi", f"unexpected dependency lookup {name!r}"
        assert self.variants["mpi"], "spec['mpi'] looked up without +mpi"
        return types.SimpleNamespace(mpicc="/mpi/bin/mpicc", mpicxx="/mpi/bin/mpicxx", mpifc="/mpi/bin/mpif90")


class CMakePackage:
    def __init__(self, spec):
        self.spec = spec

    def define(self, name, value):
        if isinstance(value, bool):
            value = "ON" if value else "OFF"
        return f"-D{name}={value}"

    def define_from_variant(self, name, variant):
        return self.define(name, self.spec.variants[variant])


def load(path):
    stub = types.ModuleType("spack.package")
    for name in RECORDED:
        setattr(stub, name, directive(name))
    stub.CMakePackage = CMakePackage
    stub.__all__ = list(RECORDED) + ["CMakePackage"]
    sys.modules["spack"] = types.ModuleType("spack")
    sys.modules["spack.package"] = stub
    spec = importlib.util.spec_from_file_location("topos_spack_package", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("package.py"))
    problems = []
    py_compile.compile(str(path), doraise=True)
    module = load(path)
    cls = getattr(module, "Topos", None)
    if cls is None or not issubclass(cls, CMakePackage):
        print(f"{path}: no class Topos(CMakePackage)")
        return 1
    if not (cls.__doc__ or "").strip():
        problems.append("class Topos has no docstring (spack info shows it)")
    for name in ("mpi", "fortran"):
        if name not in RECORDED["variant"]:
            problems.append(f"no variant '{name}'")
        elif not RECORDED["variant"][name].get("description"):
            problems.append(f"variant '{name}' has no description")
    deps = {(args[0], kwargs.get("when")) for args, kwargs in RECORDED["depends_on"]}
    for needed in [("mpi", "+mpi"), ("fortran", "+fortran"), ("numactl", None)]:
        if needed not in deps:
            problems.append(f"no depends_on{needed}")
    if not any(args[0].startswith("hwloc") for args, _ in RECORDED["depends_on"]):
        problems.append("no depends_on('hwloc...')")
    if not RECORDED["version"]:
        problems.append("no version()")
    for mpi in (False, True):
        for fortran in (False, True):
            args = cls(Spec({"mpi": mpi, "fortran": fortran, "tools": True})).cmake_args()
            want_fortran = f"-DTOPOS_BUILD_FORTRAN={'ON' if fortran else 'OFF'}"
            if want_fortran not in args:
                problems.append(f"mpi={mpi} fortran={fortran}: {want_fortran} not in {args}")
            has_mpicc = "-DCMAKE_C_COMPILER=/mpi/bin/mpicc" in args
            if has_mpicc != mpi:
                problems.append(f"mpi={mpi} fortran={fortran}: the MPI C compiler wrapper is {'missing' if mpi else 'used'}")
            has_mpifc = "-DCMAKE_Fortran_COMPILER=/mpi/bin/mpif90" in args
            if has_mpifc != (mpi and fortran):
                problems.append(f"mpi={mpi} fortran={fortran}: the MPI Fortran wrapper is wrongly {'missing' if mpi and fortran else 'used'}")
    for p in problems:
        print(f"{path}: {p}")
    if not problems:
        print(f"{path}: compiles; variants {sorted(RECORDED['variant'])}; {len(RECORDED['depends_on'])} dependencies; cmake_args checked for 4 variant combinations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
