// scheduler/platform.hpp - the thin layer between the scheduler and the OS
// (futex, membarrier, thread affinity) and libnuma (node-local memory).
// Everything above it speaks topos's own types; where the OS cannot do a
// thing, these functions say so in their result instead of failing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace topos::detail::platform {

/// pre: `word` is the futex word. Sleeps while *word == expected (spurious
/// returns allowed).
void futex_wait(std::uint32_t* word, std::uint32_t expected) noexcept;
/// Wakes one thread sleeping on `word`.
void futex_wake_one(std::uint32_t* word) noexcept;

/// Registers the process for expedited membarrier(2).
/// post: true when heavy_fence() is usable; false on kernels without it.
[[nodiscard]] bool enable_membarrier() noexcept;
/// pre: enable_membarrier() returned true. Every running thread of the
/// process executes a full memory barrier before this returns.
void heavy_fence() noexcept;

/// Pins the calling thread to `pus` (OS indices).
/// post: true on success; false with `why` set when the kernel refused
/// (a PU outside the cgroup, for instance); the thread then stays unbound.
[[nodiscard]] bool pin_current_thread(const std::vector<int>& pus, std::string& why);
/// The CPUs the calling thread may run on, ascending.
[[nodiscard]] std::vector<int> current_affinity();

/// True when libnuma works here (the kernel has NUMA syscalls).
[[nodiscard]] bool numa_usable() noexcept;
/// pre: numa_usable(). Memory bound to kernel node `os_node`, or nullptr.
[[nodiscard]] void* allocate_on_node(std::size_t bytes, int os_node) noexcept;
/// pre: `p` came from allocate_on_node(bytes, ...).
void free_on_node(void* p, std::size_t bytes) noexcept;

} // namespace topos::detail::platform
