// tools/bench_memory.cpp - `topos bench latency` and `topos bench bandwidth`:
// node x node matrices of load latency and read bandwidth.
//
// Memory for node j comes from topos::allocate with mem_policy::on_node(j) (its
// own pages, so page_nodes can confirm where they landed). The measuring
// threads of node i are plain threads pinned with the topology's PU sets: one
// for the latency chase (allowed on all of node i's PUs), one per core of node i
// for the bandwidth read. They are not runtime workers because a measurement
// needs exactly one thread per core, all released together by a barrier, which
// the task scheduler does not promise.
#include "bench_commands.hpp"
#include "bench_kernels.hpp"
#include "bench_parse.hpp"
#include "interrupt.hpp"
#include "pinning.hpp"

#include "command_set.hpp"

#include "os/process.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace topos::cli {
namespace {

constexpr std::size_t k_line = 64; // one chain slot per cache line

// A page block on one node, freed on scope exit.
class node_buffer {
public:
    node_buffer(std::size_t bytes, int node)
        : m_bytes(bytes), m_data(allocate(bytes, mem_policy::on_node(node), {.alignment = 4096, .huge_pages = false, .own_pages = true})) {}
    ~node_buffer() { deallocate(m_data, m_bytes); }
    node_buffer(const node_buffer&) = delete;
    node_buffer& operator=(const node_buffer&) = delete;
    [[nodiscard]] std::byte* bytes() const noexcept { return static_cast<std::byte*>(m_data); }
    [[nodiscard]] std::size_t size() const noexcept { return m_bytes; }

private:
    std::size_t m_bytes;
    void* m_data;
};

// Percentage of the touched pages of [p, p+bytes) that sit on `node`; negative
// when the kernel cannot say.
double percent_on_node(const void* p, std::size_t bytes, int node) {
    try {
        const std::vector<int> where = page_nodes(p, bytes);
        std::size_t present = 0;
        std::size_t on = 0;
        for (int n : where) {
            present += n >= 0 ? 1 : 0;
            on += n == node ? 1 : 0;
        }
        return present == 0 ? -1.0 : 100.0 * static_cast<double>(on) / static_cast<double>(present);
    } catch (const memory_error&) {
        return -1.0;
    }
}

// Nodes that have CPUs to measure from; all nodes are memory targets.
std::vector<int> cpu_nodes(const topology& topo, bench_report& report) {
    std::vector<int> out;
    for (const auto& n : topo.numa_nodes()) {
        if (!n.pus.empty()) {
            out.push_back(n.id);
        } else {
            report.notes.push_back("node " + std::to_string(n.id) + " has no usable CPU: no row is measured from it");
        }
    }
    return out;
}

std::size_t default_large_size(const topology& topo, bench_report& report, std::size_t floor_bytes) {
    const std::uint64_t llc = last_level_cache_bytes(topo);
    std::size_t want = std::max<std::size_t>(floor_bytes, static_cast<std::size_t>(4 * llc));
    const std::uint64_t avail = available_memory_bytes();
    if (avail > 0 && want > avail / 4) {
        const auto capped = static_cast<std::size_t>(avail / 4);
        report.notes.push_back("working set capped at " + format_bytes(static_cast<double>(capped)) +
                               " (a quarter of the available memory); 4x the last-level caches would be " +
                               format_bytes(static_cast<double>(want)));
        want = capped;
    }
    return want;
}

std::size_t size_limit() {
    const std::uint64_t avail = available_memory_bytes();
    return avail > 0 ? static_cast<std::size_t>(avail / 2) : k_max_block;
}

std::string matrix_text(const std::string& title, const std::vector<int>& from, std::size_t nodes,
                        const std::vector<std::vector<double>>& values, int digits) {
    std::ostringstream out;
    out << title << "\n" << pad("from\\to", 8);
    for (std::size_t j = 0; j < nodes; ++j) {
        out << pad(std::to_string(j), 10);
    }
    out << '\n';
    for (std::size_t r = 0; r < from.size(); ++r) {
        out << pad(std::to_string(from[r]), 8);
        for (std::size_t j = 0; j < nodes; ++j) {
            const double v = values[r][j];
            out << pad(v < 0 ? "-" : fixed(v, digits), 10);
        }
        out << '\n';
    }
    return out.str();
}

} // namespace

