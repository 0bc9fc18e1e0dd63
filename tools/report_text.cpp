// tools/report_text.cpp - renders topologies and plans for a terminal.
#include "report_text.hpp"

#include <algorithm>
#include <array>
#include <iomanip>
#include <map>
#include <sstream>
#include <string_view>
#include <vector>

namespace topos::cli {
namespace {

std::string pu_list(std::span<const int> pus) { return pus.empty() ? std::string("-") : format_cpu_list(pus); }

std::string worker_list(std::span<const unsigned> workers) {
    std::vector<int> ids;
    ids.reserve(workers.size());
    for (unsigned w : workers) {
        ids.push_back(static_cast<int>(w));
    }
    return pu_list(ids);
}

// Space-separated, as numactl prints a node's CPUs.
std::string spaced_list(std::span<const int> values) {
    std::string out;
    for (int v : values) {
        if (!out.empty()) {
            out += ' ';
        }
        out += std::to_string(v);
    }
    return out;
}

// Columns padded to their widest cell and separated by two spaces; the last
// column is not padded, so no line ends in blanks.
void write_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()), 0);
        for (std::size_t c = 0; c < row.size(); ++c) {
            widths[c] = std::max(widths[c], row[c].size());
        }
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) {
                line.append(widths[c] - row[c].size() + 2, ' ');
            }
        }
        out << line << '\n';
    }
}

// ---- numactl --hardware style summary ------------------------------------

std::size_t digits(long value) { return std::to_string(value).size(); }

void write_node_summary(std::ostream& out, const topology& topo) {
    const auto nodes = topo.numa_nodes();
    std::vector<int> os_ids;
    for (const auto& n : nodes) {
        os_ids.push_back(n.os_index);
    }
    out << "available: " << nodes.size() << (nodes.size() == 1 ? " node (" : " nodes (") << format_cpu_list(os_ids)
        << ")\n";
    for (const auto& n : nodes) {
        out << "node " << n.os_index << " cpus: " << spaced_list(n.pus) << '\n';
        out << "node " << n.os_index << " size: " << (n.memory_bytes >> 20) << " MB\n";
        if (n.free_bytes >= 0) {
            out << "node " << n.os_index << " free: " << (n.free_bytes >> 20) << " MB\n";
        }
    }

    // numactl's layout: a header row of node numbers, then one row per node,
    // every cell right-aligned in (at least) three columns.
    const auto matrix = topo.distance_matrix();
    std::size_t width = 3;
    for (int id : os_ids) {
        width = std::max(width, digits(id));
    }
    for (int d : matrix) {
        width = std::max(width, digits(d));
    }
    const auto cell = [&](long value) {
        std::ostringstream s;
        s << std::setw(static_cast<int>(width)) << value;
        return s.str();
    };
    out << "node distances:\n";
    std::string header = "node ";
    for (int id : os_ids) {
        header += cell(id) + ' ';
    }
    header.pop_back();
    out << header << '\n';
    const std::size_t n = nodes.size();
    for (std::size_t from = 0; from < n; ++from) {
        std::string row = cell(os_ids[from]) + ": ";
        for (std::size_t to = 0; to < n; ++to) {
            row += cell(matrix[from * n + to]) + ' ';
        }
        row.pop_back();
        out << row << '\n';
    }
    if (topo.distances_derived()) {
        out << "(derived from the package hierarchy: no firmware distances)\n";
    }
}

// ---- the package -> node/cache -> core -> PU tree --------------------------

std::string cache_name(const cache_info& c) {
    std::string name = "L" + std::to_string(c.level);
    if (c.type == cache_type::data) {
        name += 'd';
    } else if (c.type == cache_type::instruction) {
        name += 'i';
    }
    return name;
}

std::string cache_label(const cache_info& c) {
    return cache_name(c) + ' ' + (c.size_bytes == 0 ? std::string("(size unknown)") : format_size(c.size_bytes));
}

std::string object_label(std::string_view type, int logical, int os) {
    std::string label = std::string(type) + " L#" + std::to_string(logical);
    if (os >= 0) {
        label += " (P#" + std::to_string(os) + ")";
    }
    return label;
}

// One line of the tree. Outer objects have lower ranks, so that an object
// and its child with the same PU set (a package holding one node) nest the
// right way round.
struct tree_item {
    enum kind_t { package, node, cache, core, lone_pu };
    kind_t kind = package;
    int rank = 0;
    std::string label;
    std::vector<int> pus;
};

bool contains(const std::vector<int>& outer, const std::vector<int>& inner) {
    return std::includes(outer.begin(), outer.end(), inner.begin(), inner.end());
}

