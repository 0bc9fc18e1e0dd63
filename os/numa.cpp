// os/numa.cpp - libnuma calls.
#include "os/numa.hpp"

#include <numa.h>

#include <vector>

namespace topos::os {

bool numa_usable() noexcept {
    static const bool usable = numa_available() >= 0;
    return usable;
}

void* allocate_on_node(std::size_t bytes, int os_node) noexcept {
    return numa_alloc_onnode(bytes, os_node);
}

void free_on_node(void* p, std::size_t bytes) noexcept {
    numa_free(p, bytes);
}

long long node_free_bytes(int os_node) noexcept {
    if (!numa_usable() || os_node < 0) {
        return -1;
    }
    long long free_bytes = 0;
    return numa_node_size64(os_node, &free_bytes) >= 0 ? free_bytes : -1;
}

std::vector<int> memory_nodes() {
    std::vector<int> out;
    if (!numa_usable()) {
        return out;
    }
    for (int os = 0; os <= numa_max_node(); ++os) {
        if (numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(os)) != 0) {
            out.push_back(os);
        }
    }
    return out;
}

int configured_cpus() noexcept {
    if (!numa_usable()) {
        return 0;
    }
    const int cpus = numa_num_configured_cpus();
    return cpus < 0 ? 0 : cpus;
}

int kernel_node_of_cpu(int cpu) noexcept { return numa_node_of_cpu(cpu); }

int node_distance(int from, int to) noexcept { return numa_distance(from, to); }

} // namespace topos::os
