// tools/bench_data.cpp - `topos bench data`: data that moves.
//
// Three measurements, each run on a topos runtime over every allowed core:
//  1. lookups: every worker does random reads of a table of --size bytes,
//     kept (a) as a replicated<T> (a copy per node, each worker reading its
//     node's), (b) as one copy bound to node 0, (c) as one copy interleaved
//     over all nodes. ns per lookup over all workers (wall time x workers /
//     lookups); the checksums of the three must agree.
//  2. phase change: an array of --size bytes written by node 0's workers
//     (all of it on node 0), then read by every node's workers (each its own
//     slice, several rounds), as it is and after rebalance_on_next_touch().
//     Time of the read phase, and the pages that moved.
//  3. cost of next-touch per page: --size bytes on node 0 moved to the last
//     node (node 0 on a one-node machine: then no copy is made, and the figure
//     is the fault, the protection change and the page query) by (a) one
//     touch per page from a worker of that node, (b) the same with groups of 16
//     pages, (c) one move_pages call for all pages, (d) one move_pages call per
//     page. Time per page.
// Each figure is the best of --repetitions runs. Timings on a one-node or
// oversubscribed machine are valid only as ratios within one run.
#include "bench_commands.hpp"
#include "bench_parse.hpp"
#include "interrupt.hpp"

#include "os/memory.hpp"

#include <topos/allocator.hpp>
#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/next_touch.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/replicated.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace topos::cli {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

using table_vector = std::vector<std::uint64_t, numa_allocator<std::uint64_t>>;

std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

// `lookups` reads of table[x] along a pseudo-random walk seeded by `seed`.
std::uint64_t walk(const std::uint64_t* table, std::size_t entries, std::size_t lookups, std::uint64_t seed) noexcept {
    std::uint64_t sum = 0;
    std::uint64_t x = seed;
    for (std::size_t i = 0; i < lookups; ++i) {
        x = mix(x + i);
        sum += table[x % entries];
    }
    return sum;
}

// Runs `pieces` tasks on rt, piece p on node nodes[p % k] (its inbox), and waits.
template <class F>
void run_spread(runtime& rt, std::size_t pieces, const F& f) {
    const std::vector<int> nodes = rt.nodes();
    task_group g(rt);
    for (std::size_t p = 0; p < pieces; ++p) {
        if (nodes.empty()) {
            g.run([&f, p] { f(p); });
        } else {
            g.run_on_node(nodes[p % nodes.size()], [&f, p] { f(p); });
        }
    }
    g.wait();
}

struct lookup_result {
    double ns_per_lookup = 0;
    std::uint64_t checksum = 0;
};

template <class Table>
lookup_result time_lookups(runtime& rt, const Table& table_of, std::size_t entries, std::size_t lookups_per_piece,
                           std::size_t pieces, unsigned reps) {
    lookup_result best{std::numeric_limits<double>::infinity(), 0};
    for (unsigned r = 0; r < reps + 1; ++r) { // run 0 warms caches and TLB
        std::atomic<std::uint64_t> sum{0};
        const auto t0 = clock_type::now();
        run_spread(rt, pieces, [&](std::size_t p) {
            sum.fetch_add(table_of([&](const std::uint64_t* t) { return walk(t, entries, lookups_per_piece, p); }),
                          std::memory_order_relaxed);
        });
        const double s = seconds_since(t0);
        if (r > 0) {
            const double ns = s * 1e9 * static_cast<double>(rt.thread_count()) /
                              static_cast<double>(lookups_per_piece * pieces);
            best.ns_per_lookup = std::min(best.ns_per_lookup, ns);
        }
        best.checksum = sum.load();
    }
    return best;
}

std::size_t pages_on(const void* p, std::size_t bytes, int node) {
    std::size_t on = 0;
    for (int n : page_nodes(p, bytes)) {
        on += n == node ? 1U : 0U;
    }
    return on;
}

bench_record make_record(const std::string& name, double value, const std::string& unit,
                         std::map<std::string, double> counters) {
    bench_record r;
    r.name = name;
    r.real_time = value;
    r.cpu_time = value;
    r.time_unit = unit;
    r.counters = std::move(counters);
    return r;
}

} // namespace

