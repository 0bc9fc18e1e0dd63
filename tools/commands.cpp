// tools/commands.cpp - `topos info` and `topos places`.
#include "commands.hpp"

#include "report_json.hpp"
#include "report_text.hpp"

#include "topology/config.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/placement.hpp>
#include <topos/share.hpp>

#include <cstdlib>
#include <optional>
#include <ostream>
#include <sstream>
#include <string_view>
#include <vector>

namespace topos::cli {
namespace {

// Says which flag or variable a library message is about, unless the message
// already does.
template <class Error>
[[noreturn]] void rethrow_with_source(std::string_view source, const Error& e) {
    const std::string_view message = e.what();
    if (message.find(source) != std::string_view::npos) {
        throw e;
    }
    throw Error(std::string(source) + ": " + std::string(message));
}

// Text the user typed (a --topology spec) may hold bytes that are not UTF-8;
// they are written as U+FFFD rather than failing the whole document.
std::string dump(const nlohmann::ordered_json& doc) {
    return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';
}

// Whether places come from a variable (TOPOS_PLACES, or OMP_PLACES unless
// TOPOS_IGNORE_OMP): then a rank's share is not taken.
bool places_from_environment() {
    const auto set = [](const char* name) {
        const char* value = std::getenv(name);
        return value != nullptr && *value != '\0';
    };
    return set("TOPOS_PLACES") || (set("OMP_PLACES") && !detail::omp_variables_ignored());
}

placement_options options_from_flags(const places_options& opts) {
    placement_options out;
    out.places = opts.places;
    if (opts.bind) {
        try {
            out.bind = parse_proc_bind(*opts.bind);
        } catch (const config_error& e) {
            rethrow_with_source("--bind", e);
        }
    }
    if (opts.threads) {
        out.threads = parse_thread_count(*opts.threads, "--threads");
    }
    return out;
}

// --ranks/--rank plan for that rank (share on, whatever binds this process);
// without them, what this process would get from its launcher's variables.
rank_share share_from_flags(const places_options& opts, const topology& topo, bool places_explicit) {
    if (!opts.ranks && !opts.rank) {
        return decide_share(topo, std::nullopt, std::nullopt, places_explicit);
    }
    if (!opts.ranks || !opts.rank) {
        throw config_error(opts.ranks ? "--ranks needs --rank I, the rank to plan for (0 to K-1)"
                                      : "--rank needs --ranks K, the number of ranks on the host");
    }
    // A count of up to 7 digits, or nothing.
    const auto number = [](const std::string& text) -> std::optional<unsigned> {
        if (text.empty() || text.size() > 7 || text.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        return static_cast<unsigned>(std::stoul(text));
    };
    const auto size = number(*opts.ranks);
    if (!size || *size == 0) {
        throw config_error("--ranks: '" + *opts.ranks + "' is not a number of ranks; expected a whole number from 1");
    }
    const auto rank = number(*opts.rank);
    if (!rank) {
        throw config_error("--rank: '" + *opts.rank + "' is not a rank; expected a whole number from 0 to " +
                           std::to_string(*size - 1));
    }
    return decide_share(topo, share_mode::on, local_rank{.rank = *rank, .size = *size}, places_explicit,
                        "--ranks/--rank");
}

void add_share_json(nlohmann::ordered_json& doc, const rank_share& share) {
    if (!share.summary.empty() || !share.problems.empty()) {
        doc["share"] = {{"taken", share.taken}, {"summary", share.summary}, {"pus", share.pus},
                        {"nodes", share.nodes}, {"problems", share.problems}};
    }
}

void write_share(std::ostream& out, const rank_share& share) {
    if (!share.summary.empty()) {
        out << "share: " << share.summary << '\n';
    }
    for (const auto& line : share.problems) {
        out << "note: " << line << '\n';
    }
}

} // namespace

topology load_topology(const std::optional<std::string>& spec) {
    if (!spec) {
        return topology::from_env();
    }
    try {
        return topology::from_spec(*spec);
    } catch (const topology_error& e) {
        rethrow_with_source("--topology", e);
    }
}

// The allocator's view of this machine: what the kernel lets topos do with
// memory. Only meaningful when the topology is the machine we run on.
std::vector<std::string> memory_notes(const memory_status& st) {
    std::vector<std::string> lines;
    std::istringstream in(st.note);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

std::string run_info(const info_options& opts) {
    const topology topo = load_topology(opts.topology);
    const bool host = topo.is_this_system();
    const rank_share share = decide_share(topo, std::nullopt, std::nullopt, places_from_environment());
    if (opts.json) {
        auto doc = topology_to_json(topo);
        add_share_json(doc, share);
        if (host) {
            const memory_status st = get_memory_status();
            doc["memory"] = {{"numa_syscalls", st.numa_syscalls},
                             {"huge_pages", st.huge_pages},
                             {"page_size", st.page_size},
                             {"notes", memory_notes(st)}};
        }
        return dump(doc);
    }
    std::ostringstream out;
    write_topology_text(out, topo);
    write_share(out, share);
    if (host) {
        const memory_status st = get_memory_status();
        out << "memory: page placement " << (st.numa_syscalls ? "available" : "unavailable")
            << " (mbind, move_pages), transparent huge pages " << (st.huge_pages ? "available" : "unavailable")
            << ", page size " << st.page_size << " B\n";
        for (const auto& line : memory_notes(st)) {
            out << "note: " << line << '\n';
        }
    }
    return out.str();
}

std::string run_places(const places_options& opts) {
    // Flags first, then TOPOS_* and OMP_* fill what they left unset; the
    // planner's message names the variable a bad places list came from. A
    // rank's share (--ranks/--rank or the launcher's variables) narrows the places.
    const topology topo = load_topology(opts.topology);
    detail::placement_sources sources;
    placement_options flags = options_from_flags(opts);
    const rank_share share = share_from_flags(opts, topo, with_environment(flags).places.has_value());
    if (share.taken) {
        flags.within = share.pus;
    }
    placement_plan plan;
    try {
        plan = detail::plan_from_environment(topo, flags, &sources);
    } catch (const places_error& e) {
        if (opts.places) {
            rethrow_with_source("--places", e);
        }
        throw;
    }
    // Where each setting came from: a flag, a variable, or the default.
    const auto source = [](const std::string& from, const char* flag) { return from == "code" ? flag : from; };
    const std::string places_from = source(sources.places, "--places");
    const std::string bind_from = source(sources.bind, "--bind");
    const std::string threads_from = source(sources.threads, "--threads");
    if (opts.json) {
        auto doc = plan_to_json(plan);
        doc["source"] = topo.source_spec();
        doc["setting_sources"] = {{"places", places_from}, {"bind", bind_from}, {"threads", threads_from}};
        add_share_json(doc, share);
        return dump(doc);
    }
    std::ostringstream out;
    write_share(out, share);
    write_plan_text(out, topo, plan);
    std::string text = out.str();
    const std::size_t blank = text.find("\n\n");
    text.insert(blank == std::string::npos ? text.size() : blank + 1,
                "from:     places " + places_from + ", bind " + bind_from + ", threads " + threads_from + '\n');
    return text;
}

} // namespace topos::cli
