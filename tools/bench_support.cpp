// tools/bench_support.cpp - results, progress, Ctrl-C, sizes, pinned threads and
// child processes for `topos bench`, `topos tune` and `topos run`.
#include "bench_support.hpp"

#include "command_set.hpp"

#include <topos/error.hpp>
#include <topos/version.hpp>

#include <fcntl.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;
using clock_type = std::chrono::steady_clock;

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

std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int /*signal*/) {
    // relaxed: a lone flag polled between measurements; no data is published with it.
    g_interrupts.fetch_add(1, std::memory_order_relaxed);
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
    const std::string text = doc.dump(2) + '\n';
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

std::size_t parse_size(std::string_view text, std::string_view flag, std::size_t max) {
    const std::string s(text);
    const auto bad = [&](const std::string& why) {
        return error(std::string(flag) + ": '" + s + "' " + why);
    };
    if (s.empty()) {
        throw bad("is empty; expected a byte count such as 4096, 64K, 16M or 1G");
    }
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || errno == ERANGE || !std::isfinite(value)) {
        throw bad("is not a size; expected a byte count such as 4096, 64K, 16M or 1G");
    }
    std::string unit(end);
    std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    double scale = 1;
    static const std::array<std::pair<const char*, double>, 5> k_units{{
        {"", 1.0}, {"K", 1024.0}, {"M", 1024.0 * 1024}, {"G", 1024.0 * 1024 * 1024}, {"T", 1024.0 * 1024 * 1024 * 1024}}};
    bool known = false;
    for (const auto& [name, factor] : k_units) {
        const std::string n(name);
        if (unit == n || unit == n + "B" || (!n.empty() && unit == n + "IB")) {
            scale = factor;
            known = true;
        }
    }
    if (!known) {
        throw bad("has an unknown unit; expected a number with an optional K, M, G or T suffix");
    }
    const double bytes = value * scale;
    if (!(bytes >= 1)) {
        throw bad("is too small; expected at least 1 byte");
    }
    if (bytes > static_cast<double>(max)) {
        throw bad("is too large; expected at most " + format_bytes(static_cast<double>(max)));
    }
    return static_cast<std::size_t>(bytes);
}

std::string format_bytes(double bytes) {
    static const std::array<const char*, 5> k_names{"B", "KiB", "MiB", "GiB", "TiB"};
    std::size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < k_names.size()) {
        bytes /= 1024;
        ++unit;
    }
    std::array<char, 32> buf{};
    const bool whole = std::fabs(bytes - std::round(bytes)) < 1e-9;
    std::snprintf(buf.data(), buf.size(), whole ? "%.0f %s" : "%.1f %s", bytes, k_names[unit]);
    return buf.data();
}

std::string fixed(double v, int digits) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", digits, v);
    return buf.data();
}

std::string pad(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

namespace interrupt {
void install() {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocking wait returns EINTR so we can act
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}
bool requested() noexcept { return g_interrupts.load(std::memory_order_relaxed) != 0; }
void reset() noexcept { g_interrupts.store(0, std::memory_order_relaxed); }
} // namespace interrupt

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

std::uint64_t last_level_cache_bytes(const topology& topo) {
    const int level = topo.last_cache_level();
    std::uint64_t total = 0;
    for (const auto& c : topo.caches()) {
        if (c.level == level && c.type != cache_type::instruction) {
            total += c.size_bytes;
        }
    }
    return total;
}

std::uint64_t cache_bytes(const topology& topo, int level) {
    for (const auto& c : topo.caches()) {
        if (c.level == level && c.type != cache_type::instruction) {
            return c.size_bytes;
        }
    }
    return 0;
}

std::uint64_t available_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("MemAvailable:")) {
            return std::strtoull(line.c_str() + 13, nullptr, 10) * 1024;
        }
    }
    return 0;
}

