// tests/fuzz/fuzz_synthetic.cpp - `synthetic:` topology descriptions, through
// topology::synthetic and topology::from_spec as TOPOS_TOPOLOGY reads them.
//
// Input: the description. A bad one must be a topos::topology_error, never a
// crash or a hang (a huge machine is refused by size before hwloc builds it);
// a topology that loads must be consistent: nodes, PUs sorted by OS index,
// an n x n distance matrix, every PU and core on a node that exists, and a
// default placement plan over it.
#include "tests/fuzz/fuzz_support.hpp"

#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using topos::fuzz::check;

void check_topology(const topos::topology& topo) {
    const auto n = topo.node_count();
    check(n >= 1, "a topology without a NUMA node");
    check(topo.distance_matrix().size() == n * n, "the distance matrix is not n x n");
    const auto pus = topo.pus();
    check(!pus.empty(), "a topology without PUs");
    check(std::adjacent_find(pus.begin(), pus.end(),
                             [](const auto& a, const auto& b) { return a.os_index >= b.os_index; }) == pus.end(),
          "PUs are not sorted by OS index, or one index repeats");
    for (const auto& p : pus) {
        check(p.os_index >= 0, "a PU with a negative OS index");
        check(p.node >= -1 && p.node < static_cast<int>(n), "a PU on a node that does not exist");
    }
    for (const auto& c : topo.cores()) {
        check(c.node >= -1 && c.node < static_cast<int>(n), "a core on a node that does not exist");
    }
    for (std::size_t i = 0; i < n; ++i) {
        (void)topo.nodes_by_distance(static_cast<int>(i));
    }
    // At most 64 workers: the planner's steal orders grow with the square of
    // the workers, which says nothing new about the description.
    const auto threads = static_cast<unsigned>(std::min<std::size_t>(pus.size(), 64));
    const auto plan = topos::plan_placement(topo, {.places = "threads", .bind = topos::proc_bind::spread, .threads = threads});
    check(!plan.workers.empty(), "a default plan without workers");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_topology(topos::topology::synthetic(text));
    } catch (const topos::topology_error&) {
    }
    try {
        const auto topo = topos::topology::from_spec("synthetic:" + std::string(text));
        check(topo.source() == topos::topology_source::synthetic, "a synthetic: spec that is not synthetic");
    } catch (const topos::topology_error&) {
    }
    return 0;
}
