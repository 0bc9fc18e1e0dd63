// topology/topology.cpp - queries over the immutable topology value.
#include <topos/error.hpp>
#include <topos/topology.hpp>

#include "topology/config.hpp"
#include "topology/hwloc_layer.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace topos {

topology::topology(std::shared_ptr<const detail::topology_data> data) noexcept : m_data(std::move(data)) {}

topology topology::host() {
    return topology(std::make_shared<const detail::topology_data>(detail::load_host()));
}

topology topology::from_xml(const std::filesystem::path& file) {
    return topology(std::make_shared<const detail::topology_data>(detail::load_xml(file)));
}

topology topology::synthetic(std::string_view description) {
    return topology(std::make_shared<const detail::topology_data>(detail::load_synthetic(description)));
}

topology topology::from_spec(std::string_view spec) {
    constexpr std::string_view k_synthetic_prefix = "synthetic:";
    if (spec == "host") {
        return host();
    }
    if (spec.starts_with(k_synthetic_prefix)) {
        return synthetic(spec.substr(k_synthetic_prefix.size()));
    }
    if (spec.ends_with(".xml")) {
        return from_xml(std::filesystem::path(spec));
    }
    throw topology_error("topology spec '" + std::string(spec) +
                         "' is not understood; expected 'host', 'synthetic:<hwloc description>' or a path to an .xml file");
}

topology topology::from_env() {
    const auto spec = detail::topology_spec_from_environment();
    if (!spec) {
        return host();
    }
    try {
        return from_spec(*spec);
    } catch (const topology_error& e) {
        throw topology_error(std::string("TOPOS_TOPOLOGY: ") + e.what());
    }
}

topology_source topology::source() const noexcept { return m_data->source; }
const std::string& topology::source_spec() const noexcept { return m_data->spec; }
bool topology::is_this_system() const noexcept { return m_data->this_system; }

bool topology::affinity_restricted() const noexcept { return m_data->affinity_restricted; }
memory_architecture topology::architecture() const noexcept { return m_data->architecture; }
std::span<const package_info> topology::packages() const noexcept { return m_data->packages; }
std::span<const numa_node_info> topology::numa_nodes() const noexcept { return m_data->nodes; }
std::span<const core_info> topology::cores() const noexcept { return m_data->cores; }
std::span<const pu_info> topology::pus() const noexcept { return m_data->pus; }
std::span<const cache_info> topology::caches() const noexcept { return m_data->caches; }
std::span<const cpu_kind_info> topology::cpu_kinds() const noexcept { return m_data->kinds; }
std::size_t topology::node_count() const noexcept { return m_data->nodes.size(); }
std::span<const int> topology::distance_matrix() const noexcept { return m_data->distances; }
bool topology::distances_derived() const noexcept { return m_data->distances_derived; }
std::span<const std::string> topology::notes() const noexcept { return m_data->notes; }

namespace {
void check_node(const detail::topology_data& d, int node) {
    if (node < 0 || static_cast<std::size_t>(node) >= d.nodes.size()) {
        throw node_error("NUMA node " + std::to_string(node) + " does not exist; this topology has nodes 0-" +
                         std::to_string(d.nodes.size() - 1));
    }
}
} // namespace

int topology::distance(int from, int to) const {
    check_node(*m_data, from);
    check_node(*m_data, to);
    const auto n = m_data->nodes.size();
    return m_data->distances[static_cast<std::size_t>(from) * n + static_cast<std::size_t>(to)];
}

std::vector<int> topology::nodes_by_distance(int from) const {
    check_node(*m_data, from);
    std::vector<int> order(m_data->nodes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        const int da = a == from ? -1 : distance(from, a);
        const int db = b == from ? -1 : distance(from, b);
        return da < db;
    });
    return order;
}

std::vector<int> topology::pus_in_topology_order() const {
    std::vector<pu_info> sorted(m_data->pus.begin(), m_data->pus.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const pu_info& a, const pu_info& b) { return a.logical_index < b.logical_index; });
    std::vector<int> out;
    out.reserve(sorted.size());
    for (const auto& p : sorted) {
        out.push_back(p.os_index);
    }
    return out;
}

bool topology::has_pu(int pu) const noexcept {
    const auto& pus = m_data->pus;
    return std::binary_search(pus.begin(), pus.end(), pu_info{.os_index = pu},
                              [](const pu_info& a, const pu_info& b) { return a.os_index < b.os_index; });
}

int topology::node_of_pu(int pu) const {
    const auto& pus = m_data->pus;
    auto it = std::lower_bound(pus.begin(), pus.end(), pu,
                               [](const pu_info& a, int os) { return a.os_index < os; });
    if (it == pus.end() || it->os_index != pu) {
        throw node_error("PU " + std::to_string(pu) + " is not in this topology's allowed set (" +
                         format_cpu_list([&] {
                             std::vector<int> v;
                             for (const auto& p : pus) {
                                 v.push_back(p.os_index);
                             }
                             return v;
                         }()) +
                         ")");
    }
    return it->node;
}

std::vector<int> topology::pus_of_node(int node) const {
    check_node(*m_data, node);
    return m_data->nodes[static_cast<std::size_t>(node)].pus;
}

int topology::last_cache_level() const noexcept {
    int level = 0;
    for (const auto& c : m_data->caches) {
        if (c.type != cache_type::instruction) {
            level = std::max(level, c.level);
        }
    }
    return level;
}

std::vector<std::vector<int>> topology::cache_groups(int level) const {
    if (level == 0) {
        level = last_cache_level();
    }
    std::vector<std::vector<int>> groups;
    for (const auto& c : m_data->caches) {
        if (c.level == level && c.type != cache_type::instruction && !c.pus.empty()) {
            groups.push_back(c.pus);
        }
    }
    return groups;
}

std::string_view to_string(memory_architecture a) noexcept {
    return a == memory_architecture::uma ? "uma" : "numa";
}

std::string_view to_string(topology_source s) noexcept {
    switch (s) {
    case topology_source::host: return "host";
    case topology_source::xml: return "xml";
    case topology_source::synthetic: return "synthetic";
    }
    return "unknown";
}

std::string_view to_string(cache_type t) noexcept {
    switch (t) {
    case cache_type::unified: return "unified";
    case cache_type::data: return "data";
    case cache_type::instruction: return "instruction";
    }
    return "unknown";
}

std::string format_cpu_list(std::span<const int> pus) {
    std::vector<int> v(pus.begin(), pus.end());
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    std::string out;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) {
            ++j;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(v[i]);
        if (j > i) {
            out += '-';
            out += std::to_string(v[j]);
        }
        i = j + 1;
    }
    return out;
}

} // namespace topos