std::vector<std::vector<int>> core_pus_of_node(const topology& topo, int node) {
    std::vector<std::vector<int>> out;
    for (const auto& core : topo.cores()) {
        if (core.node == node && !core.pus.empty()) {
            out.push_back(core.pus);
        }
    }
    return out;
}

std::string places_of(const std::vector<std::vector<int>>& sets) {
    std::string out;
    for (const auto& set : sets) {
        out += out.empty() ? "{" : ",{";
        for (std::size_t i = 0; i < set.size(); ++i) {
            out += (i == 0 ? "" : ",") + std::to_string(set[i]);
        }
        out += "}";
    }
    return out;
}

bool pin_this_thread(const std::vector<int>& pus) {
    if (pus.empty()) {
        return true;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int pu : pus) {
        if (pu >= 0 && pu < CPU_SETSIZE) {
            CPU_SET(static_cast<unsigned>(pu), &set);
        }
    }
    return ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set) == 0;
}

std::vector<double> run_pinned_rounds(const std::vector<std::vector<int>>& pu_sets, unsigned rounds,
                                      const std::function<void(unsigned, unsigned)>& body, bool* pinned) {
    const auto threads = static_cast<unsigned>(pu_sets.size());
    // starts[r][t] / ends[r][t] are written by thread t only; read after join.
    std::vector<std::vector<clock_type::time_point>> starts(rounds, std::vector<clock_type::time_point>(threads));
    std::vector<std::vector<clock_type::time_point>> ends(rounds, std::vector<clock_type::time_point>(threads));
    std::vector<char> pin_ok(threads, 1);
    std::barrier sync(static_cast<std::ptrdiff_t>(threads));
    std::vector<std::thread> team;
    team.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            pin_ok[t] = pin_this_thread(pu_sets[t]) ? 1 : 0;
            for (unsigned r = 0; r < rounds; ++r) {
                sync.arrive_and_wait();
                starts[r][t] = clock_type::now();
                body(t, r);
                ends[r][t] = clock_type::now();
            }
        });
    }
    for (auto& th : team) {
        th.join();
    }
    if (pinned != nullptr) {
        *pinned = std::all_of(pin_ok.begin(), pin_ok.end(), [](char ok) { return ok != 0; });
    }
    std::vector<double> seconds(rounds);
    for (unsigned r = 0; r < rounds; ++r) {
        const auto first = *std::min_element(starts[r].begin(), starts[r].end());
        const auto last = *std::max_element(ends[r].begin(), ends[r].end());
        seconds[r] = std::chrono::duration<double>(last - first).count();
    }
    return seconds;
}

double process_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::optional<std::string> find_program(const std::string& name, std::string* why, bool* not_executable) {
    const auto set = [&](const std::string& reason, bool exists) {
        if (why != nullptr) {
            *why = reason;
        }
        if (not_executable != nullptr) {
            *not_executable = exists;
        }
    };
    const auto runnable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
    };
    const auto exists = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0;
    };
    if (name.empty()) {
        set("the program name is empty", false);
        return std::nullopt;
    }
    if (name.find('/') != std::string::npos) {
        if (runnable(name)) {
            return name;
        }
        set(exists(name) ? "'" + name + "' is not an executable file" : "'" + name + "' does not exist", exists(name));
        return std::nullopt;
    }
    const char* path_env = std::getenv("PATH");
    const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    bool found_non_exec = false;
    std::size_t begin = 0;
    while (begin <= path.size()) {
        const auto end = std::min(path.find(':', begin), path.size());
        std::string dir = path.substr(begin, end - begin);
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (runnable(candidate)) {
            return candidate;
        }
        found_non_exec = found_non_exec || exists(candidate);
        begin = end + 1;
    }
    set(found_non_exec ? "'" + name + "' is not executable" : "'" + name + "' was not found in PATH", found_non_exec);
    return std::nullopt;
}

