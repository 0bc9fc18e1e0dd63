// os/numa.hpp - libnuma: whether the kernel has NUMA calls, memory bound to
// one kernel node, a node's free memory, and the nodes, CPUs and distances
// libnuma reads from sysfs. Node numbers here are the kernel's; logical ids
// live in topology/ (and allocators/numa_layer.cpp for the drop-in malloc).
#pragma once

#include <cstddef>
#include <vector>

namespace topos::os {

/// post: true when libnuma works here (the kernel has the NUMA syscalls).
[[nodiscard]] bool numa_usable() noexcept;

/// pre: numa_usable(), bytes > 0.
/// post: memory bound to kernel node `os_node`, or nullptr.
[[nodiscard]] void* allocate_on_node(std::size_t bytes, int os_node) noexcept;

/// pre: `p` came from allocate_on_node(bytes, ...).
void free_on_node(void* p, std::size_t bytes) noexcept;

/// post: the free memory of kernel node `os_node` in bytes, or -1 when
/// libnuma is unusable or does not know the node.
[[nodiscard]] long long node_free_bytes(int os_node) noexcept;

/// post: the kernel nodes libnuma reports with memory (numa_all_nodes),
/// ascending; empty when libnuma is unusable.
[[nodiscard]] std::vector<int> memory_nodes();

/// post: the number of CPUs the kernel configured (numa_num_configured_cpus);
/// 0 when libnuma is unusable.
[[nodiscard]] int configured_cpus() noexcept;

/// pre: numa_usable().
/// post: the kernel node of CPU `cpu` (OS index), or -1 when unknown.
[[nodiscard]] int kernel_node_of_cpu(int cpu) noexcept;

/// pre: numa_usable(); both are kernel nodes.
/// post: the ACPI SLIT distance between them (10 = local), 0 when unknown.
[[nodiscard]] int node_distance(int from, int to) noexcept;

} // namespace topos::os
