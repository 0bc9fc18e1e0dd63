// ipc/shm.cpp - the shared_segment handle: create, open, remove and list,
// through the backend of the segment's API (shm_backend.hpp), and the
// questions a mapping answers (page nodes, offsets).
//
// Invariants:
//   - a segment is created whole before its magic is stored: size set, policy
//     applied (before any page is touched), header filled; then the magic,
//     with release ordering, so a reader that sees it (acquire) sees the rest;
//   - every failure after the kernel made the object removes it again
//     (segment_backend::discard), so bad input leaves nothing behind;
//   - an opener's sizes, name and creator come from the one header copy the
//     backend validated, never from a second read of the live header.
#include "ipc/shm_backend.hpp"
#include "ipc/shm_names.hpp"

#include "allocators/numa_layer.hpp"
#include "allocators/shared_mapping.hpp"
#include "os/memory.hpp"

#include <topos/detail/assert.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <tuple>

namespace topos {
namespace detail {
namespace {

std::atomic<segment_open_hook> g_open_hook{nullptr};

} // namespace

const segment_backend& backend_for(shm_api api) noexcept {
    return api == shm_api::posix ? posix_backend() : sysv_backend();
}

void set_segment_open_hook(segment_open_hook hook) noexcept {
    // release/acquire: a test sets it before the open it is for.
    g_open_hook.store(hook, std::memory_order_release);
}

// The nodes of the resident pages of [p, p+bytes): resident ones (mincore)
// are read once so that this process maps them, then asked of the kernel.
std::vector<int> resident_page_nodes(const void* p, std::size_t bytes) {
    const std::size_t page = os::page_size();
    const std::size_t count = (bytes + page - 1) / page;
    std::vector<unsigned char> resident(count, 0);
    std::vector<int> out(count, -1);
    if (count == 0 || ::mincore(const_cast<void*>(p), count * page, resident.data()) != 0) {
        return out;
    }
    std::vector<void*> pages;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < count; ++i) {
        if ((resident[i] & 1U) != 0) {
            auto* q = const_cast<char*>(static_cast<const char*>(p)) + i * page;
            (void)*static_cast<volatile const char*>(q);
            pages.push_back(q);
            index.push_back(i);
        }
    }
    std::vector<int> nodes;
    query_pages(pages, nodes);
    for (std::size_t k = 0; k < index.size(); ++k) {
        out[index[k]] = nodes[k];
    }
    return out;
}

void summarise_nodes(segment_info& info, const void* user, std::size_t bytes) {
    std::set<int> distinct;
    for (const int n : resident_page_nodes(user, bytes)) {
        if (n >= 0) {
            ++info.resident_pages;
            distinct.insert(n);
        }
    }
    info.nodes.assign(distinct.begin(), distinct.end());
}

} // namespace detail

// ---- create, open, remove ----------------------------------------------------------------