std::vector<tree_item> tree_items(const topology& topo) {
    std::vector<tree_item> items;
    for (const auto& p : topo.packages()) {
        if (!p.pus.empty()) {
            items.push_back({tree_item::package, 0, object_label("Package", p.id, p.os_index), p.pus});
        }
    }
    for (const auto& n : topo.numa_nodes()) {
        if (!n.pus.empty()) {
            items.push_back({tree_item::node, 1,
                             object_label("NUMANode", n.id, n.os_index) + ' ' + format_size(n.memory_bytes), n.pus});
        }
    }

    // A cache private to one core is folded into that core's line, as in
    // "L2 1 MiB + L1d 48 KiB + Core L#0"; shared caches get lines of their own.
    std::map<std::vector<int>, std::vector<const cache_info*>> private_caches;
    for (const auto& c : topo.cores()) {
        private_caches[c.pus];
    }
    const int deepest = std::max(topo.last_cache_level(), 1);
    for (const auto& c : topo.caches()) {
        if (c.pus.empty()) {
            continue;
        }
        if (auto it = private_caches.find(c.pus); it != private_caches.end()) {
            it->second.push_back(&c);
        } else {
            items.push_back({tree_item::cache, 2 + deepest - c.level, cache_label(c), c.pus});
        }
    }

    std::vector<int> in_cores;
    for (const auto& c : topo.cores()) {
        if (c.pus.empty()) {
            continue;
        }
        auto& folded = private_caches[c.pus];
        std::stable_sort(folded.begin(), folded.end(),
                         [](const cache_info* a, const cache_info* b) { return a->level > b->level; });
        std::string label;
        for (const cache_info* cache : folded) {
            label += cache_label(*cache) + " + ";
        }
        label += object_label("Core", c.id, c.os_index) + ": PU " + pu_list(c.pus);
        items.push_back({tree_item::core, 100 + deepest, std::move(label), c.pus});
        in_cores.insert(in_cores.end(), c.pus.begin(), c.pus.end());
    }
    std::sort(in_cores.begin(), in_cores.end());
    for (const auto& p : topo.pus()) {
        if (!std::binary_search(in_cores.begin(), in_cores.end(), p.os_index)) {
            items.push_back({tree_item::lone_pu, 101 + deepest, "PU P#" + std::to_string(p.os_index), {p.os_index}});
        }
    }

    // For nested PU sets, ordering by (first PU, larger set first, outer
    // rank first) lists the tree in pre-order.
    std::stable_sort(items.begin(), items.end(), [](const tree_item& a, const tree_item& b) {
        if (a.pus.front() != b.pus.front()) {
            return a.pus.front() < b.pus.front();
        }
        if (a.pus.size() != b.pus.size()) {
            return a.pus.size() > b.pus.size();
        }
        return a.rank < b.rank;
    });
    return items;
}

std::uint64_t total_memory(const topology& topo) {
    std::uint64_t total = 0;
    for (const auto& n : topo.numa_nodes()) {
        total += n.memory_bytes;
    }
    return total;
}

void write_tree(std::ostream& out, const topology& topo) {
    out << "Machine (" << format_size(total_memory(topo)) << " total)\n";
    const auto items = tree_items(topo);
    // Containers enclosing the current item, innermost last.
    std::vector<const tree_item*> open;
    for (const auto& item : items) {
        while (!open.empty() && !contains(open.back()->pus, item.pus)) {
            open.pop_back();
        }
        const bool has_children = item.kind == tree_item::package || item.kind == tree_item::cache ||
                                  (item.kind == tree_item::node && (open.empty() || open.back()->pus != item.pus));
        out << std::string(2 * (open.size() + 1), ' ') << item.label;
        if (item.kind == tree_item::package || item.kind == tree_item::node || item.kind == tree_item::cache) {
            out << ": PU " << pu_list(item.pus);
        }
        out << '\n';
        if (has_children) {
            open.push_back(&item);
        }
    }
    for (const auto& n : topo.numa_nodes()) {
        if (n.pus.empty()) {
            out << "  " << object_label("NUMANode", n.id, n.os_index) << ' ' << format_size(n.memory_bytes)
                << ": no PU in the allowed set\n";
        }
    }
}

