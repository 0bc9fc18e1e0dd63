// allocators/next_touch.hpp - the next-touch registry's internal entry points
// (the public ones are in include/topos/next_touch.hpp).
#pragma once

#include <topos/memory.hpp>

#include <cstddef>

namespace topos::detail {

// pre: check_size(bytes) may fail (it is called). post: a page block of at
// least `bytes` under MPOL_LOCAL, never cached, its user pages armed.
// Throws as allocate and migrate_on_next_touch do.
void* next_touch_alloc(std::size_t bytes, const alloc_options& options);

// page_free's hook for a block with armed pages: drops [user, user+bytes)
// from the registry without changing its protection (it is being unmapped).
void next_touch_forget(void* user, std::size_t bytes) noexcept;

} // namespace topos::detail
