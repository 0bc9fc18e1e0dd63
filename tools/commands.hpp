// tools/commands.hpp - the `topos` subcommands, separate from argument parsing.
//
// Each command takes its options as the user typed them and returns the whole
// output; nothing is printed until the command has succeeded, so an error
// never leaves half a report on stdout. Bad input throws topos::error with a
// one-line message that names the flag or variable it came from.
#pragma once

#include <topos/topology.hpp>

#include <optional>
#include <string>

namespace topos::cli {

struct info_options {
    std::optional<std::string> topology; ///< --topology; unset: TOPOS_TOPOLOGY, else host
    bool json = false;
};

struct places_options {
    std::optional<std::string> topology;
    std::optional<std::string> places;  ///< --places; unset: TOPOS_PLACES, else the planner's default
    std::optional<std::string> bind;    ///< --bind, parsed here so the library's message is used
    std::optional<std::string> threads; ///< --threads, likewise
    std::optional<std::string> ranks;   ///< --ranks K: plan for local rank --rank of K (topos/share.hpp)
    std::optional<std::string> rank;    ///< --rank I
    bool json = false;
};

/// --topology if given, else TOPOS_TOPOLOGY, else this machine.
[[nodiscard]] topology load_topology(const std::optional<std::string>& spec);

[[nodiscard]] std::string run_info(const info_options& opts);
[[nodiscard]] std::string run_places(const places_options& opts);

} // namespace topos::cli