void write_cpu_kinds(std::ostream& out, const topology& topo) {
    const auto kinds = topo.cpu_kinds();
    if (kinds.empty()) {
        return;
    }
    out << "\ncpu kinds:\n";
    for (std::size_t k = 0; k < kinds.size(); ++k) {
        out << "  kind " << k << " (efficiency ";
        if (kinds[k].efficiency < 0) {
            out << "unknown";
        } else {
            out << kinds[k].efficiency;
        }
        if (!kinds[k].name.empty()) {
            out << ", " << kinds[k].name;
        }
        out << "): PU " << pu_list(kinds[k].pus) << '\n';
    }
}

std::string count_of(std::size_t n, std::string_view noun) {
    return std::to_string(n) + ' ' + std::string(noun) + (n == 1 ? "" : "s");
}

void write_footer(std::ostream& out, const topology& topo) {
    const std::size_t n = topo.node_count();
    out << "\narchitecture: ";
    if (topo.architecture() == memory_architecture::numa) {
        out << "NUMA (cache-coherent), " << count_of(n, "node") << '\n';
    } else if (n == 1) {
        out << "UMA, 1 node\n";
    } else {
        out << "UMA, " << count_of(n, "node") << " all at the same distance\n";
    }
    out << "source: " << topo.source_spec();
    if (topo.is_this_system()) {
        out << " (this machine)";
    } else if (topo.source() == topology_source::xml) {
        out << " (hwloc XML)";
    }
    out << '\n';
    out << "counts: " << count_of(topo.packages().size(), "package") << ", " << count_of(n, "NUMA node") << ", "
        << count_of(topo.cores().size(), "core") << ", " << count_of(topo.pus().size(), "PU") << '\n';
    for (const auto& note : topo.notes()) {
        out << "note: " << note << '\n';
    }
}

// "core:1 | cache:2,3 | node:4-7 | remote(20):8-15"
std::string steal_order_text(const worker_placement& w) {
    std::string text;
    for (const auto& tier : w.steal_tiers) {
        if (!text.empty()) {
            text += " | ";
        }
        text += to_string(tier.level);
        if (tier.level == steal_level::remote) {
            text += '(' + std::to_string(tier.distance) + ')';
        }
        text += ':' + worker_list(tier.workers);
    }
    return text.empty() ? std::string("-") : text;
}

} // namespace

std::string format_size(std::uint64_t bytes) {
    constexpr std::array<std::string_view, 5> k_units = {"B", "KiB", "MiB", "GiB", "TiB"};
    std::size_t u = 0;
    std::uint64_t scale = 1;
    while (u + 1 < k_units.size() && bytes >= scale * 1024) {
        scale *= 1024;
        ++u;
    }
    std::ostringstream s;
    if (bytes % scale == 0) {
        s << bytes / scale;
    } else {
        s << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / static_cast<double>(scale);
    }
    s << ' ' << k_units[u];
    return s.str();
}

void write_topology_text(std::ostream& out, const topology& topo) {
    write_node_summary(out, topo);
    out << '\n';
    write_tree(out, topo);
    write_cpu_kinds(out, topo);
    write_footer(out, topo);
}

void write_plan_text(std::ostream& out, const topology& topo, const placement_plan& plan) {
    out << "topology: " << topo.source_spec() << '\n';
    out << "places:   " << plan.places_text << " (" << plan.places.size()
        << (plan.places.size() == 1 ? " place)" : " places)") << '\n';
    out << "bind:     " << to_string(plan.bind)
        << (plan.bind == proc_bind::disabled ? " (workers are not pinned)" : "") << '\n';
    out << "threads:  " << plan.workers.size() << "\n\n";

    // The places and the memory nodes behind each (nearest first): several
    // nodes share a place where memory tiers sit over the same CPUs.
    std::vector<std::vector<std::string>> place_rows;
    place_rows.push_back({"place", "pus", "nodes"});
    for (std::size_t p = 0; p < plan.places.size(); ++p) {
        std::string nodes;
        if (p < plan.place_nodes.size()) {
            for (int n : plan.place_nodes[p]) {
                nodes += (nodes.empty() ? "" : ",") + std::to_string(n);
            }
        }
        place_rows.push_back({std::to_string(p), pu_list(plan.places[p]), nodes.empty() ? std::string("-") : nodes});
    }
    write_table(out, place_rows);
    out << '\n';

    std::vector<std::vector<std::string>> rows;
    rows.push_back({"worker", "place", "node", "pus", "steal order"});
    for (const auto& w : plan.workers) {
        rows.push_back({std::to_string(w.id), std::to_string(w.place), w.node < 0 ? "-" : std::to_string(w.node),
                        pu_list(w.pus), steal_order_text(w)});
    }
    write_table(out, rows);
}

} // namespace topos::cli
