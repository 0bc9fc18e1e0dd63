// ipc/shm.cpp - shared segments: create, open, remove, list, for POSIX
// (shm_open + mmap) and System V (shmget + shmat).
//
// Invariants:
//   - a segment is created whole before its magic is stored: size set, policy
//     applied (before any page is touched), header filled; then the magic,
//     with release ordering, so a reader that sees it (acquire) sees the rest;
//   - every failure after the kernel made the object removes it again (the
//     creation guards below), so bad input leaves nothing behind;
//   - the header is probed before any mapping is trusted: by pread for POSIX
//     (which does not allocate pages for holes) after checking the size, by
//     IPC_STAT's size and then a read of the first page for System V.
#include <topos/shm.hpp>

#include "allocators/numa_layer.hpp"
#include "allocators/shared_mapping.hpp"
#include "ipc/shm_layout.hpp"
#include "os/memory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>
#include <tuple>

namespace topos {
namespace {

using detail::segment_header;

constexpr std::size_t k_name_max = NAME_MAX; // the whole name, leading '/' included
constexpr const char* k_shm_dir = "/dev/shm";

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

std::string key_text(std::int32_t key) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
    return buf;
}

// The one-line description of the segment named in messages.
std::string subject(std::string_view name, shm_api api, std::int32_t key) {
    if (api == shm_api::posix) {
        return "shared segment " + quoted(name);
    }
    return "System V segment " + (name.empty() ? std::string() : quoted(name) + " ") + "(key " + key_text(key) + ")";
}

shm_errc code_of(int err, shm_errc otherwise) {
    switch (err) {
    case EEXIST: return shm_errc::exists;
    case ENOENT: return shm_errc::not_found;
    case EACCES:
    case EPERM: return shm_errc::permission_denied;
    case ENOMEM:
    case ENOSPC: return shm_errc::no_memory;
    case ENAMETOOLONG: return shm_errc::invalid_name;
    case EFBIG: return shm_errc::invalid_size;
    default: return otherwise;
    }
}

std::string explain(shm_errc code, int err) {
    switch (code) {
    case shm_errc::exists: return "already exists (use exclusive = false to replace it, or remove it first)";
    case shm_errc::not_found: return "does not exist";
    case shm_errc::permission_denied: return std::string("permission denied (") + std::strerror(err) + ")";
    case shm_errc::no_memory: return std::string("not enough shared memory (") + std::strerror(err) + ")";
    default: return std::strerror(err);
    }
}

[[noreturn]] void fail_sys(const std::string& who, const char* step, int err, shm_errc otherwise = shm_errc::system) {
    const shm_errc code = code_of(err, otherwise);
    throw shm_error(code, who + ": " + step + ": " + explain(code, err), err);
}

void check_name(std::string_view name) {
    const auto bad = [&](const std::string& why) {
        throw shm_error(shm_errc::invalid_name, "shared segment name " + quoted(name) + " " + why +
                                                    " (expected '/' and 1 to 254 characters without '/')");
    };
    if (name.empty()) {
        bad("is empty");
    }
    if (name.front() != '/') {
        bad("does not start with '/'");
    }
    if (name.size() < 2) {
        bad("has nothing after '/'");
    }
    if (name.size() > k_name_max) {
        bad("is " + std::to_string(name.size()) + " characters long");
    }
    if (name.find('/', 1) != std::string_view::npos) {
        bad("contains a second '/'");
    }
    if (name.find('\0') != std::string_view::npos) {
        bad("contains a NUL character");
    }
    if (name == "/." || name == "/..") {
        bad("names a directory");
    }
}

std::size_t page_bytes() { return os::page_size(); }

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// The bytes of the object for `size` user bytes: header plus whole pages.
std::size_t object_bytes_for(std::string_view name, std::size_t size) {
    if (size == 0) {
        throw shm_error(shm_errc::invalid_size, "shared segment " + quoted(name) + ": size 0 (expected 1 to " +
                                                    std::to_string(k_max_segment_bytes) + " bytes)");
    }
    if (size > k_max_segment_bytes) {
        throw shm_error(shm_errc::invalid_size, "shared segment " + quoted(name) + ": size " + std::to_string(size) +
                                                    " is above the limit of " +
                                                    std::to_string(k_max_segment_bytes) + " bytes");
    }
    return k_segment_header_bytes + round_up(size, page_bytes());
}

std::int32_t key_for(std::string_view name, const std::optional<std::int32_t>& key) {
    if (key) {
        if (*key == IPC_PRIVATE) {
            throw shm_error(shm_errc::invalid_argument,
                            "System V key 0 is IPC_PRIVATE, which no other process can find (expected a nonzero key)");
        }
        return *key;
    }
    check_name(name);
    return sysv_key_of(name);
}

// Removes the object the guard holds unless dismissed: what a failed create leaves.
struct creation_guard {
    shm_api api = shm_api::posix;
    std::string name;
    int fd = -1;
    int shmid = -1;
    void* map = nullptr;
    std::size_t map_bytes = 0;
    bool armed = true;

