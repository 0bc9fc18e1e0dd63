// tools/pinning.hpp - the machine as the measuring threads see it (caches,
// free memory, the PUs of each core) and threads pinned to chosen PUs,
// released together round after round.
#pragma once

#include <topos/topology.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace topos::cli {

/// The sum of the sizes of the last-level caches (0 when none is reported).
[[nodiscard]] std::uint64_t last_level_cache_bytes(const topology& topo);
/// The size of the first data (or unified) cache of `level` (0 when none).
[[nodiscard]] std::uint64_t cache_bytes(const topology& topo, int level);
/// Bytes the host could give us now without swapping (MemAvailable), 0 when unknown.
[[nodiscard]] std::uint64_t available_memory_bytes();

/// PUs of each core of `node`, one set per core.
[[nodiscard]] std::vector<std::vector<int>> core_pus_of_node(const topology& topo, int node);
/// An OMP_PLACES list naming each set as one place: "{0,4},{1,5}".
[[nodiscard]] std::string places_of(const std::vector<std::vector<int>>& sets);

/// Runs body(t) on `pu_sets.size()` threads, thread t pinned to pu_sets[t] (an empty
/// set: not pinned), `rounds` times with all threads released together each round.
/// Returns, per round, the time from the first thread's start to the last one's end.
/// `pinned` (if given) says whether every thread could be pinned.
std::vector<double> run_pinned_rounds(const std::vector<std::vector<int>>& pu_sets, unsigned rounds,
                                      const std::function<void(unsigned thread, unsigned round)>& body,
                                      bool* pinned = nullptr);

/// Pins the calling thread to `pus`; false when the kernel refused.
bool pin_this_thread(const std::vector<int>& pus);

} // namespace topos::cli
