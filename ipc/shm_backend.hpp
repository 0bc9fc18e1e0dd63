// ipc/shm_backend.hpp - what shared_segment asks of the kernel, once per API:
// segment_backend has one implementation for POSIX shared memory
// (shm_posix.cpp: shm_open + ftruncate + mmap) and one for System V
// (shm_sysv.cpp: shmget + shmat). The handle (shm.cpp) picks one with
// backend_for() and never asks which API it holds.
#pragma once

#include "ipc/shm_layout.hpp"

#include <topos/shm.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topos::detail {

/// One mapped object, as a backend made or found it.
struct segment_mapping {
    void* map = nullptr;    ///< the whole object, header included
    std::size_t bytes = 0;  ///< the object's size
    int shmid = -1;         ///< System V only
    std::int32_t key = -1;  ///< System V only
    std::uint64_t dev = 0;  ///< POSIX only: the object's device and inode, so that an
    std::uint64_t ino = 0;  ///< unlink removes this object and not a newer one of its name
};

/// An opened object and, unless it was opened raw, its validated header.
struct opened_segment {
    segment_mapping mapping;
    header_copy header;
};

class segment_backend {
public:
    segment_backend() = default;
    segment_backend(const segment_backend&) = delete;
    segment_backend& operator=(const segment_backend&) = delete;
    virtual ~segment_backend() = default;

    [[nodiscard]] virtual shm_api api() const noexcept = 0;

    /// pre: name checked (check_segment_name), total = object_bytes_for(size),
    /// options.mode within 0777.
    /// post: a new object of `total` zero bytes, mapped read-write; on a throw
    /// nothing is left behind.
    [[nodiscard]] virtual segment_mapping create(std::string_view name, std::size_t total,
                                                 const shm_options& options) const = 0;
    /// Undoes create() after a later step failed: unmaps and removes the object.
    virtual void discard(std::string_view name, const segment_mapping& m) const noexcept = 0;

    /// Maps an existing object. Unless `raw`, waits for its magic (up to
    /// options.ready_timeout) and validates one copy of its header, which it
    /// returns; the object's size is checked before anything is mapped or read.
    [[nodiscard]] virtual opened_segment open(std::string_view name, const open_options& options,
                                              bool raw) const = 0;

    /// Removes the name (or key); false when nothing had it.
    virtual bool remove_if_exists(std::string_view name, const std::optional<std::int32_t>& key) const = 0;
    /// Removes the object `m` was made from, if its name still leads to it.
    virtual void unlink(const std::string& name, const segment_mapping& m) const = 0;
    /// pre: base and bytes are a mapping this backend made.
    virtual void unmap(void* base, std::size_t bytes) const noexcept = 0;

    /// Appends this API's segments (only topos ones unless include_foreign).
    virtual void list(std::vector<segment_info>& out, bool include_foreign) const = 0;
};

[[nodiscard]] const segment_backend& posix_backend() noexcept;
[[nodiscard]] const segment_backend& sysv_backend() noexcept;
[[nodiscard]] const segment_backend& backend_for(shm_api api) noexcept;

/// The logical node of each page of [p, p + bytes), -1 for pages not resident;
/// never faults in a page that is not there (shm.cpp).
[[nodiscard]] std::vector<int> resident_page_nodes(const void* p, std::size_t bytes);

/// Fills info.resident_pages and info.nodes from the user bytes [user, user + bytes).
void summarise_nodes(segment_info& info, const void* user, std::size_t bytes);

/// Tests only: called by shared_segment::open with the mapping's start, after
/// the header was validated and before the handle is made, so a test can
/// change the live header in that window. nullptr (the default) for none.
using segment_open_hook = void (*)(void* mapping);
void set_segment_open_hook(segment_open_hook hook) noexcept;

} // namespace topos::detail
