// tools/bench_stream.cpp - `topos bench stream`: STREAM copy, scale, add and
// triad under four page placements, with topos parallel_for (on a node_array
// where the placement is a block layout), OpenMP `parallel for
// schedule(static)` and oneTBB parallel_for with a static partitioner.
//
// STREAM's rules (https://www.cs.virginia.edu/stream/ref.html): each array at
// least 4x the sum of the last-level caches; every kernel timed separately in
// each pass; the first pass discarded and the best of the rest reported (10 by
// default); results checked against the values the kernels must produce, after
// the timed passes. Bandwidth counts 16 bytes per element for copy and scale,
// 24 for add and triad.
//
// Placements:
//   first_touch - every thread touches the pages it will use first (for topos,
//                 a node_array over the runtime's nodes: each block on its node)
//   interleave  - pages round-robin over all nodes
//   one_node    - every page on node 0, threads on all nodes
//   remote      - threads on node 0 only, every page on the node farthest from it
//                 (needs two nodes; skipped with a note otherwise)
// Threads: one per core of the placement's nodes, pinned to their cores'
// PUs for topos; OpenMP and oneTBB threads are kept inside the same PUs.
#include "bench_commands.hpp"
#include "bench_kernels.hpp"
#include "bench_parse.hpp"
#include "interrupt.hpp"
#include "pinning.hpp"

#include "command_set.hpp"

#include "os/affinity.hpp"
#include "os/process.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/node_array.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>
#include <topos/task_group.hpp>

#ifdef TOPOS_STREAM_HAVE_TBB
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <semaphore>
#include <sstream>
#include <stdexcept>

