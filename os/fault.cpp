// os/fault.cpp - the SIGSEGV handler behind os/fault.hpp.
//
// The filter table and the fallback action are written in normal context
// under a mutex and read by the handler without locks: filters are
// published by a release store of their slot (pairs with the handler's
// acquire load), and the fallback action lives in two buffers switched by
// an atomic index, so the handler never reads a half-written sigaction.
#include "os/fault.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>

namespace topos::os {
namespace {

constexpr std::size_t k_max_filters = 4;

std::array<std::atomic<fault_filter>, k_max_filters> g_filters{};
std::array<struct sigaction, 2> g_fallback{};
std::atomic<int> g_fallback_index{0};
std::atomic<bool> g_installed{false};
std::mutex g_install_lock;

void on_fault(int sig, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    void* address = info != nullptr ? info->si_addr : nullptr;
    for (const auto& slot : g_filters) {
        // acquire: pairs with the release store in install_fault_filter, so the filter's state is visible
        const fault_filter f = slot.load(std::memory_order_acquire);
        if (f != nullptr && f(address)) {
            errno = saved_errno;
            return;
        }
    }
    // acquire: pairs with the release store of set_fault_fallback; the buffer it names is complete
    const struct sigaction& prev = g_fallback[static_cast<std::size_t>(g_fallback_index.load(std::memory_order_acquire))];
    errno = saved_errno;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
        prev.sa_sigaction(sig, info, context);
        return;
    }
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
        prev.sa_handler(sig);
        return;
    }
    // No handler of the program: the default action. Returning re-runs the
    // faulting instruction, which now kills the process with SIGSEGV.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGSEGV, &dfl, nullptr);
    if (info == nullptr || info->si_code <= 0) {
        raise(sig); // sent by kill/raise, not by a faulting instruction: send it again
    }
}

} // namespace

int install_fault_filter(fault_filter filter) noexcept {
    const std::lock_guard lock(g_install_lock);
    std::atomic<fault_filter>* free_slot = nullptr;
    for (auto& slot : g_filters) {
        const fault_filter f = slot.load(std::memory_order_relaxed); // writers hold g_install_lock
        if (f == filter) {
            free_slot = nullptr;
            filter = nullptr;
            break;
        }
        if (f == nullptr && free_slot == nullptr) {
            free_slot = &slot;
        }
    }
    if (filter != nullptr) {
        if (free_slot == nullptr) {
            return ENOSPC;
        }
        // release: the filter's own state, set up before this call, is visible to the handler's acquire load
        free_slot->store(filter, std::memory_order_release);
    }
    if (g_installed.load(std::memory_order_relaxed)) {
        return 0;
    }
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    if (sigaction(SIGSEGV, nullptr, &previous) != 0) {
        return errno;
    }
    g_fallback[0] = previous;
    g_fallback_index.store(0, std::memory_order_release); // release: publishes g_fallback[0] to the handler
    if (sigaction(SIGSEGV, &action, nullptr) != 0) {
        return errno;
    }
    g_installed.store(true, std::memory_order_relaxed); // read under g_install_lock only
    return 0;
}

void set_fault_fallback(const struct sigaction& action) noexcept {
    if ((action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == on_fault) {
        return; // topos's own handler as its own fallback would recurse forever
    }
    const std::lock_guard lock(g_install_lock);
    const int next = 1 - g_fallback_index.load(std::memory_order_relaxed); // writers hold g_install_lock
    g_fallback[static_cast<std::size_t>(next)] = action;
    // release: the buffer written above is complete before the handler's acquire load can name it
    g_fallback_index.store(next, std::memory_order_release);
}

bool fault_handler_active() noexcept {
    const std::lock_guard lock(g_install_lock);
    if (!g_installed.load(std::memory_order_relaxed)) {
        return false;
    }
    struct sigaction now {};
    return sigaction(SIGSEGV, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO) != 0 && now.sa_sigaction == on_fault;
}

} // namespace topos::os
