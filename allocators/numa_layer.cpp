// allocators/numa_layer.cpp - mbind, move_pages and mmap behind topos's own types.
#include "allocators/numa_layer.hpp"

#include "allocators/arena.hpp"
#include "os/cpu.hpp"

#include <topos/error.hpp>
#ifndef TOPOS_ALLOC_STANDALONE
#include <topos/topology.hpp>
#endif

#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>

namespace topos::detail {
namespace {

// Bits in the node masks handed to the kernel (kernel node numbers); Linux has at most 1024 nodes.
constexpr std::size_t k_mask_bits = 1024;
constexpr std::size_t k_word_bits = 8 * sizeof(unsigned long);
using node_mask = std::array<unsigned long, k_mask_bits / k_word_bits>;

// What the process learnt about the kernel; written under m_lock, flags read lock-free.
struct status_state {
    std::mutex m_lock;
    std::string m_note;
    std::atomic<bool> m_syscalls{false};
    std::atomic<bool> m_huge{false};
    std::atomic<bool> m_default_policy{false}; // the process policy was MPOL_DEFAULT at start
};

status_state& status_store() {
    static auto* s = new status_state(); // never destroyed: used by thread exits after main
    return *s;
}

void add_note(const std::string& line) {
    auto& s = status_store();
    const std::lock_guard lock(s.m_lock);
    if (s.m_note.find(line) != std::string::npos) {
        return;
    }
    if (!s.m_note.empty()) {
        s.m_note += '\n';
    }
    s.m_note += line;
}

bool refused(int err) noexcept { return err == EPERM || err == ENOSYS || err == EACCES; }

#ifdef TOPOS_ALLOC_STANDALONE
// The drop-in malloc reads the nodes from libnuma alone: loading hwloc (and
// its plugins) inside the first malloc of every program is too much. Logical
// ids are the kernel's nodes in ascending order, as hwloc numbers them on Linux.
node_table load_table() {
    node_table t;
    if (numa_available() >= 0) {
        for (int os = 0; os <= numa_max_node(); ++os) {
            if (numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(os)) != 0) {
                if (t.logical_of_os.size() <= static_cast<std::size_t>(os)) {
                    t.logical_of_os.resize(static_cast<std::size_t>(os) + 1, -1);
                }
                t.logical_of_os[static_cast<std::size_t>(os)] = static_cast<int>(t.os_of_logical.size());
                t.os_of_logical.push_back(os);
            }
        }
        const int cpus = numa_num_configured_cpus();
        t.node_of_cpu.assign(static_cast<std::size_t>(std::max(cpus, 0)), -1);
        for (int cpu = 0; cpu < cpus; ++cpu) {
            const int os = numa_node_of_cpu(cpu);
            if (os >= 0 && static_cast<std::size_t>(os) < t.logical_of_os.size()) {
                t.node_of_cpu[static_cast<std::size_t>(cpu)] = t.logical_of_os[static_cast<std::size_t>(os)];
            }
        }
        for (std::size_t from = 0; from < t.os_of_logical.size(); ++from) {
            std::vector<int> order(t.os_of_logical.size());
            for (std::size_t i = 0; i < order.size(); ++i) {
                order[i] = static_cast<int>(i);
            }
            std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
                auto d = [&](int to) {
                    return static_cast<std::size_t>(to) == from
                               ? -1
                               : numa_distance(t.os_of_logical[from], t.os_of_logical[static_cast<std::size_t>(to)]);
                };
                return d(a) < d(b);
            });
            t.by_distance.push_back(std::move(order));
        }
    }
    if (t.os_of_logical.empty()) {
        t.os_of_logical.push_back(0);
        t.logical_of_os.assign(1, 0);
        t.by_distance.assign(1, std::vector<int>{0});
    }
    return t;
}
#else
node_table load_table() {
    node_table t;
    const auto topo = topology::host();
    for (const auto& n : topo.numa_nodes()) {
        t.os_of_logical.push_back(n.os_index);
        const auto os = static_cast<std::size_t>(std::max(n.os_index, 0));
        if (t.logical_of_os.size() <= os) {
            t.logical_of_os.resize(os + 1, -1);
        }
        t.logical_of_os[os] = n.id;
    }
    for (const auto& n : topo.numa_nodes()) {
        t.by_distance.push_back(topo.nodes_by_distance(n.id));
    }
    if (t.os_of_logical.empty()) {
        t.os_of_logical.push_back(0);
        t.logical_of_os.assign(1, 0);
        t.by_distance.assign(1, std::vector<int>{0});
    }
    for (const auto& pu : topo.pus()) {
        const auto cpu = static_cast<std::size_t>(pu.os_index);
        if (t.node_of_cpu.size() <= cpu) {
            t.node_of_cpu.resize(cpu + 1, -1);
        }
        t.node_of_cpu[cpu] = pu.node;
    }
    return t;
}
#endif

