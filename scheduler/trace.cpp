// scheduler/trace.cpp - recording events per worker and writing them as
// Trace Event JSON (the "JSON object format" of Chrome's trace viewer, which
// ui.perfetto.dev opens too).
//
// What the file holds
//  - one process per NUMA node (pid node+1, "node N"; pid 1000 for unbound
//    workers, 1001 for the guest slots of outside threads), one thread per
//    worker (tid index+1), with process_name / thread_name metadata;
//  - every task as a complete event ("X", cat "task", name = its label or
//    "task"; skipped tasks of cancelled groups have cat "task,skipped");
//  - parking as "X" events named "parked" (cat "idle");
//  - every steal as a flow ("s" on the victim's thread, "f" on the thief's,
//    binding to the stolen task), cat "steal" or "steal,remote"; a remote
//    steal from a node's inbox as an instant event ("i") on the thief;
//  - the counters of stats() as "C" events per node (tasks_run, steals,
//    parks), sampled along the run and exact at its end;
//  - otherData: the version, the event limit, events dropped (per worker),
//    and the totals of stats().
#include "scheduler/trace.hpp"

#include "scheduler/runtime_core.hpp"

#include <topos/error.hpp>
#include <topos/version.hpp>

#include <algorithm>
#include <atomic>
#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>

namespace topos::detail {

namespace {

constexpr std::size_t k_chunk_events = 8192;
constexpr int k_unbound_pid = 1000;
constexpr int k_guest_pid = 1001;
constexpr std::size_t k_counter_samples = 200;

// Buffered output to a FILE*; remembers the first error.
class json_out {
public:
    explicit json_out(std::FILE* f) : m_file(f) { m_buffer.reserve(1 << 16); }
    ~json_out() { flush(); }
    json_out(const json_out&) = delete;
    json_out& operator=(const json_out&) = delete;

    json_out& raw(std::string_view s) {
        m_buffer.append(s);
        if (m_buffer.size() >= (1 << 16)) {
            flush();
        }
        return *this;
    }
    json_out& number(std::int64_t v) { return raw(std::to_string(v)); }
    json_out& unsigned_number(std::uint64_t v) { return raw(std::to_string(v)); }
    /// Nanoseconds as microseconds with three decimals, exactly.
    json_out& micros(std::uint64_t ns) {
        std::array<char, 32> text{};
        const int n = std::snprintf(text.data(), text.size(), "%llu.%03llu", static_cast<unsigned long long>(ns / 1000),
                                    static_cast<unsigned long long>(ns % 1000));
        return raw(std::string_view(text.data(), static_cast<std::size_t>(n)));
    }
    /// A JSON string: quotes, escapes, control characters as \u00XX, invalid
    /// UTF-8 as U+FFFD.
    json_out& string(std::string_view s) {
        std::string out = "\"";
        std::size_t i = 0;
        while (i < s.size()) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
                ++i;
            } else if (c < 0x20) {
                std::array<char, 8> esc{};
                std::snprintf(esc.data(), esc.size(), "\\u%04x", c);
                out += esc.data();
                ++i;
            } else if (c < 0x80) {
                out += static_cast<char>(c);
                ++i;
            } else {
                const std::size_t len = utf8_length(s, i);
                if (len == 0) {
                    out += "\\ufffd";
                    ++i;
                } else {
                    out.append(s.substr(i, len));
                    i += len;
                }
            }
        }
        out += '"';
        return raw(out);
    }
    void flush() {
        if (!m_buffer.empty() && m_error == 0) {
            if (std::fwrite(m_buffer.data(), 1, m_buffer.size(), m_file) != m_buffer.size()) {
                m_error = errno != 0 ? errno : EIO;
            }
        }
        m_buffer.clear();
    }
    [[nodiscard]] int error() const noexcept { return m_error; }

private:
    // Length of the well-formed UTF-8 sequence at s[i], or 0.
    static std::size_t utf8_length(std::string_view s, std::size_t i) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1FU;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0FU;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07U;
        } else {
            return 0;
        }
        if (i + len > s.size()) {
            return 0;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0U) != 0x80U) {
                return 0;
            }
            cp = (cp << 6U) | (cc & 0x3FU);
        }
        const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        return overlong || surrogate || cp > 0x10FFFF ? 0 : len;
    }

    std::FILE* m_file;
    std::string m_buffer;
    int m_error = 0;
};