namespace {

// A launch_spec turned into what the child needs, built before fork so the
// child only makes system calls (no allocation) between fork and exec.
struct prepared_launch {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::vector<char*> argv;
    std::vector<char*> envp;
    bool set_cpus = false;
    cpu_set_t cpus{};
    int mem_mode = MPOL_DEFAULT;
    std::vector<unsigned long> mem_mask;
};

prepared_launch prepare(const launch_spec& spec) {
    prepared_launch p;
    p.args = spec.argv;
    std::string why;
    p.path = find_program(spec.argv.empty() ? std::string() : spec.argv[0], &why).value_or(spec.argv.empty() ? "" : spec.argv[0]);
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string name(entry.substr(0, entry.find('=')));
        if (spec.env.find(name) == spec.env.end()) {
            p.env.emplace_back(entry);
        }
    }
    for (const auto& [name, value] : spec.env) {
        if (value) {
            p.env.push_back(name + "=" + *value);
        }
    }
    for (auto& a : p.args) {
        p.argv.push_back(a.data());
    }
    p.argv.push_back(nullptr);
    for (auto& e : p.env) {
        p.envp.push_back(e.data());
    }
    p.envp.push_back(nullptr);
    if (!spec.cpus.empty()) {
        p.set_cpus = true;
        CPU_ZERO(&p.cpus);
        for (int pu : spec.cpus) {
            if (pu >= 0 && pu < CPU_SETSIZE) {
                CPU_SET(static_cast<unsigned>(pu), &p.cpus);
            }
        }
    }
    if (spec.memory != launch_spec::mem_mode::inherit) {
        constexpr std::size_t k_bits = 8 * sizeof(unsigned long);
        int max_node = 0;
        for (int n : spec.memory_os_nodes) {
            max_node = std::max(max_node, n);
        }
        p.mem_mask.assign(static_cast<std::size_t>(max_node) / k_bits + 1, 0);
        for (int n : spec.memory_os_nodes) {
            const auto bit = static_cast<std::size_t>(n);
            p.mem_mask[bit / k_bits] |= 1UL << (bit % k_bits);
        }
        p.mem_mode = spec.memory == launch_spec::mem_mode::bind ? MPOL_BIND : MPOL_INTERLEAVE;
    }
    return p;
}

// 0, or 'A' (affinity) / 'M' (memory policy) with errno set.
char apply_prepared(const prepared_launch& p) {
    if (p.set_cpus && ::sched_setaffinity(0, sizeof(p.cpus), &p.cpus) != 0) {
        return 'A';
    }
    // maxnode counts bits; the kernel reads one fewer than it is given.
    if (!p.mem_mask.empty() &&
        ::set_mempolicy(p.mem_mode, p.mem_mask.data(), p.mem_mask.size() * 8 * sizeof(unsigned long) + 1) != 0) {
        return 'M';
    }
    return 0;
}

std::string describe_failure(char what, int err) {
    const std::string reason = std::strerror(err);
    if (what == 'A') {
        return "cannot restrict the CPUs (sched_setaffinity): " + reason;
    }
    if (what == 'M') {
        return "cannot set the memory policy (set_mempolicy): " + reason;
    }
    return reason;
}

// Writes "<what><errno>" without allocating.
void write_failure(int fd, char what, int err) {
    std::array<char, 16> buf{};
    std::size_t n = 0;
    buf[n++] = what;
    std::array<char, 12> digits{};
    std::size_t d = 0;
    unsigned value = static_cast<unsigned>(err);
    do {
        digits[d++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && d < digits.size());
    while (d > 0) {
        buf[n++] = digits[--d];
    }
    (void)!::write(fd, buf.data(), n);
}

} // namespace

std::string apply_launch_spec(const launch_spec& spec) {
    for (const auto& [name, value] : spec.env) {
        if (value) {
            ::setenv(name.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name.c_str());
        }
    }
    const prepared_launch p = prepare(spec);
    const char failed = apply_prepared(p);
    return failed == 0 ? std::string() : describe_failure(failed, errno);
}

