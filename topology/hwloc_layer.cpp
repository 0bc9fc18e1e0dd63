// topology/hwloc_layer.cpp - converts an hwloc topology into topology_data.
#include "topology/hwloc_layer.hpp"

#include <topos/error.hpp>

#include <hwloc.h>

#include "os/numa.hpp"
#include "os/stderr_capture.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace topos::detail {
namespace {

// Owns an hwloc topology for the duration of one load.
class hwloc_handle {
public:
    hwloc_handle() {
        if (hwloc_topology_init(&m_topo) != 0) {
            throw topology_error("hwloc_topology_init failed: " + std::string(std::strerror(errno)));
        }
        // hwloc hides instruction caches unless asked; list them with the others.
        hwloc_topology_set_icache_types_filter(m_topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    }
    ~hwloc_handle() { hwloc_topology_destroy(m_topo); }
    hwloc_handle(const hwloc_handle&) = delete;
    hwloc_handle& operator=(const hwloc_handle&) = delete;
    [[nodiscard]] hwloc_topology_t get() const noexcept { return m_topo; }

private:
    hwloc_topology_t m_topo{};
};

struct bitmap_deleter {
    void operator()(hwloc_bitmap_t b) const noexcept { hwloc_bitmap_free(b); }
};
using bitmap_ptr = std::unique_ptr<hwloc_bitmap_s, bitmap_deleter>;

bitmap_ptr make_bitmap() {
    bitmap_ptr b(hwloc_bitmap_alloc());
    if (!b) {
        throw std::bad_alloc();
    }
    return b;
}

std::vector<int> to_vector(hwloc_const_bitmap_t set) {
    std::vector<int> out;
    if (set == nullptr) {
        return out;
    }
    for (int id = hwloc_bitmap_first(set); id != -1; id = hwloc_bitmap_next(set, id)) {
        out.push_back(id);
    }
    return out;
}

int logical_of(hwloc_obj_t obj) { return obj ? static_cast<int>(obj->logical_index) : -1; }

int os_of(hwloc_obj_t obj) {
    return (obj == nullptr || obj->os_index == HWLOC_UNKNOWN_INDEX) ? -1 : static_cast<int>(obj->os_index);
}

// A PU's OS index. An XML export may leave it out; hwloc still gives the PU
// a cpuset, whose one bit is by definition the OS index. -1 when neither says.
int pu_os_index(hwloc_obj_t pu) {
    if (const int os = os_of(pu); os >= 0) {
        return os;
    }
    return pu->cpuset == nullptr ? -1 : hwloc_bitmap_first(pu->cpuset);
}

int ancestor_id(hwloc_topology_t t, hwloc_obj_type_t type, hwloc_obj_t obj) {
    return logical_of(hwloc_get_ancestor_obj_by_type(t, type, obj));
}

std::vector<hwloc_obj_t> objects_of(hwloc_topology_t t, hwloc_obj_type_t type) {
    std::vector<hwloc_obj_t> out;
    const int n = hwloc_get_nbobjs_by_type(t, type);
    for (int i = 0; i < n; ++i) {
        out.push_back(hwloc_get_obj_by_type(t, type, static_cast<unsigned>(i)));
    }
    return out;
}

// The NUMA node a PU belongs to: the lowest logical node whose CPU set holds it.
int node_of(const std::vector<hwloc_obj_t>& nodes, unsigned pu_os) {
    for (hwloc_obj_t n : nodes) {
        if (n->cpuset != nullptr && hwloc_bitmap_isset(n->cpuset, pu_os) != 0) {
            return logical_of(n);
        }
    }
    return -1;
}

void read_caches(hwloc_topology_t t, topology_data& d) {
    const hwloc_obj_type_t types[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE,
                                      HWLOC_OBJ_L2ICACHE, HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L3ICACHE,
                                      HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L5CACHE};
    for (hwloc_obj_type_t type : types) {
        for (hwloc_obj_t c : objects_of(t, type)) {
            cache_info ci;
            ci.id = static_cast<int>(d.caches.size());
            ci.level = static_cast<int>(c->attr->cache.depth);
            switch (c->attr->cache.type) {
            case HWLOC_OBJ_CACHE_DATA: ci.type = cache_type::data; break;
            case HWLOC_OBJ_CACHE_INSTRUCTION: ci.type = cache_type::instruction; break;
            case HWLOC_OBJ_CACHE_UNIFIED: ci.type = cache_type::unified; break;
            }
            ci.size_bytes = c->attr->cache.size;
            ci.line_bytes = c->attr->cache.linesize;
            ci.pus = to_vector(c->cpuset);
            d.caches.push_back(std::move(ci));
        }
    }
}

// Core kinds are reported only when there are several: a single kind says
// nothing about the machine that the core list does not.
void read_cpu_kinds(hwloc_topology_t t, topology_data& d) {
    const int nr = hwloc_cpukinds_get_nr(t, 0);
    if (nr < 2) {
        return;
    }
    auto set = make_bitmap();
    for (int k = 0; k < nr; ++k) {
        int efficiency = -1;
        unsigned nr_infos = 0;
        hwloc_info_s* infos = nullptr;
        if (hwloc_cpukinds_get_info(t, static_cast<unsigned>(k), set.get(), &efficiency, &nr_infos, &infos, 0) != 0) {
            continue;
        }
        cpu_kind_info kind;
        kind.efficiency = efficiency;
        for (unsigned i = 0; i < nr_infos; ++i) {
            if (std::strcmp(infos[i].name, "CoreType") == 0 || std::strcmp(infos[i].name, "FrequencyMaxMHz") == 0) {
                if (!kind.name.empty()) {
                    kind.name += ' ';
                }
                kind.name += std::string(infos[i].name) + "=" + infos[i].value;
            }
        }
        kind.pus = to_vector(set.get());
        d.kinds.push_back(std::move(kind));
    }
}

// Reads the NUMA latency matrix hwloc has (ACPI SLIT on Linux, or an XML's
// distances). Returns false when none covers every node.
bool read_distances(hwloc_topology_t t, topology_data& d) {
    const std::size_t n = d.nodes.size();
    unsigned nr = 0;
    if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, nullptr, HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) != 0 ||
        nr == 0) {
        return false;
    }
    std::vector<hwloc_distances_s*> all(nr, nullptr);
    if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, all.data(), HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) !=
        0) {
        return false;
    }
    bool found = false;
    for (unsigned m = 0; m < nr && m < all.size(); ++m) {
        hwloc_distances_s* dist = all[m];
        if (!found && dist->nbobjs == n) {
            std::vector<int> matrix(n * n, 0);
            for (unsigned i = 0; i < dist->nbobjs; ++i) {
                for (unsigned j = 0; j < dist->nbobjs; ++j) {
                    const auto li = dist->objs[i]->logical_index;
                    const auto lj = dist->objs[j]->logical_index;
                    matrix[li * n + lj] = static_cast<int>(dist->values[i * dist->nbobjs + j]);
                }
            }
            d.distances = std::move(matrix);
            found = true;
        }
        hwloc_distances_release(t, dist);
    }
    return found;
}

