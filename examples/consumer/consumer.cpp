// Plans workers for this machine and for a synthetic two-socket server, and
// checks the plans make sense. Exits non-zero when something is off.
#include <topos/topos.hpp>

#include <iostream>

int main() {
    const auto host = topos::topology::host();
    std::cout << "topos " << TOPOS_VERSION_STRING << ": this machine is " << topos::to_string(host.architecture())
              << " with " << host.node_count() << " node(s) and " << host.pus().size() << " PU(s)\n";

    const auto server = topos::topology::synthetic("pack:2 [numa] l3:1 core:8 pu:2");
    const auto plan = topos::plan_placement(server, {.places = "cores", .bind = topos::proc_bind::spread, .threads = 4});
    for (const auto& w : plan.workers) {
        std::cout << "worker " << w.id << " on node " << w.node << " pus " << topos::format_cpu_list(w.pus) << '\n';
    }
    // Spread over two sockets puts half the workers on each node.
    const bool ok = plan.workers.size() == 4 && plan.workers_on_node(0).size() == 2 &&
                    plan.workers_on_node(1).size() == 2;
    return ok ? 0 : 1;
}
