// os/memory.cpp - mmap, madvise, mincore, mbind, get_mempolicy, move_pages
// and the coarse clock (see memory.hpp).
#include "os/memory.hpp"

#include "os/fault_injection.hpp"

#include <numaif.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace topos::os {

namespace detail {
std::atomic<bool> g_faults_armed{false};
} // namespace detail

namespace {

// The hook's state: rates and counters per site (see fault_injection.hpp).
// All relaxed: the hook promises no ordering, only that each call decides once.
struct fault_state {
    std::atomic<std::uint32_t> one_in[k_fault_sites]{};
    std::atomic<std::uint64_t> seed{1};
    std::atomic<std::uint64_t> calls[k_fault_sites]{};
    std::atomic<std::uint64_t> injected[k_fault_sites]{};
};
fault_state g_faults;

// splitmix64's finaliser: consecutive call numbers give independent bits.
std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31U);
}

} // namespace

void set_fault_rate(fault_site site, std::uint32_t one_in, std::uint64_t seed) noexcept {
    const auto i = static_cast<unsigned>(site);
    g_faults.seed.store(seed, std::memory_order_relaxed);
    g_faults.one_in[i].store(one_in, std::memory_order_relaxed);
    bool any = false;
    for (const auto& rate : g_faults.one_in) {
        any = any || rate.load(std::memory_order_relaxed) != 0;
    }
    detail::g_faults_armed.store(any, std::memory_order_relaxed);
}

void clear_faults() noexcept {
    detail::g_faults_armed.store(false, std::memory_order_relaxed);
    for (auto& rate : g_faults.one_in) {
        rate.store(0, std::memory_order_relaxed);
    }
}

std::uint64_t faults_injected(fault_site site) noexcept {
    return g_faults.injected[static_cast<unsigned>(site)].load(std::memory_order_relaxed);
}

bool detail::fault_now_slow(fault_site site) noexcept {
    const auto i = static_cast<unsigned>(site);
    const std::uint32_t one_in = g_faults.one_in[i].load(std::memory_order_relaxed);
    if (one_in == 0) {
        return false;
    }
    const std::uint64_t n = g_faults.calls[i].fetch_add(1, std::memory_order_relaxed);
    if (mix(n ^ (g_faults.seed.load(std::memory_order_relaxed) * (i + 1))) % one_in != 0) {
        return false;
    }
    g_faults.injected[i].fetch_add(1, std::memory_order_relaxed);
    return true;
}

std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

void* map_aligned(std::size_t bytes, std::size_t alignment) noexcept {
    const std::size_t span = bytes + alignment;
    if (span < bytes) {
        return nullptr;
    }
    if (fault_now(fault_site::map)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        return nullptr;
    }
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (base + alignment - 1) & ~(static_cast<std::uintptr_t>(alignment) - 1);
    const std::size_t head = aligned - base;
    const std::size_t tail = span - head - bytes;
    if (head != 0) {
        munmap(raw, head);
    }
    if (tail != 0) {
        munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    }
    return reinterpret_cast<void*>(aligned);
}

bool remap_to(void* old, std::size_t old_bytes, std::size_t new_bytes, void* target) noexcept {
    if (fault_now(fault_site::remap)) {
        errno = ENOMEM;
        return false;
    }
    return mremap(old, old_bytes, new_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, target) != MAP_FAILED;
}

void* map_anonymous(std::size_t bytes) noexcept {
    if (fault_now(fault_site::map)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

void* map_untracked(std::size_t bytes) noexcept {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

void* map_fixed_noreplace(void* want, std::size_t bytes, int& error) noexcept {
#ifdef MAP_FIXED_NOREPLACE
    constexpr int k_noreplace = MAP_FIXED_NOREPLACE;
#else
    constexpr int k_noreplace = 0x100000; // Linux's value; older headers lack the name
#endif
    void* got = mmap(want, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | k_noreplace,
                     -1, 0);
    error = errno;
    if (got == want) {
        return want;
    }
    if (got != MAP_FAILED) { // a kernel before 4.17 takes the address as a hint only
        munmap(got, bytes);
        error = 0;
    }
    return nullptr;
}

void unmap(void* p, std::size_t bytes) noexcept { munmap(p, bytes); }

void decommit(void* p, std::size_t bytes) noexcept { madvise(p, bytes, MADV_DONTNEED); }

int advise_huge(void* p, std::size_t bytes) noexcept { return madvise(p, bytes, MADV_HUGEPAGE) == 0 ? 0 : errno; }

void advise_no_huge(void* p, std::size_t bytes) noexcept { madvise(p, bytes, MADV_NOHUGEPAGE); }

bool transparent_huge_pages_enabled() noexcept {
    // stdio, not a stream: this runs inside the drop-in malloc's first call.
    std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == nullptr) {
        return false;
    }
    char line[128] = {};
    const bool read = std::fgets(line, sizeof line, f) != nullptr;
    std::fclose(f);
    return read && (std::strstr(line, "[always]") != nullptr || std::strstr(line, "[madvise]") != nullptr);
}

bool page_resident(const void* page) noexcept {
    unsigned char resident = 0;
    return mincore(const_cast<void*>(page), page_size(), &resident) == 0 && (resident & 1U) != 0;
}

int bind_range(void* p, std::size_t bytes, mem_mode mode, const node_mask& nodes) noexcept {
    if (fault_now(fault_site::bind)) {
        return ENOMEM; // mbind(2): the kernel could not allocate its policy structures
    }
    long rc = 0;
    switch (mode) {
    case mem_mode::local: rc = mbind(p, bytes, MPOL_LOCAL, nullptr, 0, 0); break;
    case mem_mode::bind: rc = mbind(p, bytes, MPOL_BIND, nodes.data(), k_node_mask_bits + 1, 0); break;
    case mem_mode::preferred: rc = mbind(p, bytes, MPOL_PREFERRED, nodes.data(), k_node_mask_bits + 1, 0); break;
    case mem_mode::interleave: rc = mbind(p, bytes, MPOL_INTERLEAVE, nodes.data(), k_node_mask_bits + 1, 0); break;
    }
    return rc == 0 ? 0 : errno;
}

int protect(void* p, std::size_t bytes, bool access) noexcept {
    return mprotect(p, bytes, access ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
}

int populate_write(void* p, std::size_t bytes) noexcept {
#ifdef MADV_POPULATE_WRITE
    return madvise(p, bytes, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
#else
    (void)p;
    (void)bytes;
    return EINVAL;
#endif
}

bool thread_policy_is_default() noexcept {
    int mode = -1;
    return get_mempolicy(&mode, nullptr, 0, nullptr, 0) == 0 && mode == MPOL_DEFAULT;
}

int page_nodes(void* const* pages, std::size_t count, int* status) noexcept {
    return ::move_pages(0, count, const_cast<void**>(pages), nullptr, status, 0) == 0 ? 0 : errno;
}

int move_pages(void* const* pages, std::size_t count, const int* targets, int* status) noexcept {
    return ::move_pages(0, count, const_cast<void**>(pages), targets, status, MPOL_MF_MOVE) < 0 ? errno : 0;
}

std::uint32_t coarse_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000U +
                                      static_cast<std::uint64_t>(ts.tv_nsec) / 1000000U);
}

} // namespace topos::os
