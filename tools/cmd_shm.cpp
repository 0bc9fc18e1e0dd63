// tools/cmd_shm.cpp - `topos shm list` and `topos shm rm` (not yet written).
#include "command_set.hpp"

namespace topos::cli {

void add_shm_commands(CLI::App& /*app*/, command_set& /*out*/) {}

} // namespace topos::cli
