// tests/fuzz/fuzz_places.cpp - the OMP_PLACES grammar and the placement planner.
//
// Input: byte 0 picks a machine, byte 1 a bind policy (or none), byte 2 a
// thread count (0: none; 255: past k_max_threads), the rest is the places
// text; shorter inputs are places text alone. Bad input must be a
// topos::error; what the parser and the planner accept must hold together:
// places are non-empty sorted sets of allowed PUs, every worker has a place
// and steals from every other worker exactly once.
#include "tests/fuzz/fuzz_support.hpp"

#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using topos::fuzz::check;

const std::vector<topos::topology>& machines() {
    static const std::vector<topos::topology> all = [] {
        std::vector<topos::topology> out;
        for (const char* d : {"pack:2 numa:2 l3:1 core:4 pu:2", "pack:2 core:4 pu:2", "pack:1 core:3 pu:1",
                              "group:2 pack:2 [numa] core:1 pu:1", "pack:2 numa:4 l3:2 l2:2 core:1 pu:2",
                              "numa:3 pu:1", "pack:4 [numa] l3:2 core:4 pu:4"}) {
            out.push_back(topos::topology::synthetic(d));
        }
        return out;
    }();
    return all;
}

void check_place(const topos::topology& topo, const topos::place& p) {
    check(!p.empty(), "a place is empty");
    check(std::is_sorted(p.begin(), p.end()) && std::adjacent_find(p.begin(), p.end()) == p.end(),
          "a place is not ascending and unique");
    for (int pu : p) {
        check(topo.has_pu(pu), "a place names a PU outside the topology", std::to_string(pu));
    }
}

void check_plan(const topos::topology& topo, const topos::placement_plan& plan, std::size_t threads_asked) {
    check(!plan.places.empty(), "a plan without places");
    check(plan.place_nodes.size() == plan.places.size(), "place_nodes and places differ in length");
    for (const auto& p : plan.places) {
        check_place(topo, p);
    }
    check(!plan.workers.empty(), "a plan without workers");
    check(plan.workers.size() <= topos::k_max_threads, "more workers than k_max_threads");
    if (threads_asked != 0) {
        check(plan.workers.size() == threads_asked, "the plan's worker count is not the one asked for");
    }
    const auto count = static_cast<unsigned>(plan.workers.size());
    for (unsigned i = 0; i < count; ++i) {
        const auto& w = plan.workers[i];
        check(w.id == i, "worker ids are not 0..n-1");
        check(w.place < plan.places.size(), "a worker's place is past the list");
        check(w.pus == plan.places[w.place], "a worker's PUs are not its place's");
        check(w.node >= -1 && w.node < static_cast<int>(topo.node_count()), "a worker's node does not exist");
        std::vector<unsigned> order = w.steal_order;
        std::sort(order.begin(), order.end());
        std::vector<unsigned> others;
        for (unsigned v = 0; v < count; ++v) {
            if (v != i) {
                others.push_back(v);
            }
        }
        check(order == others, "a steal order is not every other worker once");
        std::vector<unsigned> tiers;
        for (const auto& t : w.steal_tiers) {
            check(!t.workers.empty(), "an empty steal tier");
            tiers.insert(tiers.end(), t.workers.begin(), t.workers.end());
        }
        check(tiers == w.steal_order, "the steal tiers are not the steal order grouped");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& all = machines();
    std::size_t machine = 0;
    topos::placement_options opts;
    std::size_t threads_asked = 0;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size >= 3) {
        machine = data[0] % all.size();
        static constexpr std::array<topos::proc_bind, 5> k_binds = {
            topos::proc_bind::disabled, topos::proc_bind::enabled, topos::proc_bind::primary,
            topos::proc_bind::close, topos::proc_bind::spread};
        if (data[1] % 6 != 5) {
            opts.bind = k_binds[data[1] % 6];
        }
        if (data[2] != 0) {
            threads_asked = data[2] == 255 ? topos::k_max_threads + 1 : data[2];
            opts.threads = static_cast<unsigned>(threads_asked);
        }
        text.remove_prefix(3);
    }
    const topos::topology& topo = all[machine];

    try {
        for (const auto& p : topos::parse_places(topo, text)) {
            check_place(topo, p);
        }
    } catch (const topos::places_error&) {
    }
    opts.places = std::string(text);
    try {
        const auto plan = topos::plan_placement(topo, opts);
        check(threads_asked <= topos::k_max_threads, "a plan past k_max_threads");
        check_plan(topo, plan, threads_asked);
    } catch (const topos::places_error&) {
    } catch (const topos::config_error&) {
    }
    // The same text as the other values a user types into TOPOS_*.
    try {
        (void)topos::parse_proc_bind(text);
    } catch (const topos::config_error&) {
    }
    try {
        const unsigned n = topos::parse_thread_count(text, "fuzz");
        check(n >= 1, "a thread count of 0 was accepted");
    } catch (const topos::config_error&) {
    }
    return 0;
}
