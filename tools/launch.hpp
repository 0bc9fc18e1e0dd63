// tools/launch.hpp - starting another program for `topos run`, `topos tune`
// and `topos bench sched`: its environment, CPUs and memory policy, set in the
// child between fork and exec.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace topos::cli {

/// How to start a program: the environment to add or remove, where it may run
/// and its memory policy, applied in the child between fork and exec.
struct launch_spec {
    std::vector<std::string> argv;                       ///< program and arguments
    std::map<std::string, std::optional<std::string>> env; ///< value, or nullopt to unset
    std::vector<int> cpus;                               ///< PU OS indices; empty: inherit
    enum class mem_mode { inherit, bind, interleave } memory = mem_mode::inherit;
    std::vector<int> memory_os_nodes;                    ///< kernel node numbers for bind/interleave
};

/// Finds a program as execvp would. Returns the path, or nullopt (with the reason in
/// `why`) when there is none or it cannot be executed.
[[nodiscard]] std::optional<std::string> find_program(const std::string& name, std::string* why = nullptr,
                                                      bool* not_executable = nullptr);

/// Applies env, CPU affinity and memory policy of `spec` to this process. Returns an
/// empty string, or what failed.
[[nodiscard]] std::string apply_launch_spec(const launch_spec& spec);

struct child_result {
    int status = -1;          ///< exit status, 128 + signal when killed, -1 when it did not start
    std::string captured;     ///< the captured stream (see run_child)
    double seconds = 0;       ///< wall time from fork to exit
    bool interrupted = false; ///< Ctrl-C arrived while it ran (it was sent SIGINT)
    std::string start_error;  ///< why it did not start
};

enum class child_output { inherit, discard, capture };

/// Forks, applies `spec` and execs it; stdout and stderr go as asked, and one
/// captured stream is kept (stdout when stdout is captured, else the last 4 KiB of
/// stderr). It runs in its own process group with stdin from /dev/null; a
/// Ctrl-C while it runs is passed on to that group.
[[nodiscard]] child_result run_child(const launch_spec& spec, child_output out, child_output err);

} // namespace topos::cli
