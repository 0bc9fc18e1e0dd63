// Ranks take their share, judged by the kernel: forked children play the
// local ranks of an Open MPI job started with --bind-to none (only
// OMPI_COMM_WORLD_LOCAL_RANK/SIZE set, every CPU allowed). Each one's
// workers, and its calling thread while it is worker 0, run on CPUs of its
// own node(s) (sched_getcpu and the kernel's node of that CPU). Children
// bound by their "launcher" first keep that binding. Needs several NUMA
// nodes: run under tests/numa-vm/run --shape 2n / 4n.
#include "numa_test_support.hpp"

#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/share.hpp>
#include <topos/topology.hpp>

#include <gtest/gtest.h>

#include <numa.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

class ShareNuma : public topos::test::numa_machine_test {};

// Exit statuses of a child, so the parent can say what went wrong.
constexpr int k_ok = 0;
constexpr int k_no_share = 10;
constexpr int k_off_node = 11;
constexpr int k_too_many_threads = 12;
constexpr int k_not_restored = 13;
constexpr int k_exception = 14;

std::vector<int> kernel_nodes_of(const topos::topology& topo, const std::vector<int>& logical) {
    std::vector<int> out;
    for (int id : logical) {
        out.push_back(topo.numa_nodes()[static_cast<std::size_t>(id)].os_index);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(static_cast<std::size_t>(cpu), &set)) {
                out.push_back(cpu);
            }
        }
    }
    return out;
}

// In the child: a runtime from the environment, a loop from main whose every
// iteration notes the kernel node it ran on. The calling thread keeps slot 0's
// pin between calls, inside the rank's share; its own mask comes back when the
// runtime ends. Returns an exit status.
int run_loop(const std::vector<int>& expected_kernel_nodes, bool expect_share) {
    const auto in_share = [&](int node) {
        return std::binary_search(expected_kernel_nodes.begin(), expected_kernel_nodes.end(), node);
    };
    topos::runtime rt;
    if (rt.share().taken != expect_share) {
        std::fprintf(stderr, "share taken: %d, expected %d (%s)\n", rt.share().taken ? 1 : 0, expect_share ? 1 : 0,
                     rt.share().summary.c_str());
        return k_no_share;
    }
    std::mutex lock;
    std::set<int> nodes_seen;
    std::set<std::thread::id> threads_seen;
    topos::parallel_for(
        rt, 0, 4000,
        [&](int) {
            const int cpu = sched_getcpu();
            const int node = numa_node_of_cpu(cpu);
            const std::lock_guard guard(lock);
            nodes_seen.insert(node);
            threads_seen.insert(std::this_thread::get_id());
            for (int spin = 0; spin < 2000; ++spin) {
                asm volatile("" ::: "memory");
            }
        },
        1);
    for (int node : nodes_seen) {
        if (!in_share(node)) {
            std::fprintf(stderr, "an iteration ran on kernel node %d (%s)\n", node, rt.share().summary.c_str());
            return k_off_node;
        }
    }
    if (threads_seen.size() > rt.thread_count()) {
        std::fprintf(stderr, "%zu threads ran the loop, the runtime has %u workers\n", threads_seen.size(),
                     rt.thread_count());
        return k_too_many_threads;
    }
    for (int cpu : allowed_cpus()) {
        if (!in_share(numa_node_of_cpu(cpu))) {
            std::fprintf(stderr, "between calls the calling thread may run on CPU %d, off its share (%s)\n",
                         cpu, rt.share().summary.c_str());
            return k_off_node;
        }
    }
    return k_ok;
}

int run_rank(const std::vector<int>& expected_kernel_nodes, bool expect_share) {
    try {
        const std::vector<int> before = allowed_cpus();
        const int status = run_loop(expected_kernel_nodes, expect_share);
        if (status == k_ok && allowed_cpus() != before) {
            std::fprintf(stderr, "the calling thread's mask was not put back when the runtime ended\n");
            return k_not_restored;
        }
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        return k_exception;
    }
}

// Forks `size` children, rank i with OMPI_COMM_WORLD_LOCAL_RANK=i; `bind`
// pins each child to its expected nodes' CPUs first, as --bind-to numa does.
void run_ranks(const topos::topology& topo, unsigned size, bool bind) {
    std::vector<pid_t> children;
    std::vector<std::vector<int>> expected(size);
    for (unsigned i = 0; i < size; ++i) {
        const auto share = topos::share_for_rank(topo, {.rank = i, .size = size}, "test");
        ASSERT_FALSE(share.nodes.empty()) << "the test runs node counts the ranks divide";
        expected[i] = kernel_nodes_of(topo, share.nodes);
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            setenv("OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(i).c_str(), 1);
            setenv("OMPI_COMM_WORLD_LOCAL_SIZE", std::to_string(size).c_str(), 1);
            for (const char* name : {"TOPOS_PLACES", "TOPOS_SHARE", "TOPOS_NUM_THREADS", "TOPOS_PROC_BIND",
                                     "TOPOS_TOPOLOGY", "TOPOS_CALLER"}) {
                unsetenv(name);
            }
            if (bind) {
                cpu_set_t set;
                CPU_ZERO(&set);
                for (int pu : share.pus) {
                    CPU_SET(static_cast<std::size_t>(pu), &set);
                }
                if (sched_setaffinity(0, sizeof set, &set) != 0) {
                    _exit(k_exception);
                }
            }
            _exit(run_rank(expected[i], !bind));
        }
        children.push_back(pid);
    }
    for (unsigned i = 0; i < size; ++i) {
        int status = 0;
        ASSERT_EQ(waitpid(children[i], &status, 0), children[i]);
        ASSERT_TRUE(WIFEXITED(status)) << "rank " << i << " was killed";
        EXPECT_EQ(WEXITSTATUS(status), k_ok) << "rank " << i << " of " << size << (bind ? " (bound)" : " (unbound)")
                                             << ": see its message above";
    }
}

std::size_t nodes_with_cpus(const topos::topology& topo) {
    return static_cast<std::size_t>(std::count_if(topo.numa_nodes().begin(), topo.numa_nodes().end(),
                                                  [](const auto& n) { return !n.pus.empty(); }));
}

TEST_F(ShareNuma, EachUnboundLocalRankRunsOnItsOwnNode) {
    const auto topo = topos::topology::host();
    if (topo.affinity_restricted()) {
        GTEST_SKIP() << "this process is bound already, as a launcher would; the share rule leaves it alone";
    }
    const auto m = static_cast<unsigned>(nodes_with_cpus(topo));
    ASSERT_GE(m, 2U);
    run_ranks(topo, m, false); // one node each
    if (m % 2 == 0 && m > 2) {
        run_ranks(topo, 2, false); // m/2 nodes each
    }
}

TEST_F(ShareNuma, BoundLocalRanksKeepTheirBinding) {
    const auto topo = topos::topology::host();
    if (topo.affinity_restricted()) {
        GTEST_SKIP() << "this process is bound already";
    }
    run_ranks(topo, static_cast<unsigned>(nodes_with_cpus(topo)), true);
}

} // namespace
