// topology/config.hpp - the TOPOS_* variables that are not placement options.
// Every environment variable the library reads is read in topology/config.cpp
// (the drop-in malloc's TOPOS_MALLOC_REPORT aside: the shim runs before any
// of the library may).
#pragma once

#include <topos/share.hpp>

#include <optional>
#include <string>

namespace topos::detail {

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

/// post: true when TOPOS_DISPLAY_AFFINITY asks for the workers' bindings to
/// be printed; false when unset or empty. Throws config_error naming the
/// variable and its value when it is neither true nor false.
[[nodiscard]] bool display_affinity_from_environment();

} // namespace topos::detail
