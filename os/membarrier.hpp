// os/membarrier.hpp - process-wide memory barriers (membarrier(2)), which let
// the scheduler's owners push without a fence while thieves pay instead.
#pragma once

namespace topos::os {

/// Registers the process for expedited membarrier(2), once.
/// post: true when heavy_fence() is usable; false on kernels without it.
[[nodiscard]] bool enable_membarrier() noexcept;

/// pre: enable_membarrier() returned true.
/// post: every running thread of the process has executed a full memory barrier.
void heavy_fence() noexcept;

} // namespace topos::os