node_mask mask_of(const mem_policy& policy, const node_table& t) {
    node_mask m{};
    for (int logical : policy.nodes()) {
        const auto os = static_cast<std::size_t>(t.os_of_logical[static_cast<std::size_t>(logical)]);
        if (os >= k_mask_bits) {
            throw memory_error("NUMA node " + std::to_string(logical) + " has kernel number " + std::to_string(os) +
                               ", beyond the 1024 nodes Linux supports");
        }
        m[os / k_word_bits] |= 1UL << (os % k_word_bits);
    }
    return m;
}

// Probes mbind and move_pages once on a scratch page.
void probe(const node_table& t) {
    auto& s = status_store();
    if (numa_available() < 0) {
        add_note("the kernel has no NUMA support: memory policies and page queries are not applied");
        return;
    }
    const std::size_t page = page_size();
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        add_note("could not map a probe page: NUMA syscalls were not checked");
        return;
    }
    node_mask m{};
    const auto os = static_cast<std::size_t>(t.os_of_logical[0]);
    m[os / k_word_bits] |= 1UL << (os % k_word_bits);
    bool ok = true;
    if (mbind(p, page, MPOL_PREFERRED, m.data(), k_mask_bits + 1, 0) != 0) {
        ok = false;
        add_note(std::string("mbind is refused (") + std::strerror(errno) + "): memory policies are not applied");
    } else {
        static_cast<volatile char*>(p)[0] = 1;
        void* pages[1] = {p};
        int where[1] = {-1};
        if (move_pages(0, 1, pages, nullptr, where, 0) != 0) {
            ok = false;
            add_note(std::string("move_pages is refused (") + std::strerror(errno) +
                     "): page queries and migration are not available");
        }
    }
    munmap(p, page);
    int mode = -1;
    if (get_mempolicy(&mode, nullptr, 0, nullptr, 0) == 0 && mode == MPOL_DEFAULT) {
        // relaxed: written once here, before any allocation can read it
        s.m_default_policy.store(true, std::memory_order_relaxed);
    }
    // relaxed: only a hint; readers take m_lock for the note, the flag needs no ordering
    s.m_syscalls.store(ok, std::memory_order_relaxed);
    if (ok && t.os_of_logical.size() == 1) {
        add_note("one NUMA node: placement has no effect on this machine");
    }
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(thp, line);
    const bool huge = line.find("[always]") != std::string::npos || line.find("[madvise]") != std::string::npos;
    s.m_huge.store(huge, std::memory_order_relaxed);
    if (!huge) {
        add_note("transparent huge pages are disabled: huge_pages requests are ignored");
    }
}

const node_table& table_once() {
    static const node_table* t = [] {
        const alloc_reentry_guard guard; // libnuma and hwloc allocate while loading
        auto* table = new node_table(load_table()); // never destroyed: frees may run after main
        probe(*table);
        return table;
    }();
    return *t;
}

bool syscalls_ok() noexcept {
    return status_store().m_syscalls.load(std::memory_order_relaxed);
}

int logical_of(int os) noexcept {
    const auto& t = table_once();
    if (os < 0 || static_cast<std::size_t>(os) >= t.logical_of_os.size()) {
        return -1;
    }
    return t.logical_of_os[static_cast<std::size_t>(os)];
}

} // namespace

const node_table& host_nodes() { return table_once(); }

std::size_t host_node_count() { return table_once().os_of_logical.size(); }

std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

int node_of_cpu(int cpu) noexcept {
    const auto& t = table_once();
    if (cpu < 0 || static_cast<std::size_t>(cpu) >= t.node_of_cpu.size()) {
        return 0;
    }
    const int node = t.node_of_cpu[static_cast<std::size_t>(cpu)];
    return node < 0 ? 0 : node;
}

int current_node() noexcept { return node_of_cpu(os::current_cpu()); }

void check_node(int node, const char* what) {
    const std::size_t count = host_node_count();
    if (node < 0 || static_cast<std::size_t>(node) >= count) {
        throw node_error(std::string(what) + ": NUMA node " + std::to_string(node) +
                         " does not exist; this machine has nodes 0-" + std::to_string(count - 1));
    }
}

