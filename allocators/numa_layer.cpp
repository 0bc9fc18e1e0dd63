// allocators/numa_layer.cpp - logical nodes over the kernel's: the node
// table, policies and page queries translated for os/memory.hpp, and the
// status note of what the kernel refused.
#include "allocators/numa_layer.hpp"

#include "allocators/arena.hpp"
#include "os/cpu.hpp"
#include "os/memory.hpp"
#include "os/numa.hpp"

#include <topos/error.hpp>
#ifndef TOPOS_ALLOC_STANDALONE
#include <topos/topology.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>

namespace topos::detail {
namespace {

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
    if (os::numa_usable()) {
        for (int os : os::memory_nodes()) {
            if (t.logical_of_os.size() <= static_cast<std::size_t>(os)) {
                t.logical_of_os.resize(static_cast<std::size_t>(os) + 1, -1);
            }
            t.logical_of_os[static_cast<std::size_t>(os)] = static_cast<int>(t.os_of_logical.size());
            t.os_of_logical.push_back(os);
        }
        const int cpus = os::configured_cpus();
        t.node_of_cpu.assign(static_cast<std::size_t>(std::max(cpus, 0)), -1);
        for (int cpu = 0; cpu < cpus; ++cpu) {
            const int os = os::kernel_node_of_cpu(cpu);
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
                               : os::node_distance(t.os_of_logical[from],
                                                   t.os_of_logical[static_cast<std::size_t>(to)]);
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

os::node_mask mask_of(const mem_policy& policy, const node_table& t) {
    os::node_mask m{};
    for (int logical : policy.nodes()) {
        const auto os = static_cast<std::size_t>(t.os_of_logical[static_cast<std::size_t>(logical)]);
        if (os >= os::k_node_mask_bits) {
            throw memory_error("NUMA node " + std::to_string(logical) + " has kernel number " + std::to_string(os) +
                               ", beyond the 1024 nodes Linux supports");
        }
        os::add_to_mask(m, os);
    }
    return m;
}

// Probes mbind and move_pages once on a scratch page.
void probe(const node_table& t) {
    auto& s = status_store();
    if (!os::numa_usable()) {
        add_note("the kernel has no NUMA support: memory policies and page queries are not applied");
        return;
    }
    const std::size_t page = os::page_size();
    void* p = os::map_anonymous(page);
    if (p == nullptr) {
        add_note("could not map a probe page: NUMA syscalls were not checked");
        return;
    }
    os::node_mask m{};
    os::add_to_mask(m, static_cast<std::size_t>(t.os_of_logical[0]));
    bool ok = true;
    if (const int err = os::bind_range(p, page, os::mem_mode::preferred, m); err != 0) {
        ok = false;
        add_note(std::string("mbind is refused (") + std::strerror(err) + "): memory policies are not applied");
    } else {
        static_cast<volatile char*>(p)[0] = 1;
        void* pages[1] = {p};
        int where[1] = {-1};
        if (const int query_err = os::page_nodes(pages, 1, where); query_err != 0) {
            ok = false;
            add_note(std::string("move_pages is refused (") + std::strerror(query_err) +
                     "): page queries and migration are not available");
        }
    }
    os::unmap(p, page);
    if (os::thread_policy_is_default()) {
        // relaxed: written once here, before any allocation can read it
        s.m_default_policy.store(true, std::memory_order_relaxed);
    }
    // relaxed: only a hint; readers take m_lock for the note, the flag needs no ordering
    s.m_syscalls.store(ok, std::memory_order_relaxed);
    if (ok && t.os_of_logical.size() == 1) {
        add_note("one NUMA node: placement has no effect on this machine");
    }
    const bool huge = os::transparent_huge_pages_enabled();
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

bool advise_huge(void* p, std::size_t bytes) noexcept {
    table_once();
    if (!status_store().m_huge.load(std::memory_order_relaxed)) {
        return false;
    }
    if (const int err = os::advise_huge(p, bytes); err != 0) {
        add_note(std::string("madvise(MADV_HUGEPAGE) is refused (") + std::strerror(err) + ")");
        return false;
    }
    return true;
}

bool apply_policy(void* p, std::size_t bytes, const mem_policy& policy) {
    const auto& t = table_once();
    if (!syscalls_ok()) {
        return false;
    }
    auto mode = os::mem_mode::local;
    switch (policy.type()) {
    case mem_policy::kind::local:
    case mem_policy::kind::next_touch: mode = os::mem_mode::local; break;
    case mem_policy::kind::on_node:
    case mem_policy::kind::bind: mode = os::mem_mode::bind; break;
    case mem_policy::kind::preferred: mode = os::mem_mode::preferred; break;
    case mem_policy::kind::interleave: mode = os::mem_mode::interleave; break;
    }
    if (mode == os::mem_mode::local && status_store().m_default_policy.load(std::memory_order_relaxed)) {
        // The default policy already places pages on the touching CPU's node.
        return true;
    }
    const int err = os::bind_range(p, bytes, mode, mode == os::mem_mode::local ? os::node_mask{} : mask_of(policy, t));
    if (err == 0) {
        return true;
    }
    if (refused(err)) {
        add_note(std::string("mbind was refused at run time (") + std::strerror(err) +
                 "): some memory is not placed by its policy");
        return false;
    }
    if (err == ENOMEM) {
        // The kernel had no memory for the policy: memory ran out, which the
        // allocation reports as the standard says (bad_alloc, or nullptr from
        // malloc), not as a bad policy.
        throw std::bad_alloc();
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
            for (std::size_t i = 0; i < pages.size(); ++i) {
                if (os::page_resident(pages[i])) {
                    out[i] = 0;
                }
            }
        }
        return;
    }
    std::vector<int> status(pages.size(), 0);
    if (const int err = os::page_nodes(pages.data(), pages.size(), status.data()); err != 0) {
        add_note(std::string("move_pages failed (") + std::strerror(err) + "): page nodes are unknown");
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
    if (const int err = os::move_pages(pages.data(), pages.size(), targets.data(), status.data()); err != 0) {
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
    out.page_size = os::page_size();
    const std::lock_guard lock(s.m_lock);
    out.note = s.m_note;
    return out;
}

} // namespace topos::detail