namespace topos::cli {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::array k_kernels{stream_kernel::copy, stream_kernel::scale, stream_kernel::add, stream_kernel::triad};
const std::vector<std::string> k_impls{"topos", "omp", "tbb"};
const std::vector<std::string> k_placements{"first_touch", "interleave", "one_node", "remote"};

std::vector<std::string> parse_choice_list(const std::optional<std::string>& text, const std::vector<std::string>& allowed,
                                           std::string_view flag) {
    if (!text) {
        return allowed;
    }
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(*text);
    while (std::getline(in, item, ',')) {
        if (std::find(allowed.begin(), allowed.end(), item) == allowed.end()) {
            std::string names;
            for (const auto& a : allowed) {
                names += (names.empty() ? "" : ", ") + a;
            }
            throw error(std::string(flag) + ": unknown name '" + item + "'; expected a comma list of " + names);
        }
        if (std::find(out.begin(), out.end(), item) == out.end()) {
            out.push_back(item);
        }
    }
    if (out.empty()) {
        throw error(std::string(flag) + ": the list is empty");
    }
    return out;
}

struct placement_setup {
    std::string name;
    std::vector<std::vector<int>> team; ///< one PU set per thread (a core each)
    std::vector<int> team_nodes;        ///< nodes the threads run on
    mem_policy policy;                  ///< for plain arrays
    std::vector<int> block_nodes;       ///< node_array layout for topos; empty: plain arrays
};

std::vector<int> union_of(const std::vector<std::vector<int>>& sets) {
    std::vector<int> out;
    for (const auto& s : sets) {
        out.insert(out.end(), s.begin(), s.end());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// Per-kernel timings of the passes, seconds[pass][kernel].
using pass_times = std::vector<std::array<double, 4>>;

// Three arrays of n doubles, plain (a page block with a policy) or node_arrays.
struct plain_arrays {
    std::size_t n = 0;
    double* a = nullptr;
    double* b = nullptr;
    double* c = nullptr;
    plain_arrays(std::size_t count, const mem_policy& policy) : n(count) {
        const alloc_options own{.alignment = 4096, .huge_pages = false, .own_pages = true};
        a = static_cast<double*>(allocate(n * sizeof(double), policy, own));
        b = static_cast<double*>(allocate(n * sizeof(double), policy, own));
        c = static_cast<double*>(allocate(n * sizeof(double), policy, own));
    }
    ~plain_arrays() {
        deallocate(a, n * sizeof(double));
        deallocate(b, n * sizeof(double));
        deallocate(c, n * sizeof(double));
    }
    plain_arrays(const plain_arrays&) = delete;
    plain_arrays& operator=(const plain_arrays&) = delete;
};

void check_results(const char* who, const double* a, const double* b, const double* c, std::size_t n, unsigned passes) {
    const std::size_t bad = stream_first_bad_element(a, b, c, n, passes);
    if (bad != n) {
        throw std::runtime_error(std::string("stream: ") + who + " produced a wrong value at element " +
                                 std::to_string(bad) + " (a=" + std::to_string(a[bad]) + ", b=" + std::to_string(b[bad]) +
                                 ", c=" + std::to_string(c[bad]) + ")");
    }
}

// Times every kernel of each pass; stops early on Ctrl-C.
template <class Pass>
pass_times timed_passes(unsigned passes, const Pass& run_kernel) {
    pass_times out;
    for (unsigned p = 0; p < passes && !interrupt::requested(); ++p) {
        std::array<double, 4> t{};
        for (std::size_t k = 0; k < k_kernels.size(); ++k) {
            const auto t0 = clock_type::now();
            run_kernel(k_kernels[k]);
            t[k] = std::chrono::duration<double>(clock_type::now() - t0).count();
        }
        out.push_back(t);
    }
    return out;
}

// Calls run(body) with the per-index body of kernel k.
template <class Run>
void topos_kernel(stream_kernel k, double* a, double* b, double* c, const Run& run) {
    constexpr double q = k_stream_scalar;
    switch (k) {
    case stream_kernel::copy:
        run([=](std::size_t i) { c[i] = a[i]; });
        break;
    case stream_kernel::scale:
        run([=](std::size_t i) { b[i] = q * c[i]; });
        break;
    case stream_kernel::add:
        run([=](std::size_t i) { c[i] = a[i] + b[i]; });
        break;
    case stream_kernel::triad:
        run([=](std::size_t i) { a[i] = b[i] + q * c[i]; });
        break;
    }
}

pass_times run_topos(const placement_setup& p, std::size_t n, unsigned passes) {
    runtime rt({.places = places_of(p.team),
                .bind = proc_bind::close,
                .threads = static_cast<unsigned>(p.team.size()),
                .topology = {}});
    pass_times times;
    std::exception_ptr failure;
    std::binary_semaphore finished{0};
    // The passes run inside one task, so exactly the runtime's workers do the work
    // (a waiting outside thread would join them as one more).
    const auto in_runtime = [&](const auto& body) {
        task_group g(rt);
        g.run([&] {
            try {
                body();
            } catch (...) {
                failure = std::current_exception();
            }
            finished.release();
        });
        finished.acquire();
        g.wait();
        if (failure) {
            std::rethrow_exception(failure);
        }
    };
    if (p.block_nodes.empty()) {
        plain_arrays arr(n, p.policy);
        double* a = arr.a;
        double* b = arr.b;
        double* c = arr.c;
        in_runtime([&] {
            parallel_for(rt, std::size_t{0}, n, [=](std::size_t i) {
                a[i] = k_stream_a0;
                b[i] = k_stream_b0;
                c[i] = k_stream_c0;
            });
            times = timed_passes(passes, [&](stream_kernel k) {
                topos_kernel(k, a, b, c, [&](const auto& body) { parallel_for(rt, std::size_t{0}, n, body); });
            });
        });
        check_results("topos", a, b, c, n, static_cast<unsigned>(times.size()));
    } else {
        node_array<double> na(n, p.block_nodes);
        node_array<double> nb(n, p.block_nodes);
        node_array<double> nc(n, p.block_nodes);
        double* a = na.data();
        double* b = nb.data();
        double* c = nc.data();
        in_runtime([&] {
            parallel_for(rt, na, [=](std::size_t i) {
                a[i] = k_stream_a0;
                b[i] = k_stream_b0;
                c[i] = k_stream_c0;
            });
            times = timed_passes(passes, [&](stream_kernel k) {
                topos_kernel(k, a, b, c, [&](const auto& body) { parallel_for(rt, na, body); });
            });
        });
        check_results("topos", a, b, c, n, static_cast<unsigned>(times.size()));
    }
    return times;
}

#ifdef TOPOS_STREAM_HAVE_OPENMP
void omp_kernel(stream_kernel k, double* a, double* b, double* c, long n, int threads) {
    constexpr double q = k_stream_scalar;
    switch (k) {
    case stream_kernel::copy:
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, c, n)
        for (long i = 0; i < n; ++i) {
            c[i] = a[i];
        }
        break;
    case stream_kernel::scale:
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(b, c, n)
        for (long i = 0; i < n; ++i) {
            b[i] = q * c[i];
        }
        break;
    case stream_kernel::add:
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, b, c, n)
        for (long i = 0; i < n; ++i) {
            c[i] = a[i] + b[i];
        }
        break;
    case stream_kernel::triad:
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, b, c, n)
        for (long i = 0; i < n; ++i) {
            a[i] = b[i] + q * c[i];
        }
        break;
    }
}