// No distances from firmware: derive them from where the nodes sit. Nodes in
// one package are 12 apart (sub-NUMA clustering); nodes in different packages
// are 20 apart, plus 10 for every grouping level above the packages that also
// separates them.
void derive_distances(hwloc_topology_t t, topology_data& d) {
    const std::size_t n = d.nodes.size();
    d.distances.assign(n * n, 10);
    d.distances_derived = true;
    const int package_depth = hwloc_get_type_depth(t, HWLOC_OBJ_PACKAGE);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            if (i == j) {
                continue;
            }
            hwloc_obj_t a = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
            hwloc_obj_t b = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(j));
            if (a == nullptr || b == nullptr || a->parent == nullptr || b->parent == nullptr) {
                d.distances[i * n + j] = 20;
                continue;
            }
            hwloc_obj_t common = hwloc_get_common_ancestor_obj(t, a->parent, b->parent);
            int value = 20;
            if (package_depth >= 0 && common->depth >= package_depth) {
                value = 12;
            } else if (package_depth >= 0) {
                // Count the levels between the shared ancestor and the packages.
                hwloc_obj_t pa = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, a);
                int levels = 0;
                for (hwloc_obj_t up = pa ? pa->parent : nullptr; up != nullptr && up != common; up = up->parent) {
                    ++levels;
                }
                value = 20 + 10 * levels;
            }
            d.distances[i * n + j] = value;
        }
    }
}

