# Stage of scripts/test (sourced after the sanitizer builds): the hybrid MPI
# examples built against the installed package (build/prefix, from the
# consumer stage) through CMake's config files and through pkg-config, then
# run with 2 ranks. Skipped, saying so, when topos was built without MPI.
echo "== MPI examples against the installed prefix" >&2
mpi_prefix=$PWD/build/prefix
if ! compgen -G "$mpi_prefix/lib*/cmake/topos/topos-mpi-targets.cmake" >/dev/null; then
  echo "test: the installed prefix has no topos::mpi (built without MPI): MPI examples skipped" >&2
else
  rm -rf build/mpi-example
  if cmake -S examples/mpi -B build/mpi-example -G Ninja -DCMAKE_PREFIX_PATH="$mpi_prefix" >/dev/null &&
     cmake --build build/mpi-example; then
    run_tests mpi-example-heat tests/mpi/launch 2 build/mpi-example/heat_stencil --n 128 --steps 50 --threads 1
    run_tests mpi-example-triad tests/mpi/launch 2 build/mpi-example/stream_triad --n 100000 --reps 3 --threads 1
  else
    stage_failed mpi-example
  fi
  # pkg-config: topos-mpi names topos and MPI's own `mpi` module.
  mpi_pc=$(ls -d "$mpi_prefix"/lib*/pkgconfig | head -n1)
  if flags=$(PKG_CONFIG_PATH=$mpi_pc pkg-config --cflags --libs topos-mpi) &&
     c++ -std=c++20 -O1 examples/mpi/stream_triad.cpp $flags -o build/mpi-example/stream_triad_pc; then
    run_tests mpi-example-pkgconfig tests/mpi/launch 2 build/mpi-example/stream_triad_pc --n 10000 --reps 1 --threads 1
  else
    stage_failed mpi-example-pkgconfig
  fi
fi
