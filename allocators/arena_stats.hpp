// allocators/arena_stats.hpp - the arenas' counters, trim and fork handlers.
#pragma once

#include <topos/memory.hpp>

namespace topos::detail {

/// fork() safety for the drop-in malloc: take every allocator lock before the
/// fork and release them in both processes after it.
void alloc_fork_prepare() noexcept;
void alloc_fork_parent() noexcept;
void alloc_fork_child() noexcept;

/// Releases what the calling thread's cache and the arenas hold without use.
void arena_trim();
/// Adds the arenas' per-node counters to out.nodes (sized to the node count).
void arena_counters(memory_counters& out);

} // namespace topos::detail
