// topology/config.hpp - the TOPOS_* variables that are not placement options.
// Every environment variable the library reads is read in topology/config.cpp
// (the drop-in malloc's TOPOS_MALLOC_REPORT aside: the shim runs before any
// of the library may).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace topos::detail {

/// post: the value of TOPOS_TOPOLOGY, or nothing when it is unset or empty.
[[nodiscard]] std::optional<std::string> topology_spec_from_environment();

/// post: true when TOPOS_DISPLAY_AFFINITY asks for the workers' bindings to
/// be printed; false when unset or empty. Throws config_error naming the
/// variable and its value when it is neither true nor false.
[[nodiscard]] bool display_affinity_from_environment();

/// post: the path TOPOS_TRACE names (a trace is written there when a
/// runtime is destroyed), or nothing when it is unset or empty.
[[nodiscard]] std::optional<std::string> trace_path_from_environment();

/// post: TOPOS_TRACE_EVENTS, the most events a trace records per worker;
/// 1048576 when unset or empty. Throws config_error naming the variable and
/// its value when it is not a whole number from 1 to 2^32.
[[nodiscard]] std::size_t trace_events_from_environment();

} // namespace topos::detail
