// ipc/shm_header.cpp - writing a new segment's header and checking an
// existing one (the layout is in shm_layout.hpp and include/topos/shm.hpp).
#include "ipc/shm_layout.hpp"

#include "allocators/numa_layer.hpp"
#include "os/memory.hpp"

#include <topos/detail/assert.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace topos::detail {

header_copy copy_header(const segment_header& h, std::uint64_t magic) {
    header_copy c;
    c.magic = magic;
    c.version = h.version;
    c.header_bytes = h.header_bytes;
    c.user_size = h.user_size;
    c.creator_pid = h.creator_pid;
    c.name.assign(h.name, ::strnlen(h.name, sizeof h.name));
    return c;
}

header_kind classify(const header_copy& h) noexcept {
    if (h.magic == 0) {
        return header_kind::no_magic;
    }
    if (h.magic != k_segment_magic) {
        return header_kind::foreign;
    }
    return h.version == k_segment_layout_version ? header_kind::topos : header_kind::wrong_version;
}

std::size_t object_bytes_for(std::string_view name, std::size_t size) {
    if (size == 0) {
        throw shm_error(shm_errc::invalid_size, "shared segment '" + std::string(name) +
                                                    "': size 0 (expected 1 to " +
                                                    std::to_string(k_max_segment_bytes) + " bytes)");
    }
    if (size > k_max_segment_bytes) {
        throw shm_error(shm_errc::invalid_size, "shared segment '" + std::string(name) + "': size " +
                                                    std::to_string(size) + " is above the limit of " +
                                                    std::to_string(k_max_segment_bytes) + " bytes");
    }
    const std::size_t page = os::page_size();
    return k_segment_header_bytes + (size + page - 1) / page * page;
}

void fill_header(void* base, std::string_view name, std::size_t size, shm_api api) {
    TOPOS_ASSERT(base != nullptr && size != 0 && size <= k_max_segment_bytes, "fill_header: a mapped, checked size");
    auto* h = static_cast<segment_header*>(base);
    h->version = k_segment_layout_version;
    h->header_bytes = static_cast<std::uint32_t>(k_segment_header_bytes);
    h->user_size = size;
    h->creator_pid = static_cast<std::int32_t>(::getpid());
    h->api = static_cast<std::uint8_t>(api);
    std::memset(h->name, 0, sizeof h->name);
    std::memcpy(h->name, name.data(), std::min(name.size(), sizeof h->name - 1));
    // release: publishes the fields above to an opener's acquire load of the magic.
    h->magic.store(k_segment_magic, std::memory_order_release);
}

bool header_fits(const header_copy& h, std::size_t object_bytes) noexcept {
    // A user size of 0 is never written by create() (invalid_size): such a header is not a whole segment.
    return classify(h) == header_kind::topos && h.header_bytes == k_segment_header_bytes && h.user_size != 0 &&
           h.user_size <= k_max_segment_bytes && h.user_size + h.header_bytes <= object_bytes;
}

void validate_header(const std::string& who, header_kind kind, const header_copy& h, std::size_t object_bytes,
                     const open_options& options) {
    TOPOS_ASSERT(kind != header_kind::no_magic, "validate_header: only a header that has its magic");
    if (kind == header_kind::foreign) {
        throw shm_error(shm_errc::not_topos, who + ": is not a topos segment (no topos header; use open_raw for "
                                                   "segments made by other programs)");
    }
    if (kind == header_kind::wrong_version) {
        throw shm_error(shm_errc::wrong_version, who + ": has topos layout version " + std::to_string(h.version) +
                                                     " (this program reads version " +
                                                     std::to_string(k_segment_layout_version) + ")");
    }
    if (h.user_size == 0) {
        throw shm_error(shm_errc::truncated, who + ": its header gives a user size of 0 (a topos segment holds at "
                                                   "least 1 byte)");
    }
    if (!header_fits(h, object_bytes)) {
        throw shm_error(shm_errc::truncated, who + ": is truncated: its header says " + std::to_string(h.user_size) +
                                                 " bytes after a " + std::to_string(h.header_bytes) +
                                                 "-byte header, the object has " + std::to_string(object_bytes));
    }
    if (options.expected_size != 0 && options.expected_size != h.user_size) {
        throw shm_error(shm_errc::size_mismatch, who + ": has " + std::to_string(h.user_size) +
                                                     " bytes, expected " + std::to_string(options.expected_size));
    }
}

void fail_not_ready(const std::string& who, std::size_t object_bytes, const open_options& options) {
    throw shm_error(shm_errc::not_ready, who + ": no topos header appeared within " +
                                             std::to_string(options.ready_timeout.count()) + " ms (object of " +
                                             std::to_string(object_bytes) +
                                             " bytes: still being created, or not a topos segment)");
}

} // namespace topos::detail

namespace topos {

std::size_t validate_segment_image(std::span<const std::byte> object) {
    const std::string who = "segment image of " + std::to_string(object.size()) + " bytes";
    const std::size_t bytes = object.size();
    // As the POSIX backend's probe: the size first, then one copy of the header.
    std::uint64_t magic = 0;
    if (bytes >= sizeof magic) {
        std::memcpy(&magic, object.data(), sizeof magic);
    }
    if (bytes < sizeof(detail::segment_header)) {
        if (magic == k_segment_magic) {
            throw shm_error(shm_errc::truncated, who + ": is truncated, shorter than its header");
        }
        throw shm_error(shm_errc::not_topos, who + ": is not a topos segment (no topos header)");
    }
    // A private, aligned copy: the image may be anywhere, and is read once.
    alignas(detail::segment_header) unsigned char raw[sizeof(detail::segment_header)];
    std::memcpy(raw, object.data(), sizeof raw);
    const auto& h = *reinterpret_cast<const detail::segment_header*>(raw);
    const detail::header_copy copy = detail::copy_header(h, magic);
    const detail::header_kind kind = detail::classify(copy);
    open_options options;
    options.ready_timeout = std::chrono::milliseconds(0);
    if (kind == detail::header_kind::no_magic) {
        detail::fail_not_ready(who, bytes, options);
    }
    detail::validate_header(who, kind, copy, bytes, options);
    return copy.user_size;
}

} // namespace topos