pass_times run_omp(const placement_setup& p, std::size_t n, unsigned passes) {
    const int threads = static_cast<int>(p.team.size());
    const std::vector<int> cpus = union_of(p.team);
#pragma omp parallel num_threads(threads) default(none) shared(cpus)
    pin_this_thread(cpus);
    plain_arrays arr(n, p.policy);
    double* a = arr.a;
    double* b = arr.b;
    double* c = arr.c;
    const auto count = static_cast<long>(n);
#pragma omp parallel for schedule(static) num_threads(threads) default(none) shared(a, b, c, count)
    for (long i = 0; i < count; ++i) { // first touch by the thread that will use it
        a[i] = k_stream_a0;
        b[i] = k_stream_b0;
        c[i] = k_stream_c0;
    }
    const pass_times times =
        timed_passes(passes, [&](stream_kernel k) { omp_kernel(k, a, b, c, count, threads); });
    check_results("omp", a, b, c, n, static_cast<unsigned>(times.size()));
    return times;
}
#endif

#ifdef TOPOS_STREAM_HAVE_TBB
// Keeps every thread that enters the arena inside the placement's PUs.
class pin_observer : public tbb::task_scheduler_observer {
public:
    pin_observer(tbb::task_arena& arena, std::vector<int> cpus)
        : tbb::task_scheduler_observer(arena), m_cpus(std::move(cpus)) {
        observe(true);
    }
    ~pin_observer() override { observe(false); }
    pin_observer(const pin_observer&) = delete;
    pin_observer& operator=(const pin_observer&) = delete;
    void on_scheduler_entry(bool /*worker*/) override { pin_this_thread(m_cpus); }

private:
    std::vector<int> m_cpus;
};

pass_times run_tbb(const placement_setup& p, std::size_t n, unsigned passes) {
    const int threads = static_cast<int>(p.team.size());
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    tbb::task_arena arena(threads);
    pin_observer pin(arena, union_of(p.team));
    plain_arrays arr(n, p.policy);
    double* a = arr.a;
    double* b = arr.b;
    double* c = arr.c;
    const tbb::blocked_range<std::size_t> all(0, n);
    tbb::static_partitioner part;
    arena.execute([&] {
        tbb::parallel_for(
            all,
            [=](const tbb::blocked_range<std::size_t>& r) {
                for (std::size_t i = r.begin(); i != r.end(); ++i) {
                    a[i] = k_stream_a0;
                    b[i] = k_stream_b0;
                    c[i] = k_stream_c0;
                }
            },
            part);
    });
    const pass_times times = timed_passes(passes, [&](stream_kernel k) {
        arena.execute([&] {
            tbb::parallel_for(
                all, [=](const tbb::blocked_range<std::size_t>& r) { stream_range(k, a, b, c, r.begin(), r.end()); }, part);
        });
    });
    check_results("tbb", a, b, c, n, static_cast<unsigned>(times.size()));
    return times;
}
#endif

std::string impl_label(const std::string& impl) { return impl == "omp" ? "omp_static" : impl; }

// The calling thread's CPU mask, put back after OpenMP and oneTBB pinned it
// (the main thread takes part in their teams).
class affinity_guard {
public:
    affinity_guard() : m_cpus(os::current_affinity()) {}
    ~affinity_guard() {
        if (!m_cpus.empty()) {
            std::string why;
            (void)os::pin_current_thread(m_cpus, why);
        }
    }
    affinity_guard(const affinity_guard&) = delete;
    affinity_guard& operator=(const affinity_guard&) = delete;

private:
    std::vector<int> m_cpus; ///< empty when the kernel would not say
};

} // namespace

