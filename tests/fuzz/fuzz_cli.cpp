// tests/fuzz/fuzz_cli.cpp - the `topos` command line, parsed and run in this
// process (tools/command_line.hpp).
//
// Input: the arguments after "topos", separated by NUL bytes. Every command
// line is parsed; `info` and `places` also run (on output streams of this
// harness, never fd 1), while `bench`, `tune`, `run` and `shm` stop after
// parsing: they would measure, start programs or touch /dev/shm. The
// contract checked: exit status 0 or 2, never 1 (an internal error) and
// never an exception; a usage error is one line "topos: error: ..." on
// stderr with nothing on stdout.
#include "tests/fuzz/fuzz_support.hpp"

#include "tools/command_line.hpp"

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern "C" char** environ;

// hwloc reads XML through a plugin (hwloc_xml_libxml.so) that it unloads when
// the topology is destroyed, so LeakSanitizer's fast unwinder cannot say that
// a leak it reports at exit came from hwloc (tests/fuzz/lsan.supp names
// libhwloc.so); the slow unwinder records the whole stack at each malloc.
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

namespace {

using topos::fuzz::check;

constexpr std::size_t k_max_args = 64;

} // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    // The developer's TOPOS_* settings must not change what an input does.
    std::vector<std::string> names;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        if (entry.starts_with("TOPOS_")) {
            names.emplace_back(entry.substr(0, entry.find('=')));
        }
    }
    for (const auto& n : names) {
        ::unsetenv(n.c_str());
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> words{"topos"};
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    while (!rest.empty() && words.size() <= k_max_args) {
        const auto end = rest.find('\0');
        words.emplace_back(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    std::vector<const char*> argv;
    for (const auto& w : words) {
        argv.push_back(w.c_str());
    }
    argv.push_back(nullptr);

    std::ostringstream out;
    std::ostringstream err;
    const topos::cli::command_line_io io{
        .out = &out,
        .err = &err,
        .stdout_closed = false,
        .may_run = [](std::string_view command) { return command == "info" || command == "places"; }};
    const int status = topos::cli::run_command_line(static_cast<int>(words.size()), argv.data(), io);

    const std::string e = err.str();
    check(status == 0 || status == 2, "exit status is neither 0 nor 2", std::to_string(status) + ": " + e);
    if (status == 2 && e.starts_with("topos: error: ")) {
        check(e.find('\n') == e.size() - 1, "a usage error of more than one line", e);
        check(out.str().empty(), "a usage error that also wrote to stdout", out.str());
    } else if (status == 2) {
        // No command: the help goes to stderr.
        check(e.find("Usage") != std::string::npos || e.find("usage") != std::string::npos,
              "exit status 2 without an error line or the usage", e);
    }
    return 0;
}
