// tools/report_json.cpp - builds the --json documents from topos's own types.
#include "report_json.hpp"

#include <topos/version.hpp>

#include <string>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;

// The library marks an unknown id or index with a negative value.
json id_or_null(int value) { return value < 0 ? json(nullptr) : json(value); }

json node_distances(const topology& topo) {
    const std::size_t n = topo.node_count();
    const auto matrix = topo.distance_matrix();
    json rows = json::array();
    for (std::size_t from = 0; from < n; ++from) {
        json row = json::array();
        for (std::size_t to = 0; to < n; ++to) {
            row.push_back(matrix[from * n + to]);
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

} // namespace

json topology_to_json(const topology& topo) {
    json packages = json::array();
    for (const auto& p : topo.packages()) {
        packages.push_back({{"id", p.id}, {"os_index", id_or_null(p.os_index)}, {"numa_nodes", p.numa_nodes},
                            {"pus", p.pus}});
    }

    json cores = json::array();
    for (const auto& c : topo.cores()) {
        cores.push_back({{"id", c.id},
                         {"os_index", id_or_null(c.os_index)},
                         {"package", id_or_null(c.package)},
                         {"node", id_or_null(c.node)},
                         {"kind", id_or_null(c.kind)},
                         {"pus", c.pus}});
    }

    json pus = json::array();
    for (const auto& p : topo.pus()) {
        pus.push_back(p.os_index);
    }

    json nodes = json::array();
    for (const auto& n : topo.numa_nodes()) {
        nodes.push_back({{"id", n.id},
                         {"os_index", n.os_index},
                         {"memory_bytes", n.memory_bytes},
                         {"free_bytes", n.free_bytes < 0 ? json(nullptr) : json(n.free_bytes)},
                         {"package", id_or_null(n.package)},
                         {"pus", n.pus}});
    }

    json caches = json::array();
    for (const auto& c : topo.caches()) {
        caches.push_back({{"id", c.id},
                          {"level", c.level},
                          {"type", to_string(c.type)},
                          {"size_bytes", c.size_bytes},
                          {"line_bytes", c.line_bytes == 0 ? json(nullptr) : json(c.line_bytes)},
                          {"pus", c.pus}});
    }

    json kinds = json::array();
    for (const auto& k : topo.cpu_kinds()) {
        kinds.push_back({{"efficiency", id_or_null(k.efficiency)}, {"name", k.name}, {"pus", k.pus}});
    }

    return {{"topos_version", TOPOS_VERSION_STRING},
            {"source", topo.source_spec()},
            {"architecture", to_string(topo.architecture())},
            {"distances_derived", topo.distances_derived()},
            {"packages", std::move(packages)},
            {"cores", std::move(cores)},
            {"pus", std::move(pus)},
            {"numa_nodes", std::move(nodes)},
            {"distances", node_distances(topo)},
            {"caches", std::move(caches)},
            {"cpu_kinds", std::move(kinds)},
            {"notes", topo.notes()}};
}

json plan_to_json(const placement_plan& plan) {
    json workers = json::array();
    for (const auto& w : plan.workers) {
        json tiers = json::array();
        for (const auto& t : w.steal_tiers) {
            tiers.push_back({{"level", to_string(t.level)}, {"distance", t.distance}, {"workers", t.workers}});
        }
        workers.push_back({{"id", w.id},
                           {"place", w.place},
                           {"pus", w.pus},
                           {"node", id_or_null(w.node)},
                           {"steal_order", w.steal_order},
                           {"steal_tiers", std::move(tiers)}});
    }
    json places = json::array();
    for (const auto& p : plan.places) {
        places.push_back(p);
    }
    return {{"places", plan.places_text},
            {"bind", to_string(plan.bind)},
            {"threads", plan.workers.size()},
            {"place_list", std::move(places)},
            {"place_nodes", plan.place_nodes},
            {"workers", std::move(workers)}};
}

} // namespace topos::cli
