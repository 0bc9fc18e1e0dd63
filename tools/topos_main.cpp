// tools/topos_main.cpp - the `topos` command: argument parsing and exit codes
// (run_command_line, see command_line.hpp; main() is in tools/main.cpp).
//
// Exit status: 0 on success (and for --help, --version); 2 for any input the
// user got wrong (flags, values, TOPOS_* variables, topology files), reported
// as one line "topos: error: <message>" on stderr with nothing on stdout; 1
// for an internal failure or when the output cannot be written.
#include "command_line.hpp"
#include "command_set.hpp"
#include "commands.hpp"

#include <topos/error.hpp>
#include <topos/version.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

namespace {

using topos::cli::k_exit_internal;
using topos::cli::k_exit_usage;
using topos::cli::report_error;

// What the command line asked for; filled by CLI11 during parsing.
struct command_line {
    topos::cli::info_options info;
    topos::cli::places_options places;
};

// The streams of the command line being run (run_command_line sets it).
const topos::cli::command_line_io k_process_io{};
const topos::cli::command_line_io* g_io = &k_process_io;

std::ostream& err_stream() { return g_io->err != nullptr ? *g_io->err : std::cerr; }

topos::cli::command_set define_commands(CLI::App& app, command_line& args) {
    app.set_version_flag("--version", std::string("topos ") + TOPOS_VERSION_STRING);
    app.require_subcommand(0, 1);
    // A repeated flag takes its last value, so an alias can be overridden.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.footer("Run 'topos <command> --help' for a command's options.\n"
               "Environment: TOPOS_TOPOLOGY, TOPOS_PLACES, TOPOS_PROC_BIND, TOPOS_NUM_THREADS and TOPOS_SHARE\n"
               "supply defaults; a flag always wins over its variable.");

    struct {
        CLI::App* info;
        CLI::App* places;
    } sub{};
    sub.info = app.add_subcommand("info", "Show the machine's NUMA nodes, distances, caches, cores and PUs");
    sub.info->add_option("--topology", args.info.topology,
                         "'host', 'synthetic:<hwloc description>' or an hwloc .xml file "
                         "(default: $TOPOS_TOPOLOGY, else host)")
        ->type_name("SPEC");
    sub.info->add_flag("--json", args.info.json, "Print a JSON document instead of text");
    sub.info->footer("Example: topos info --topology 'synthetic:pack:2 numa:2 l3:1 core:4 pu:2'");

    sub.places = app.add_subcommand("places", "Show where workers would run and whom they steal from");
    sub.places->add_option("--places", args.places.places,
                           "OMP_PLACES list: threads, cores, ll_caches, numa_domains, sockets, optional (n), "
                           "or explicit {0:4}:2:4 lists (default: $TOPOS_PLACES, else cores)")
        ->type_name("LIST");
    sub.places->add_option("--bind", args.places.bind,
                           "close, spread, primary, true or false (default: $TOPOS_PROC_BIND, else close)")
        ->type_name("POLICY");
    sub.places->add_option("--threads", args.places.threads,
                           "Number of workers (default: $TOPOS_NUM_THREADS, else one per place)")
        ->type_name("N");
    sub.places->add_option("--topology", args.places.topology,
                           "'host', 'synthetic:<hwloc description>' or an hwloc .xml file "
                           "(default: $TOPOS_TOPOLOGY, else host)")
        ->type_name("SPEC");
    sub.places->add_option("--ranks", args.places.ranks,
                           "Plan for one of K ranks on this host: whole NUMA nodes or a share of the cores "
                           "(default: the launcher's variables, OMPI_COMM_WORLD_LOCAL_SIZE, ...)")
        ->type_name("K");
    sub.places->add_option("--rank", args.places.rank, "Which of the --ranks to plan for, 0 to K-1")->type_name("I");
    sub.places->add_flag("--json", args.places.json, "Print a JSON document instead of text");
    sub.places->footer("Example: topos places --topology 'synthetic:pack:2 numa:2 core:2 pu:2' --bind spread --threads 4");

    topos::cli::command_set commands;
    commands.push_back({sub.info, [&args] { return topos::cli::write_stdout(topos::cli::run_info(args.info)); }});
    commands.push_back({sub.places, [&args] { return topos::cli::write_stdout(topos::cli::run_places(args.places)); }});
    topos::cli::add_shm_commands(app, commands);
    topos::cli::add_bench_commands(app, commands);
    return commands;
}

