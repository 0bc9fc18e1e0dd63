// scheduler/trace.hpp - TOPOS_TRACE: events recorded in per-worker buffers
// while the runtime runs, written as Chrome / Perfetto Trace Event JSON when
// it is destroyed.
//
// Recording takes no lock and does no I/O: each worker slot appends to its
// own buffer, a list of chunks it allocates itself (so first touch puts them
// on its node), up to a limit of events per slot; past the limit the slot
// records nothing more and counts what it dropped. Guest slots pass from one
// outside thread to the next with the slot's claim (acquire/release), so each
// buffer has one writer at a time. The buffers are read once, after the
// workers are joined.
//
// The JSON is written by hand (the library depends on no JSON library), with
// strings escaped and invalid UTF-8 replaced by U+FFFD.
#pragma once

#include <topos/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace topos::detail {

class runtime_core;

enum class trace_kind : std::uint8_t { worker_start, worker_stop, task_begin, task_end, steal, park, wake };

struct trace_event {
    std::uint64_t ts = 0;          ///< nanoseconds since the recorder started
    const char* label = nullptr;   ///< task label
    std::int32_t victim = -1;      ///< steal: victim worker, -1 for an inbox
    std::int16_t victim_node = -1; ///< steal: the victim's node
    trace_kind kind = trace_kind::task_begin;
    std::uint8_t flags = 0; ///< k_skipped (tasks) or k_remote (steals)
};

class trace_recorder {
public:
    static constexpr std::uint8_t k_skipped = 1;
    static constexpr std::uint8_t k_remote = 1;

    /// Opens `path` for writing; throws config_error naming TOPOS_TRACE and
    /// the path when it cannot.
    trace_recorder(std::string path, std::size_t events_per_slot, std::size_t slots);
    ~trace_recorder();
    trace_recorder(const trace_recorder&) = delete;
    trace_recorder& operator=(const trace_recorder&) = delete;

    /// On the slot's owner thread only.
    void record(unsigned slot, trace_kind kind, const char* label = nullptr, std::int32_t victim = -1,
                int victim_node = -1, std::uint8_t flags = 0) noexcept;
    /// After every slot's last record. Writes the file; reports a failure on stderr.
    void write(const runtime_core& rt, const runtime_stats& stats) noexcept;

private:
    struct chunk {
        std::unique_ptr<trace_event[]> events;
        std::size_t size = 0;
    };
    struct alignas(cache_line) buffer {
        std::vector<chunk> chunks;
        trace_event* pos = nullptr;
        trace_event* end = nullptr;
        std::size_t allowed = 0; ///< events it may still allocate room for
        std::uint64_t dropped = 0;
    };
    [[nodiscard]] bool grow(buffer& b) noexcept;
    void write_json(std::FILE* out, const runtime_core& rt, const runtime_stats& stats);

    std::string m_path;
    std::FILE* m_file = nullptr;
    std::size_t m_limit;
    std::chrono::steady_clock::time_point m_start;
    std::unique_ptr<buffer[]> m_buffers;
    std::size_t m_slots;
};

} // namespace topos::detail
