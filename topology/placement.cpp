// topology/placement.cpp - the placement planner: which places the workers get
// (OpenMP 5.1 section 2.6.2, "Controlling OpenMP Thread Affinity"), which NUMA
// node each belongs to, and the order in which it tries victims when stealing.
//
// Departures from OpenMP: there is no parent thread, so distribution starts at
// place 0 (OpenMP starts at the parent's place); and where OpenMP lets the
// implementation choose which places get ceil(T/P) threads, the first T mod P
// places get them.
#include <topos/detail/assert.hpp>
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include <algorithm>
#include <iterator>
#include <string>

namespace topos {
namespace {

constexpr int k_local_distance = 10;

// close: T <= P puts worker i on place i. T > P gives every place
// floor(T/P) consecutive workers and the first T mod P places one more.
// pre: place_count >= 1 (plan_placement rejects an empty list first).
std::vector<unsigned> distribute_close(unsigned threads, std::size_t place_count) {
    TOPOS_ASSERT(place_count > 0, "distribute_close needs at least one place");
    std::vector<unsigned> place_of(threads);
    const auto places = static_cast<unsigned>(place_count);
    if (threads <= places) {
        for (unsigned i = 0; i < threads; ++i) {
            place_of[i] = i;
        }
        return place_of;
    }
    const unsigned per_place = threads / places;
    const unsigned extra = threads % places;
    unsigned worker = 0;
    for (unsigned p = 0; p < places; ++p) {
        const unsigned n = per_place + (p < extra ? 1U : 0U);
        for (unsigned k = 0; k < n; ++k) {
            place_of[worker++] = p;
        }
    }
    return place_of;
}

// spread: T <= P splits the places into T consecutive subpartitions of
// floor(P/T) or ceil(P/T) places (the larger ones first) and puts worker i on
// the first place of subpartition i. T > P distributes as close does.
// pre: place_count >= 1.
std::vector<unsigned> distribute_spread(unsigned threads, std::size_t place_count) {
    TOPOS_ASSERT(place_count > 0, "distribute_spread needs at least one place");
    const auto places = static_cast<unsigned>(place_count);
    if (threads > places) {
        return distribute_close(threads, place_count);
    }
    std::vector<unsigned> place_of(threads);
    const unsigned per_part = places / threads;
    const unsigned larger = places % threads;
    unsigned first = 0;
    for (unsigned i = 0; i < threads; ++i) {
        place_of[i] = first;
        first += per_part + (i < larger ? 1U : 0U);
    }
    return place_of;
}

bool intersects(const std::vector<int>& a, const std::vector<int>& b) {
    auto i = a.begin();
    auto j = b.begin();
    while (i != a.end() && j != b.end()) {
        if (*i == *j) {
            return true;
        }
        if (*i < *j) {
            ++i;
        } else {
            ++j;
        }
    }
    return false;
}

// What a thief compares with its victims besides the node: the cores and
// the data/unified caches its PUs touch (ids, ascending).
struct locality {
    std::vector<int> cores;
    std::vector<int> caches;
};

locality locality_of(const topology& topo, const place& pus) {
    locality loc;
    const auto all = topo.pus();
    for (int pu : pus) {
        const auto it = std::lower_bound(all.begin(), all.end(), pu,
                                         [](const pu_info& p, int os) { return p.os_index < os; });
        if (it != all.end() && it->os_index == pu && it->core >= 0) {
            loc.cores.push_back(it->core);
        }
    }
    for (const auto& c : topo.caches()) {
        if (c.type != cache_type::instruction && intersects(c.pus, pus)) {
            loc.caches.push_back(c.id);
        }
    }
    std::sort(loc.cores.begin(), loc.cores.end());
    loc.cores.erase(std::unique(loc.cores.begin(), loc.cores.end()), loc.cores.end());
    std::sort(loc.caches.begin(), loc.caches.end());
    return loc;
}

// Where a victim falls for a thief; tiers are ordered by this key.
struct tier_key {
    steal_level level = steal_level::node;
    int distance = k_local_distance;
    friend auto operator<=>(const tier_key&, const tier_key&) = default;
};

// Groups every other worker into tiers, nearest first: same core or place,
// shared cache, same node, then one remote tier per distance from the thief's
// node, increasing. A victim goes to the first tier it qualifies for. Victims
// are visited from thief+1 upwards, wrapping, so each tier lists them in that
// rotated order and thieves of one tier do not all hit the same victim first.
// A worker whose node is unknown (-1) is treated as on the thief's node.
//
// Workers on one place compare alike with everyone, so the comparisons are
// made once per pair of places in use, one thief place at a time: the cost
// beyond the output itself is O(U^2) for U places in use, memory O(U).
void plan_steal_order(const topology& topo, const std::vector<place>& places,
                      std::vector<worker_placement>& workers) {
    constexpr auto k_no_slot = static_cast<std::size_t>(-1);
    const auto count = static_cast<unsigned>(workers.size());
    std::vector<std::size_t> slot_of_place(places.size(), k_no_slot);
    std::vector<std::size_t> slot_of_worker(workers.size());
    std::vector<locality> where;
    std::vector<int> node_of_slot;
    std::vector<std::vector<unsigned>> thieves_of_slot;
    for (const auto& w : workers) {
        auto& slot = slot_of_place[w.place];
        if (slot == k_no_slot) {
            slot = where.size();
            where.push_back(locality_of(topo, w.pus));
            node_of_slot.push_back(w.node);
            thieves_of_slot.emplace_back();
        }
        slot_of_worker[w.id] = slot;
        thieves_of_slot[slot].push_back(w.id);
    }
    const std::size_t slots = where.size();

    const auto classify = [&](std::size_t a, std::size_t b) -> tier_key {
        if (a == b || intersects(where[a].cores, where[b].cores)) {
            return {.level = steal_level::core, .distance = k_local_distance};
        }
        if (intersects(where[a].caches, where[b].caches)) {
            return {.level = steal_level::cache, .distance = k_local_distance};
        }
        const int mine = node_of_slot[a];
        const int theirs = node_of_slot[b];
        if (mine == theirs || mine < 0 || theirs < 0) {
            return {.level = steal_level::node, .distance = k_local_distance};
        }
        return {.level = steal_level::remote, .distance = topo.distance(mine, theirs)};
    };

    std::vector<tier_key> row(slots);
    std::vector<tier_key> keys;
    std::vector<std::size_t> tier_of_slot(slots);
    for (std::size_t a = 0; a < slots; ++a) {
        keys.clear();
        for (std::size_t b = 0; b < slots; ++b) {
            row[b] = classify(a, b);
            // Neighbouring places mostly fall in one tier: only the first of
            // each run goes to the sort (the largest machines have hundreds
            // of places and a handful of tiers).
            if (keys.empty() || keys.back() != row[b]) {
                keys.push_back(row[b]);
            }
        }
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        for (std::size_t b = 0; b < slots; ++b) {
            tier_of_slot[b] = static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), row[b]) - keys.begin());
        }
        for (unsigned thief : thieves_of_slot[a]) {
            std::vector<std::vector<unsigned>> buckets(keys.size());
            for (unsigned k = 1; k < count; ++k) {
                const unsigned victim = (thief + k) % count;
                buckets[tier_of_slot[slot_of_worker[victim]]].push_back(victim);
            }
            auto& w = workers[thief];
            w.steal_order.reserve(count - 1);
            for (std::size_t t = 0; t < keys.size(); ++t) {
                if (buckets[t].empty()) {
                    continue;
                }
                w.steal_order.insert(w.steal_order.end(), buckets[t].begin(), buckets[t].end());
                w.steal_tiers.push_back(
                    steal_tier{.level = keys[t].level, .distance = keys[t].distance, .workers = std::move(buckets[t])});
            }
        }
    }
}

