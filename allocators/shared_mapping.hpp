// allocators/shared_mapping.hpp - mappings topos did not allocate but owns
// (shared segments, ipc/shm.cpp), which page_nodes, migrate and
// set_mem_policy accept ranges inside. Not in the drop-in malloc.
#pragma once

#include <cstddef>

namespace topos::detail {

// pre: base is page-aligned; [base, base+bytes) stays mapped until unregistered.
// post: page operations accept ranges inside it.
void register_shared_mapping(void* base, std::size_t bytes);
// pre: base was registered. Unregister before unmapping.
void unregister_shared_mapping(void* base) noexcept;
// post: true when [p, p+bytes) lies inside one registered shared mapping
// (always false in the drop-in malloc).
bool in_shared_mapping(const void* p, std::size_t bytes);

} // namespace topos::detail
