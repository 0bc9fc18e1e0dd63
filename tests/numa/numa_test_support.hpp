// Shared helpers for the `numa`-labelled tests. These tests need a machine with
// several NUMA nodes: tests/numa-vm/run boots one under QEMU. On a one-node
// machine every test skips with the reason, never passes silently.
#pragma once

#include <gtest/gtest.h>

#include <numa.h>

#include <cstdlib>
#include <string>

namespace topos::test {

inline int kernel_node_count() {
    return numa_available() < 0 ? 1 : numa_num_configured_nodes();
}

/// The machine shape the emulated-NUMA harness booted ("2n" or "4n"), or empty.
inline std::string booted_shape() {
    const char* s = std::getenv("TOPOS_NUMA_VM_SHAPE");
    return s == nullptr ? std::string() : std::string(s);
}

/// Base fixture: skips unless the kernel reports at least two NUMA nodes.
class numa_machine_test : public ::testing::Test {
protected:
    void SetUp() override {
        const int nodes = kernel_node_count();
        if (nodes < 2 && !booted_shape().empty()) {
            // Under the harness a skip would hide a broken guest: fail instead.
            FAIL() << "TOPOS_NUMA_VM_SHAPE=" << booted_shape() << " but the kernel reports " << nodes << " node(s)";
        }
        if (nodes < 2) {
            GTEST_SKIP() << "needs a multi-node NUMA kernel (run under tests/numa-vm/run); this machine has " << nodes
                         << " node(s)";
        }
    }
};

} // namespace topos::test
