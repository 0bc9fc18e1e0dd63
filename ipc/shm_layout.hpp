// ipc/shm_layout.hpp - the header at the start of every topos segment, as
// documented in include/topos/shm.hpp (other programs read it by offset), and
// the checks an opener makes of it.
//
// An opener reads the header once into a header_copy, validates that copy,
// and from then on uses only the copy: the live header is in memory every
// process can write, so a second read could see other sizes than the ones
// that were checked.
#pragma once

#include <topos/shm.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

/// A private copy of a header's fields, taken once; the only one an opener trusts.
struct header_copy {
    std::uint64_t magic = 0;
    std::uint32_t version = 0;
    std::uint32_t header_bytes = 0;
    std::uint64_t user_size = 0;
    std::int32_t creator_pid = 0;
    std::string name;
};

/// The fields of `h`, the magic given (read first, with acquire or an
/// equivalent ordering, by the caller).
[[nodiscard]] header_copy copy_header(const segment_header& h, std::uint64_t magic);

/// What a header says about its object.
enum class header_kind { topos, no_magic, foreign, wrong_version };
[[nodiscard]] header_kind classify(const header_copy& h) noexcept;

/// The object bytes for `size` user bytes: the header and whole pages.
/// Throws shm_error(invalid_size) for 0 or above k_max_segment_bytes.
[[nodiscard]] std::size_t object_bytes_for(std::string_view name, std::size_t size);

/// Fills the header of a new segment at `base` and stores the magic last (release).
/// pre: base maps at least k_segment_header_bytes writable bytes nobody else reads yet.
void fill_header(void* base, std::string_view name, std::size_t size, shm_api api);

/// true for a topos header whose sizes fit an object of `object_bytes` (what listing needs).
[[nodiscard]] bool header_fits(const header_copy& h, std::size_t object_bytes) noexcept;

/// Throws the shm_error an opener reports for a header of kind `kind`
/// (not no_magic) that is foreign, of another version, larger than its
/// object, or of another size than options.expected_size.
void validate_header(const std::string& who, header_kind kind, const header_copy& h, std::size_t object_bytes,
                     const open_options& options);

/// Throws shm_error(not_ready): no magic appeared within options.ready_timeout.
[[noreturn]] void fail_not_ready(const std::string& who, std::size_t object_bytes, const open_options& options);

} // namespace topos::detail