topology_data extract(hwloc_topology_t t, topology_source source, std::string spec) {
    topology_data d;
    d.source = source;
    d.spec = std::move(spec);
    d.this_system = hwloc_topology_is_thissystem(t) != 0 && source == topology_source::host;

    const auto node_objs = objects_of(t, HWLOC_OBJ_NUMANODE);
    for (hwloc_obj_t n : node_objs) {
        numa_node_info ni;
        ni.id = logical_of(n);
        ni.os_index = os_of(n);
        ni.package = ancestor_id(t, HWLOC_OBJ_PACKAGE, n);
        ni.memory_bytes = n->attr->numanode.local_memory;
        ni.pus = to_vector(n->cpuset);
        if (d.this_system && ni.os_index >= 0) {
            if (const long long free_bytes = os::node_free_bytes(ni.os_index); free_bytes >= 0) {
                ni.free_bytes = free_bytes;
            }
        }
        d.nodes.push_back(std::move(ni));
    }
    if (d.nodes.empty()) {
        throw topology_error("topology '" + d.spec + "' has no NUMA node");
    }

    for (hwloc_obj_t p : objects_of(t, HWLOC_OBJ_PACKAGE)) {
        package_info pi;
        pi.id = logical_of(p);
        pi.os_index = os_of(p);
        pi.pus = to_vector(p->cpuset);
        for (const auto& n : d.nodes) {
            if (n.package == pi.id) {
                pi.numa_nodes.push_back(n.id);
            }
        }
        d.packages.push_back(std::move(pi));
    }

    read_cpu_kinds(t, d);
    auto kind_of = [&](int pu) {
        for (std::size_t k = 0; k < d.kinds.size(); ++k) {
            if (std::binary_search(d.kinds[k].pus.begin(), d.kinds[k].pus.end(), pu)) {
                return static_cast<int>(k);
            }
        }
        return -1;
    };

    for (hwloc_obj_t c : objects_of(t, HWLOC_OBJ_CORE)) {
        core_info ci;
        ci.id = logical_of(c);
        ci.os_index = os_of(c);
        ci.package = ancestor_id(t, HWLOC_OBJ_PACKAGE, c);
        ci.pus = to_vector(c->cpuset);
        if (!ci.pus.empty()) {
            ci.node = node_of(node_objs, static_cast<unsigned>(ci.pus.front()));
            ci.kind = kind_of(ci.pus.front());
        }
        d.cores.push_back(std::move(ci));
    }

    std::size_t nameless = 0;
    for (hwloc_obj_t p : objects_of(t, HWLOC_OBJ_PU)) {
        pu_info pi;
        pi.os_index = pu_os_index(p);
        if (pi.os_index < 0) {
            ++nameless;
            continue;
        }
        pi.logical_index = logical_of(p);
        pi.core = ancestor_id(t, HWLOC_OBJ_CORE, p);
        pi.package = ancestor_id(t, HWLOC_OBJ_PACKAGE, p);
        pi.node = node_of(node_objs, static_cast<unsigned>(pi.os_index));
        d.pus.push_back(pi);
    }
    if (nameless > 0) {
        d.notes.push_back(std::to_string(nameless) + " PUs have neither an OS index nor a cpuset; they are left out");
    }
    std::sort(d.pus.begin(), d.pus.end(), [](const pu_info& a, const pu_info& b) { return a.os_index < b.os_index; });
    // PUs are named by OS index everywhere above this layer, so two with one
    // index (a hand-edited XML) cannot be told apart.
    const auto twin = std::adjacent_find(d.pus.begin(), d.pus.end(),
                                         [](const pu_info& a, const pu_info& b) { return a.os_index == b.os_index; });
    if (twin != d.pus.end()) {
        throw topology_error("topology '" + d.spec + "' has two PUs with OS index " + std::to_string(twin->os_index));
    }
    if (d.pus.empty()) {
        throw topology_error("topology '" + d.spec + "' has no processing unit the process may use");
    }

    read_caches(t, d);
    if (!read_distances(t, d)) {
        derive_distances(t, d);
        if (d.nodes.size() > 1) {
            d.notes.emplace_back("no NUMA distances were reported; they are derived from the package hierarchy");
        }
    }
    if (d.this_system && !os::numa_usable()) {
        d.notes.emplace_back("libnuma is not usable here: free memory per node is unknown");
    }
    const bool all_equal =
        std::all_of(d.distances.begin(), d.distances.end(), [&](int v) { return v == d.distances.front(); });
    d.architecture = (d.nodes.size() == 1 || all_equal) ? memory_architecture::uma : memory_architecture::numa;
    return d;
}

