// topos/placement.hpp - OMP_PLACES grammar and the placement planner.
//
// The planner is a pure function of (topology, places, bind policy, thread
// count). It decides which PUs each worker may run on, which NUMA node it
// belongs to, and in which order it looks for work to steal. Because it is
// pure, it is tested on synthetic machines we do not have.
//
// The abstract places follow the machine's layout (hwloc's topology order),
// not its OS numbering, as libgomp and libomp do:
//   threads       one place per PU; the hyperthreads of a core are neighbours.
//   cores         one place per core (a PU under no core is a place alone).
//   ll_caches     one place per last-level cache, where each PU's last level
//                 is its own highest data/unified cache: when cores do not all
//                 have a cache at the same depth, a PU whose highest cache is
//                 shallower gets that cache's place; a PU with no cache gets
//                 its core's place.
//   numa_domains  one place per distinct CPU set of a NUMA node; memory nodes
//                 that share CPUs (DDR plus MCDRAM or a slower tier) are one
//                 place, and placement_plan::place_nodes lists them.
//   sockets       one place per package.
// threads, cores and ll_caches hold every allowed PU exactly once; places of
// every kind are distinct. A list that gives no place (numa_domains where no
// node has an allowed CPU) is a places_error, never an empty plan.
#pragma once

#include <topos/topology.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topos {

/// Thread binding policy, with OMP_PROC_BIND's meaning.
enum class proc_bind {
    disabled, ///< "false": workers are not pinned; places are ignored
    enabled,  ///< "true": pinned; topos distributes as `close`
    primary,  ///< every worker on the first place
    close,    ///< consecutive places, starting from the first
    spread,   ///< spread evenly over the places
};

/// Parses "false", "true", "primary", "master" (deprecated alias), "close",
/// "spread", case-insensitively. Throws config_error naming the value.
[[nodiscard]] proc_bind parse_proc_bind(std::string_view text);
[[nodiscard]] std::string_view to_string(proc_bind b) noexcept;

/// How idle workers wait for work, with OMP_WAIT_POLICY's meaning
/// (runtime_options::wait, TOPOS_WAIT_POLICY, else OMP_WAIT_POLICY).
enum class wait_policy {
    /// Poll for k_wait_poll_auto before yielding and sleeping, when every
    /// worker can have a CPU of its own (the creator's mask holds at least as
    /// many CPUs as the runtime has workers); else yield at once.
    automatic,
    /// Poll for k_wait_poll_active before sleeping, whatever the CPU count:
    /// the fastest start of the next parallel region, for a process that
    /// owns its cores (OpenMP's ACTIVE).
    active,
    /// Never poll: yield at once and sleep soon, leaving the CPUs to other
    /// processes or ranks between parallel regions (OpenMP's PASSIVE).
    passive,
};

/// How long an idle worker polls before it yields, under each policy.
inline constexpr std::chrono::microseconds k_wait_poll_auto{50};
inline constexpr std::chrono::milliseconds k_wait_poll_active{200};

/// Parses "auto", "active" or "passive", case-insensitively, blanks around
/// ignored. Throws config_error naming the value.
[[nodiscard]] wait_policy parse_wait_policy(std::string_view text);
[[nodiscard]] std::string_view to_string(wait_policy p) noexcept;

/// One place: a set of PU OS indices, ascending.
using place = std::vector<int>;

/// Expands an OMP_PLACES list against a topology. Accepts the abstract names
/// threads, cores, ll_caches, numa_domains and sockets, each with an optional
/// "(n)"; explicit places "{0,1,2}", resource intervals "{0:4}" and "{0:4:2}";
/// place intervals "{0:4}:4:4"; and the exclusion operator "!".
/// Throws places_error naming the text on malformed input, and when a place
/// names a PU outside the machine or the process's allowed set.
[[nodiscard]] std::vector<place> parse_places(const topology& topo, std::string_view text);

/// Unset fields take their defaults: places "cores", bind close, and one
/// worker per place.
struct placement_options {
    std::optional<std::string> places;
    std::optional<proc_bind> bind;
    std::optional<unsigned> threads;
    /// Only these PUs (OS indices) are used: each place is cut down to them
    /// and places left empty are dropped (a rank's share, topos/share.hpp).
    /// Unset: every allowed PU.
    std::optional<std::vector<int>> within = std::nullopt;
};

/// How close a victim is to the thief, in the order thieves try them.
enum class steal_level {
    core,   ///< shares a core (or the same place) with the thief
    cache,  ///< shares a cache
    node,   ///< same NUMA node
    remote, ///< another NUMA node; see steal_tier::distance
};
[[nodiscard]] std::string_view to_string(steal_level l) noexcept;

struct steal_tier {
    steal_level level = steal_level::node;
    int distance = 10;              ///< node distance of this tier's victims
    std::vector<unsigned> workers;  ///< victims, in the order to try them
};

struct worker_placement {
    unsigned id = 0;
    unsigned place = 0;          ///< index into placement_plan::places
    std::vector<int> pus;        ///< PUs the worker may run on
    int node = -1;               ///< logical NUMA node; -1 when unbound
    std::vector<unsigned> steal_order; ///< all other workers, nearest first
    std::vector<steal_tier> steal_tiers; ///< steal_order grouped by closeness
};

struct placement_plan {
    proc_bind bind = proc_bind::close;
    std::string places_text;         ///< the places list the plan was made from
    std::vector<place> places;       ///< the expanded place list
    /// For each place, the logical NUMA nodes whose allowed PUs it holds (the
    /// memory behind it), nearest first: by the summed distance from the
    /// nodes of the place's PUs, then by id. A worker's node is the first.
    std::vector<std::vector<int>> place_nodes;
    std::vector<worker_placement> workers;

    /// Logical NUMA nodes that have at least one worker, ascending.
    [[nodiscard]] std::vector<int> nodes() const;
    /// Worker ids whose node is `node`.
    [[nodiscard]] std::vector<unsigned> workers_on_node(int node) const;
};

/// The logical NUMA nodes with allowed PUs in `pus`, nearest first (see
/// placement_plan::place_nodes); empty when no node holds any of them.
[[nodiscard]] std::vector<int> nodes_behind_place(const topology& topo, const place& pus);

/// Upper bound on threads a plan accepts (guards against typos such as 1e9).
inline constexpr unsigned k_max_threads = 4096;

/// Plans worker placement. Threads are distributed over places by the OpenMP
/// rules for close and spread (T < P, T = P and T > P). Throws places_error or
/// config_error on bad options, and places_error when the list gives no place.
[[nodiscard]] placement_plan plan_placement(const topology& topo, const placement_options& opts = {});

/// Fills unset fields from TOPOS_PLACES, TOPOS_PROC_BIND and TOPOS_NUM_THREADS.
/// Fields already set win over the environment. Throws config_error naming the
/// variable and its value when one is invalid.
[[nodiscard]] placement_options with_environment(placement_options opts);

/// Parses a positive thread count ("8"). Throws config_error naming `what`.
[[nodiscard]] unsigned parse_thread_count(std::string_view text, std::string_view what);

} // namespace topos
