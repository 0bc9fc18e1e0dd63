// topology/hwloc_layer.hpp - the one place that talks to hwloc.
//
// Each loader builds a complete topology_data and releases the hwloc topology
// before returning; nothing above this layer sees an hwloc type.
#pragma once

#include "topology/topology_data.hpp"

#include <filesystem>
#include <string_view>

namespace topos::detail {

// post: the PU set is this process's allowed CPUs (cgroup and affinity mask).
topology_data load_host();
// pre: none (a missing file is reported). post: throws topology_error on failure.
topology_data load_xml(const std::filesystem::path& file);
// post: throws topology_error naming the description on a parse failure.
topology_data load_synthetic(std::string_view description);

} // namespace topos::detail