// The XML format this hwloc reads: its own major version (hwloc 2.x reads
// formats 1.x and 2.x).
const int k_hwloc_xml_major = static_cast<int>(HWLOC_API_VERSION >> 16);

// The hwloc release topos was compiled against (pkg-config's version).
std::string hwloc_version_text() {
#ifdef TOPOS_HWLOC_VERSION
    if constexpr (sizeof(TOPOS_HWLOC_VERSION) > 1) {
        return "hwloc " TOPOS_HWLOC_VERSION;
    }
#endif
    return "hwloc " + std::to_string(HWLOC_API_VERSION >> 16) + ".x";
}

// The version attribute of the file's <topology> element, e.g. "3.0"; empty
// when the file has none in its first few kilobytes.
std::string xml_format_version(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    static const std::regex k_version(R"(<topology\s+version\s*=\s*["']([0-9]+(\.[0-9]+)*)["'])");
    std::smatch m;
    return std::regex_search(head, m, k_version) ? m[1].str() : std::string();
}

// pre: none. post: the major number of xml_format_version, 0 when unknown.
int xml_format_major(const std::filesystem::path& file) {
    const std::string v = xml_format_version(file);
    return v.empty() ? 0 : std::atoi(v.c_str());
}

// The first non-empty line of captured library output, trimmed.
std::string first_line(const std::string& text) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string line = text.substr(start, end - start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (line.find_first_not_of(" \t*") != std::string::npos) {
            return line.substr(line.find_first_not_of(" \t*"));
        }
        start = end + 1;
    }
    return {};
}

std::string first_line_in_parens(const std::string& text) {
    const std::string line = first_line(text);
    return line.empty() ? std::string() : " (hwloc: " + line + ")";
}

void load_or_throw(const hwloc_handle& h, const std::string& what) {
    if (hwloc_topology_load(h.get()) != 0) {
        throw topology_error(what + ": hwloc could not load it (" + std::strerror(errno) + ")");
    }
}

} // namespace

