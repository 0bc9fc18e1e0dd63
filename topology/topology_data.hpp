// topology/topology_data.hpp - the plain data behind topos::topology.
//
// Filled once by the hwloc layer and never written again; every query in
// topology.cpp reads it without locks.
#pragma once

#include <topos/topology.hpp>

#include <string>
#include <vector>

namespace topos::detail {

struct topology_data {
    topology_source source = topology_source::host;
    std::string spec;
    bool this_system = false;
    bool affinity_restricted = false; // host only: the affinity mask hides some of the machine's PUs

    std::vector<package_info> packages;
    std::vector<numa_node_info> nodes;
    std::vector<core_info> cores;
    std::vector<pu_info> pus;          // ascending OS index
    std::vector<cache_info> caches;
    std::vector<cpu_kind_info> kinds;

    std::vector<int> distances;        // row-major nodes.size()^2
    bool distances_derived = false;
    memory_architecture architecture = memory_architecture::uma;
    std::vector<std::string> notes;
};

} // namespace topos::detail