// Unbound workers may run anywhere, so no victim is nearer than another: one
// tier of level node holding every other worker, from thief+1 wrapping.
void plan_unbound_steal_order(std::vector<worker_placement>& workers) {
    const auto count = static_cast<unsigned>(workers.size());
    for (unsigned thief = 0; thief < count; ++thief) {
        steal_tier tier{.level = steal_level::node, .distance = k_local_distance, .workers = {}};
        for (unsigned k = 1; k < count; ++k) {
            tier.workers.push_back((thief + k) % count);
        }
        auto& w = workers[thief];
        w.steal_order = tier.workers;
        if (!tier.workers.empty()) {
            w.steal_tiers.push_back(std::move(tier));
        }
    }
}

// Cuts every place down to `within` and drops the places left empty or
// equal to an earlier one (places stay distinct).
std::vector<place> restrict_places(std::vector<place> places, std::vector<int> within) {
    std::sort(within.begin(), within.end());
    std::vector<place> out;
    for (auto& p : places) {
        place kept;
        std::set_intersection(p.begin(), p.end(), within.begin(), within.end(), std::back_inserter(kept));
        if (!kept.empty() && std::find(out.begin(), out.end(), kept) == out.end()) {
            out.push_back(std::move(kept));
        }
    }
    return out;
}

unsigned checked_threads(const placement_options& opts, std::size_t place_count) {
    if (!opts.threads) {
        // One worker per place, capped like an explicit count would be.
        return static_cast<unsigned>(std::min<std::size_t>(place_count, k_max_threads));
    }
    const unsigned threads = *opts.threads;
    if (threads == 0 || threads > k_max_threads) {
        throw config_error("thread count " + std::to_string(threads) + " is out of range; expected 1 to " +
                           std::to_string(k_max_threads));
    }
    return threads;
}

} // namespace