std::string numbered_path(std::string path) {
    // The first runtime of the process writes `path`; the n-th writes
    // `stem.n.ext`, so that several runtimes (one per benchmark, say) do not
    // overwrite each other.
    static std::atomic<unsigned> runtimes{0};
    const unsigned n = runtimes.fetch_add(1, std::memory_order_relaxed) + 1; // relaxed: only the count matters
    if (n == 1) {
        return path;
    }
    const std::size_t slash = path.rfind('/');
    const std::size_t dot = path.rfind('.');
    const std::size_t at = (dot != std::string::npos && (slash == std::string::npos || dot > slash + 1)) ? dot : path.size();
    return path.insert(at, "." + std::to_string(n));
}

struct counter_sample {
    std::uint64_t tasks = 0;
    std::uint64_t steals_local = 0;
    std::uint64_t steals_remote = 0;
    std::uint64_t parks = 0;
};

} // namespace

trace_recorder::trace_recorder(std::string path, std::size_t events_per_slot, std::size_t slots)
    : m_path(numbered_path(path)), m_limit(events_per_slot), m_start(std::chrono::steady_clock::now()),
      m_buffers(std::make_unique<buffer[]>(slots)), m_slots(slots) {
    m_file = std::fopen(m_path.c_str(), "w");
    if (m_file == nullptr) {
        const int e = errno;
        throw config_error("TOPOS_TRACE: cannot open '" + m_path + "' for writing: " + std::strerror(e) +
                           (m_path != path ? " (the file of this process's next runtime for '" + path + "')" : ""));
    }
    for (std::size_t i = 0; i < slots; ++i) {
        m_buffers[i].allowed = events_per_slot;
    }
}

trace_recorder::~trace_recorder() {
    if (m_file != nullptr) {
        std::fclose(m_file);
    }
}

bool trace_recorder::grow(buffer& b) noexcept {
    if (b.allowed == 0) {
        return false;
    }
    const std::size_t n = std::min(b.allowed, k_chunk_events);
    try {
        b.chunks.reserve(b.chunks.size() + 1);
        std::unique_ptr<trace_event[]> events(new (std::nothrow) trace_event[n]);
        if (!events) {
            b.allowed = 0;
            return false;
        }
        if (!b.chunks.empty()) {
            b.chunks.back().size = static_cast<std::size_t>(b.pos - b.chunks.back().events.get());
        }
        b.pos = events.get();
        b.end = b.pos + n;
        b.chunks.push_back(chunk{.events = std::move(events), .size = 0});
    } catch (...) {
        b.allowed = 0;
        return false;
    }
    b.allowed -= n;
    return true;
}

void trace_recorder::record(unsigned slot, trace_kind kind, const char* label, std::int32_t victim, int victim_node,
                            std::uint8_t flags) noexcept {
    buffer& b = m_buffers[slot];
    if (b.pos == b.end && !grow(b)) [[unlikely]] {
        ++b.dropped;
        return;
    }
    const auto ts = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - m_start);
    *b.pos++ = trace_event{.ts = static_cast<std::uint64_t>(ts.count()),
                           .label = label,
                           .victim = victim,
                           .victim_node = static_cast<std::int16_t>(victim_node),
                           .kind = kind,
                           .flags = flags};
}

