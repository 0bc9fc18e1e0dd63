// Degradation: where the kernel refuses mbind and move_pages (containers with
// a seccomp profile do), every allocation still works and the status says why.
//
// The parent test runs this program again with a filter on one test; that
// child installs a seccomp filter that fails the NUMA syscalls with EPERM
// before topos is first used, then checks the behaviour.
#include <topos/allocator.hpp>
#include <topos/memory.hpp>
#include <topos/node_array.hpp>

#include <gtest/gtest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* k_child_env = "TOPOS_TEST_DEGRADED_CHILD";

sock_filter stmt(unsigned code, unsigned k) {
    return {static_cast<unsigned short>(code), 0, 0, k};
}
sock_filter jump(unsigned code, unsigned k, unsigned char jt, unsigned char jf) {
    return {static_cast<unsigned short>(code), jt, jf, k};
}

// Fails mbind, move_pages and set_mempolicy with EPERM; allows everything else.
bool refuse_numa_syscalls() {
    const unsigned eperm = SECCOMP_RET_ERRNO | (static_cast<unsigned>(EPERM) & SECCOMP_RET_DATA);
    std::array<sock_filter, 9> prog = {
        stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<unsigned>(offsetof(seccomp_data, arch))),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<unsigned>(offsetof(seccomp_data, nr))),
        jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_mbind, 3, 0),
        jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_move_pages, 2, 0),
        jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_set_mempolicy, 1, 0),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        stmt(BPF_RET | BPF_K, eperm),
    };
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) == 0;
}

TEST(AllocDegraded, EverythingWorksWhenTheKernelRefusesMbind) {
    const std::string cmd = std::string(k_child_env) + "=1 /proc/" + std::to_string(getpid()) +
                            "/exe --gtest_also_run_disabled_tests --gtest_filter=AllocDegraded.DISABLED_Child 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
        out.append(buf.data(), n);
    }
    const int status = pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << out;
}

// Disabled so that only the parent test runs it.
TEST(AllocDegraded, DISABLED_Child) {
    if (std::getenv(k_child_env) == nullptr) {
        GTEST_SKIP() << "runs only as the child of EverythingWorksWhenTheKernelRefusesMbind";
    }
    ASSERT_TRUE(refuse_numa_syscalls()) << std::strerror(errno);

    const auto status = topos::get_memory_status();
    EXPECT_FALSE(status.numa_syscalls);
    EXPECT_NE(status.note.find("mbind is refused"), std::string::npos) << status.note;

    const std::size_t page = status.page_size;
    for (const auto& policy : {topos::mem_policy::local(), topos::mem_policy::on_node(0),
                               topos::mem_policy::interleave(), topos::mem_policy::bind({0})}) {
        SCOPED_TRACE(policy.to_string());
        void* small = topos::allocate(100, policy);
        std::memset(small, 1, 100);
        topos::deallocate(small, 100);
        auto* big = static_cast<char*>(topos::allocate(64 * page, policy));
        std::memset(big, 2, 64 * page);
        const auto nodes = topos::page_nodes(big, 64 * page);
        ASSERT_EQ(nodes.size(), 64u);
        if (status.node_count == 1) {
            for (int node : nodes) {
                EXPECT_EQ(node, 0) << "one node: resident pages are on it (mincore)";
            }
        }
        EXPECT_EQ(topos::migrate(big, 64 * page, 0), status.node_count == 1 ? 64u : 0u);
        topos::set_mem_policy(big, page, topos::mem_policy::on_node(0));
        topos::deallocate(big, 64 * page);
    }
    std::vector<int, topos::numa_allocator<int>> v(100000, 3);
    EXPECT_EQ(v[99999], 3);
    topos::node_array<double> a(1 << 16);
    a[7] = 1.5;
    EXPECT_EQ(a[7], 1.5);
    std::vector<void*> blocks;
    for (int i = 0; i < 10000; ++i) {
        blocks.push_back(topos::node_malloc(static_cast<std::size_t>(8 + i % 900), 0));
    }
    for (void* p : blocks) {
        topos::node_free(p);
    }
}

} // namespace
