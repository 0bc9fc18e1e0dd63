// topology/config.hpp - the TOPOS_* (and OMP_*) variables, and where settings came from.
// Every environment variable the library reads is read in topology/config.cpp
// (the drop-in malloc's TOPOS_MALLOC_REPORT aside: the shim runs before any
// of the library may).
#pragma once

#include <topos/placement.hpp>
#include <topos/share.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace topos::detail {

/// Where each placement setting came from: "code" (set by the caller),
/// "TOPOS_PLACES" / "OMP_PLACES" (and so on), or "default".
struct placement_sources {
    std::string places = "default";
    std::string bind = "default";
    std::string threads = "default";
};

/// with_environment(), recording in `sources` where each field came from.
/// A TOPOS_* variable wins over its OMP_* counterpart, which is read only
/// while TOPOS_IGNORE_OMP is not true (a bad TOPOS_IGNORE_OMP: config_error).
/// OMP_NUM_THREADS and OMP_PROC_BIND lists give their first entry.
[[nodiscard]] placement_options with_environment(placement_options opts, placement_sources& sources);

/// plan_placement(topo, with_environment(opts)); a places_error from a list
/// that came from a variable is rethrown naming the variable.
[[nodiscard]] placement_plan plan_from_environment(const topology& topo, const placement_options& opts,
                                                   placement_sources* sources = nullptr);

/// post: true when TOPOS_IGNORE_OMP is true. Throws config_error naming the
/// variable and its value when it is neither true nor false.
[[nodiscard]] bool omp_variables_ignored();

/// post: the variable's value, or nothing when it is unset or empty. The
/// share rule (topology/share.cpp) reads TOPOS_SHARE, TOPOS_CALLER and the
/// launchers' rank variables through it.
[[nodiscard]] std::optional<std::string> environment_value(const char* name);

/// post: TOPOS_CALLER's role, worker when unset or empty. Throws
/// config_error naming the variable and its value when it is neither worker
/// nor guest. (topology/share.cpp)
[[nodiscard]] caller_role caller_from_environment();

/// post: the value of TOPOS_TOPOLOGY, or nothing when it is unset or empty.
[[nodiscard]] std::optional<std::string> topology_spec_from_environment();

/// post: true when TOPOS_DISPLAY_AFFINITY (else OMP_DISPLAY_AFFINITY, see
/// omp_variables_ignored) asks for the workers' bindings to be printed;
/// false when unset or empty. Throws config_error naming the
/// variable and its value when it is neither true nor false.
[[nodiscard]] bool display_affinity_from_environment();

/// post: TOPOS_WAIT_POLICY's policy, else OMP_WAIT_POLICY's (see
/// omp_variables_ignored), automatic when both are unset or empty. Throws
/// config_error naming the variable and its value when it is not active,
/// passive or auto.
[[nodiscard]] wait_policy wait_policy_from_environment();

/// post: the path TOPOS_TRACE names (a trace is written there when a
/// runtime is destroyed), or nothing when it is unset or empty.
[[nodiscard]] std::optional<std::string> trace_path_from_environment();

/// post: TOPOS_TRACE_EVENTS, the most events a trace records per worker;
/// 1048576 when unset or empty. Throws config_error naming the variable and
/// its value when it is not a whole number from 1 to 2^32.
[[nodiscard]] std::size_t trace_events_from_environment();

} // namespace topos::detail
