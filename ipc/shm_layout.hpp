// ipc/shm_layout.hpp - the header at the start of every topos segment, as
// documented in include/topos/shm.hpp (other programs read it by offset).
#pragma once

#include <topos/shm.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

struct segment_header {
    /// k_segment_magic once the creator has filled everything else; 0 before.
    std::atomic<std::uint64_t> magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::uint64_t user_size;
    std::int32_t creator_pid;
    std::uint8_t api;
    std::uint8_t reserved[3];
    char name[256];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the magic is read by other processes");
static_assert(offsetof(segment_header, version) == 8);
static_assert(offsetof(segment_header, header_bytes) == 12);
static_assert(offsetof(segment_header, user_size) == 16);
static_assert(offsetof(segment_header, creator_pid) == 24);
static_assert(offsetof(segment_header, api) == 28);
static_assert(offsetof(segment_header, name) == 32);
static_assert(sizeof(segment_header) <= k_segment_header_bytes);

} // namespace topos::detail
