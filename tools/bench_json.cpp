// tools/bench_json.cpp - a benchmark run's results in Google Benchmark's JSON
// shape (the machine's context first), the table and JSON at the end of a
// run, and the progress line while it runs.
#include "bench_json.hpp"

#include "command_set.hpp"
#include "interrupt.hpp"

#include <topos/error.hpp>
#include <topos/version.hpp>

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return "unknown";
    }
    return buf.data();
}

std::string executable_path() {
    std::array<char, 4096> buf{};
    const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string("topos");
}

std::string local_date() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::array<char, 64> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S%z", &tm);
    return std::string(buf.data(), n);
}

// The first "cpu MHz" of /proc/cpuinfo, as Google Benchmark reports it.
double cpu_mhz() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("cpu MHz")) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                return std::strtod(line.c_str() + colon + 1, nullptr);
            }
        }
    }
    return 0;
}

std::vector<double> load_average() {
    std::array<double, 3> loads{};
    const int n = ::getloadavg(loads.data(), 3);
    return n > 0 ? std::vector<double>(loads.begin(), loads.begin() + n) : std::vector<double>{};
}

std::string cache_type_name(cache_type t) {
    switch (t) {
    case cache_type::data:
        return "Data";
    case cache_type::instruction:
        return "Instruction";
    case cache_type::unified:
        break;
    }
    return "Unified";
}

} // namespace

json bench_context(const topology& topo, std::string_view command) {
    json ctx;
    ctx["date"] = local_date();
    ctx["host_name"] = host_name();
    ctx["executable"] = executable_path();
    ctx["num_cpus"] = topo.pus().size();
    ctx["mhz_per_cpu"] = static_cast<long>(std::lround(cpu_mhz()));
    ctx["cpu_scaling_enabled"] = false;
    json caches = json::array();
    for (const auto& c : topo.caches()) {
        caches.push_back({{"type", cache_type_name(c.type)},
                          {"level", c.level},
                          {"size", c.size_bytes},
                          {"num_sharing", c.pus.size()}});
    }
    ctx["caches"] = caches;
    ctx["load_avg"] = load_average();
#ifdef NDEBUG
    ctx["library_build_type"] = "release";
#else
    ctx["library_build_type"] = "debug";
#endif
    ctx["topos_version"] = TOPOS_VERSION_STRING;
    ctx["topos_command"] = command == "tune" ? std::string("tune") : "bench " + std::string(command);
    ctx["numa_nodes"] = topo.node_count();
    json distances = json::array();
    for (std::size_t i = 0; i < topo.node_count(); ++i) {
        json row = json::array();
        for (std::size_t j = 0; j < topo.node_count(); ++j) {
            row.push_back(topo.distance(static_cast<int>(i), static_cast<int>(j)));
        }
        distances.push_back(row);
    }
    ctx["distances"] = distances;
    return ctx;
}

json report_to_json(const bench_report& report, const topology& topo) {
    json doc;
    json ctx = bench_context(topo, report.command);
    for (const auto& [key, value] : report.context_extra.items()) {
        ctx[key] = value;
    }
    ctx["interrupted"] = report.interrupted;
    ctx["notes"] = report.notes;
    doc["context"] = ctx;
    json rows = json::array();
    std::map<std::string, std::size_t> families;       // family -> family_index
    std::map<std::string, std::size_t> family_sizes;   // family -> instances seen
    std::map<std::string, std::size_t> instances;      // run name -> index within its family
    for (const auto& r : report.records) {
        // A family is the name up to its second '/' (e.g. stream/triad).
        const auto second = r.name.find('/', r.name.find('/') + 1);
        const std::string family = r.name.substr(0, second);
        const auto fam = families.emplace(family, families.size()).first->second;
        const std::string& run_name = r.name;
        if (instances.find(run_name) == instances.end()) {
            instances.emplace(run_name, family_sizes[family]++);
        }
        json row;
        row["name"] = r.run_type == "aggregate" ? r.name + "_" + r.aggregate_name : r.name;
        row["family_index"] = fam;
        row["per_family_instance_index"] = instances[run_name];
        row["run_name"] = run_name;
        row["run_type"] = r.run_type;
        row["repetitions"] = r.repetitions;
        row["repetition_index"] = r.repetition_index;
        if (r.run_type == "aggregate") {
            row["aggregate_name"] = r.aggregate_name;
        }
        row["threads"] = r.threads;
        row["iterations"] = r.iterations;
        row["real_time"] = r.real_time;
        row["cpu_time"] = r.cpu_time;
        row["time_unit"] = r.time_unit;
        for (const auto& [key, value] : r.counters) {
            row[key] = value;
        }
        if (!r.label.empty()) {
            row["label"] = r.label;
        }
        rows.push_back(row);
    }
    doc["benchmarks"] = rows;
    for (const auto& [key, value] : report.extra.items()) {
        doc[key] = value;
    }
    return doc;
}

int write_json_output(const std::string& path, const json& doc) {
    // Bytes that are not UTF-8 (in a --topology spec or a command) become U+FFFD.
    const std::string text = doc.dump(2, ' ', false, json::error_handler_t::replace) + '\n';
    if (path == "-") {
        return write_stdout(text);
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) {
            report_error("--json: cannot write '" + path + "': " + std::strerror(errno));
            std::remove(tmp.c_str());
            return k_exit_internal;
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        report_error("--json: cannot write '" + path + "': " + std::strerror(errno));
        std::remove(tmp.c_str());
        return k_exit_internal;
    }
    return 0;
}

int finish_report(const bench_report& report, const topology& topo, const std::optional<std::string>& json_path,
                  const std::string& table, int status) {
    int rc = 0;
    const bool json_to_stdout = json_path && *json_path == "-";
    if (!json_to_stdout) {
        std::string text = table;
        for (const auto& note : report.notes) {
            text += "note: " + note + '\n';
        }
        rc = write_stdout(text);
    }
    if (json_path) {
        const int wrc = write_json_output(*json_path, report_to_json(report, topo));
        rc = rc != 0 ? rc : wrc;
    }
    if (report.interrupted) {
        std::cerr << "topos: interrupted; " << report.records.size() << " result(s) measured before Ctrl-C"
                  << (json_path && !json_to_stdout ? " written to " + *json_path : std::string()) << std::endl;
        return k_exit_interrupted;
    }
    return status != 0 ? status : rc;
}

progress_line::progress_line(std::string prefix) : m_prefix(std::move(prefix)), m_enabled(::isatty(STDERR_FILENO) == 1) {}

progress_line::~progress_line() { clear(); }

void progress_line::update(std::size_t done, std::size_t total, std::string_view what) {
    if (!m_enabled) {
        return;
    }
    std::string line = "\r\033[K[" + m_prefix + " " + std::to_string(done) + "/" + std::to_string(total) + "] ";
    line += what;
    std::cerr << line << std::flush;
    m_shown = true;
}

void progress_line::clear() {
    if (m_enabled && m_shown) {
        std::cerr << "\r\033[K" << std::flush;
        m_shown = false;
    }
}

std::optional<int> run_measurements(std::string_view command, progress_line& progress, bench_report& report,
                                    const topology& topo, const std::optional<std::string>& json_path,
                                    const std::function<void()>& measure) {
    try {
        measure();
    } catch (const topos::error&) {
        throw;
    } catch (const std::exception& e) {
        progress.clear();
        report_error("bench " + std::string(command) + ": " + e.what());
        return finish_report(report, topo, json_path, {}, k_exit_internal);
    }
    progress.clear();
    report.interrupted = interrupt::requested();
    return std::nullopt;
}

} // namespace topos::cli