topology_data load_host() {
    hwloc_handle h;
    load_or_throw(h, "host topology");
    // hwloc already drops CPUs the cgroup forbids; also honour the affinity
    // mask (taskset, numactl --physcpubind) of the whole process.
    auto bound = make_bitmap();
    std::string restricted_note;
    if (hwloc_get_cpubind(h.get(), bound.get(), HWLOC_CPUBIND_PROCESS) == 0) {
        hwloc_bitmap_and(bound.get(), bound.get(), hwloc_topology_get_topology_cpuset(h.get()));
        if (!hwloc_bitmap_iszero(bound.get()) &&
            !hwloc_bitmap_isequal(bound.get(), hwloc_topology_get_topology_cpuset(h.get()))) {
            restricted_note = "the affinity mask allows " + std::to_string(hwloc_bitmap_weight(bound.get())) + " of " +
                              std::to_string(hwloc_bitmap_weight(hwloc_topology_get_topology_cpuset(h.get()))) +
                              " PUs; the others are left out";
            if (hwloc_topology_restrict(h.get(), bound.get(), 0) != 0) {
                throw topology_error(std::string("host topology: cannot restrict to the allowed CPU set (") +
                                     std::strerror(errno) + ")");
            }
        }
    }
    auto data = extract(h.get(), topology_source::host, "host");
    if (!restricted_note.empty()) {
        data.affinity_restricted = true;
        data.notes.push_back(std::move(restricted_note));
    }
    return data;
}

namespace {

// True when the start tag `tag` (the text between "<object" and ">") has the
// attribute `name`: preceded by white space, followed by optional spaces and '='.
bool has_attribute(std::string_view tag, std::string_view name) {
    for (std::size_t at = tag.find(name); at != std::string_view::npos; at = tag.find(name, at + 1)) {
        const bool starts = at > 0 && (tag[at - 1] == ' ' || tag[at - 1] == '\t' || tag[at - 1] == '\n' ||
                                       tag[at - 1] == '\r');
        std::size_t after = at + name.size();
        while (after < tag.size() && (tag[after] == ' ' || tag[after] == '\t' || tag[after] == '\n')) {
            ++after;
        }
        if (starts && after < tag.size() && tag[after] == '=') {
            return true;
        }
    }
    return false;
}

// hwloc 2.9 dereferences a null bitmap while importing an object that has a
// cpuset (nodeset) but no complete_cpuset (complete_nodeset), and the process
// dies (found by tests/fuzz/fuzz_xml.cpp). Every export hwloc writes has
// both, so such a file is refused here, before hwloc reads it. Returns the
// first problem, empty when none.
std::string incomplete_object(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t count = 0;
    for (std::size_t at = text.find("<object"); at != std::string::npos; at = text.find("<object", at + 1)) {
        ++count;
        const std::size_t end = text.find('>', at);
        const std::string_view tag =
            std::string_view(text).substr(at, end == std::string::npos ? std::string::npos : end - at);
        for (const auto& [set, complete] : {std::pair<std::string_view, std::string_view>{"cpuset", "complete_cpuset"},
                                            std::pair<std::string_view, std::string_view>{"nodeset", "complete_nodeset"}}) {
            if (has_attribute(tag, set) && !has_attribute(tag, complete)) {
                return "object " + std::to_string(count) + " has a " + std::string(set) + " but no " +
                       std::string(complete);
            }
        }
    }
    return {};
}

} // namespace