child_result run_child(const launch_spec& spec, child_output out, child_output err) {
    child_result result;
    std::array<int, 2> status_pipe{-1, -1}; // child reports a failed set-up or exec here; closes on success
    std::array<int, 2> data_pipe{-1, -1};
    const bool capture_out = out == child_output::capture;
    const bool capture_err = !capture_out && err == child_output::capture;
    if (::pipe2(status_pipe.data(), O_CLOEXEC) != 0 ||
        ((capture_out || capture_err) && ::pipe2(data_pipe.data(), O_CLOEXEC) != 0)) {
        result.start_error = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    const prepared_launch launch = prepare(spec);
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out_fd = capture_out ? data_pipe[1] : (out == child_output::discard ? null_fd : -1);
    const int err_fd = capture_err ? data_pipe[1] : (err == child_output::discard ? null_fd : -1);

    const auto started = clock_type::now();
    const pid_t pid = ::fork();
    if (pid < 0) {
        result.start_error = std::string("fork: ") + std::strerror(errno);
        return result;
    }
    if (pid == 0) {
        // The child: system calls only until exec. Its own process group, so a
        // Ctrl-C we pass on reaches whatever it started too; stdin is /dev/null
        // (a background group must not read the terminal).
        ::setpgid(0, 0);
        if (in_fd >= 0) {
            ::dup2(in_fd, STDIN_FILENO);
        }
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGPIPE, SIG_DFL);
        if (out_fd >= 0) {
            ::dup2(out_fd, STDOUT_FILENO);
        }
        if (err_fd >= 0) {
            ::dup2(err_fd, STDERR_FILENO);
        }
        const char failed = apply_prepared(launch);
        if (failed != 0) {
            write_failure(status_pipe[1], failed, errno);
            ::_exit(126);
        }
        ::execve(launch.path.c_str(), launch.argv.data(), launch.envp.data());
        const int e = errno;
        write_failure(status_pipe[1], 'X', e);
        ::_exit(e == ENOENT ? 127 : 126);
    }
    ::setpgid(pid, pid); // also here, so the group exists before we might signal it
    ::close(status_pipe[1]);
    if (data_pipe[1] >= 0) {
        ::close(data_pipe[1]);
    }
    if (null_fd >= 0) {
        ::close(null_fd);
    }
    if (in_fd >= 0) {
        ::close(in_fd);
    }
    bool forwarded = false;
    const auto forward_interrupt = [&] {
        if (interrupt::requested() && !forwarded) {
            if (::kill(-pid, SIGINT) != 0) {
                ::kill(pid, SIGINT);
            }
            forwarded = true;
            result.interrupted = true;
        }
    };
    if (data_pipe[0] >= 0) {
        std::array<char, 8192> buf{};
        for (;;) {
            const ssize_t n = ::read(data_pipe[0], buf.data(), buf.size());
            if (n > 0) {
                result.captured.append(buf.data(), static_cast<std::size_t>(n));
                if (capture_err && result.captured.size() > 8192) {
                    result.captured.erase(0, result.captured.size() - 4096);
                }
            } else if (n < 0 && errno == EINTR) {
                forward_interrupt();
            } else {
                break;
            }
        }
        ::close(data_pipe[0]);
        if (capture_err && result.captured.size() > 4096) {
            result.captured.erase(0, result.captured.size() - 4096);
        }
    }
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            result.start_error = std::string("waitpid: ") + std::strerror(errno);
            ::close(status_pipe[0]);
            return result;
        }
        forward_interrupt();
    }
    forward_interrupt(); // a Ctrl-C that reached the child and us at once
    result.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    std::string report;
    std::array<char, 64> buf{};
    for (;;) {
        const ssize_t n = ::read(status_pipe[0], buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        report.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(status_pipe[0]);
    if (!report.empty()) {
        result.status = -1;
        result.start_error = describe_failure(report[0], std::atoi(report.c_str() + 1));
        return result;
    }
    result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return result;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    if (n == 0) {
        return 0;
    }
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

} // namespace topos::cli