int run_bench_data(const bench_common_options& opts) {
    const topology topo = topology::host();
    bench_report report;
    report.command = "data";
    const std::size_t bytes = opts.size ? parse_size(*opts.size, "--size", std::size_t{1} << 34)
                                        : (opts.quick ? std::size_t{256} << 10 : std::size_t{4} << 20);
    const std::size_t page = get_memory_status().page_size;
    if (bytes < 4 * page) {
        throw error("--size: '" + *opts.size + "' is too small; expected at least 4 pages (" +
                    std::to_string(4 * page) + " bytes)");
    }
    const unsigned reps = opts.repetitions.value_or(opts.quick ? 1 : 3);
    if (reps == 0) {
        throw error("--repetitions: expected at least 1");
    }
    interrupt::install();
    runtime rt;
    const std::vector<int> nodes = rt.nodes().empty() ? std::vector<int>{0} : rt.nodes();
    const int last = nodes.back();
    const std::size_t entries = bytes / sizeof(std::uint64_t);
    const std::size_t lookups = opts.quick ? std::size_t{1} << 14 : std::size_t{1} << 18;
    const std::size_t pieces = 4 * static_cast<std::size_t>(rt.thread_count());
    report.context_extra["data_bytes"] = bytes;
    report.context_extra["data_repetitions"] = reps;
    report.context_extra["data_threads"] = rt.thread_count();
    report.context_extra["data_nodes"] = nodes;
    if (nodes.size() < 2) {
        report.notes.push_back("one NUMA node: every copy and page is local, so the lookups and phase rows show "
                               "the overheads only, and next-touch moves no data (the cost per page is the fault, "
                               "mprotect and a page query)");
    }

    lookup_result replicated_r;
    lookup_result node0_r;
    lookup_result interleaved_r;
    double phase_plain = 0;
    double phase_rebalanced = 0;
    double phase_first_round = 0;
    std::size_t phase_moved = 0;
    const unsigned rounds = 4;
    double nt_page = 0;
    double nt_group = 0;
    double mp_all = 0;
    double mp_each = 0;
    std::size_t nt_moved = 0;
    std::size_t mp_moved = 0;
    progress_line progress("data");

    const auto measure = [&] {
        // ---- 1. lookups ------------------------------------------------------
        progress.update(0, 3, "lookups");
        table_vector init(entries, 0, numa_allocator<std::uint64_t>(mem_policy::local()));
        for (std::size_t i = 0; i < entries; ++i) {
            init[i] = mix(i);
        }
        {
            replicated<table_vector> rep(rt, init);
            replicated_r = time_lookups(
                rt, [&](auto f) { return f(rep.local()->data()); }, entries, lookups, pieces, reps);
        }
        for (int which = 0; which < 2 && !interrupt::requested(); ++which) {
            const mem_policy policy = which == 0 ? mem_policy::on_node(0) : mem_policy::interleave();
            auto* t = static_cast<std::uint64_t*>(allocate(bytes, policy, {.own_pages = true}));
            std::copy(init.begin(), init.end(), t);
            (which == 0 ? node0_r : interleaved_r) =
                time_lookups(rt, [&](auto f) { return f(t); }, entries, lookups, pieces, reps);
            deallocate(t, bytes);
        }
        if (replicated_r.checksum != node0_r.checksum || replicated_r.checksum != interleaved_r.checksum) {
            throw std::runtime_error("lookups: the checksums of the three tables differ");
        }

        // ---- 2. phase change -------------------------------------------------
        progress.update(1, 3, "phase change");
        const std::size_t n = bytes / sizeof(double);
        for (int rebalance = 0; rebalance < 2 && !interrupt::requested(); ++rebalance) {
            double best = std::numeric_limits<double>::infinity();
            for (unsigned r = 0; r < reps && !interrupt::requested(); ++r) {
                std::vector<std::size_t> sizes(nodes.size(), 0);
                sizes.front() = n;
                node_array<double> a(rt, n, layout::blocks(sizes)); // written by node 0's workers
                parallel_for(rt, a, [&](std::size_t i) { a[i] = static_cast<double>(i); });
                if (rebalance == 1) {
                    a.rebalance_on_next_touch();
                }
                std::vector<double> sums(nodes.size() * 8, 0.0);
                const auto t0 = clock_type::now();
                double first = 0;
                for (unsigned round = 0; round < rounds; ++round) {
                    // Node k's workers read slice k, in 8 pieces.
                    run_spread(rt, nodes.size() * 8, [&](std::size_t p) {
                        const std::size_t k = p % nodes.size();
                        const std::size_t piece = p / nodes.size();
                        const std::size_t lo = k * n / nodes.size();
                        const std::size_t hi = (k + 1) * n / nodes.size();
                        const std::size_t plo = lo + piece * (hi - lo) / 8;
                        const std::size_t phi = lo + (piece + 1) * (hi - lo) / 8;
                        double s = 0;
                        for (std::size_t i = plo; i < phi; ++i) {
                            s += a[i];
                        }
                        sums[p] += s;
                    });
                    if (round == 0) {
                        first = seconds_since(t0);
                    }
                }
                const double s = seconds_since(t0);
                double total = 0;
                for (double v : sums) {
                    total += v;
                }
                const double want = static_cast<double>(rounds) * (static_cast<double>(n) - 1) * static_cast<double>(n) / 2;
                if (total != want) {
                    throw std::runtime_error("phase change: the read phase summed the wrong values");
                }
                if (s < best) {
                    best = s;
                    if (rebalance == 1) {
                        phase_first_round = first;
                        phase_moved = a.size() * sizeof(double) / page - pages_on(a.data(), n * sizeof(double), 0);
                    }
                }
            }
            (rebalance == 0 ? phase_plain : phase_rebalanced) = best;
        }

        // ---- 3. next-touch cost per page -------------------------------------
        progress.update(2, 3, "next-touch cost");
        const std::size_t pages = bytes / page;
        auto fresh = [&] {
            auto* p = static_cast<unsigned char*>(allocate(pages * page, mem_policy::on_node(0), {.own_pages = true}));
            for (std::size_t i = 0; i < pages; ++i) {
                p[i * page] = static_cast<unsigned char>(i);
            }
            return p;
        };
        // move_pages(2) itself, in the kernel's node numbers (no mbind, unlike topos::migrate).
        const int kernel_last = topo.numa_nodes()[static_cast<std::size_t>(last)].os_index;
        std::vector<void*> addresses(pages);
        std::vector<int> targets(pages, kernel_last);
        std::vector<int> status(pages, 0);
        auto move_all = [&](unsigned char* p) {
            for (std::size_t i = 0; i < pages; ++i) {
                addresses[i] = p + i * page;
            }
            (void)os::move_pages(addresses.data(), pages, targets.data(), status.data());
        };
        auto move_one = [&](unsigned char* p) {
            void* a = p;
            int st = 0;
            (void)os::move_pages(&a, 1, &kernel_last, &st);
        };
        auto on_last = [&](auto f) {
            task_group g(rt);
            g.run_on_node(last, f);
            g.wait();
        };
        nt_page = nt_group = mp_all = mp_each = std::numeric_limits<double>::infinity();
        for (unsigned r = 0; r < reps && !interrupt::requested(); ++r) {
            for (int variant = 0; variant < 4; ++variant) {
                unsigned char* p = fresh();
                if (variant < 2) {
                    migrate_on_next_touch(p, pages * page, {.group_pages = variant == 0 ? 1U : 16U});
                }
                double s = 0;
                on_last([&] {
                    const auto t0 = clock_type::now();
                    switch (variant) {
                    case 0:
                    case 1:
                        for (std::size_t i = 0; i < pages; ++i) {
                            std::atomic_ref<unsigned char>(p[i * page]).fetch_add(0, std::memory_order_relaxed);
                        }
                        break;
                    case 2: move_all(p); break;
                    default:
                        for (std::size_t i = 0; i < pages; ++i) {
                            move_one(p + i * page);
                        }
                    }
                    s = seconds_since(t0) * 1e9 / static_cast<double>(pages);
                });
                for (std::size_t i = 0; i < pages; ++i) {
                    if (p[i * page] != static_cast<unsigned char>(i)) {
                        throw std::runtime_error("next-touch cost: a moved page lost its data");
                    }
                }
                const std::size_t moved = pages_on(p, pages * page, last);
                double& slot = variant == 0 ? nt_page : variant == 1 ? nt_group : variant == 2 ? mp_all : mp_each;
                slot = std::min(slot, s);
                if (variant == 0) {
                    nt_moved = moved;
                } else if (variant == 2) {
                    mp_moved = moved;
                }
                deallocate(p, pages * page);
            }
        }
        progress.update(3, 3, "done");
    };
    if (const auto failed = run_measurements("data", progress, report, topo, opts.json, measure)) {
        return *failed;
    }

    const double threads = static_cast<double>(rt.thread_count());
    report.records.push_back(make_record("data/lookups/replicated", replicated_r.ns_per_lookup, "ns",
                                         {{"ns_per_lookup", replicated_r.ns_per_lookup}, {"threads", threads}}));
    report.records.push_back(make_record("data/lookups/node0", node0_r.ns_per_lookup, "ns",
                                         {{"ns_per_lookup", node0_r.ns_per_lookup},
                                          {"ratio_to_replicated", node0_r.ns_per_lookup / replicated_r.ns_per_lookup}}));
    report.records.push_back(
        make_record("data/lookups/interleaved", interleaved_r.ns_per_lookup, "ns",
                    {{"ns_per_lookup", interleaved_r.ns_per_lookup},
                     {"ratio_to_replicated", interleaved_r.ns_per_lookup / replicated_r.ns_per_lookup}}));
    report.records.push_back(make_record("data/phase/static", phase_plain * 1e3, "ms", {{"rounds", rounds}}));
    report.records.push_back(make_record("data/phase/next_touch", phase_rebalanced * 1e3, "ms",
                                         {{"rounds", rounds},
                                          {"first_round_ms", phase_first_round * 1e3},
                                          {"pages_moved", static_cast<double>(phase_moved)},
                                          {"ratio_to_static", phase_rebalanced / phase_plain}}));
    report.records.push_back(make_record("data/move/next_touch_page", nt_page, "ns",
                                         {{"ns_per_page", nt_page}, {"pages_on_target", static_cast<double>(nt_moved)}}));
    report.records.push_back(make_record("data/move/next_touch_group16", nt_group, "ns", {{"ns_per_page", nt_group}}));
    report.records.push_back(make_record("data/move/move_pages_all", mp_all, "ns",
                                         {{"ns_per_page", mp_all}, {"pages_on_target", static_cast<double>(mp_moved)}}));
    report.records.push_back(make_record("data/move/move_pages_each", mp_each, "ns", {{"ns_per_page", mp_each}}));

    std::ostringstream table;
    table << "Data that moves: " << format_bytes(static_cast<double>(bytes)) << ", " << rt.thread_count()
          << " workers on " << nodes.size() << " node(s), best of " << reps << "\n\n";
    table << "Read-mostly lookups (ns per lookup per worker; lower is better)\n";
    table << pad("replicated", 14) << pad("node 0", 14) << pad("interleaved", 14) << '\n';
    table << pad(fixed(replicated_r.ns_per_lookup, 2), 14) << pad(fixed(node0_r.ns_per_lookup, 2), 14)
          << pad(fixed(interleaved_r.ns_per_lookup, 2), 14) << '\n';
    table << pad("ratio", 14) << pad(fixed(node0_r.ns_per_lookup / replicated_r.ns_per_lookup, 2), 14)
          << pad(fixed(interleaved_r.ns_per_lookup / replicated_r.ns_per_lookup, 2), 14) << "  (over replicated)\n\n";
    table << "Phase change: written on node 0, read by every node (" << rounds << " rounds, ms)\n";
    table << pad("static", 14) << pad("next-touch", 14) << pad("1st round", 14) << pad("pages moved", 14) << '\n';
    table << pad(fixed(phase_plain * 1e3, 2), 14) << pad(fixed(phase_rebalanced * 1e3, 2), 14)
          << pad(fixed(phase_first_round * 1e3, 2), 14) << pad(std::to_string(phase_moved), 14) << "\n\n";
    table << "Moving " << bytes / page << " pages from node 0 to node " << last << " (ns per page)\n";
    table << pad("touch/page", 14) << pad("touch/16", 14) << pad("move_pages", 14) << pad("move/page", 14) << '\n';
    table << pad(fixed(nt_page, 0), 14) << pad(fixed(nt_group, 0), 14) << pad(fixed(mp_all, 0), 14)
          << pad(fixed(mp_each, 0), 14) << '\n';
    table << pad("ratio", 14) << pad(fixed(nt_group / mp_all, 2), 14) << pad("1.00", 14)
          << pad(fixed(mp_each / mp_all, 2), 14) << "  (touch/page over move_pages: " << fixed(nt_page / mp_all, 2)
          << ")\n";
    return finish_report(report, topo, opts.json, table.str());
}

} // namespace topos::cli