void* map_aligned(std::size_t bytes, std::size_t alignment) noexcept {
    const std::size_t span = bytes + alignment;
    if (span < bytes) {
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

void unmap(void* p, std::size_t bytes) noexcept { munmap(p, bytes); }

void decommit(void* p, std::size_t bytes) noexcept { madvise(p, bytes, MADV_DONTNEED); }

bool advise_huge(void* p, std::size_t bytes) noexcept {
    table_once();
    if (!status_store().m_huge.load(std::memory_order_relaxed)) {
        return false;
    }
    if (madvise(p, bytes, MADV_HUGEPAGE) != 0) {
        add_note(std::string("madvise(MADV_HUGEPAGE) is refused (") + std::strerror(errno) + ")");
        return false;
    }
    return true;
}

void advise_no_huge(void* p, std::size_t bytes) noexcept { madvise(p, bytes, MADV_NOHUGEPAGE); }

bool apply_policy(void* p, std::size_t bytes, const mem_policy& policy) {
    const auto& t = table_once();
    if (!syscalls_ok()) {
        return false;
    }
    int mode = MPOL_LOCAL;
    switch (policy.type()) {
    case mem_policy::kind::local: mode = MPOL_LOCAL; break;
    case mem_policy::kind::on_node:
    case mem_policy::kind::bind: mode = MPOL_BIND; break;
    case mem_policy::kind::preferred: mode = MPOL_PREFERRED; break;
    case mem_policy::kind::interleave: mode = MPOL_INTERLEAVE; break;
    }
    if (mode == MPOL_LOCAL && status_store().m_default_policy.load(std::memory_order_relaxed)) {
        // The default policy already places pages on the touching CPU's node.
        return true;
    }
    long rc = 0;
    if (mode == MPOL_LOCAL) {
        rc = mbind(p, bytes, mode, nullptr, 0, 0);
    } else {
        const node_mask m = mask_of(policy, t);
        rc = mbind(p, bytes, mode, m.data(), k_mask_bits + 1, 0);
    }
    if (rc == 0) {
        return true;
    }
    const int err = errno;
    if (refused(err)) {
        add_note(std::string("mbind was refused at run time (") + std::strerror(err) +
                 "): some memory is not placed by its policy");
        return false;
    }
    throw memory_error("the kernel rejected memory policy " + policy.to_string() + ": " + std::strerror(err));
}

void query_pages(const std::vector<void*>& pages, std::vector<int>& out) {
    out.assign(pages.size(), -1);
    if (pages.empty()) {
        return;
    }
    const auto& t = table_once();
    if (!syscalls_ok()) {
        // Without move_pages only residency is known; on one node that is enough.
        if (t.os_of_logical.size() == 1) {
            const std::size_t page = page_size();
            for (std::size_t i = 0; i < pages.size(); ++i) {
                unsigned char resident = 0;
                if (mincore(pages[i], page, &resident) == 0 && (resident & 1U) != 0) {
                    out[i] = 0;
                }
            }
        }
        return;
    }
    std::vector<int> status(pages.size(), 0);
    if (move_pages(0, pages.size(), const_cast<void**>(pages.data()), nullptr, status.data(), 0) != 0) {
        add_note(std::string("move_pages failed (") + std::strerror(errno) + "): page nodes are unknown");
        return;
    }
    for (std::size_t i = 0; i < pages.size(); ++i) {
        out[i] = status[i] < 0 ? -1 : logical_of(status[i]);
    }
}

void move_pages_to(const std::vector<void*>& pages, int node, std::vector<int>& out) {
    const auto& t = table_once();
    if (!syscalls_ok() || pages.empty()) {
        query_pages(pages, out);
        return;
    }
    std::vector<int> targets(pages.size(), t.os_of_logical[static_cast<std::size_t>(node)]);
    std::vector<int> status(pages.size(), 0);
    const long rc = move_pages(0, pages.size(), const_cast<void**>(pages.data()), targets.data(), status.data(),
                               MPOL_MF_MOVE);
    if (rc < 0) {
        const int err = errno;
        if (!refused(err)) {
            throw memory_error(std::string("move_pages to node ") + std::to_string(node) +
                               " failed: " + std::strerror(err));
        }
        add_note(std::string("move_pages was refused (") + std::strerror(err) + "): pages were not migrated");
    }
    // Pages the kernel could not move report an error; ask where everything is now.
    query_pages(pages, out);
}

void note_degraded(const std::string& line) { add_note(line); }

void status_fork_prepare() noexcept { status_store().m_lock.lock(); }
void status_fork_release() noexcept { status_store().m_lock.unlock(); }

memory_status current_status() {
    const auto& t = table_once();
    auto& s = status_store();
    memory_status out;
    out.numa_syscalls = syscalls_ok();
    out.huge_pages = s.m_huge.load(std::memory_order_relaxed);
    out.node_count = t.os_of_logical.size();
    out.page_size = page_size();
    const std::lock_guard lock(s.m_lock);
    out.note = s.m_note;
    return out;
}

} // namespace topos::detail
