// tools/command_set.hpp - how each group of `topos` subcommands plugs into main.
//
// A group (shm, bench/tune/run, ...) lives in its own files and adds its
// subcommands with an add_*_commands() function. Each subcommand comes back
// with an action that main calls after parsing succeeded.
//
// Contract for actions: return the exit status (0 success, 1 internal or
// output failure, or the child's status for commands that run programs).
// Throw topos::error (or a subclass) for input the user got wrong: main turns
// it into one line "topos: error: <message>" on stderr and exit status 2.
// Write results with write_stdout() so a closed or full stdout is noticed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string_view>
#include <vector>

namespace topos::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_internal = 1;
inline constexpr int k_exit_usage = 2;

struct command_entry {
    CLI::App* app = nullptr;     ///< the subcommand CLI11 parsed into
    std::function<int()> action; ///< runs it; see the contract above
};
using command_set = std::vector<command_entry>;

/// Writes all of `text` to fd 1; returns 0, or 1 after reporting why not.
int write_stdout(std::string_view text);

/// "topos: error: <message>" on stderr, on one line whatever `message` holds.
void report_error(std::string_view message);

// The groups. Each adds its subcommands to `app` and their actions to `out`.
void add_shm_commands(CLI::App& app, command_set& out);   // tools/cmd_shm.cpp
void add_bench_commands(CLI::App& app, command_set& out); // tools/cmd_bench.cpp: bench, tune, run

} // namespace topos::cli
