# Finds the two libraries the core depends on, hwloc and libnuma, through their
# pkg-config files. Shared by the build and by the installed topos-config.cmake,
# so a consumer of a static topos finds the same libraries.
find_package(PkgConfig REQUIRED)
if(NOT TARGET PkgConfig::topos_hwloc)
  pkg_check_modules(topos_hwloc REQUIRED IMPORTED_TARGET hwloc>=2.4)
endif()
if(NOT TARGET PkgConfig::topos_numa)
  pkg_check_modules(topos_numa REQUIRED IMPORTED_TARGET numa)
endif()
find_package(Threads REQUIRED)