void trace_recorder::write(const runtime_core& rt, const runtime_stats& stats) noexcept {
    if (m_file == nullptr) {
        return;
    }
    int error = 0;
    try {
        for (std::size_t i = 0; i < m_slots; ++i) {
            buffer& b = m_buffers[i];
            if (!b.chunks.empty()) {
                b.chunks.back().size = static_cast<std::size_t>(b.pos - b.chunks.back().events.get());
            }
        }
        write_json(m_file, rt, stats);
        error = std::ferror(m_file) != 0 ? (errno != 0 ? errno : EIO) : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "topos: TOPOS_TRACE: writing '%s' failed: %s\n", m_path.c_str(), e.what());
    }
    if (std::fclose(m_file) != 0 && error == 0) {
        error = errno != 0 ? errno : EIO;
    }
    m_file = nullptr;
    if (error != 0) {
        std::fprintf(stderr, "topos: TOPOS_TRACE: writing '%s' failed: %s\n", m_path.c_str(), std::strerror(error));
    }
}

void trace_recorder::write_json(std::FILE* file, const runtime_core& rt, const runtime_stats& stats) {
    json_out out(file);
    const unsigned workers = rt.m_worker_count;
    const auto pid_of = [&](std::size_t slot) -> int {
        if (slot >= workers) {
            return k_guest_pid;
        }
        const int node = rt.m_plan.workers[slot].node;
        return node >= 0 ? node + 1 : k_unbound_pid;
    };
    const auto tid_of = [](std::size_t slot) { return static_cast<std::int64_t>(slot) + 1; };
    const auto has_events = [&](std::size_t slot) {
        return !m_buffers[slot].chunks.empty() || m_buffers[slot].dropped != 0;
    };

    bool first = true;
    const auto begin_event = [&](std::string_view ph, std::string_view name, int pid, std::int64_t tid) -> json_out& {
        out.raw(first ? "\n" : ",\n");
        first = false;
        out.raw("{\"ph\":").string(ph).raw(",\"name\":").string(name).raw(",\"pid\":").number(pid);
        out.raw(",\"tid\":").number(tid);
        return out;
    };

    out.raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");

    // Metadata: processes per node, threads per worker.
    std::vector<int> pids;
    for (std::size_t s = 0; s < m_slots; ++s) {
        if (s < workers || has_events(s)) {
            pids.push_back(pid_of(s));
        }
    }
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    for (int pid : pids) {
        const std::string name = pid == k_guest_pid      ? "outside threads (guest slots)"
                                 : pid == k_unbound_pid ? "workers (unbound)"
                                                        : "node " + std::to_string(pid - 1);
        begin_event("M", "process_name", pid, 0).raw(",\"args\":{\"name\":").string(name).raw("}}");
        begin_event("M", "process_sort_index", pid, 0).raw(",\"args\":{\"sort_index\":").number(pid).raw("}}");
    }
    for (std::size_t s = 0; s < m_slots; ++s) {
        if (s >= workers && !has_events(s)) {
            continue;
        }
        std::string name;
        if (s < workers) {
            const auto& pus = rt.m_plan.workers[s].pus;
            name = "worker " + std::to_string(s) + (pus.empty() ? "" : " (PUs " + format_cpu_list(pus) + ")");
        } else {
            name = "guest slot " + std::to_string(s - workers);
        }
        begin_event("M", "thread_name", pid_of(s), tid_of(s)).raw(",\"args\":{\"name\":").string(name).raw("}}");
        begin_event("M", "thread_sort_index", pid_of(s), tid_of(s))
            .raw(",\"args\":{\"sort_index\":")
            .number(tid_of(s))
            .raw("}}");
    }

    // The run's length, for the counter samples.
    std::uint64_t last_ts = 0;
    for (std::size_t s = 0; s < m_slots; ++s) {
        for (const chunk& c : m_buffers[s].chunks) {
            if (c.size != 0) {
                last_ts = std::max(last_ts, c.events[c.size - 1].ts);
            }
        }
    }
    const std::uint64_t bucket_ns = std::max<std::uint64_t>(1, (last_ts + k_counter_samples) / k_counter_samples);
    std::vector<std::vector<counter_sample>> samples(pids.size(), std::vector<counter_sample>(k_counter_samples + 1));
    const auto pid_index = [&](int pid) {
        return static_cast<std::size_t>(std::lower_bound(pids.begin(), pids.end(), pid) - pids.begin());
    };

    // Per slot: tasks, parking, steals, start and stop.
    std::uint64_t flow_id = 0;
    struct open_task {
        std::uint64_t ts;
        const char* label;
        bool skipped;
    };
    std::vector<open_task> open;
    for (std::size_t s = 0; s < m_slots; ++s) {
        const int pid = pid_of(s);
        const std::int64_t tid = tid_of(s);
        auto& counters = samples[std::min(pid_index(pid), samples.size() - 1)];
        open.clear();
        std::uint64_t parked_at = 0;
        bool parked = false;
        for (const chunk& c : m_buffers[s].chunks) {
            for (std::size_t k = 0; k < c.size; ++k) {
                const trace_event& e = c.events[k];
                const std::size_t bucket = std::min<std::size_t>(e.ts / bucket_ns, k_counter_samples);
                switch (e.kind) {
                case trace_kind::task_begin:
                    open.push_back(open_task{.ts = e.ts, .label = e.label, .skipped = (e.flags & k_skipped) != 0});
                    break;
                case trace_kind::task_end: {
                    if (open.empty()) {
                        break; // cannot happen: a slot stops recording only at its end
                    }
                    const open_task t = open.back();
                    open.pop_back();
                    begin_event("X", t.label != nullptr ? std::string_view(t.label) : "task", pid, tid)
                        .raw(",\"cat\":")
                        .string(t.skipped ? "task,skipped" : "task")
                        .raw(",\"ts\":")
                        .micros(t.ts)
                        .raw(",\"dur\":")
                        .micros(e.ts - t.ts)
                        .raw("}");
                    ++counters[bucket].tasks;
                    break;
                }
                case trace_kind::park:
                    parked_at = e.ts;
                    parked = true;
                    ++counters[bucket].parks;
                    break;
                case trace_kind::wake:
                    if (parked) {
                        begin_event("X", "parked", pid, tid)
                            .raw(",\"cat\":\"idle\",\"ts\":")
                            .micros(parked_at)
                            .raw(",\"dur\":")
                            .micros(e.ts - parked_at)
                            .raw("}");
                        parked = false;
                    }
                    break;
                case trace_kind::steal: {
                    const bool remote = (e.flags & k_remote) != 0;
                    const std::string_view cat = remote ? "steal,remote" : "steal";
                    if (remote) {
                        ++counters[bucket].steals_remote;
                    } else {
                        ++counters[bucket].steals_local;
                    }
                    if (e.victim < 0) {
                        begin_event("i", "steal from the inbox of node " + std::to_string(e.victim_node), pid, tid)
                            .raw(",\"cat\":")
                            .string(cat)
                            .raw(",\"s\":\"t\",\"ts\":")
                            .micros(e.ts)
                            .raw(",\"args\":{\"victim_node\":")
                            .number(e.victim_node)
                            .raw("}}");
                        break;
                    }
                    ++flow_id;
                    const auto victim = static_cast<std::size_t>(e.victim);
                    begin_event("s", "steal", pid_of(victim), tid_of(victim))
                        .raw(",\"cat\":")
                        .string(cat)
                        .raw(",\"id\":")
                        .unsigned_number(flow_id)
                        .raw(",\"ts\":")
                        .micros(e.ts)
                        .raw("}");
                    begin_event("f", "steal", pid, tid)
                        .raw(",\"cat\":")
                        .string(cat)
                        .raw(",\"id\":")
                        .unsigned_number(flow_id)
                        .raw(",\"ts\":")
                        .micros(e.ts)
                        .raw(",\"args\":{\"victim\":")
                        .number(e.victim)
                        .raw(",\"victim_node\":")
                        .number(e.victim_node)
                        .raw("}}");
                    break;
                }
                case trace_kind::worker_start:
                case trace_kind::worker_stop:
                    begin_event("i", e.kind == trace_kind::worker_start ? "worker start" : "worker stop", pid, tid)
                        .raw(",\"cat\":\"worker\",\"s\":\"t\",\"ts\":")
                        .micros(e.ts)
                        .raw("}");
                    break;
                }
            }
        }
    }

    // Counters per node: cumulative samples along the run, then stats() exactly.
    for (std::size_t p = 0; p < pids.size(); ++p) {
        counter_sample sum;
        for (std::size_t b = 0; b <= k_counter_samples; ++b) {
            const counter_sample& d = samples[p][b];
            if (b != 0 && d.tasks == 0 && d.steals_local == 0 && d.steals_remote == 0 && d.parks == 0) {
                continue;
            }
            sum.tasks += d.tasks;
            sum.steals_local += d.steals_local;
            sum.steals_remote += d.steals_remote;
            sum.parks += d.parks;
            const std::uint64_t ts = std::min(last_ts, b * bucket_ns);
            begin_event("C", "tasks_run", pids[p], 0).raw(",\"ts\":").micros(ts).raw(",\"args\":{\"tasks_run\":");
            out.unsigned_number(sum.tasks).raw("}}");
            begin_event("C", "steals", pids[p], 0).raw(",\"ts\":").micros(ts).raw(",\"args\":{\"local\":");
            out.unsigned_number(sum.steals_local).raw(",\"remote\":").unsigned_number(sum.steals_remote).raw("}}");
            begin_event("C", "parks", pids[p], 0).raw(",\"ts\":").micros(ts).raw(",\"args\":{\"parks\":");
            out.unsigned_number(sum.parks).raw("}}");
        }
        counter_sample exact;
        if (pids[p] == k_guest_pid) {
            exact.tasks = stats.caller_tasks_run;
        } else {
            for (const auto& w : stats.workers) {
                if (pid_of(w.index) == pids[p]) {
                    exact.tasks += w.tasks_run;
                    exact.steals_local += w.steals_local;
                    exact.steals_remote += w.steals_remote;
                    exact.parks += w.parks;
                }
            }
        }
        begin_event("C", "tasks_run", pids[p], 0).raw(",\"ts\":").micros(last_ts).raw(",\"args\":{\"tasks_run\":");
        out.unsigned_number(exact.tasks).raw("}}");
        begin_event("C", "steals", pids[p], 0).raw(",\"ts\":").micros(last_ts).raw(",\"args\":{\"local\":");
        out.unsigned_number(exact.steals_local).raw(",\"remote\":").unsigned_number(exact.steals_remote).raw("}}");
        begin_event("C", "parks", pids[p], 0).raw(",\"ts\":").micros(last_ts).raw(",\"args\":{\"parks\":");
        out.unsigned_number(exact.parks).raw("}}");
    }

    // otherData: what a reader needs to trust the file.
    std::uint64_t dropped = 0;
    for (std::size_t s = 0; s < m_slots; ++s) {
        dropped += m_buffers[s].dropped;
    }
    out.raw("\n],\"otherData\":{\"producer\":").string("topos " TOPOS_VERSION_STRING);
    out.raw(",\"threads\":").unsigned_number(workers);
    out.raw(",\"events_per_worker_limit\":").unsigned_number(m_limit);
    out.raw(",\"dropped_events\":").unsigned_number(dropped);
    out.raw(",\"dropped_events_by_slot\":[");
    for (std::size_t s = 0; s < m_slots; ++s) {
        out.raw(s == 0 ? "" : ",").unsigned_number(m_buffers[s].dropped);
    }
    out.raw("],\"stats\":{\"tasks_run\":").unsigned_number(stats.tasks_run);
    out.raw(",\"caller_tasks_run\":").unsigned_number(stats.caller_tasks_run);
    out.raw(",\"steals_local\":").unsigned_number(stats.steals_local);
    out.raw(",\"steals_remote\":").unsigned_number(stats.steals_remote);
    out.raw(",\"steals_lost\":").unsigned_number(stats.steals_lost);
    out.raw(",\"inbox_tasks\":").unsigned_number(stats.inbox_tasks);
    out.raw(",\"parks\":").unsigned_number(stats.parks);
    out.raw("}}}\n");
    out.flush();
    if (out.error() != 0) {
        errno = out.error();
        throw std::runtime_error(std::strerror(out.error()));
    }
}

} // namespace topos::detail
