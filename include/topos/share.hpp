// topos/share.hpp - how a runtime shares the machine: with the thread that
// calls it (caller_role) and with the other processes of a parallel job on
// this host (share_mode, local_rank, rank_share).
//
// The calling thread (runtime_options::caller, TOPOS_CALLER)
//   worker (default)  the thread that calls into the runtime from outside
//                     (parallel_for, parallel_reduce, parallel_invoke,
//                     task_group::wait) takes worker slot 0 while it is
//                     inside, pinned to slot 0's place when the plan binds,
//                     and the runtime starts N-1 threads of its own: a loop
//                     from main uses exactly N threads, as in OpenMP and
//                     oneTBB. One outside thread holds slot 0 at a time;
//                     others join as guests (runtime.hpp).
//   guest             the runtime starts N threads; an outside caller helps
//                     through a guest slot, unpinned (N+1 threads compete).
//
// Ranks take their share (runtime_options::share and ::rank, TOPOS_SHARE)
//   When the launcher says that this process is local rank I of K on this
//   host (Open MPI OMPI_COMM_WORLD_LOCAL_RANK/_SIZE, MPICH/Hydra
//   MPI_LOCALRANKID/MPI_LOCALNRANKS, Slurm SLURM_LOCALID with the tasks per
//   node) but left it free to run on every CPU, the default plan takes this
//   rank's share of the allowed PUs instead of all of them:
//     - the NUMA nodes with allowed PUs split evenly (M nodes, K divides M):
//       M/K whole consecutive nodes per rank;
//     - K a multiple of M: K/M ranks per node, each a contiguous share of its
//       node's cores;
//     - otherwise a contiguous share of all cores, in topology order;
//     - more ranks than cores: one core per rank, shared by up to ceil(K/C)
//       ranks, and runtime::degraded() says so.
//   Cores are never split: a rank gets whole cores (all their PUs).
//   A process the launcher bound already (its affinity mask hides part of
//   the machine) keeps its binding: no share is taken again, unless
//   TOPOS_SHARE=on. Explicit places (TOPOS_PLACES, runtime_options::places)
//   always win. Launcher variables that contradict each other or are not
//   numbers give no share, and degraded() says why.
#pragma once

#include <topos/topology.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topos {

/// Who runs a runtime's work from outside: see the top of this header.
enum class caller_role {
    worker, ///< the caller takes worker slot 0; the runtime starts N-1 threads
    guest,  ///< the runtime starts N threads; callers help as guests
};

/// Parses "worker" or "guest" (case-insensitive). Throws config_error naming the value.
[[nodiscard]] caller_role parse_caller_role(std::string_view text);
[[nodiscard]] std::string_view to_string(caller_role r) noexcept;

/// When a runtime takes this rank's share of the machine.
enum class share_mode {
    off,       ///< never: every rank plans for every allowed CPU
    on,        ///< whenever a local rank is known, even in a process bound already
    automatic, ///< "auto" (default): when a local rank is known and the process is not bound
};

/// Parses "off", "on" or "auto" (case-insensitive; also false/true, 0/1,
/// no/yes). Throws config_error naming the value.
[[nodiscard]] share_mode parse_share_mode(std::string_view text);
[[nodiscard]] std::string_view to_string(share_mode m) noexcept;

/// This process's place among the processes of a job on this host.
struct local_rank {
    unsigned rank = 0; ///< 0 .. size-1
    unsigned size = 1; ///< processes of the job on this host
};

/// What the share rule decided for one process.
struct rank_share {
    share_mode mode = share_mode::automatic;
    std::optional<local_rank> rank; ///< who we are, when known
    std::string source;             ///< where the rank came from (variables, "runtime_options::rank", ...)
    bool taken = false;             ///< the plan is restricted to `pus`
    std::vector<int> pus;           ///< the share: allowed PU OS indices, ascending (taken only)
    std::vector<int> nodes;         ///< logical NUMA nodes given whole; empty when cores were shared
    /// One line (without the "share: " prefix) for topos info/places and
    /// TOPOS_DISPLAY_AFFINITY; empty when there is nothing to say (no rank,
    /// or the only rank on the host).
    std::string summary;
    /// Why no share could be taken, or why the one taken overlaps others'
    /// (more ranks than cores); runtime::degraded() lists them.
    std::vector<std::string> problems;
};

/// The rule itself, a pure function: rank `who.rank` of `who.size` on a host
/// whose allowed PUs are `topo`'s. source is copied into the result. Throws
/// config_error, naming `source`, when size is 0 or rank >= size.
[[nodiscard]] rank_share share_for_rank(const topology& topo, local_rank who, const std::string& source);

/// The local rank the launcher's variables give (see the top of this
/// header; Open MPI first, then MPICH/Hydra, then Slurm), with `source`
/// naming the variables read. Nothing when none is set. Variables that are
/// set but malformed or inconsistent give nothing and a line in `problems`.
[[nodiscard]] std::optional<local_rank> local_rank_from_environment(std::string& source,
                                                                    std::vector<std::string>& problems);

/// What a runtime (or `topos places`) does: mode from `mode` else
/// TOPOS_SHARE else auto; rank from `rank` (source "runtime_options::rank")
/// else the launcher's variables. `places_explicit`: the places were given,
/// so they win. Throws config_error for a bad TOPOS_SHARE or an explicit rank
/// out of range.
[[nodiscard]] rank_share decide_share(const topology& topo, std::optional<share_mode> mode,
                                      std::optional<local_rank> rank, bool places_explicit,
                                      const std::string& rank_source = "runtime_options::rank");

} // namespace topos