// The top-level commands, for "expected 'info', 'places', ... or 'run'".
std::string command_names(const CLI::App& app) {
    const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
    std::string out;
    for (std::size_t i = 0; i < subs.size(); ++i) {
        out += (i == 0 ? "" : (i + 1 == subs.size() ? " or " : ", "));
        out += "'" + subs[i]->get_name() + "'";
    }
    return out;
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        out += (out.empty() ? "" : " ") + w;
    }
    return out;
}

// CLI11's own report spans several lines; ours is one.
int report_parse_error(const CLI::App& app, const CLI::ParseError& e) {
    const auto chosen = app.get_subcommands();
    const auto stray = app.remaining();
    if (chosen.empty() && !stray.empty() && !stray.front().starts_with('-')) {
        report_error("unknown command '" + stray.front() + "'; expected " + command_names(app) + " (see 'topos --help')");
        return k_exit_usage;
    }
    // The innermost subcommand the user named (e.g. `shm rm`) owns the help.
    std::string help = "topos";
    const CLI::App* deepest = &app;
    while (!deepest->get_subcommands().empty()) {
        deepest = deepest->get_subcommands().front();
        help += " " + deepest->get_name();
    }
    help += " --help";
    std::string message = e.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
        message = "unexpected argument '" + join(deepest == &app ? stray : deepest->remaining()) + "'";
    }
    report_error(message + " (see '" + help + "')");
    return k_exit_usage;
}

} // namespace

namespace topos::cli {

// One line, whatever the message holds.
void report_error(std::string_view message) {
    std::string line(message);
    for (char& c : line) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    err_stream() << "topos: error: " << line << std::endl;
}

// Writes all of `text` to fd 1, so a full pipe or closed stdout is noticed.
// A reader that went away (EPIPE) is not an error worth a message.
int write_stdout(std::string_view text) {
    if (g_io->out != nullptr) {
        *g_io->out << text;
        return g_io->out->good() ? 0 : k_exit_internal;
    }
    if (g_io->stdout_closed) {
        report_error("cannot write the output: standard output is closed");
        return k_exit_internal;
    }
    while (!text.empty()) {
        const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            if (errno != EPIPE) {
                report_error(std::string("cannot write the output: ") + std::strerror(errno));
            }
            return k_exit_internal;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

} // namespace topos::cli

namespace {

// "info", "shm rm": the names from the top-level command down to `leaf`.
std::string command_path(const CLI::App* leaf) {
    std::string path;
    for (const CLI::App* a = leaf; a != nullptr && a->get_parent() != nullptr; a = a->get_parent()) {
        path = a->get_name() + (path.empty() ? "" : " " + path);
    }
    return path;
}

int run_command(const topos::cli::command_set& commands) {
    try {
        for (const auto& c : commands) {
            if (c.app->parsed()) {
                if (g_io->may_run && !g_io->may_run(command_path(c.app))) {
                    return topos::cli::k_exit_ok;
                }
                return c.action();
            }
        }
        report_error("no command given (see 'topos --help')");
        return k_exit_usage;
    } catch (const topos::error& e) {
        report_error(e.what());
        return k_exit_usage;
    } catch (const std::exception& e) {
        report_error(std::string("internal error: ") + e.what());
        return k_exit_internal;
    }
}

} // namespace

namespace topos::cli {

int run_command_line(int argc, const char* const* argv, const command_line_io& io) {
    // The streams are this call's until it returns, however it returns.
    struct use_io {
        explicit use_io(const command_line_io& io) { g_io = &io; }
        ~use_io() { g_io = &k_process_io; }
        use_io(const use_io&) = delete;
        use_io& operator=(const use_io&) = delete;
    } scope(io);
    std::ostream& out = io.out != nullptr ? *io.out : std::cout;

    CLI::App app("topos: inspect the NUMA topology, plan and test thread placement, manage shared segments, measure locality", "topos");
    command_line args;
    const command_set commands = define_commands(app, args);
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e, out, err_stream());
    } catch (const CLI::ParseError& e) {
        return report_parse_error(app, e);
    } catch (const std::exception& e) {
        // Nothing leaves run_command_line: an option callback that throws is
        // an internal error, reported like one.
        report_error(std::string("internal error: ") + e.what());
        return k_exit_internal;
    }
    if (app.get_subcommands().empty()) {
        err_stream() << app.help();
        return k_exit_usage;
    }
    return run_command(commands);
}

} // namespace topos::cli
