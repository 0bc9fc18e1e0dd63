// os/process.cpp - /proc/self/statm, the process CPU clock, and the memory
// policy a launcher prepares for its child (a word array of nodes).
#include "os/process.hpp"

#include "os/memory.hpp"

#include <topos/detail/assert.hpp>

#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>

namespace topos::os {

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t total = 0;
    std::size_t resident = 0;
    if (!(statm >> total >> resident)) {
        return 0;
    }
    return resident * page_size();
}

double process_cpu_seconds() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

prepared_memory_policy::prepared_memory_policy(mode m, const std::vector<int>& os_nodes) {
    TOPOS_ASSERT(!os_nodes.empty(), "a bind or interleave policy names at least one node");
    constexpr std::size_t k_bits = 8 * sizeof(unsigned long);
    int highest = 0;
    for (int n : os_nodes) {
        TOPOS_ASSERT(n >= 0, "kernel node numbers are never negative");
        highest = std::max(highest, n);
    }
    m_mask.assign(static_cast<std::size_t>(highest) / k_bits + 1, 0);
    for (int n : os_nodes) {
        if (n >= 0) {
            const auto bit = static_cast<std::size_t>(n);
            m_mask[bit / k_bits] |= 1UL << (bit % k_bits);
        }
    }
    m_mode = m == mode::bind ? MPOL_BIND : MPOL_INTERLEAVE;
}

int prepared_memory_policy::apply() const noexcept {
    if (m_mask.empty()) {
        return 0;
    }
    // maxnode counts bits, and the kernel reads one fewer than it is given.
    const unsigned long max_node = m_mask.size() * 8 * sizeof(unsigned long) + 1;
    return ::set_mempolicy(m_mode, m_mask.data(), max_node) == 0 ? 0 : errno;
}

} // namespace topos::os
