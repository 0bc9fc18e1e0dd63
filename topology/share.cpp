// topology/share.cpp - how a process shares the machine: the calling
// thread's role (TOPOS_CALLER), and the rule that gives each local rank of a
// parallel job its share of the host (TOPOS_SHARE, the launchers' variables).
// The rule is a pure function of the topology and the rank (share_for_rank),
// so it is tested on synthetic machines; topos/share.hpp describes it.
#include <topos/error.hpp>
#include <topos/share.hpp>

#include "topology/config.hpp"
#include "topology/places_internal.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace topos {
namespace {

// A whole core's allowed PUs (or a PU under no core), and its node.
struct core_unit {
    std::vector<int> pus;
    int node = -1;
};

// The allowed PUs grouped by core, cores in topology order.
std::vector<core_unit> cores_in_order(const topology& topo) {
    std::vector<core_unit> units;
    int current_core = -2;
    const auto all = topo.pus();
    for (int pu : topo.pus_in_topology_order()) {
        const auto it = std::lower_bound(all.begin(), all.end(), pu,
                                         [](const pu_info& p, int os) { return p.os_index < os; });
        const int core = it != all.end() && it->os_index == pu ? it->core : -1;
        const int node = it != all.end() && it->os_index == pu ? it->node : -1;
        if (core < 0 || core != current_core) {
            units.push_back(core_unit{.pus = {}, .node = node});
        }
        units.back().pus.push_back(pu);
        current_core = core;
    }
    return units;
}

std::string plural(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// [lo, hi) of `count` items for part `part` of `parts`, contiguous and balanced.
std::pair<std::size_t, std::size_t> slice(std::size_t count, unsigned part, unsigned parts) {
    return {count * part / parts, count * (part + 1) / parts};
}

std::string who_text(local_rank who, const std::string& source) {
    return "local rank " + std::to_string(who.rank) + " of " + std::to_string(who.size) +
           (source.empty() ? std::string() : " (" + source + ")");
}

std::vector<int> sorted_pus(const std::vector<core_unit>& units, std::size_t lo, std::size_t hi) {
    std::vector<int> out;
    for (std::size_t i = lo; i < hi; ++i) {
        out.insert(out.end(), units[i].pus.begin(), units[i].pus.end());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Gives the rank part `part` of `parts` of `units` (whole cores): a
// contiguous balanced slice, or, with more parts than cores, one core that
// several ranks share (said in `share.problems`).
void take_cores(rank_share& share, const std::vector<core_unit>& units, unsigned part, unsigned parts,
                const std::string& where) {
    const std::size_t count = units.size();
    if (count >= parts) {
        const auto [lo, hi] = slice(count, part, parts);
        share.pus = sorted_pus(units, lo, hi);
        share.summary += ": " + plural(hi - lo, "core", "cores") + " of " + std::to_string(count) + where + ", PUs " +
                         format_cpu_list(share.pus);
        return;
    }
    const std::size_t at = count * part / parts;
    share.pus = sorted_pus(units, at, at + 1);
    const std::size_t crowd = (parts + count - 1) / count;
    share.summary += ": 1 core of " + std::to_string(count) + where + " (shared), PUs " + format_cpu_list(share.pus);
    share.problems.push_back(who_text(*share.rank, share.source) + ": " + std::to_string(parts) + " ranks share " +
                             plural(count, "core", "cores") + where + ", so up to " + std::to_string(crowd) +
                             " ranks run on each; this rank takes PUs " + format_cpu_list(share.pus) +
                             " (start fewer ranks per host, or bind them in the launcher)");
}

// A count from a launcher variable: digits only, at most a million.
std::optional<unsigned> parse_count(const std::string& text) {
    const std::string_view v = detail::trim(text);
    if (v.empty() || v.size() > 7 || !std::all_of(v.begin(), v.end(), detail::is_digit)) {
        return std::nullopt;
    }
    const unsigned long value = std::stoul(std::string(v));
    if (value > 1000000) {
        return std::nullopt;
    }
    return static_cast<unsigned>(value);
}

// Slurm's "2(x3),1": the count for node `index` (0 when the index is unknown).
std::optional<unsigned> tasks_on_node(const std::string& list, unsigned index) {
    unsigned node = 0;
    std::size_t at = 0;
    while (at <= list.size()) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, comma - at);
        const std::size_t paren = item.find("(x");
        const auto count = parse_count(item.substr(0, paren));
        std::optional<unsigned> repeat = 1U;
        if (paren != std::string::npos) {
            repeat = item.back() == ')' ? parse_count(item.substr(paren + 2, item.size() - paren - 3)) : std::nullopt;
        }
        if (!count || !repeat || *repeat == 0) {
            return std::nullopt;
        }
        if (index < node + *repeat) {
            return count;
        }
        node += *repeat;
        at = comma + 1;
    }
    return std::nullopt; // the list names fewer nodes than the index
}

std::string quoted_env(const char* name, const std::optional<std::string>& value) {
    return std::string(name) + (value ? "='" + detail::printable(*value) + "'" : std::string(" unset"));
}

// One launcher's rank and size variables. Nothing when neither is set;
// a problem line when they do not give a rank below the size.
std::optional<local_rank> read_pair(const char* launcher, const char* rank_name, const char* size_name,
                                    std::optional<std::string> size_text, const char* size_label, bool& seen,
                                    std::string& source, std::vector<std::string>& problems) {
    const auto rank_text = detail::environment_value(rank_name);
    if (!rank_text) {
        return std::nullopt;
    }
    seen = true;
    source = std::string(launcher) + ": " + rank_name + ", " + size_label;
    const auto rank = parse_count(*rank_text);
    const auto size = size_text ? parse_count(*size_text) : std::nullopt;
    if (rank && size && *size > 0 && *rank < *size) {
        return local_rank{.rank = *rank, .size = *size};
    }
    problems.push_back(std::string(launcher) + "'s " + quoted_env(rank_name, rank_text) + " and " +
                       quoted_env(size_name, size_text) +
                       " do not give a local rank below the local size, so topos cannot tell this rank's share; "
                       "no share was taken and every allowed PU is used");
    return std::nullopt;
}

} // namespace

caller_role parse_caller_role(std::string_view text) {
    const std::string v = detail::lowercase(detail::trim(text));
    if (v == "worker") {
        return caller_role::worker;
    }
    if (v == "guest") {
        return caller_role::guest;
    }
    throw config_error("caller role '" + detail::printable(text) + "' is not valid; expected worker or guest");
}

std::string_view to_string(caller_role r) noexcept { return r == caller_role::worker ? "worker" : "guest"; }

share_mode parse_share_mode(std::string_view text) {
    const std::string v = detail::lowercase(detail::trim(text));
    if (v == "off" || v == "false" || v == "0" || v == "no") {
        return share_mode::off;
    }
    if (v == "on" || v == "true" || v == "1" || v == "yes") {
        return share_mode::on;
    }
    if (v == "auto") {
        return share_mode::automatic;
    }
    throw config_error("share mode '" + detail::printable(text) + "' is not valid; expected off, on or auto");
}

std::string_view to_string(share_mode m) noexcept {
    switch (m) {
    case share_mode::off: return "off";
    case share_mode::on: return "on";
    case share_mode::automatic: return "auto";
    }
    return "unknown";
}

rank_share share_for_rank(const topology& topo, local_rank who, const std::string& source) {
    const std::string named = source.empty() ? std::string("local rank") : source;
    if (who.size == 0) {
        throw config_error(named + ": a local size of 0 ranks is not valid; expected 1 or more");
    }
    if (who.rank >= who.size) {
        throw config_error(named + ": local rank " + std::to_string(who.rank) + " is not below the local size " +
                           std::to_string(who.size) + "; expected a rank from 0 to " + std::to_string(who.size - 1));
    }
    rank_share share;
    share.rank = who;
    share.source = source;
    share.summary = who_text(who, source);
    if (who.size == 1) {
        share.summary += ": the only rank on this host, all allowed PUs";
        return share;
    }
    share.taken = true;
    const std::vector<core_unit> units = cores_in_order(topo);
    std::vector<const numa_node_info*> nodes;
    for (const auto& n : topo.numa_nodes()) {
        if (!n.pus.empty()) {
            nodes.push_back(&n);
        }
    }
    const auto m = static_cast<unsigned>(nodes.size());
    if (m >= who.size && m % who.size == 0) {
        // Whole nodes: M/K consecutive nodes per rank.
        const unsigned per = m / who.size;
        for (unsigned i = who.rank * per; i < (who.rank + 1) * per; ++i) {
            share.nodes.push_back(nodes[i]->id);
            share.pus.insert(share.pus.end(), nodes[i]->pus.begin(), nodes[i]->pus.end());
        }
        std::sort(share.pus.begin(), share.pus.end());
        std::string ids;
        for (int id : share.nodes) {
            ids += (ids.empty() ? "" : ",") + std::to_string(id);
        }
        share.summary += ": NUMA node" + std::string(per == 1 ? " " : "s ") + ids + " of " + std::to_string(m) +
                         ", PUs " + format_cpu_list(share.pus);
        return share;
    }
    if (m > 0 && who.size % m == 0) {
        // K/M ranks per node, each a contiguous share of its node's cores.
        const unsigned per_node = who.size / m;
        const numa_node_info& node = *nodes[who.rank / per_node];
        std::vector<core_unit> mine;
        std::copy_if(units.begin(), units.end(), std::back_inserter(mine),
                     [&](const core_unit& u) { return u.node == node.id; });
        take_cores(share, mine, who.rank % per_node, per_node, " on NUMA node " + std::to_string(node.id));
        return share;
    }
    take_cores(share, units, who.rank, who.size, std::string());
    return share;
}

std::optional<local_rank> local_rank_from_environment(std::string& source, std::vector<std::string>& problems) {
    bool seen = false;
    // Open MPI's mpirun (also inside a Slurm allocation: it knows better than
    // the allocation's variables, which its ranks inherit).
    if (auto r = read_pair("Open MPI", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                           detail::environment_value("OMPI_COMM_WORLD_LOCAL_SIZE"), "OMPI_COMM_WORLD_LOCAL_SIZE", seen,
                           source, problems)) {
        return r;
    }
    if (seen) {
        return std::nullopt;
    }
    // MPICH's and Intel MPI's Hydra.
    if (auto r = read_pair("MPICH/Hydra", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
                           detail::environment_value("MPI_LOCALNRANKS"), "MPI_LOCALNRANKS", seen, source, problems)) {
        return r;
    }
    if (seen) {
        return std::nullopt;
    }
    // Slurm's srun. Only inside a job step: a batch script has SLURM_LOCALID
    // and the tasks per node too, but it is no rank of anything.
    if (!detail::environment_value("SLURM_STEP_ID") && !detail::environment_value("SLURM_STEPID")) {
        return std::nullopt;
    }
    std::optional<std::string> size_text;
    const char* size_label = "SLURM_STEP_TASKS_PER_NODE";
    for (const char* list_name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
        if (auto list = detail::environment_value(list_name)) {
            unsigned index = 0;
            if (auto id = detail::environment_value("SLURM_NODEID")) {
                index = parse_count(*id).value_or(0);
            }
            const auto count = tasks_on_node(*list, index);
            size_text = count ? std::to_string(*count) : *list;
            size_label = list_name;
            break;
        }
    }
    if (!size_text) {
        size_text = detail::environment_value("SLURM_NTASKS_PER_NODE");
        size_label = "SLURM_NTASKS_PER_NODE";
    }
    return read_pair("Slurm", "SLURM_LOCALID", size_label, size_text, size_label, seen, source, problems);
}

namespace detail {

caller_role caller_from_environment() {
    const auto text = environment_value("TOPOS_CALLER");
    if (!text) {
        return caller_role::worker;
    }
    try {
        return parse_caller_role(*text);
    } catch (const config_error& e) {
        throw config_error(std::string("TOPOS_CALLER: ") + e.what());
    }
}

} // namespace detail

rank_share decide_share(const topology& topo, std::optional<share_mode> mode, std::optional<local_rank> rank,
                        bool places_explicit, const std::string& rank_source) {
    share_mode m = share_mode::automatic;
    if (mode) {
        m = *mode;
    } else if (auto text = detail::environment_value("TOPOS_SHARE")) {
        try {
            m = parse_share_mode(*text);
        } catch (const config_error& e) {
            throw config_error(std::string("TOPOS_SHARE: ") + e.what());
        }
    }
    rank_share share;
    std::string source;
    std::vector<std::string> problems;
    if (rank) {
        // Checked whatever the mode: a rank out of range in code is a bug to report.
        share = share_for_rank(topo, *rank, rank_source);
        source = rank_source;
    } else {
        rank = local_rank_from_environment(source, problems);
    }
    const auto finish = [&](rank_share s) {
        s.mode = m;
        s.problems.insert(s.problems.begin(), problems.begin(), problems.end());
        return s;
    };
    if (!rank) {
        rank_share none;
        if (m == share_mode::on && problems.empty()) {
            none.problems.push_back("TOPOS_SHARE=on, but no local rank is known (no OMPI_COMM_WORLD_LOCAL_RANK, "
                                    "MPI_LOCALRANKID or SLURM_LOCALID in an srun step): every allowed PU is used");
        }
        return finish(std::move(none));
    }
    rank_share kept;
    kept.rank = rank;
    kept.source = source;
    kept.summary = who_text(*rank, source);
    if (places_explicit) {
        kept.summary += ": not taken, the places were given explicitly";
        return finish(std::move(kept));
    }
    if (m == share_mode::off) {
        kept.summary += ": not taken, sharing is off";
        return finish(std::move(kept));
    }
    if (m == share_mode::automatic && topo.affinity_restricted() && rank->size > 1) {
        std::vector<int> bound;
        for (const auto& p : topo.pus()) {
            bound.push_back(p.os_index);
        }
        kept.summary += ": not taken, the launcher bound this process already (PUs " + format_cpu_list(bound) + ")";
        return finish(std::move(kept));
    }
    if (share.summary.empty()) {
        share = share_for_rank(topo, *rank, source);
    }
    return finish(std::move(share));
}

} // namespace topos