    creation_guard() = default;
    creation_guard(const creation_guard&) = delete;
    creation_guard& operator=(const creation_guard&) = delete;
    ~creation_guard() {
        if (fd >= 0) {
            ::close(fd);
        }
        if (!armed) {
            return;
        }
        if (map != nullptr) {
            if (api == shm_api::posix) {
                ::munmap(map, map_bytes);
            } else {
                ::shmdt(map);
            }
        }
        if (api == shm_api::posix && !name.empty()) {
            ::shm_unlink(name.c_str());
        }
        if (api == shm_api::sysv && shmid >= 0) {
            ::shmctl(shmid, IPC_RMID, nullptr);
        }
    }
};

void fill_header(void* base, std::string_view name, std::size_t size, shm_api api) {
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

// What the first bytes of an object say.
enum class probe { topos, no_magic, foreign, wrong_version };

probe classify(const segment_header& h, std::uint64_t magic) {
    if (magic == 0) {
        return probe::no_magic;
    }
    if (magic != k_segment_magic) {
        return probe::foreign;
    }
    return h.version == k_segment_layout_version ? probe::topos : probe::wrong_version;
}

// A copy of the header of a POSIX object read by pread, which reads holes as
// zeros without allocating. The magic is read first, the rest after it.
bool read_header(int fd, segment_header& out, std::uint64_t& magic) {
    std::uint64_t m = 0;
    if (::pread(fd, &m, sizeof m, 0) != static_cast<ssize_t>(sizeof m)) {
        return false;
    }
    // The second read starts after the first returned the magic: the kernel
    // entry between them orders the loads as an acquire load of the magic
    // would, pairing with fill_header's release store.
    if (::pread(fd, static_cast<void*>(&out), sizeof out, 0) != static_cast<ssize_t>(sizeof out)) {
        return false;
    }
    magic = m;
    return true;
}

std::string header_name(const segment_header& h) {
    return std::string(h.name, ::strnlen(h.name, sizeof h.name));
}

// Checks a header that has its magic against the object's size and the caller's wishes.
void validate(const std::string& who, probe p, const segment_header& h, std::size_t object_bytes,
              const open_options& options) {
    if (p == probe::foreign) {
        throw shm_error(shm_errc::not_topos, who + ": is not a topos segment (no topos header; use open_raw for "
                                                   "segments made by other programs)");
    }
    if (p == probe::wrong_version) {
        throw shm_error(shm_errc::wrong_version, who + ": has topos layout version " + std::to_string(h.version) +
                                                     " (this program reads version " +
                                                     std::to_string(k_segment_layout_version) + ")");
    }
    if (h.header_bytes != k_segment_header_bytes || h.user_size > k_max_segment_bytes ||
        h.user_size + h.header_bytes > object_bytes) {
        throw shm_error(shm_errc::truncated, who + ": is truncated: its header says " + std::to_string(h.user_size) +
                                                 " bytes after a " + std::to_string(h.header_bytes) +
                                                 "-byte header, the object has " + std::to_string(object_bytes));
    }
    if (options.expected_size != 0 && options.expected_size != h.user_size) {
        throw shm_error(shm_errc::size_mismatch, who + ": has " + std::to_string(h.user_size) +
                                                     " bytes, expected " + std::to_string(options.expected_size));
    }
}

[[noreturn]] void fail_not_ready(const std::string& who, std::size_t bytes, const open_options& options) {
    throw shm_error(shm_errc::not_ready, who + ": no topos header appeared within " +
                                             std::to_string(options.ready_timeout.count()) + " ms (object of " +
                                             std::to_string(bytes) +
                                             " bytes: still being created, or not a topos segment)");
}

// shmat reports failure as (void*)-1.
bool attach_failed(const void* p) { return reinterpret_cast<std::intptr_t>(p) == -1; }

void pause_briefly() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

// The nodes of the resident pages of [p, p+bytes): resident ones (mincore)
// are read once so that this process maps them, then asked of the kernel.
std::vector<int> resident_page_nodes(const void* p, std::size_t bytes) {
    const std::size_t page = page_bytes();
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
    detail::query_pages(pages, nodes);
    for (std::size_t k = 0; k < index.size(); ++k) {
        out[index[k]] = nodes[k];
    }
    return out;
}

} // namespace

const char* to_string(shm_errc code) noexcept {
    switch (code) {
    case shm_errc::invalid_name: return "invalid_name";
    case shm_errc::invalid_size: return "invalid_size";
    case shm_errc::invalid_argument: return "invalid_argument";
    case shm_errc::exists: return "exists";
    case shm_errc::not_found: return "not_found";
    case shm_errc::permission_denied: return "permission_denied";
    case shm_errc::not_topos: return "not_topos";
    case shm_errc::wrong_version: return "wrong_version";
    case shm_errc::truncated: return "truncated";
    case shm_errc::not_ready: return "not_ready";
    case shm_errc::size_mismatch: return "size_mismatch";
    case shm_errc::no_memory: return "no_memory";
    case shm_errc::system: return "system";
    }
    return "unknown";
}

std::int32_t sysv_key_of(std::string_view name) noexcept {
    std::uint32_t h = 2166136261U; // FNV-1a 32-bit offset basis
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619U; // FNV prime
    }
    const auto key = static_cast<std::int32_t>(h & 0x7fffffffU);
    return key == 0 ? 1 : key;
}

