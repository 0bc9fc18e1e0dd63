# Stage of scripts/test (sourced; may use build_preset, run_tests, stage_failed):
# the C and Fortran examples built with plain cc/gfortran and pkg-config
# against the installed prefix of the default build (build/prefix, from the
# consumer stage), then the Debian packages: built (packaging/build-debs),
# installed and used by the C, C++ and Fortran consumers (packaging/check-debs).
echo "== C, C++ and Fortran consumers against the installed prefix" >&2
if [[ -d build/prefix ]]; then
  run_tests consumers-prefix packaging/build-consumers build/prefix build/consumers-prefix
else
  stage_failed consumers-prefix
fi
echo "== Debian packages: build, install, build the consumers against them" >&2
if packaging/build-debs build/debs build/deb; then
  run_tests debs packaging/check-debs build/debs build/debs-check
else
  stage_failed build-debs
fi
