// tools/interrupt.cpp - Ctrl-C as a flag: the handler only counts, and the
// measuring loops and the child launcher poll it.
#include "interrupt.hpp"

#include <atomic>
#include <csignal>

namespace topos::cli {
namespace {

std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int /*signal*/) {
    // relaxed: a lone flag polled between measurements; no data is published with it.
    g_interrupts.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

namespace interrupt {
void install() {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocking wait returns EINTR so we can act
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}
bool requested() noexcept { return g_interrupts.load(std::memory_order_relaxed) != 0; }
void reset() noexcept { g_interrupts.store(0, std::memory_order_relaxed); }
} // namespace interrupt
} // namespace topos::cli