int run_bench_stream(const stream_options& opts) {
    const topology topo = topology::host();
    bench_report report;
    report.command = "stream";
    std::vector<std::string> impls = parse_choice_list(opts.impls, k_impls, "--impl");
    const std::vector<std::string> placements = parse_choice_list(opts.placements, k_placements, "--placement");
#ifndef TOPOS_STREAM_HAVE_OPENMP
    if (std::erase(impls, std::string("omp")) > 0) {
        report.notes.push_back("this topos was built without OpenMP: the omp peer is skipped");
    }
#endif
#ifndef TOPOS_STREAM_HAVE_TBB
    if (std::erase(impls, std::string("tbb")) > 0) {
        report.notes.push_back("this topos was built without oneTBB: the tbb peer is skipped");
    }
#endif
    const std::uint64_t avail = available_memory_bytes();
    const std::size_t limit = avail > 0 ? static_cast<std::size_t>(avail / 6) : k_max_block;
    std::size_t bytes = 0;
    const std::uint64_t llc = last_level_cache_bytes(topo);
    if (opts.common.size) {
        bytes = parse_size(*opts.common.size, "--size", limit);
    } else if (opts.common.quick) {
        bytes = std::size_t{8} << 20;
    } else {
        bytes = std::max<std::size_t>(static_cast<std::size_t>(4 * llc), std::size_t{1} << 24);
        if (bytes > limit) {
            report.notes.push_back("arrays capped at " + format_bytes(static_cast<double>(limit)) +
                                   " each by the available memory; STREAM's rule asks for " +
                                   format_bytes(static_cast<double>(bytes)));
            bytes = limit;
        }
    }
    const std::size_t n = std::max<std::size_t>(bytes / sizeof(double), 1);
    if (!opts.common.quick && !opts.common.size && static_cast<double>(n * sizeof(double)) < 4.0 * static_cast<double>(llc)) {
        report.notes.push_back("arrays are smaller than 4x the last-level caches: results include cache bandwidth");
    }
    const unsigned reps = opts.common.repetitions.value_or(opts.common.quick ? 2 : 10);
    if (reps == 0) {
        throw error("--repetitions: expected at least 1");
    }
    const unsigned passes = reps + 1; // the first is discarded
    report.context_extra["stream_array_elements"] = n;
    report.context_extra["stream_array_bytes"] = n * sizeof(double);
    report.context_extra["stream_last_level_cache_bytes"] = llc;
    report.context_extra["stream_passes_counted"] = reps;

    std::vector<placement_setup> setups;
    std::vector<std::vector<int>> all_cores;
    std::vector<int> all_nodes;
    for (const auto& node : topo.numa_nodes()) {
        const auto cores = core_pus_of_node(topo, node.id);
        all_cores.insert(all_cores.end(), cores.begin(), cores.end());
        if (!cores.empty()) {
            all_nodes.push_back(node.id);
        }
    }
    for (const auto& name : placements) {
        placement_setup s;
        s.name = name;
        s.team = all_cores;
        s.team_nodes = all_nodes;
        if (name == "first_touch") {
            s.policy = mem_policy::local();
            s.block_nodes = all_nodes;
        } else if (name == "interleave") {
            s.policy = mem_policy::interleave();
        } else if (name == "one_node") {
            s.policy = mem_policy::on_node(0);
            s.block_nodes = {0};
        } else {
            if (topo.node_count() < 2 || all_nodes.empty()) {
                report.notes.push_back("placement remote needs two NUMA nodes; this machine has " +
                                       std::to_string(topo.node_count()) + ": skipped");
                continue;
            }
            const int home = all_nodes.front();
            const int far = topo.nodes_by_distance(home).back();
            s.team = core_pus_of_node(topo, home);
            s.team_nodes = {home};
            s.policy = mem_policy::on_node(far);
            s.block_nodes = {far};
        }
        setups.push_back(std::move(s));
    }
    interrupt::install();

    // best[placement][impl][kernel] seconds, -1 until measured.
    std::map<std::string, std::map<std::string, std::array<double, 4>>> best;
    progress_line progress("stream");
    std::size_t done = 0;
    const std::size_t total = setups.size() * impls.size();
    const auto measure = [&] {
        for (const auto& s : setups) {
            for (const auto& impl : impls) {
                if (interrupt::requested()) {
                    break;
                }
                progress.update(done, total, impl_label(impl) + ", " + s.name + ", " +
                                                 std::to_string(s.team.size()) + " threads, 3 x " +
                                                 format_bytes(static_cast<double>(n * sizeof(double))));
                const double cpu0 = os::process_cpu_seconds();
                pass_times times;
                {
                    const affinity_guard keep;
                    if (impl == "topos") {
                        times = run_topos(s, n, passes);
                    }
#ifdef TOPOS_STREAM_HAVE_OPENMP
                    else if (impl == "omp") {
                        times = run_omp(s, n, passes);
                    }
#endif
#ifdef TOPOS_STREAM_HAVE_TBB
                    else if (impl == "tbb") {
                        times = run_tbb(s, n, passes);
                    }
#endif
                }
                const double cpu = os::process_cpu_seconds() - cpu0;
                ++done;
                if (times.size() < 2) {
                    break; // interrupted before one counted pass
                }
                const auto counted = static_cast<unsigned>(times.size() - 1);
                for (std::size_t k = 0; k < k_kernels.size(); ++k) {
                    double lo = times[1][k];
                    double hi = times[1][k];
                    double sum = 0;
                    for (std::size_t p = 1; p < times.size(); ++p) {
                        lo = std::min(lo, times[p][k]);
                        hi = std::max(hi, times[p][k]);
                        sum += times[p][k];
                    }
                    best[s.name][impl][k] = lo;
                    const double moved = static_cast<double>(stream_bytes_per_element(k_kernels[k]) * n);
                    bench_record r;
                    r.name = std::string("stream/") + to_string(k_kernels[k]) + "/" + impl_label(impl) + "/" + s.name;
                    r.iterations = counted;
                    r.real_time = lo * 1e3;
                    r.cpu_time = cpu * 1e3 / (static_cast<double>(times.size()) * k_kernels.size());
                    r.time_unit = "ms";
                    r.threads = static_cast<unsigned>(s.team.size());
                    r.repetitions = counted;
                    r.counters = {{"bytes_per_second", moved / lo},
                                  {"gb_per_s", moved / lo / 1e9},
                                  {"avg_time_ms", sum / counted * 1e3},
                                  {"max_time_ms", hi * 1e3},
                                  {"array_bytes", static_cast<double>(n * sizeof(double))}};
                    r.label = s.name + " placement, " + std::to_string(s.team.size()) + " threads";
                    report.records.push_back(std::move(r));
                }
            }
        }
    };
    if (const auto failed = run_measurements("stream", progress, report, topo, opts.common.json, measure)) {
        return *failed;
    }

    // Ratios: topos's best time over each peer's, per kernel and placement
    // (below 1: topos is faster).
    nlohmann::ordered_json ratios = nlohmann::ordered_json::array();
    std::ostringstream table;
    table << "STREAM (best of " << reps << " after a discarded first pass; arrays of "
          << format_bytes(static_cast<double>(n * sizeof(double))) << ", GB/s)\n";
    table << pad("placement", 12) << pad("kernel", 8);
    for (const auto& impl : impls) {
        table << pad(impl_label(impl), 12);
    }
    table << "   time ratios (topos/peer; < 1: topos faster)\n";
    for (const auto& s : setups) {
        for (std::size_t k = 0; k < k_kernels.size(); ++k) {
            const auto found = best.find(s.name);
            if (found == best.end()) {
                continue;
            }
            table << pad(s.name, 12) << pad(to_string(k_kernels[k]), 8);
            const double moved = static_cast<double>(stream_bytes_per_element(k_kernels[k]) * n);
            for (const auto& impl : impls) {
                const auto it = found->second.find(impl);
                table << pad(it == found->second.end() ? "-" : fixed(moved / it->second[k] / 1e9, 2), 12);
            }
            table << "  ";
            const auto mine = found->second.find("topos");
            for (const auto& impl : impls) {
                const auto peer = found->second.find(impl);
                if (impl == "topos" || mine == found->second.end() || peer == found->second.end()) {
                    continue;
                }
                const double ratio = mine->second[k] / peer->second[k];
                ratios.push_back({{"workload", std::string("stream/") + to_string(k_kernels[k]) + "/" + s.name},
                                  {"ratio", "topos/" + impl_label(impl)},
                                  {"value", ratio}});
                table << " topos/" << impl_label(impl) << "=" << fixed(ratio, 2);
            }
            table << '\n';
        }
    }
    report.extra["ratios"] = ratios;
    return finish_report(report, topo, opts.common.json, table.str());
}

} // namespace topos::cli
