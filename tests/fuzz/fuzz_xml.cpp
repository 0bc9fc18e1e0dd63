// tests/fuzz/fuzz_xml.cpp - hwloc XML loading through topos (topology::from_xml).
//
// Input: the bytes of an XML file, written to an anonymous memory file and
// loaded by its /proc/self/fd path. A file hwloc refuses must be a
// topos::topology_error naming the file; one it accepts must make a
// consistent topology (PUs sorted and unique, an n x n distance matrix,
// nodes that exist) on which the planner works.
#include "tests/fuzz/fuzz_support.hpp"

#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>

// hwloc reads XML through a plugin (hwloc_xml_libxml.so) that it unloads when
// the topology is destroyed, so LeakSanitizer's fast unwinder cannot say that
// a leak it reports at exit came from hwloc (tests/fuzz/lsan.supp names
// libhwloc.so); the slow unwinder records the whole stack at each malloc.
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

namespace {

using topos::fuzz::check;

// One memory file for the whole run, rewritten for each input.
int memory_file() {
    static const int fd = [] {
        const int f = ::memfd_create("topos-fuzz-xml", MFD_CLOEXEC);
        check(f >= 0, "memfd_create failed");
        return f;
    }();
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int fd = memory_file();
    check(::ftruncate(fd, 0) == 0, "ftruncate failed");
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        check(n > 0, "pwrite failed");
        done += static_cast<std::size_t>(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const auto topo = topos::topology::from_xml(path);
        const auto n = topo.node_count();
        check(n >= 1, "a topology without a NUMA node");
        check(topo.distance_matrix().size() == n * n, "the distance matrix is not n x n");
        const auto pus = topo.pus();
        check(!pus.empty(), "a topology without PUs");
        check(std::adjacent_find(pus.begin(), pus.end(),
                                 [](const auto& a, const auto& b) { return a.os_index >= b.os_index; }) == pus.end(),
              "PUs are not sorted by OS index, or one index repeats");
        for (const auto& p : pus) {
            check(p.node >= -1 && p.node < static_cast<int>(n), "a PU on a node that does not exist");
        }
        for (std::size_t i = 0; i < n; ++i) {
            (void)topo.nodes_by_distance(static_cast<int>(i));
        }
        for (const char* places : {"threads", "cores", "ll_caches", "numa_domains", "sockets"}) {
            try {
                const auto plan = topos::plan_placement(topo, {.places = places, .bind = {}, .threads = {}});
                check(!plan.workers.empty(), "a plan without workers");
            } catch (const topos::places_error&) {
                // numa_domains on a machine whose nodes have no allowed PU
            }
        }
    } catch (const topos::topology_error& e) {
        check(std::string(e.what()).find(path) != std::string::npos, "an XML error that does not name the file",
              e.what());
    }
    return 0;
}