// ---- create ------------------------------------------------------------------------------

shared_segment shared_segment::create(std::string_view name, std::size_t size, const shm_options& options) {
    check_name(name);
    const std::size_t total = object_bytes_for(name, size);
    if ((options.mode & ~0777U) != 0) {
        throw shm_error(shm_errc::invalid_argument, "shared segment " + quoted(name) + ": mode 0" +
                                                        std::to_string(options.mode) +
                                                        " has bits outside 0777 (expected permission bits only)");
    }
    const std::int32_t key = options.api == shm_api::sysv ? key_for(name, options.sysv_key) : -1;
    const std::string who = subject(name, options.api, key);
    const auto mode = static_cast<mode_t>(options.mode);

    creation_guard guard;
    guard.api = options.api;
    shared_segment seg;
    if (options.api == shm_api::posix) {
        // A size /dev/shm cannot hold would only show later, as SIGBUS on touch.
        struct statvfs fs {};
        if (::statvfs(k_shm_dir, &fs) == 0 && fs.f_frsize != 0 &&
            static_cast<unsigned long long>(fs.f_bavail) < total / fs.f_frsize + 1) {
            throw shm_error(shm_errc::no_memory,
                            who + ": " + std::to_string(total) + " bytes do not fit in " + k_shm_dir + " (" +
                                std::to_string(static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize) +
                                " bytes free)",
                            ENOSPC);
        }
        const std::string cname(name);
        int fd = ::shm_open(cname.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0 && errno == EEXIST && !options.exclusive) {
            ::shm_unlink(cname.c_str());
            fd = ::shm_open(cname.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        }
        if (fd < 0) {
            fail_sys(who, "create", errno, shm_errc::invalid_name);
        }
        guard.fd = fd;
        guard.name = cname;
        if (::fchmod(fd, mode) != 0) { // shm_open's mode went through the umask
            fail_sys(who, "fchmod", errno);
        }
        if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
            fail_sys(who, "set size", errno, shm_errc::invalid_size);
        }
        void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            fail_sys(who, "map", errno, shm_errc::invalid_size);
        }
        guard.map = p;
        guard.map_bytes = total;
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            seg.m_dev = static_cast<std::uint64_t>(st.st_dev);
            seg.m_ino = static_cast<std::uint64_t>(st.st_ino);
        }
    } else {
        int id = ::shmget(key, total, IPC_CREAT | IPC_EXCL | static_cast<int>(mode));
        if (id < 0 && errno == EEXIST && !options.exclusive) {
            const int old = ::shmget(key, 0, 0);
            if (old >= 0) {
                ::shmctl(old, IPC_RMID, nullptr);
            }
            id = ::shmget(key, total, IPC_CREAT | IPC_EXCL | static_cast<int>(mode));
        }
        if (id < 0) {
            // EINVAL: below SHMMIN or above SHMMAX.
            fail_sys(who, "create", errno, shm_errc::invalid_size);
        }
        guard.shmid = id;
        void* p = ::shmat(id, nullptr, 0);
        if (attach_failed(p)) {
            fail_sys(who, "attach", errno);
        }
        guard.map = p;
        guard.map_bytes = total;
        seg.m_shmid = id;
        seg.m_key = key;
    }
    // Before the first touch (the header write below), so every page follows it.
    detail::apply_policy(guard.map, total, options.policy);
    fill_header(guard.map, name, size, options.api);

    seg.m_base = guard.map;
    seg.m_map_bytes = total;
    seg.m_data = static_cast<char*>(guard.map) + k_segment_header_bytes;
    seg.m_size = size;
    seg.m_name = std::string(name);
    seg.m_api = options.api;
    seg.m_creator = true;
    seg.m_remove_on_exit = options.remove_on_creator_exit;
    seg.m_owner_pid = static_cast<int>(::getpid());
    guard.armed = false;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

