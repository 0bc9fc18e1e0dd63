// tools/report_json.hpp - the JSON documents `topos` prints with --json.
//
// These shapes are a contract that scripts rely on: add keys freely, but never
// rename or remove one, and never change a value's JSON type. Unknown values
// are JSON null, never a sentinel such as -1. Keys keep the order listed
// below, for people reading the output.
#pragma once

#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <nlohmann/json.hpp>

namespace topos::cli {

/// The machine as `topos info --json` prints it:
///
///   topos_version      string
///   source             string, the spec the topology was loaded from
///   architecture       "uma" | "numa"
///   distances_derived  bool, true when no firmware/XML distances exist
///   packages    [{id, os_index|null, numa_nodes: [node id], pus: [PU]}]
///   cores       [{id, os_index|null, package|null, node|null, kind|null, pus: [PU]}]
///   pus         [PU], ascending OS indices
///   numa_nodes  [{id, os_index, memory_bytes, free_bytes|null, package|null, pus: [PU]}]
///   distances   [[int]], indexed by logical node id
///   caches      [{id, level, type: "unified"|"data"|"instruction",
///                 size_bytes, line_bytes|null, pus: [PU]}]
///   cpu_kinds   [{efficiency|null, name, pus: [PU]}]
///
/// PUs are always OS indices; every other id is logical (0..count-1).
[[nodiscard]] nlohmann::ordered_json topology_to_json(const topology& topo);

/// A placement plan as `topos places --json` prints it:
///
///   places      string, the places list the plan was made from
///   bind        "false" | "true" | "primary" | "close" | "spread"
///   threads     int, the number of workers
///   place_list  [[PU]], the expanded places
///   workers     [{id, place, pus: [PU], node|null, steal_order: [worker id],
///                 steal_tiers: [{level: "core"|"cache"|"node"|"remote",
///                                distance, workers: [worker id]}]}]
[[nodiscard]] nlohmann::ordered_json plan_to_json(const placement_plan& plan);

} // namespace topos::cli
