// Runs work next to its data: an array spread over the runtime's NUMA nodes,
// filled and summed by workers on each block's node, plus tasks sent to a node.
// Exits non-zero when a result is wrong.
#include <topos/topos.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <iostream>

int main() {
    topos::runtime rt; // TOPOS_* environment, else one worker per allowed core, close
    std::cout << "topos " << TOPOS_VERSION_STRING << ": " << rt.thread_count() << " workers on "
              << rt.topology().node_count() << " NUMA node(s), "
              << topos::to_string(rt.topology().architecture()) << '\n';

    // One block per node of the runtime; each block's pages live on its node.
    const std::size_t n = 1 << 20;
    topos::node_array<double> a(n, rt.nodes());
    topos::parallel_for(rt, a, [&](std::size_t i) { a[i] = 0.5 * static_cast<double>(i); });
    const double sum = topos::parallel_reduce(
        rt, std::size_t{0}, n, 0.0, [&](std::size_t i) { return a[i]; }, std::plus<>{});

    // One task per node, each run by that node's workers.
    std::atomic<int> on_node{0};
    topos::task_group g(rt);
    for (int node : rt.nodes()) {
        g.run_on_node(node, [&on_node, node] { on_node += topos::this_worker::node() == node ? 1 : 0; });
    }
    g.wait();

    const auto stats = rt.stats();
    std::cout << "sum " << sum << ", tasks " << stats.tasks_run << ", steals " << stats.steals_local << " local / "
              << stats.steals_remote << " remote, iterations on their data's node " << stats.iterations_on_data_node
              << " of " << stats.iterations_on_data_node + stats.iterations_off_data_node << '\n';

    const double expected = 0.5 * static_cast<double>(n) * static_cast<double>(n - 1) / 2.0;
    const bool ok = sum == expected && on_node == static_cast<int>(rt.nodes().size());
    return ok ? 0 : 1;
}
