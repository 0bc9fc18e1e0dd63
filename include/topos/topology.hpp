// topos/topology.hpp - an immutable description of the machine's memory topology.
//
// A topology is discovered once (from this machine, an hwloc XML file or an
// hwloc synthetic description) and then never changes. Copies share the same
// data, so passing a topology by value is cheap and thread-safe.
//
// Identifiers:
//   - PUs (hardware threads) are named by their OS index, as the kernel, taskset
//     and OMP_PLACES name them.
//   - NUMA nodes, packages, cores and caches are named by their logical id
//     (0..count-1 in topology order). NUMA nodes also carry their OS index
//     (the number numactl and the kernel use).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace topos {

/// Shared-memory architecture class of a machine.
enum class memory_architecture {
    uma,  ///< one NUMA node, or every node at the same distance
    numa, ///< several nodes at different distances (cache-coherent on Linux)
};

/// Where a topology came from.
enum class topology_source { host, xml, synthetic };

enum class cache_type { unified, data, instruction };

struct package_info {
    int id = 0;              ///< logical id
    int os_index = -1;       ///< -1 when unknown
    std::vector<int> numa_nodes; ///< logical node ids inside this package
    std::vector<int> pus;    ///< allowed PU OS indices, ascending
};

struct numa_node_info {
    int id = 0;                    ///< logical id, indexes distances()
    int os_index = 0;              ///< the kernel's node number
    int package = -1;              ///< logical package id, -1 if the node spans or lacks one
    std::uint64_t memory_bytes = 0; ///< total local memory
    std::int64_t free_bytes = -1;  ///< free memory now (host only), -1 when unknown
    std::vector<int> pus;          ///< allowed PU OS indices local to this node, ascending
};

struct cache_info {
    int id = 0;                 ///< logical id among all caches listed here
    int level = 0;              ///< 1, 2, 3, ...
    cache_type type = cache_type::unified;
    std::uint64_t size_bytes = 0;
    unsigned line_bytes = 0;    ///< 0 when unknown
    std::vector<int> pus;       ///< allowed PUs sharing this cache, ascending
};

struct core_info {
    int id = 0;          ///< logical id
    int os_index = -1;
    int package = -1;
    int node = -1;       ///< logical NUMA node
    int kind = -1;       ///< index into cpu_kinds(), -1 when the machine reports none
    std::vector<int> pus;
};

struct pu_info {
    int os_index = 0;
    int core = -1;     ///< logical core id
    int logical_index = -1; ///< position in topology order (hwloc's logical index)
    int package = -1;  ///< logical package id
    int node = -1;     ///< logical NUMA node id
};

/// A class of cores (hwloc cpukinds), e.g. performance vs efficiency cores.
struct cpu_kind_info {
    int efficiency = -1;  ///< higher is more performant; -1 when unknown
    std::string name;     ///< e.g. "IntelAtom", "IntelCore", or empty
    std::vector<int> pus;
};

namespace detail {
struct topology_data;
}

class topology {
public:
    /// This machine, restricted to the CPUs the process may run on (taskset,
    /// cgroups). NUMA nodes without allowed CPUs are kept: their memory is usable.
    [[nodiscard]] static topology host();
    /// An hwloc XML export (lstopo machine.xml). Throws topology_error.
    [[nodiscard]] static topology from_xml(const std::filesystem::path& file);
    /// An hwloc synthetic description, e.g. "pack:2 numa:2 l3:1 core:8 pu:2".
    /// Throws topology_error.
    [[nodiscard]] static topology synthetic(std::string_view description);
    /// "host", "synthetic:<description>", or a path to an .xml file.
    [[nodiscard]] static topology from_spec(std::string_view spec);
    /// TOPOS_TOPOLOGY if set (see from_spec), else host().
    [[nodiscard]] static topology from_env();

    [[nodiscard]] topology_source source() const noexcept;
    /// The spec this topology was loaded from ("host", "synthetic:...", the XML path).
    [[nodiscard]] const std::string& source_spec() const noexcept;
    /// True when this topology describes the machine the process runs on.
    [[nodiscard]] bool is_this_system() const noexcept;
    /// True for host() when the process's affinity mask (taskset, numactl,
    /// a launcher's binding) hides some of the PUs the machine (or cgroup)
    /// gives it: someone chose this process's CPUs already.
    [[nodiscard]] bool affinity_restricted() const noexcept;

    [[nodiscard]] memory_architecture architecture() const noexcept;

    [[nodiscard]] std::span<const package_info> packages() const noexcept;
    [[nodiscard]] std::span<const numa_node_info> numa_nodes() const noexcept;
    [[nodiscard]] std::span<const core_info> cores() const noexcept;
    [[nodiscard]] std::span<const pu_info> pus() const noexcept; ///< ascending OS index
    /// Allowed PU OS indices in topology order: the PUs of one core are
    /// neighbours, cores follow the machine's layout, whatever the OS numbering.
    [[nodiscard]] std::vector<int> pus_in_topology_order() const;
    [[nodiscard]] std::span<const cache_info> caches() const noexcept;
    [[nodiscard]] std::span<const cpu_kind_info> cpu_kinds() const noexcept;

    [[nodiscard]] std::size_t node_count() const noexcept;

    /// Relative distance between two logical nodes (10 = local, as in ACPI SLIT).
    /// Throws node_error for unknown ids.
    [[nodiscard]] int distance(int from, int to) const;
    /// Row-major node_count() x node_count() matrix.
    [[nodiscard]] std::span<const int> distance_matrix() const noexcept;
    /// True when the firmware/XML gave no distances and they were derived from
    /// the package hierarchy (10 local, 12 same package, 20+ across packages).
    [[nodiscard]] bool distances_derived() const noexcept;
    /// All nodes ordered by increasing distance from `from` (itself first; ties by id).
    [[nodiscard]] std::vector<int> nodes_by_distance(int from) const;

    /// Logical NUMA node of an allowed PU (by OS index). Throws node_error.
    [[nodiscard]] int node_of_pu(int pu) const;
    /// Allowed PUs local to a node. Throws node_error.
    [[nodiscard]] std::vector<int> pus_of_node(int node) const;
    /// True if the PU (OS index) is in the topology's allowed set.
    [[nodiscard]] bool has_pu(int pu) const noexcept;
    /// The PU sets sharing one cache of `level` (data or unified caches);
    /// level 0 means the last level. Empty when the machine has no such cache.
    [[nodiscard]] std::vector<std::vector<int>> cache_groups(int level = 0) const;
    /// Deepest data/unified cache level present (0 when none is reported).
    [[nodiscard]] int last_cache_level() const noexcept;

    /// What this topology could not learn or had to derive, one sentence each:
    /// derived distances, free memory unknown, CPUs hidden by the affinity mask.
    /// Empty when nothing was degraded.
    [[nodiscard]] std::span<const std::string> notes() const noexcept;

private:
    explicit topology(std::shared_ptr<const detail::topology_data> data) noexcept;
    std::shared_ptr<const detail::topology_data> m_data;
};

[[nodiscard]] std::string_view to_string(memory_architecture a) noexcept;
[[nodiscard]] std::string_view to_string(topology_source s) noexcept;
[[nodiscard]] std::string_view to_string(cache_type t) noexcept;

/// Formats a PU list compactly, e.g. "0-3,8,10-11".
[[nodiscard]] std::string format_cpu_list(std::span<const int> pus);

} // namespace topos
