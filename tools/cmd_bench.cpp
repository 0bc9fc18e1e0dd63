// tools/cmd_bench.cpp - `topos bench`, `topos tune` and `topos run` (not yet written).
#include "command_set.hpp"

namespace topos::cli {

void add_bench_commands(CLI::App& /*app*/, command_set& /*out*/) {}

} // namespace topos::cli
