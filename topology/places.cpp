// topology/places.cpp - expands an OMP_PLACES list (OpenMP 5.1, section 6.5)
// into PU sets of a topology.
//
// The grammar, as accepted here (whitespace is allowed between any two tokens):
//
//   list       := abstract | p-list
//   abstract   := name [ '(' count ')' ]          name is case-insensitive
//   p-list     := p-interval { ',' p-interval }
//   p-interval := place [ ':' count [ ':' stride ] ] | '!' place
//   place      := '{' r-list '}' | pu
//   r-list     := r-interval { ',' r-interval }
//   r-interval := pu [ ':' count [ ':' stride ] ] | '!' pu
//
// pu and count are decimal numbers (count >= 1), stride may be negative and
// defaults to 1. Choices the specification leaves to the implementation:
//
//   - '!pu' inside a place removes that PU from the place wherever it appears
//     in the braces ("{!3,0:8}" and "{0:8,!3}" are the same place).
//   - '!place' in the list removes every place built so far that holds exactly
//     the same PUs; naming a place that is not in the list is an error, so a
//     typo does not pass unnoticed. It does not affect places written after it.
//   - Every PU the text names, excluded ones included, must be in the
//     topology's allowed set.
//   - PUs repeated inside one place are merged; places may overlap each other.
//   - "name(n)" with n larger than the number of such places is an error.
//   - The abstract names follow the machine's layout (hwloc's topology order),
//     never the OS numbering: `threads` lists the hyperthreads of a core next
//     to each other, as libgomp and libomp do.
//   - threads, cores and ll_caches cover every allowed PU exactly once. A PU
//     that hwloc puts under no core is a `cores` place alone; `ll_caches`
//     gives each PU the place of its own highest data/unified cache, so a PU
//     whose highest cache is shallower than other PUs' (asymmetric caches,
//     hybrid parts whose small cores have no L3) gets that cache's place, and
//     a PU without any cache gets its core's place.
//   - numa_domains and sockets places are distinct CPU sets: memory nodes over
//     the same CPUs (DDR plus MCDRAM or a slower tier) make one place, and the
//     planner reports the nodes behind it. Objects with no allowed PU make no
//     place; sockets falls back to the whole machine as one place.
//   - An abstract name that gives no place at all (numa_domains on a machine
//     whose nodes have no allowed CPU) is an error, not an empty list.
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include "topology/places_internal.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace topos {
namespace {

using detail::is_alpha;
using detail::is_digit;
using detail::is_space;

// A bound on the length of an expanded list, so that "{0}:2000000000:0"
// is an error rather than an allocation of billions of places.
constexpr std::size_t k_max_places = 65536;

std::vector<int> allowed_pus(const topology& topo) {
    std::vector<int> out;
    out.reserve(topo.pus().size());
    for (const auto& p : topo.pus()) {
        out.push_back(p.os_index);
    }
    return out;
}

// Keeps the PUs of `pus` that the topology allows, ascending and unique.
place allowed_subset(const topology& topo, std::span<const int> pus) {
    place out;
    for (int pu : pus) {
        if (topo.has_pu(pu)) {
            out.push_back(pu);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// pre: topo.has_pu(pu). post: the PU's position in topo.pus().
std::size_t pu_position(const topology& topo, int pu) {
    const auto all = topo.pus();
    const auto it =
        std::lower_bound(all.begin(), all.end(), pu, [](const pu_info& p, int os) { return p.os_index < os; });
    return static_cast<std::size_t>(it - all.begin());
}

// Splits the allowed PUs into places, visiting them in topology order: the
// first PU not yet placed opens a place holding `group_of(pu)` less the PUs
// already placed. So the places are disjoint, cover every allowed PU, and
// follow the machine's layout rather than its OS numbering.
// pre: group_of(pu) holds pu.
template <class GroupOf>
std::vector<place> partition_in_topology_order(const topology& topo, GroupOf group_of) {
    std::vector<bool> placed(topo.pus().size(), false);
    const auto index_of = [&](int pu) { return pu_position(topo, pu); };
    std::vector<place> out;
    for (int pu : topo.pus_in_topology_order()) {
        if (placed[index_of(pu)]) {
            continue;
        }
        place p;
        for (int member : allowed_subset(topo, group_of(pu))) {
            if (!placed[index_of(member)]) {
                placed[index_of(member)] = true;
                p.push_back(member);
            }
        }
        if (!placed[index_of(pu)]) { // group_of broke its contract: keep the cover anyway
            placed[index_of(pu)] = true;
            p.push_back(pu);
            std::sort(p.begin(), p.end());
        }
        out.push_back(std::move(p));
    }
    return out;
}

// pre: topo.has_pu(pu).
const pu_info& info_of(const topology& topo, int pu) { return topo.pus()[pu_position(topo, pu)]; }

// One place per PU, in topology order: the hyperthreads of a core are
// neighbours, as libgomp and libomp order them, not PU i and PU i+N.
std::vector<place> thread_places(const topology& topo) {
    return partition_in_topology_order(topo, [](int pu) { return place{pu}; });
}

// pre: topo.has_pu(pu). post: the PUs of pu's core, or pu alone when hwloc
// puts it under no core.
place core_group(const topology& topo, int pu) {
    const auto cores = topo.cores();
    const int core = info_of(topo, pu).core;
    if (core >= 0 && static_cast<std::size_t>(core) < cores.size()) {
        const auto& members = cores[static_cast<std::size_t>(core)].pus;
        return place(members.begin(), members.end());
    }
    return place{pu};
}

// One place per core; a PU that hwloc puts under no core is a place alone.
std::vector<place> core_places(const topology& topo) {
    return partition_in_topology_order(topo, [&](int pu) { return core_group(topo, pu); });
}

// One place per last-level cache, where "last level" is each PU's own: the
// highest-level data or unified cache that holds the PU. On a machine whose
// cores do not all have a cache at the same depth (asymmetric caches, hybrid
// parts whose small cores have no L3), a PU whose own highest cache is
// shallower gets that cache's place, so no PU is left out. A PU with no cache
// at all gets its core's place. As caches nest (hwloc's tree), the PU sets
// of these caches never partially overlap, and the places partition the PUs.
std::vector<place> ll_cache_places(const topology& topo) {
    std::vector<const cache_info*> own(topo.pus().size(), nullptr);
    for (const auto& c : topo.caches()) {
        if (c.type == cache_type::instruction) {
            continue;
        }
        for (int pu : c.pus) {
            if (!topo.has_pu(pu)) {
                continue;
            }
            auto& best = own[pu_position(topo, pu)];
            if (best == nullptr || c.level > best->level) {
                best = &c;
            }
        }
    }
    return partition_in_topology_order(topo, [&](int pu) {
        const cache_info* cache = own[pu_position(topo, pu)];
        return cache != nullptr ? cache->pus : core_group(topo, pu);
    });
}

// Appends `p` unless it is empty or already in `out` (places are distinct CPU sets).
void add_distinct(std::vector<place>& out, place p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) {
        out.push_back(std::move(p));
    }
}

// One place per distinct CPU set of a NUMA node, in node order. Several
// memory nodes over the same CPUs (DDR with MCDRAM or a slower tier) make one
// place, not one each: the planner reports the nodes behind each place.
// Nodes with no allowed PU (CPU-less, or outside the cgroup) make none.
std::vector<place> numa_places(const topology& topo) {
    std::vector<place> out;
    for (const auto& n : topo.numa_nodes()) {
        add_distinct(out, allowed_subset(topo, n.pus));
    }
    return out;
}

std::vector<place> socket_places(const topology& topo) {
    std::vector<place> out;
    for (const auto& p : topo.packages()) {
        add_distinct(out, allowed_subset(topo, p.pus));
    }
    if (out.empty()) {
        out.push_back(allowed_pus(topo));
    }
    return out;
}

std::optional<std::vector<place>> abstract_places(const topology& topo, const std::string& name) {
    if (name == "threads") {
        return thread_places(topo);
    }
    if (name == "cores") {
        return core_places(topo);
    }
    if (name == "ll_caches") {
        return ll_cache_places(topo);
    }
    if (name == "numa_domains") {
        return numa_places(topo);
    }
    if (name == "sockets") {
        return socket_places(topo);
    }
    return std::nullopt;
}

// Recursive-descent parser over one places text. Positions in messages are
// 1-based character columns of the text.
class places_parser {
public:
    places_parser(const topology& topo, std::string_view text) : m_topo(topo), m_text(text) {}

    std::vector<place> parse() {
        skip_space();
        if (at_end()) {
            throw error("the list is empty; expected an abstract name such as 'cores' or places such as '{0:4}'");
        }
        if (is_alpha(peek())) {
            return parse_abstract();
        }
        return parse_list();
    }

private:
    [[nodiscard]] bool at_end() const noexcept { return m_pos >= m_text.size(); }
    [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : m_text[m_pos]; }

    void skip_space() noexcept {
        while (!at_end() && is_space(m_text[m_pos])) {
            ++m_pos;
        }
    }

    [[nodiscard]] std::string column(std::size_t pos) const { return "position " + std::to_string(pos + 1); }

    [[nodiscard]] places_error error(const std::string& detail) const {
        return places_error("places '" + detail::printable(m_text) + "': " + detail);
    }

    // The token at the cursor, for "found ..." in messages.
    [[nodiscard]] std::string found() const {
        if (at_end()) {
            return "end of input";
        }
        std::size_t end = m_pos + 1;
        const auto word_char = [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; };
        if (word_char(m_text[m_pos])) {
            while (end < m_text.size() && word_char(m_text[end])) {
                ++end;
            }
        }
        return "'" + detail::printable(m_text.substr(m_pos, end - m_pos)) + "'";
    }

    [[noreturn]] void fail_expected(std::string_view expected) const {
        throw error("expected " + std::string(expected) + " at " + column(m_pos) + ", found " + found());
    }

    // A non-negative decimal number no larger than INT_MAX.
    std::int64_t parse_number(std::string_view expected) {
        if (!is_digit(peek())) {
            fail_expected(expected);
        }
        const std::size_t start = m_pos;
        std::int64_t value = 0;
        bool too_large = false;
        while (is_digit(peek())) {
            if (!too_large) {
                value = value * 10 + (peek() - '0');
                too_large = value > INT_MAX;
            }
            ++m_pos;
        }
        if (too_large) {
            throw error("number " + std::string(m_text.substr(start, m_pos - start)) + " at " + column(start) +
                        " is too large");
        }
        return value;
    }

    std::int64_t parse_stride() {
        const bool negative = peek() == '-';
        if (negative) {
            ++m_pos;
        }
        const std::int64_t value = parse_number("a stride (an integer such as 2 or -1)");
        return negative ? -value : value;
    }

    std::int64_t parse_count(std::string_view expected) {
        const std::size_t start = m_pos;
        const std::int64_t value = parse_number(expected);
        if (value == 0) {
            throw error("count 0 at " + column(start) + " is not allowed; expected a count of at least 1");
        }
        return value;
    }

    void check_pu(std::int64_t pu, std::size_t pos) const {
        if (pu < 0) {
            throw error("the interval at " + column(pos) + " reaches PU " + std::to_string(pu) +
                        "; PU indices cannot be negative");
        }
        if (pu > INT_MAX || !m_topo.has_pu(static_cast<int>(pu))) {
            throw error("PU " + std::to_string(pu) + " (at " + column(pos) +
                        ") is not on this machine or not allowed; allowed PUs are " +
                        format_cpu_list(allowed_pus(m_topo)));
        }
    }

    std::vector<place> parse_abstract() {
        const std::size_t start = m_pos;
        while (is_alpha(peek()) || is_digit(peek()) || peek() == '_') {
            ++m_pos;
        }
        const std::string word(m_text.substr(start, m_pos - start));
        const std::string name = detail::lowercase(word);
        auto places = abstract_places(m_topo, name);
        if (!places) {
            throw error("unknown abstract name '" + detail::printable(word) + "' at " + column(start) +
                        "; expected threads, cores, ll_caches, numa_domains, sockets or explicit places such as "
                        "'{0:4}'");
        }
        if (places->empty()) {
            throw error("'" + name + "' gives no place: " + no_place_reason(name) +
                        "; expected a machine with such places, or another kind such as 'cores'");
        }
        skip_space();
        if (peek() == '(') {
            ++m_pos;
            skip_space();
            const std::size_t count_pos = m_pos;
            const std::int64_t count = parse_count("a number of places");
            skip_space();
            if (peek() != ')') {
                fail_expected("')'");
            }
            ++m_pos;
            if (static_cast<std::uint64_t>(count) > places->size()) {
                throw error(name + "(" + std::to_string(count) + ") at " + column(count_pos) + " asks for " +
                            std::to_string(count) + " places but this machine has " +
                            std::to_string(places->size()));
            }
            places->resize(static_cast<std::size_t>(count));
        }
        skip_space();
        if (!at_end()) {
            fail_expected("end of input after the abstract name");
        }
        return std::move(*places);
    }

    std::vector<place> parse_list() {
        std::vector<place> out;
        for (;;) {
            skip_space();
            parse_interval(out);
            skip_space();
            if (at_end()) {
                break;
            }
            if (peek() != ',') {
                fail_expected("',' or end of input");
            }
            ++m_pos;
        }
        if (out.empty()) {
            throw error("every place is excluded; expected at least one place to remain");
        }
        return out;
    }

    void parse_interval(std::vector<place>& out) {
        const std::size_t start = m_pos;
        if (peek() == '!') {
            ++m_pos;
            skip_space();
            const std::size_t place_pos = m_pos;
            const place excluded = parse_place();
            const auto removed = std::erase(out, excluded);
            if (removed == 0) {
                throw error("'!" + detail::printable(m_text.substr(place_pos, m_pos - place_pos)) + "' at " +
                            column(start) + " excludes a place that is not in the list before it");
            }
            return;
        }
        const place base = parse_place();
        const auto [count, stride] = parse_count_and_stride("a number of places after ':'");
        if (static_cast<std::uint64_t>(count) > k_max_places - out.size()) {
            throw error("the place interval at " + column(start) + " makes the list longer than " +
                        std::to_string(k_max_places) + " places");
        }
        for (std::int64_t k = 0; k < count; ++k) {
            place shifted;
            shifted.reserve(base.size());
            for (int pu : base) {
                const std::int64_t moved = pu + k * stride;
                check_pu(moved, start);
                shifted.push_back(static_cast<int>(moved));
            }
            out.push_back(std::move(shifted));
        }
    }

    // One place: its PUs, ascending and unique, none excluded, never empty.
    place parse_place() {
        const std::size_t start = m_pos;
        if (is_digit(peek())) {
            const std::int64_t pu = parse_number("a PU number");
            check_pu(pu, start);
            return {static_cast<int>(pu)};
        }
        if (peek() != '{') {
            fail_expected("'{' or a PU number");
        }
        ++m_pos;
        skip_space();
        if (peek() == '}') {
            throw error("empty place '{}' at " + column(start) + "; expected at least one PU");
        }
        place included;
        std::vector<int> excluded;
        for (;;) {
            skip_space();
            const std::size_t item = m_pos;
            if (peek() == '!') {
                ++m_pos;
                skip_space();
                const std::size_t pu_pos = m_pos;
                const std::int64_t pu = parse_number("a PU number after '!'");
                check_pu(pu, pu_pos);
                excluded.push_back(static_cast<int>(pu));
            } else {
                add_interval(included, item);
            }
            skip_space();
            if (peek() == '}') {
                ++m_pos;
                break;
            }
            if (peek() != ',') {
                fail_expected("',' or '}'");
            }
            ++m_pos;
        }
        std::sort(included.begin(), included.end());
        included.erase(std::unique(included.begin(), included.end()), included.end());
        std::erase_if(included, [&](int pu) {
            return std::find(excluded.begin(), excluded.end(), pu) != excluded.end();
        });
        if (included.empty()) {
            throw error("the place at " + column(start) + " is empty once its exclusions are applied");
        }
        return included;
    }

    // The optional interval suffix shared by places and PUs:
    // [ ':' count [ ':' stride ] ], with count 1 and stride 1 when absent.
    std::pair<std::int64_t, std::int64_t> parse_count_and_stride(std::string_view count_what) {
        skip_space();
        std::int64_t count = 1;
        std::int64_t stride = 1;
        if (peek() == ':') {
            ++m_pos;
            skip_space();
            count = parse_count(count_what);
            skip_space();
            if (peek() == ':') {
                ++m_pos;
                skip_space();
                stride = parse_stride();
            }
        }
        return {count, stride};
    }

    // pu [ ':' count [ ':' stride ] ] inside braces.
    void add_interval(place& into, std::size_t item) {
        const std::int64_t first = parse_number("a PU number");
        auto [count, stride] = parse_count_and_stride("a number of PUs after ':'");
        if (stride == 0) {
            count = 1; // every member is `first`; merging duplicates leaves one
        }
        // Each step moves by at least one PU, so an interval too long for the
        // machine stops at its first missing PU rather than running `count` times.
        for (std::int64_t k = 0; k < count; ++k) {
            const std::int64_t pu = first + k * stride;
            check_pu(pu, item);
            into.push_back(static_cast<int>(pu));
        }
    }

    [[nodiscard]] std::string no_place_reason(const std::string& name) const {
        if (name == "numa_domains") {
            std::vector<int> nodes;
            for (const auto& n : m_topo.numa_nodes()) {
                nodes.push_back(n.os_index);
            }
            return "no NUMA node (" + format_cpu_list(nodes) + ") has a PU the process may use (allowed PUs are " +
                   format_cpu_list(allowed_pus(m_topo)) + ")";
        }
        return "the topology has no allowed PU in any such object";
    }

    const topology& m_topo;
    std::string_view m_text;
    std::size_t m_pos = 0;
};

} // namespace

std::vector<place> parse_places(const topology& topo, std::string_view text) {
    return places_parser(topo, text).parse();
}

} // namespace topos
