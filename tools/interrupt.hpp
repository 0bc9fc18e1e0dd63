// tools/interrupt.hpp - Ctrl-C for the commands that measure or run programs:
// a flag they poll instead of dying, so what was measured is still written.
#pragma once

namespace topos::cli {

/// Ctrl-C: install() makes SIGINT (and SIGTERM) set a flag instead of killing us;
/// requested() tells the benchmark to stop after its current measurement.
namespace interrupt {
void install();
[[nodiscard]] bool requested() noexcept;
/// For tests of the machinery only.
void reset() noexcept;
} // namespace interrupt
inline constexpr int k_exit_interrupted = 130;

} // namespace topos::cli
