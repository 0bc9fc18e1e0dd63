// os/numa.cpp - libnuma calls.
#include "os/numa.hpp"

#include <numa.h>

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

} // namespace topos::os