topology_data load_xml(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
        throw topology_error("topology XML file '" + file.string() + "' does not exist or is not a regular file");
    }
    const std::string what = "topology XML file '" + file.string() + "'";
    if (const std::string problem = incomplete_object(file); !problem.empty()) {
        throw topology_error(what + " is not a valid hwloc XML export: " + problem +
                             " (hwloc cannot read such a file safely)");
    }
    hwloc_handle h;
    // hwloc writes its own complaints about a bad file to stderr, some of
    // them several lines long; they are held back so the caller's one-line
    // error (or note) is all the user sees.
    std::string warnings;
    bool loaded = false;
    {
        os::stderr_capture capture;
        loaded = hwloc_topology_set_xml(h.get(), file.c_str()) == 0 && hwloc_topology_load(h.get()) == 0;
        warnings = capture.finish();
    }
    if (!loaded) {
        if (const int major = xml_format_major(file); major > k_hwloc_xml_major) {
            throw topology_error(what + " is in hwloc XML format " + xml_format_version(file) +
                                 "; this version is not supported by the " + hwloc_version_text() +
                                 " that topos was built with, which reads formats 1.x to " +
                                 std::to_string(k_hwloc_xml_major) + ".x (export it with lstopo from hwloc " +
                                 std::to_string(k_hwloc_xml_major) + ".x)");
        }
        throw topology_error(what + " is not a valid hwloc XML export" + first_line_in_parens(warnings));
    }
    auto data = extract(h.get(), topology_source::xml, file.string());
    if (const auto line = first_line(warnings); !line.empty()) {
        data.notes.push_back("hwloc warned while reading the XML: " + line);
    }
    return data;
}

