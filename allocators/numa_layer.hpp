// allocators/numa_layer.hpp - the one place the allocators talk to libnuma and
// the kernel's memory-policy syscalls (mbind, move_pages, mmap, madvise).
//
// Everything here speaks logical node ids of topology::host(); translation to
// the kernel's node numbers happens inside. Where the kernel refuses NUMA
// syscalls (one-node kernels without NUMA, containers forbidding mbind), the
// functions degrade to plain memory and record why in the status note.
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
std::size_t page_size() noexcept;

// pre: node may be any int. post: throws node_error naming it unless the host has it.
void check_node(int node, const char* what);

// post: anonymous private read-write mapping of `bytes` at an address aligned
// to `alignment` (a power of two >= page size); nullptr when the kernel has
// no memory. Untouched pages cost no memory.
void* map_aligned(std::size_t bytes, std::size_t alignment) noexcept;
// pre: [p, p+bytes) was mapped by map_aligned (whole or part).
void unmap(void* p, std::size_t bytes) noexcept;
// pre: page-aligned range inside a mapping. post: pages dropped; refaults are zero
// pages placed by the range's policy.
void decommit(void* p, std::size_t bytes) noexcept;
// post: MADV_HUGEPAGE asked for; false (and noted) when the kernel refused.
bool advise_huge(void* p, std::size_t bytes) noexcept;
// post: MADV_NOHUGEPAGE asked for (best effort).
void advise_no_huge(void* p, std::size_t bytes) noexcept;

// pre: page-aligned range of a mapping, policy nodes valid on the host.
// post: the kernel applies the policy to pages faulted from now on; returns
// false when NUMA syscalls are unavailable (noted). Throws memory_error when
// the kernel rejects the policy for another reason (e.g. a node without memory).
bool apply_policy(void* p, std::size_t bytes, const mem_policy& policy);

// pre: pages are page-aligned addresses of this process.
// post: out[i] is the logical node of pages[i], or -1 when the page is absent.
void query_pages(const std::vector<void*>& pages, std::vector<int>& out);
// post: present pages moved to `node` where the kernel could; out[i] as query_pages.
void move_pages_to(const std::vector<void*>& pages, int node, std::vector<int>& out);

void note_degraded(const std::string& line);

// Mappings topos did not allocate but owns (shared segments, ipc/shm.cpp):
// page_nodes, migrate and set_mem_policy accept ranges inside them. `base`
// must be page-aligned; unregister before unmapping. Not in the drop-in malloc.
void register_shared_mapping(void* base, std::size_t bytes);
void unregister_shared_mapping(void* base) noexcept;
// fork() handlers of the drop-in malloc for the status lock (taken after the arena locks).
void status_fork_prepare() noexcept;
void status_fork_release() noexcept;
memory_status current_status();

} // namespace topos::detail
