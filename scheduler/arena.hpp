// scheduler/arena.hpp - an arena's state (runtime::arena, task_arena): its
// member workers, one deque per member and two shared queues. The runtime
// owns every arena it made until it is destroyed; workers see the arenas
// they belong to through an immutable snapshot (arena_membership) that is
// replaced, never changed, when a new arena takes them in.
#pragma once

#include "scheduler/worker.hpp"

#include <memory>
#include <vector>

namespace topos::detail {

/// A member's deque in one arena: its owner pushes and pops at the bottom,
/// the other members steal from the top. Nobody else touches it.
struct alignas(cache_line) arena_slot {
    explicit arena_slot(worker& owner) noexcept : m_owner(&owner) {}
    chase_lev_deque<task*> m_deque;
    worker* m_owner;
};

struct arena_core {
    runtime_core* m_rt = nullptr;
    std::vector<unsigned> m_members; ///< worker indices, ascending
    std::vector<int> m_nodes;        ///< the members' nodes, ascending, without -1
    std::vector<std::unique_ptr<arena_slot>> m_slots; ///< one per member, in m_members' order
    std::vector<int> m_slot_of; ///< by worker slot index (guests included): index in m_slots, or -1
    /// Tasks from threads that are not members (and every task at first when
    /// the spawner is not a member).
    alignas(cache_line) task_queue m_inbox;
    /// High-priority tasks of the arena's groups (task_group::run(priority::high, f)).
    alignas(cache_line) task_queue m_high;
};

/// The arenas a worker belongs to, with its own slot in each.
struct arena_membership {
    struct entry {
        arena_core* m_arena;
        arena_slot* m_own;
    };
    std::vector<entry> m_entries;
};

} // namespace topos::detail
