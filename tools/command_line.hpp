// tools/command_line.hpp - the whole `topos` command as a function, so that a
// program (the command-line fuzzer, tests/fuzz/fuzz_cli.cpp) can run one
// command line in its own process and look at the result.
//
// run_command_line parses `argv`, runs the command and returns the exit status
// (see topos_main.cpp for their meaning); it never calls exit(), and every
// error, including a usage error, comes back as a status with its one line on
// `err`. It is not reentrant: the output streams are process-wide while it
// runs, as a command-line program's are.
#pragma once

#include <functional>
#include <iosfwd>
#include <string_view>

namespace topos::cli {

struct command_line_io {
    std::ostream* out = nullptr; ///< a command's output; null: fd 1, written by write_stdout()
    std::ostream* err = nullptr; ///< error lines and help; null: std::cerr
    /// Was fd 1 closed when the program started (see tools/main.cpp)? Then a
    /// command reports it instead of writing.
    bool stdout_closed = false;
    /// Asked after a successful parse with the command's path ("info", "shm rm",
    /// "bench latency"); when it says false the command is not run and the
    /// status is 0. Unset: every command runs. The fuzzer parses `bench`,
    /// `run` and `shm` lines but runs only `info` and `places`.
    std::function<bool(std::string_view)> may_run;
};

/// Runs one `topos` command line: argv[0] is the program name.
int run_command_line(int argc, const char* const* argv, const command_line_io& io = {});

} // namespace topos::cli
