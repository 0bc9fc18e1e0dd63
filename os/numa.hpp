// os/numa.hpp - libnuma: whether the kernel has NUMA calls, memory bound to
// one kernel node, and a node's free memory. Node numbers
// here are the kernel's; logical ids live in topology/.
#pragma once

#include <cstddef>

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

} // namespace topos::os