int run_bench_latency(const bench_common_options& opts) {
    const topology topo = topology::host();
    bench_report report;
    report.command = "latency";
    const std::size_t max_bytes = opts.size ? parse_size(*opts.size, "--size", size_limit())
                                            : (opts.quick ? std::size_t{4} << 20 : default_large_size(topo, report, 256u << 20));
    if (max_bytes < 2 * k_line) {
        throw error("--size: '" + *opts.size + "' is too small for a pointer chain; expected at least 128 bytes");
    }
    const unsigned reps = opts.repetitions.value_or(opts.quick ? 2 : 3);
    if (reps == 0) {
        throw error("--repetitions: expected at least 1");
    }
    const std::size_t loads = opts.quick ? std::size_t{1} << 15 : std::size_t{1} << 22;
    const std::vector<std::size_t> sizes = latency_sizes(topo, max_bytes, opts.quick);
    const std::vector<int> from = cpu_nodes(topo, report);
    const std::size_t nodes = topo.node_count();
    report.context_extra["latency_loads_per_measurement"] = loads;
    report.context_extra["latency_repetitions"] = reps;
    report.context_extra["latency_sizes"] = sizes;
    report.context_extra["latency_stride_bytes"] = k_line;
    interrupt::install();

    // ns[size][from][to], -1 until measured.
    std::vector<std::vector<std::vector<double>>> ns(
        sizes.size(), std::vector<std::vector<double>>(from.size(), std::vector<double>(nodes, -1.0)));
    progress_line progress("latency");
    const std::size_t total = sizes.size() * from.size() * nodes;
    std::size_t done = 0;
    bool pin_failed = false;
    const auto measure = [&] {
        for (std::size_t to = 0; to < nodes && !interrupt::requested(); ++to) {
            const node_buffer buffer(max_bytes, static_cast<int>(to));
            for (std::size_t s = 0; s < sizes.size() && !interrupt::requested(); ++s) {
                const std::size_t elements = sizes[s] / k_line;
                void* start = build_chase_chain(buffer.bytes(), elements, k_line, 0x70905 + s);
                const chain_check check = check_chase_chain(buffer.bytes(), elements, k_line, start);
                if (!check.every_slot_once) {
                    throw std::runtime_error("latency: the pointer chain over " + format_bytes(static_cast<double>(sizes[s])) +
                                             " does not visit every slot once (cycle of " +
                                             std::to_string(check.cycle_length) + " of " + std::to_string(elements) + ")");
                }
                const double on_node = percent_on_node(buffer.bytes(), elements * k_line, static_cast<int>(to));
                for (std::size_t f = 0; f < from.size() && !interrupt::requested(); ++f) {
                    progress.update(done, total,
                                    "node " + std::to_string(from[f]) + " -> " + std::to_string(to) + ", " +
                                        format_bytes(static_cast<double>(sizes[s])));
                    void* cursor = start;
                    const std::size_t warm = std::min(loads, elements);
                    bool pinned = true;
                    const double cpu0 = os::process_cpu_seconds();
                    // Round 0 walks the chain once to load caches and TLB; it is not counted.
                    const std::vector<double> t = run_pinned_rounds(
                        {topo.pus_of_node(from[f])}, reps + 1,
                        [&](unsigned, unsigned round) { cursor = chase(cursor, round == 0 ? warm : loads); }, &pinned);
                    const double cpu = os::process_cpu_seconds() - cpu0;
                    pin_failed = pin_failed || !pinned;
                    const double best = *std::min_element(t.begin() + 1, t.end());
                    const double per_load = best * 1e9 / static_cast<double>(loads);
                    ns[s][f][to] = per_load;
                    bench_record r;
                    r.name = "latency/from:" + std::to_string(from[f]) + "/to:" + std::to_string(to) +
                             "/size:" + std::to_string(sizes[s]);
                    r.iterations = loads;
                    r.real_time = per_load;
                    r.cpu_time = cpu * 1e9 / static_cast<double>(warm + loads * reps); // per load, warm-up included
                    r.time_unit = "ns";
                    r.repetitions = reps;
                    r.counters = {{"from_node", from[f]},
                                  {"to_node", static_cast<double>(to)},
                                  {"working_set_bytes", static_cast<double>(sizes[s])},
                                  {"ns_per_load", per_load}};
                    if (on_node >= 0) {
                        r.counters["pages_on_node_pct"] = on_node;
                    }
                    // The pointer where the chase stopped proves the loads happened.
                    r.counters["chain_end_slot"] =
                        static_cast<double>((static_cast<std::byte*>(cursor) - buffer.bytes()) / static_cast<std::ptrdiff_t>(k_line));
                    report.records.push_back(std::move(r));
                    ++done;
                }
            }
        }
    };
    if (const auto failed = run_measurements("latency", progress, report, topo, opts.json, measure)) {
        return *failed;
    }
    if (pin_failed) {
        report.notes.push_back("the kernel refused to pin a measuring thread; rows may mix nodes");
    }

    std::ostringstream table;
    table << "Load latency (ns per load, random pointer chase, " << loads << " loads, best of " << reps << ")\n";
    table << pad("size", 12);
    for (int f : from) {
        for (std::size_t to = 0; to < nodes; ++to) {
            table << pad(std::to_string(f) + "->" + std::to_string(to), 10);
        }
    }
    table << '\n';
    for (std::size_t s = 0; s < sizes.size(); ++s) {
        table << pad(format_bytes(static_cast<double>(sizes[s])), 12);
        for (std::size_t f = 0; f < from.size(); ++f) {
            for (std::size_t to = 0; to < nodes; ++to) {
                table << pad(ns[s][f][to] < 0 ? "-" : fixed(ns[s][f][to], 1), 10);
            }
        }
        table << '\n';
    }
    table << '\n'
          << matrix_text("Latency matrix at " + format_bytes(static_cast<double>(sizes.back())) + " (ns per load)", from,
                         nodes, ns.back(), 1);
    nlohmann::ordered_json matrix;
    matrix["size_bytes"] = sizes.back();
    matrix["from_nodes"] = from;
    matrix["ns"] = ns.back();
    report.extra["latency_matrix"] = matrix;
    return finish_report(report, topo, opts.json, table.str());
}

