// allocators/numa_layer.hpp - the allocators' view of the host's nodes and of
// the kernel's memory policies, in logical node ids of topology::host().
//
// The syscalls themselves are in os/memory.hpp and os/numa.hpp, in the
// kernel's node numbers; translation happens here. Where the kernel refuses
// NUMA syscalls (one-node kernels without NUMA, containers forbidding mbind),
// the functions degrade to plain memory and record why in the status note.
#pragma once

#include <topos/memory.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace topos::detail {

/// The host's nodes as the allocators need them. Built once, never changed.
struct node_table {
    std::vector<int> os_of_logical;  ///< kernel node number of each logical node
    std::vector<int> logical_of_os;  ///< inverse; -1 where the kernel number is unknown
    std::vector<int> node_of_cpu;    ///< logical node of each CPU (OS index); -1 unknown
    std::vector<std::vector<int>> by_distance; ///< per node: all nodes, nearest first
};

// post: loaded on first call (thread-safe), then constant.
const node_table& host_nodes();
std::size_t host_node_count();
// post: the logical node of `cpu` (0 when unknown or cpu < 0).
int node_of_cpu(int cpu) noexcept;
// post: the logical node of the CPU the caller runs on now (0 when unknown).
int current_node() noexcept;

// pre: node may be any int. post: throws node_error naming it unless the host has it.
void check_node(int node, const char* what);

// post: MADV_HUGEPAGE asked for; false (and noted) when the kernel refused
// or transparent huge pages are off.
bool advise_huge(void* p, std::size_t bytes) noexcept;

// pre: page-aligned range of a mapping, policy nodes valid on the host.
// post: the kernel applies the policy to pages faulted from now on; returns
// false when NUMA syscalls are unavailable (noted). Throws std::bad_alloc when
// the kernel has no memory for the policy (ENOMEM), memory_error when it
// rejects the policy for another reason (e.g. a node without memory).
bool apply_policy(void* p, std::size_t bytes, const mem_policy& policy);

// pre: pages are page-aligned addresses of this process.
// post: out[i] is the logical node of pages[i], or -1 when the page is absent.
void query_pages(const std::vector<void*>& pages, std::vector<int>& out);
// post: present pages moved to `node` where the kernel could; out[i] as query_pages.
void move_pages_to(const std::vector<void*>& pages, int node, std::vector<int>& out);

// post: `line` is in the status note (once).
void note_degraded(const std::string& line);

// fork() handlers of the drop-in malloc for the status lock (taken after the arena locks).
void status_fork_prepare() noexcept;
void status_fork_release() noexcept;
// post: what the process learnt about the kernel, with the status note.
memory_status current_status();

} // namespace topos::detail
