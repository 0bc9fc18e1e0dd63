// tools/report_text.hpp - the human-readable reports `topos` prints.
//
// Unlike the JSON documents, this text is for people and may change.
#pragma once

#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <cstdint>
#include <ostream>
#include <string>

namespace topos::cli {

/// The machine: a summary, a numactl --hardware style node table, and a
/// package -> node/cache -> core -> PU tree.
void write_topology_text(std::ostream& out, const topology& topo);

/// A placement plan: its inputs, then one row per worker with its PUs, node
/// and steal order.
void write_plan_text(std::ostream& out, const topology& topo, const placement_plan& plan);

/// "512 KiB", "1.5 MiB", "16 GiB"; "0 B" for zero.
[[nodiscard]] std::string format_size(std::uint64_t bytes);

} // namespace topos::cli