int run_bench_bandwidth(const bench_common_options& opts) {
    const topology topo = topology::host();
    bench_report report;
    report.command = "bandwidth";
    std::size_t bytes = opts.size ? parse_size(*opts.size, "--size", size_limit())
                                  : (opts.quick ? std::size_t{16} << 20 : default_large_size(topo, report, 256u << 20));
    const unsigned reps = opts.repetitions.value_or(opts.quick ? 2 : 5);
    if (reps == 0) {
        throw error("--repetitions: expected at least 1");
    }
    const std::vector<int> from = cpu_nodes(topo, report);
    const std::size_t nodes = topo.node_count();
    bytes = std::max<std::size_t>(bytes / sizeof(std::uint64_t), 1) * sizeof(std::uint64_t);
    const std::size_t words = bytes / sizeof(std::uint64_t);
    report.context_extra["bandwidth_bytes"] = bytes;
    report.context_extra["bandwidth_repetitions"] = reps;
    interrupt::install();

    std::vector<std::vector<double>> gbps(from.size(), std::vector<double>(nodes, -1.0));
    progress_line progress("bandwidth");
    std::size_t done = 0;
    bool pin_failed = false;
    const auto measure = [&] {
        for (std::size_t to = 0; to < nodes && !interrupt::requested(); ++to) {
            const node_buffer buffer(bytes, static_cast<int>(to));
            auto* data = reinterpret_cast<std::uint64_t*>(buffer.bytes());
            fill_index_pattern(data, words);
            const std::uint64_t expected = index_pattern_sum(0, words);
            const double on_node = percent_on_node(buffer.bytes(), bytes, static_cast<int>(to));
            for (std::size_t f = 0; f < from.size() && !interrupt::requested(); ++f) {
                progress.update(done, from.size() * nodes,
                                "node " + std::to_string(from[f]) + " reads node " + std::to_string(to));
                const auto team = core_pus_of_node(topo, from[f]);
                const auto threads = static_cast<unsigned>(team.size());
                // sums[round][thread], written by that thread only, checked after the join.
                std::vector<std::vector<std::uint64_t>> sums(reps + 1, std::vector<std::uint64_t>(threads));
                bool pinned = true;
                const double cpu0 = os::process_cpu_seconds();
                const std::vector<double> t = run_pinned_rounds(
                    team, reps + 1,
                    [&](unsigned th, unsigned round) {
                        const std::size_t lo = words * th / threads;
                        const std::size_t hi = words * (th + 1) / threads;
                        sums[round][th] = read_sum(data + lo, hi - lo);
                    },
                    &pinned);
                const double cpu = os::process_cpu_seconds() - cpu0;
                pin_failed = pin_failed || !pinned;
                for (unsigned round = 0; round <= reps; ++round) {
                    std::uint64_t total = 0;
                    for (std::uint64_t s : sums[round]) {
                        total += s;
                    }
                    if (total != expected) {
                        throw std::runtime_error("bandwidth: checksum of node " + std::to_string(to) + " read from node " +
                                                 std::to_string(from[f]) + " is " + std::to_string(total) +
                                                 ", expected " + std::to_string(expected));
                    }
                }
                // Round 0 warms up and is not counted.
                const double best = *std::min_element(t.begin() + 1, t.end());
                const double rate = static_cast<double>(bytes) / best;
                gbps[f][to] = rate / 1e9;
                bench_record r;
                r.name = "bandwidth/from:" + std::to_string(from[f]) + "/to:" + std::to_string(to);
                r.iterations = reps;
                r.real_time = best * 1e3;
                r.cpu_time = cpu * 1e3 / (reps + 1);
                r.time_unit = "ms";
                r.threads = threads;
                r.repetitions = reps;
                r.counters = {{"from_node", from[f]},
                              {"to_node", static_cast<double>(to)},
                              {"bytes", static_cast<double>(bytes)},
                              {"bytes_per_second", rate},
                              {"gb_per_s", rate / 1e9}};
                if (on_node >= 0) {
                    r.counters["pages_on_node_pct"] = on_node;
                }
                report.records.push_back(std::move(r));
                ++done;
            }
        }
    };
    if (const auto failed = run_measurements("bandwidth", progress, report, topo, opts.json, measure)) {
        return *failed;
    }
    if (pin_failed) {
        report.notes.push_back("the kernel refused to pin a reading thread; rows may mix nodes");
    }
    report.extra["bandwidth_matrix"] = {{"bytes", bytes}, {"from_nodes", from}, {"gb_per_s", gbps}};
    const std::string table = matrix_text("Read bandwidth (GB/s; one thread per core of the row's node reads " +
                                              format_bytes(static_cast<double>(bytes)) + " on the column's node, best of " +
                                              std::to_string(reps) + ")",
                                          from, nodes, gbps, 2);
    return finish_report(report, topo, opts.json, table);
}

} // namespace topos::cli