namespace {

// The largest synthetic machine topos builds. hwloc needs about a second per
// 8192 PUs, and the node distances grow with the square of the nodes, so a
// typo such as 'pu:20000000' (or a fuzzer) would otherwise hang the caller;
// real machines stay well inside these (and a memory policy names at most
// mem_policy::k_max_nodes nodes).
constexpr std::uint64_t k_max_synthetic_pus = 8192;
constexpr std::uint64_t k_max_synthetic_objects = 65536;
constexpr int k_max_synthetic_nodes = 256;

struct synthetic_size {
    std::uint64_t leaves = 1;  ///< the product of the levels' arities: PUs
    std::uint64_t objects = 1; ///< the sum of the running products: every object
    std::uint64_t nodes = 0;   ///< NUMA nodes of a "numa:N" level or of "[numa]" children
    bool balanced = true;      ///< every '(' and '[' closed, nothing closed that was not open
};

bool names_numa(std::string_view token) {
    std::string lower;
    for (const char c : token.substr(0, 4)) {
        lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return lower == "numa" || lower == "node";
}

// What a description asks hwloc to build, before it does: each level is
// "type:N" or a bare "N", optionally with attributes in parentheses; memory
// children in brackets ("[numa]") multiply nothing but are one NUMA node per
// object of the level above (each bracket adds its own). The arity is read as
// hwloc reads it (strtoul, any base, trailing text ignored). A level whose
// arity is not a number counts as 1 (hwloc then rejects the text). Saturates
// just past the limits.
//
// The estimate must never be below what hwloc builds, whatever hwloc makes of
// odd text, so brackets are separators, not groups: a number inside one still
// multiplies ("[numa core:555551]" counts the cores even where hwloc would
// ignore them), and text with an unbalanced '(' or '[' is refused before
// hwloc reads it (hwloc 2.9 read "gr2 [numaU core:555551 pu:1" as a
// machine of 555551 PUs, for minutes; a fuzzer found it).
synthetic_size synthetic_size_of(std::string_view desc) {
    synthetic_size size;
    const auto saturated = [](std::uint64_t v) { return std::min<std::uint64_t>(v, k_max_synthetic_objects + 1); };
    const auto level = [&](std::string_view token, bool memory_child) {
        if (token.empty()) {
            return;
        }
        const bool numa = names_numa(token);
        if (memory_child && numa) {
            size.nodes = saturated(size.nodes + size.leaves); // one per object of the level above
            size.objects = saturated(size.objects + size.leaves);
            return;
        }
        token = token.substr(0, token.find('('));
        if (const auto colon = token.rfind(':'); colon != std::string_view::npos) {
            token.remove_prefix(colon + 1);
        }
        // hwloc reads the arity with strtoul(base 0): "0x86" is 134, "010" is 8.
        const std::string digits(token);
        char* end = nullptr;
        errno = 0;
        const unsigned long long parsed = std::strtoull(digits.c_str(), &end, 0);
        if (end == digits.c_str()) {
            return;
        }
        const std::uint64_t arity = errno == ERANGE ? k_max_synthetic_objects + 1 : saturated(parsed);
        size.leaves = saturated(size.leaves * std::max<std::uint64_t>(arity, 1));
        size.objects = saturated(size.objects + size.leaves);
        if (numa) {
            size.nodes = std::max(size.nodes, size.leaves);
        }
    };
    int parens = 0;   // depth of ()
    int brackets = 0; // depth of []
    std::size_t start = 0;
    bool memory_child = false; // the token being read began after a '['
    for (std::size_t i = 0; i <= desc.size(); ++i) {
        const char c = i < desc.size() ? desc[i] : ' ';
        if (c == '(') {
            ++parens;
        } else if (c == ')') {
            size.balanced = size.balanced && parens > 0;
            parens = std::max(parens - 1, 0);
        } else if (parens == 0 && (c == '[' || c == ']' || c == ' ' || c == '\t' || c == '\n')) {
            level(desc.substr(start, i - start), memory_child);
            start = i + 1;
            if (c == '[') {
                ++brackets;
                memory_child = true;
            } else if (c == ']') {
                size.balanced = size.balanced && brackets > 0;
                brackets = std::max(brackets - 1, 0);
                memory_child = false;
            } else {
                memory_child = memory_child && brackets > 0;
            }
        }
    }
    size.balanced = size.balanced && parens == 0 && brackets == 0;
    return size;
}

} // namespace

topology_data load_synthetic(std::string_view description) {
    const std::string desc(description);
    if (desc.find_first_not_of(" \t") == std::string::npos) {
        throw topology_error("synthetic topology description is empty; expected e.g. 'pack:2 numa:2 core:4 pu:2'");
    }
    const synthetic_size size = synthetic_size_of(desc);
    if (!size.balanced) {
        throw topology_error("synthetic topology description '" + desc +
                             "' is malformed: a '(' or '[' is not closed, or a ')' or ']' was not opened");
    }
    if (size.nodes > static_cast<std::uint64_t>(k_max_synthetic_nodes)) {
        throw topology_error("synthetic topology description '" + desc + "' asks for more than " +
                             std::to_string(k_max_synthetic_nodes) +
                             " NUMA nodes; topos builds synthetic machines of up to " +
                             std::to_string(k_max_synthetic_nodes) + " nodes");
    }
    if (size.leaves > k_max_synthetic_pus || size.objects > k_max_synthetic_objects) {
        throw topology_error("synthetic topology description '" + desc + "' asks for " +
                             (size.leaves > k_max_synthetic_pus
                                  ? "more than " + std::to_string(k_max_synthetic_pus) + " PUs"
                                  : "more than " + std::to_string(k_max_synthetic_objects) + " objects") +
                             "; topos builds synthetic machines of up to " + std::to_string(k_max_synthetic_pus) +
                             " PUs and " + std::to_string(k_max_synthetic_objects) + " objects");
    }
    hwloc_handle h;
    if (hwloc_topology_set_synthetic(h.get(), desc.c_str()) != 0) {
        throw topology_error("synthetic topology description '" + desc +
                             "' is malformed; expected hwloc syntax such as 'pack:2 numa:2 core:4 pu:2'");
    }
    load_or_throw(h, "synthetic topology '" + desc + "'");
    if (const int nodes = hwloc_get_nbobjs_by_type(h.get(), HWLOC_OBJ_NUMANODE); nodes > k_max_synthetic_nodes) {
        throw topology_error("synthetic topology description '" + desc + "' has " + std::to_string(nodes) +
                             " NUMA nodes; topos builds synthetic machines of up to " +
                             std::to_string(k_max_synthetic_nodes) + " nodes");
    }
    return extract(h.get(), topology_source::synthetic, "synthetic:" + desc);
}

} // namespace topos::detail