shared_segment shared_segment::create(std::string_view name, std::size_t size, const shm_options& options) {
    detail::check_segment_name(name);
    const std::size_t total = detail::object_bytes_for(name, size);
    if ((options.mode & ~0777U) != 0) {
        throw shm_error(shm_errc::invalid_argument, "shared segment " + detail::quoted(name) + ": mode 0" +
                                                        std::to_string(options.mode) +
                                                        " has bits outside 0777 (expected permission bits only)");
    }
    const detail::segment_backend& backend = detail::backend_for(options.api);
    const detail::segment_mapping m = backend.create(name, total, options);
    try {
        // Before the first touch (the header write below), so every page follows it.
        detail::apply_policy(m.map, total, options.policy);
        detail::fill_header(m.map, name, size, options.api);
    } catch (...) {
        backend.discard(name, m);
        throw;
    }
    shared_segment seg;
    seg.m_base = m.map;
    seg.m_map_bytes = m.bytes;
    seg.m_data = static_cast<char*>(m.map) + k_segment_header_bytes;
    seg.m_size = size;
    seg.m_name = std::string(name);
    seg.m_api = options.api;
    seg.m_key = m.key;
    seg.m_shmid = m.shmid;
    seg.m_dev = m.dev;
    seg.m_ino = m.ino;
    seg.m_creator_pid = static_cast<int>(::getpid());
    seg.m_owner_pid = seg.m_creator_pid;
    seg.m_creator = true;
    seg.m_remove_on_exit = options.remove_on_creator_exit;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

shared_segment shared_segment::open(std::string_view name, const open_options& options) {
    const detail::opened_segment o = detail::backend_for(options.api).open(name, options, false);
    if (const detail::segment_open_hook hook = detail::g_open_hook.load(std::memory_order_acquire)) {
        hook(o.mapping.map);
    }
    // Only the validated copy from here on: the live header may have changed since.
    const detail::header_copy& h = o.header;
    TOPOS_ASSERT(h.header_bytes == k_segment_header_bytes && h.user_size + h.header_bytes <= o.mapping.bytes,
                 "shared_segment::open: the backend validated the header against the object");
    shared_segment seg;
    seg.m_base = o.mapping.map;
    seg.m_map_bytes = o.mapping.bytes;
    seg.m_data = static_cast<char*>(o.mapping.map) + h.header_bytes;
    seg.m_size = h.user_size;
    seg.m_name = options.api == shm_api::sysv && name.empty() ? h.name : std::string(name);
    seg.m_api = options.api;
    seg.m_key = o.mapping.key;
    seg.m_shmid = o.mapping.shmid;
    seg.m_dev = o.mapping.dev;
    seg.m_ino = o.mapping.ino;
    seg.m_creator_pid = h.creator_pid;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

shared_segment shared_segment::open_raw(std::string_view name, const open_options& options) {
    const detail::opened_segment o = detail::backend_for(options.api).open(name, options, true);
    shared_segment seg;
    seg.m_base = o.mapping.map;
    seg.m_map_bytes = o.mapping.bytes;
    seg.m_data = o.mapping.map;
    seg.m_size = o.mapping.bytes;
    seg.m_name = std::string(name);
    seg.m_api = options.api;
    seg.m_key = o.mapping.key;
    seg.m_shmid = o.mapping.shmid;
    seg.m_dev = o.mapping.dev;
    seg.m_ino = o.mapping.ino;
    seg.m_raw = true;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

bool shared_segment::remove_if_exists(std::string_view name, shm_api api, std::optional<std::int32_t> sysv_key) {
    return detail::backend_for(api).remove_if_exists(name, sysv_key);
}

void shared_segment::remove(std::string_view name, shm_api api, std::optional<std::int32_t> sysv_key) {
    if (!remove_if_exists(name, api, sysv_key)) {
        const std::int32_t key = api == shm_api::sysv ? detail::sysv_key_for(name, sysv_key) : -1;
        throw shm_error(shm_errc::not_found, detail::segment_subject(name, api, key) + ": does not exist", ENOENT);
    }
}

void shared_segment::unlink() {
    if (m_base == nullptr) {
        return;
    }
    detail::segment_mapping m;
    m.map = m_base;
    m.bytes = m_map_bytes;
    m.shmid = m_shmid;
    m.key = m_key;
    m.dev = m_dev;
    m.ino = m_ino;
    detail::backend_for(m_api).unlink(m_name, m);
}

// ---- the handle --------------------------------------------------------------------------

shared_segment::shared_segment(shared_segment&& other) noexcept { *this = std::move(other); }

shared_segment& shared_segment::operator=(shared_segment&& other) noexcept {
    if (this != &other) {
        release();
        m_base = std::exchange(other.m_base, nullptr);
        m_map_bytes = std::exchange(other.m_map_bytes, 0);
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
        m_name = std::move(other.m_name);
        m_api = other.m_api;
        m_key = std::exchange(other.m_key, -1);
        m_shmid = std::exchange(other.m_shmid, -1);
        m_dev = std::exchange(other.m_dev, 0);
        m_ino = std::exchange(other.m_ino, 0);
        m_creator_pid = std::exchange(other.m_creator_pid, 0);
        m_owner_pid = std::exchange(other.m_owner_pid, 0);
        m_creator = std::exchange(other.m_creator, false);
        m_remove_on_exit = std::exchange(other.m_remove_on_exit, false);
        m_raw = std::exchange(other.m_raw, false);
    }
    return *this;
}

shared_segment::~shared_segment() { release(); }

void shared_segment::release() noexcept {
    if (m_base == nullptr) {
        return;
    }
    // A forked child inherits the handle; only the creating process removes.
    if (m_creator && m_remove_on_exit && m_owner_pid == static_cast<int>(::getpid())) {
        try {
            unlink();
        } catch (const shm_error&) { // NOLINT(bugprone-empty-catch): a destructor cannot report it
        }
    }
    detail::unregister_shared_mapping(m_base);
    detail::backend_for(m_api).unmap(m_base, m_map_bytes);
    m_base = nullptr;
    m_data = nullptr;
    m_size = 0;
}

std::vector<int> shared_segment::page_nodes() const {
    if (m_base == nullptr) {
        return {};
    }
    return detail::resident_page_nodes(m_data, m_size);
}

std::size_t shared_segment::offset_of(const void* p) const {
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(m_data);
    if (q < b || q - b > m_size) {
        throw shm_error(shm_errc::invalid_argument,
                        detail::segment_subject(m_name, m_api, m_key) + ": pointer is outside the segment");
    }
    return q - b;
}

void* shared_segment::at(std::size_t offset) const {
    if (offset > m_size) {
        throw shm_error(shm_errc::invalid_argument, detail::segment_subject(m_name, m_api, m_key) + ": offset " +
                                                        std::to_string(offset) + " is past its " +
                                                        std::to_string(m_size) + " bytes");
    }
    return static_cast<char*>(m_data) + offset;
}

// ---- list --------------------------------------------------------------------------------

std::vector<segment_info> list_shared_segments(bool include_foreign) {
    std::vector<segment_info> out;
    detail::posix_backend().list(out, include_foreign);
    detail::sysv_backend().list(out, include_foreign);
    std::sort(out.begin(), out.end(), [](const segment_info& a, const segment_info& b) {
        return std::tie(a.api, a.name, a.sysv_key) < std::tie(b.api, b.name, b.sysv_key);
    });
    return out;
}

} // namespace topos