std::string_view to_string(proc_bind b) noexcept {
    switch (b) {
    case proc_bind::disabled: return "false";
    case proc_bind::enabled: return "true";
    case proc_bind::primary: return "primary";
    case proc_bind::close: return "close";
    case proc_bind::spread: return "spread";
    }
    return "unknown";
}

std::string_view to_string(steal_level l) noexcept {
    switch (l) {
    case steal_level::core: return "core";
    case steal_level::cache: return "cache";
    case steal_level::node: return "node";
    case steal_level::remote: return "remote";
    }
    return "unknown";
}

std::vector<int> placement_plan::nodes() const {
    std::vector<int> out;
    for (const auto& w : workers) {
        if (w.node >= 0) {
            out.push_back(w.node);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<unsigned> placement_plan::workers_on_node(int node) const {
    std::vector<unsigned> out;
    for (const auto& w : workers) {
        if (w.node == node) {
            out.push_back(w.id);
        }
    }
    return out;
}

std::vector<int> nodes_behind_place(const topology& topo, const place& pus) {
    std::vector<int> homes; // the node of each PU of the place, where it has one
    for (int pu : pus) {
        if (topo.has_pu(pu)) {
            if (const int node = topo.node_of_pu(pu); node >= 0) {
                homes.push_back(node);
            }
        }
    }
    struct candidate {
        long cost;
        int node;
    };
    std::vector<candidate> found;
    for (const auto& n : topo.numa_nodes()) {
        if (!intersects(n.pus, pus)) {
            continue;
        }
        long cost = 0;
        for (int home : homes) {
            cost += topo.distance(home, n.id);
        }
        found.push_back({cost, n.id});
    }
    std::sort(found.begin(), found.end(),
              [](const candidate& a, const candidate& b) { return a.cost != b.cost ? a.cost < b.cost : a.node < b.node; });
    std::vector<int> out;
    out.reserve(found.size());
    for (const auto& c : found) {
        out.push_back(c.node);
    }
    return out;
}

placement_plan plan_placement(const topology& topo, const placement_options& opts) {
    placement_plan plan;
    plan.bind = opts.bind.value_or(proc_bind::close);
    plan.places_text = opts.places.value_or("cores");
    // Expanded even when unbound: a bad list is reported the same way for
    // every policy, and it sets the default worker count.
    plan.places = parse_places(topo, plan.places_text);
    if (opts.within) {
        plan.places = restrict_places(std::move(plan.places), *opts.within);
    }
    if (plan.places.empty()) { // parse_places never returns one; every division below relies on it
        throw places_error("places '" + plan.places_text + "' gives no place on topology '" + topo.source_spec() + "'");
    }
    const unsigned threads = checked_threads(opts, plan.places.size());
    std::vector<int> within = opts.within.value_or(std::vector<int>{});
    std::sort(within.begin(), within.end());

    if (plan.bind == proc_bind::disabled) {
        // Unbound: the plan records one place, every allowed PU, which each
        // worker may use; places_text still says what was asked for.
        place everywhere;
        for (const auto& p : topo.pus()) {
            if (!opts.within || std::binary_search(within.begin(), within.end(), p.os_index)) {
                everywhere.push_back(p.os_index);
            }
        }
        plan.places.assign(1, everywhere);
        plan.place_nodes.assign(1, nodes_behind_place(topo, everywhere));
        for (unsigned i = 0; i < threads; ++i) {
            plan.workers.push_back(worker_placement{.id = i, .place = 0, .pus = everywhere, .node = -1,
                                                    .steal_order = {}, .steal_tiers = {}});
        }
        plan_unbound_steal_order(plan.workers);
        return plan;
    }

    std::vector<unsigned> place_of;
    switch (plan.bind) {
    case proc_bind::primary: place_of.assign(threads, 0); break;
    case proc_bind::spread: place_of = distribute_spread(threads, plan.places.size()); break;
    case proc_bind::disabled: // handled above
    case proc_bind::enabled:
    case proc_bind::close: place_of = distribute_close(threads, plan.places.size()); break;
    }
    plan.place_nodes.reserve(plan.places.size());
    for (const auto& p : plan.places) {
        plan.place_nodes.push_back(nodes_behind_place(topo, p));
    }
    for (unsigned i = 0; i < threads; ++i) {
        const unsigned at = place_of[i];
        TOPOS_ASSERT(at < plan.places.size(), "a worker was given a place past the end of the list");
        const auto& nodes = plan.place_nodes[at];
        plan.workers.push_back(worker_placement{.id = i, .place = at, .pus = plan.places[at],
                                                .node = nodes.empty() ? -1 : nodes.front(), .steal_order = {},
                                                .steal_tiers = {}});
    }
    plan_steal_order(topo, plan.places, plan.workers);
    return plan;
}

} // namespace topos