// ---- open --------------------------------------------------------------------------------

namespace {

struct opened {
    void* map = nullptr;
    std::size_t bytes = 0;
    int shmid = -1;
    std::int32_t key = -1;
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
};

opened open_posix(std::string_view name, const open_options& options, bool raw) {
    check_name(name);
    const std::string who = subject(name, shm_api::posix, -1);
    const std::string cname(name);
    const int fd = ::shm_open(cname.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    if (fd < 0) {
        fail_sys(who, "open", errno, shm_errc::invalid_name);
    }
    creation_guard closer; // closes fd; owns nothing else
    closer.fd = fd;
    closer.armed = false;

    const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
    struct stat st {};
    for (;;) {
        if (::fstat(fd, &st) != 0) {
            fail_sys(who, "stat", errno);
        }
        const auto bytes = static_cast<std::size_t>(st.st_size);
        if (raw) {
            if (bytes == 0) {
                throw shm_error(shm_errc::invalid_size, who + ": is empty (size 0), nothing to map");
            }
            break;
        }
        if (bytes >= sizeof(std::uint64_t)) {
            segment_header h{};
            std::uint64_t magic = 0;
            if (bytes < sizeof h) {
                std::uint64_t m = 0;
                if (::pread(fd, &m, sizeof m, 0) == static_cast<ssize_t>(sizeof m) && m == k_segment_magic) {
                    throw shm_error(shm_errc::truncated, who + ": is truncated to " + std::to_string(bytes) +
                                                             " bytes, shorter than its header");
                }
                throw shm_error(shm_errc::not_topos,
                                who + ": is not a topos segment (" + std::to_string(bytes) +
                                    " bytes, no topos header; use open_raw for segments made by other programs)");
            }
            if (!read_header(fd, h, magic)) {
                fail_sys(who, "read header", errno);
            }
            const probe p = classify(h, magic);
            if (p != probe::no_magic) {
                validate(who, p, h, bytes, options);
                break;
            }
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            fail_not_ready(who, bytes, options);
        }
        pause_briefly();
    }
    opened out;
    out.bytes = static_cast<std::size_t>(st.st_size);
    out.dev = static_cast<std::uint64_t>(st.st_dev);
    out.ino = static_cast<std::uint64_t>(st.st_ino);
    out.map = ::mmap(nullptr, out.bytes, options.read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (out.map == MAP_FAILED) {
        fail_sys(who, "map", errno);
    }
    return out;
}

opened open_sysv(std::string_view name, const open_options& options, bool raw) {
    if (!name.empty()) {
        check_name(name);
    }
    const std::int32_t key = key_for(name, options.sysv_key);
    const std::string who = subject(name, shm_api::sysv, key);
    const int id = ::shmget(key, 0, 0);
    if (id < 0) {
        fail_sys(who, "open", errno);
    }
    shmid_ds ds{};
    if (::shmctl(id, IPC_STAT, &ds) != 0) {
        fail_sys(who, "stat", errno);
    }
    const std::size_t bytes = ds.shm_segsz;
    if (!raw && bytes < k_segment_header_bytes) {
        throw shm_error(shm_errc::not_topos, who + ": is not a topos segment (" + std::to_string(bytes) +
                                                 " bytes, smaller than a topos header; use open_raw)");
    }
    void* p = ::shmat(id, nullptr, options.read_only ? SHM_RDONLY : 0);
    if (attach_failed(p)) {
        fail_sys(who, "attach", errno);
    }
    if (!raw) {
        const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
        const auto* h = static_cast<const segment_header*>(p);
        try {
            for (;;) {
                // acquire: pairs with fill_header's release store of the magic.
                const std::uint64_t magic = h->magic.load(std::memory_order_acquire);
                const probe kind = classify(*h, magic);
                if (kind != probe::no_magic) {
                    validate(who, kind, *h, bytes, options);
                    if (!name.empty() && header_name(*h) != name) {
                        throw shm_error(shm_errc::not_found, who + ": the key holds topos segment " +
                                                                 quoted(header_name(*h)) + ", not " + quoted(name));
                    }
                    break;
                }
                if (std::chrono::steady_clock::now() >= deadline) {
                    fail_not_ready(who, bytes, options);
                }
                pause_briefly();
            }
        } catch (...) {
            ::shmdt(p);
            throw;
        }
    }
    opened out;
    out.map = p;
    out.bytes = bytes;
    out.shmid = id;
    out.key = key;
    return out;
}

} // namespace

shared_segment shared_segment::open(std::string_view name, const open_options& options) {
    const opened o = options.api == shm_api::posix ? open_posix(name, options, false) : open_sysv(name, options, false);
    const auto* h = static_cast<const segment_header*>(o.map);
    shared_segment seg;
    seg.m_base = o.map;
    seg.m_map_bytes = o.bytes;
    seg.m_data = static_cast<char*>(o.map) + h->header_bytes;
    seg.m_size = h->user_size;
    seg.m_name = options.api == shm_api::sysv && name.empty() ? header_name(*h) : std::string(name);
    seg.m_api = options.api;
    seg.m_key = o.key;
    seg.m_shmid = o.shmid;
    seg.m_dev = o.dev;
    seg.m_ino = o.ino;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

shared_segment shared_segment::open_raw(std::string_view name, const open_options& options) {
    const opened o = options.api == shm_api::posix ? open_posix(name, options, true) : open_sysv(name, options, true);
    shared_segment seg;
    seg.m_base = o.map;
    seg.m_map_bytes = o.bytes;
    seg.m_data = o.map;
    seg.m_size = o.bytes;
    seg.m_name = std::string(name);
    seg.m_api = options.api;
    seg.m_key = o.key;
    seg.m_shmid = o.shmid;
    seg.m_dev = o.dev;
    seg.m_ino = o.ino;
    seg.m_raw = true;
    detail::register_shared_mapping(seg.m_base, seg.m_map_bytes); // page_nodes, migrate work on it
    return seg;
}

// ---- remove ------------------------------------------------------------------------------

bool shared_segment::remove_if_exists(std::string_view name, shm_api api, std::optional<std::int32_t> sysv_key) {
    if (api == shm_api::posix) {
        check_name(name);
        const std::string cname(name);
        if (::shm_unlink(cname.c_str()) != 0) {
            if (errno == ENOENT) {
                return false;
            }
            fail_sys(subject(name, api, -1), "remove", errno, shm_errc::invalid_name);
        }
        return true;
    }
    if (!name.empty()) {
        check_name(name);
    }
    const std::int32_t key = key_for(name, sysv_key);
    const int id = ::shmget(key, 0, 0);
    if (id < 0 && errno == ENOENT) {
        return false;
    }
    if (id < 0 || ::shmctl(id, IPC_RMID, nullptr) != 0) {
        fail_sys(subject(name, api, key), "remove", errno);
    }
    return true;
}

void shared_segment::remove(std::string_view name, shm_api api, std::optional<std::int32_t> sysv_key) {
    if (!remove_if_exists(name, api, sysv_key)) {
        const std::int32_t key = api == shm_api::sysv ? key_for(name, sysv_key) : -1;
        throw shm_error(shm_errc::not_found, subject(name, api, key) + ": does not exist", ENOENT);
    }
}

void shared_segment::unlink() {
    if (m_base == nullptr) {
        return;
    }
    if (m_api == shm_api::sysv) {
        if (::shmctl(m_shmid, IPC_RMID, nullptr) != 0 && errno != EINVAL && errno != EIDRM) {
            fail_sys(subject(m_name, m_api, m_key), "remove", errno);
        }
        return;
    }
    // Only the object this mapping came from: the name may have been removed
    // and made again by someone else since.
    struct stat st {};
    const std::string path = std::string(k_shm_dir) + m_name;
    if (::stat(path.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != m_ino ||
        static_cast<std::uint64_t>(st.st_dev) != m_dev) {
        return;
    }
    if (::shm_unlink(m_name.c_str()) != 0 && errno != ENOENT) {
        fail_sys(subject(m_name, m_api, m_key), "remove", errno);
    }
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
    if (m_api == shm_api::posix) {
        ::munmap(m_base, m_map_bytes);
    } else {
        ::shmdt(m_base);
    }
    m_base = nullptr;
    m_data = nullptr;
    m_size = 0;
}

int shared_segment::creator_pid() const noexcept {
    return (m_base == nullptr || m_raw) ? 0 : static_cast<const segment_header*>(m_base)->creator_pid;
}

std::vector<int> shared_segment::page_nodes() const {
    if (m_base == nullptr) {
        return {};
    }
    return resident_page_nodes(m_data, m_size);
}

std::size_t shared_segment::offset_of(const void* p) const {
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(m_data);
    if (q < b || q - b > m_size) {
        throw shm_error(shm_errc::invalid_argument, subject(m_name, m_api, m_key) + ": pointer is outside the segment");
    }
    return q - b;
}

void* shared_segment::at(std::size_t offset) const {
    if (offset > m_size) {
        throw shm_error(shm_errc::invalid_argument, subject(m_name, m_api, m_key) + ": offset " +
                                                        std::to_string(offset) + " is past its " +
                                                        std::to_string(m_size) + " bytes");
    }
    return static_cast<char*>(m_data) + offset;
}

// ---- list --------------------------------------------------------------------------------

namespace {

void summarise_nodes(segment_info& info, const void* user, std::size_t bytes) {
    const std::vector<int> nodes = resident_page_nodes(user, bytes);
    std::set<int> distinct;
    for (const int n : nodes) {
        if (n >= 0) {
            ++info.resident_pages;
            distinct.insert(n);
        }
    }
    info.nodes.assign(distinct.begin(), distinct.end());
}

void list_posix(std::vector<segment_info>& out, bool include_foreign) {
    DIR* dir = ::opendir(k_shm_dir);
    if (dir == nullptr) {
        return;
    }
    while (const dirent* e = ::readdir(dir)) {
        const std::string_view entry = e->d_name;
        if (entry == "." || entry == ".." || (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)) {
            continue;
        }
        const std::string path = std::string(k_shm_dir) + "/" + std::string(entry);
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            continue;
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            continue;
        }
        segment_info info;
        info.api = shm_api::posix;
        info.name = "/" + std::string(entry);
        info.object_bytes = static_cast<std::size_t>(st.st_size);
        info.size = info.object_bytes;
        info.owner_uid = st.st_uid;
        info.mode = st.st_mode & 0777U;
        segment_header h{};
        std::uint64_t magic = 0;
        if (info.object_bytes >= k_segment_header_bytes && read_header(fd, h, magic) &&
            classify(h, magic) == probe::topos && h.header_bytes == k_segment_header_bytes &&
            h.user_size + h.header_bytes <= info.object_bytes) {
            info.is_topos = true;
            info.size = h.user_size;
            info.creator_pid = h.creator_pid;
            void* p = ::mmap(nullptr, info.object_bytes, PROT_READ, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) {
                summarise_nodes(info, static_cast<char*>(p) + h.header_bytes, h.user_size);
                ::munmap(p, info.object_bytes);
            }
        }
        ::close(fd);
        if (info.is_topos || include_foreign) {
            out.push_back(std::move(info));
        }
    }
    ::closedir(dir);
}

void list_sysv(std::vector<segment_info>& out, bool include_foreign) {
    shm_info all{};
    const int highest = ::shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&all));
    for (int index = 0; index <= highest; ++index) {
        shmid_ds ds{};
        const int id = ::shmctl(index, SHM_STAT, &ds);
        if (id < 0 || (ds.shm_perm.mode & SHM_DEST) != 0) {
            continue;
        }
        segment_info info;
        info.api = shm_api::sysv;
        info.sysv_key = ds.shm_perm.__key;
        info.sysv_id = id;
        info.object_bytes = ds.shm_segsz;
        info.size = info.object_bytes;
        info.owner_uid = ds.shm_perm.uid;
        info.mode = ds.shm_perm.mode & 0777U;
        void* p = info.object_bytes >= k_segment_header_bytes ? ::shmat(id, nullptr, SHM_RDONLY) : nullptr;
        if (p != nullptr && !attach_failed(p)) {
            unsigned char first = 0;
            // Reading a page that is not there would allocate it: only a
            // resident first page can hold a header.
            if (::mincore(p, page_bytes(), &first) == 0 && (first & 1U) != 0) {
                const auto* h = static_cast<const segment_header*>(p);
                // acquire: pairs with fill_header's release store of the magic.
                const std::uint64_t magic = h->magic.load(std::memory_order_acquire);
                if (classify(*h, magic) == probe::topos && h->header_bytes == k_segment_header_bytes &&
                    h->user_size + h->header_bytes <= info.object_bytes) {
                    info.is_topos = true;
                    info.size = h->user_size;
                    info.creator_pid = h->creator_pid;
                    info.name = header_name(*h);
                    summarise_nodes(info, static_cast<const char*>(p) + h->header_bytes, h->user_size);
                }
            }
            ::shmdt(p);
        }
        if (info.is_topos || include_foreign) {
            out.push_back(std::move(info));
        }
    }
}

} // namespace

std::vector<segment_info> list_shared_segments(bool include_foreign) {
    std::vector<segment_info> out;
    list_posix(out, include_foreign);
    list_sysv(out, include_foreign);
    std::sort(out.begin(), out.end(), [](const segment_info& a, const segment_info& b) {
        return std::tie(a.api, a.name, a.sysv_key) < std::tie(b.api, b.name, b.sysv_key);
    });
    return out;
}

} // namespace topos
