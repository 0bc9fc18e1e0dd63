// ipc/shm_posix.cpp - the POSIX backend of shared segments: shm_open +
// ftruncate + mmap, objects named in /dev/shm.
//
// The header of an existing object is read with pread, which reads holes as
// zeros without allocating pages, and only after fstat said the object is
// large enough: a truncated object is never mapped as valid.
#include "ipc/shm_backend.hpp"
#include "ipc/shm_names.hpp"

#include "allocators/numa_layer.hpp"

#include <topos/detail/assert.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace topos::detail {
namespace {

constexpr const char* k_shm_dir = "/dev/shm";

// Closes a descriptor at scope exit; and, while armed, unmaps and removes
// what a create made, so a failed create leaves nothing behind.
struct posix_guard {
    int fd = -1;
    std::string name; ///< removed while armed
    void* map = nullptr;
    std::size_t map_bytes = 0;
    bool armed = true;

    posix_guard() = default;
    posix_guard(const posix_guard&) = delete;
    posix_guard& operator=(const posix_guard&) = delete;
    ~posix_guard() {
        if (fd >= 0) {
            ::close(fd);
        }
        if (!armed) {
            return;
        }
        if (map != nullptr) {
            ::munmap(map, map_bytes);
        }
        if (!name.empty()) {
            ::shm_unlink(name.c_str());
        }
    }
};

// A copy of the header of an object by pread. The magic is read first, the rest after it.
bool read_header(int fd, header_copy& out) {
    std::uint64_t magic = 0;
    if (::pread(fd, &magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic)) {
        return false;
    }
    // The second read starts after the first returned the magic: the kernel
    // entry between them orders the loads as an acquire load of the magic
    // would, pairing with fill_header's release store.
    segment_header h{};
    if (::pread(fd, static_cast<void*>(&h), sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
        return false;
    }
    out = copy_header(h, magic);
    return true;
}

class posix_segments final : public segment_backend {
public:
    [[nodiscard]] shm_api api() const noexcept override { return shm_api::posix; }

    segment_mapping create(std::string_view name, std::size_t total, const shm_options& options) const override {
        TOPOS_ASSERT(total > k_segment_header_bytes && (options.mode & ~0777U) == 0,
                     "posix create: a checked size and mode");
        const std::string who = segment_subject(name, shm_api::posix, -1);
        const auto mode = static_cast<mode_t>(options.mode);
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
        posix_guard guard;
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
        segment_mapping m;
        m.map = p;
        m.bytes = total;
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            m.dev = static_cast<std::uint64_t>(st.st_dev);
            m.ino = static_cast<std::uint64_t>(st.st_ino);
        }
        guard.armed = false;
        return m;
    }

    void discard(std::string_view name, const segment_mapping& m) const noexcept override {
        ::munmap(m.map, m.bytes);
        ::shm_unlink(std::string(name).c_str());
    }

    opened_segment open(std::string_view name, const open_options& options, bool raw) const override {
        check_segment_name(name);
        const std::string who = segment_subject(name, shm_api::posix, -1);
        const std::string cname(name);
        const int fd = ::shm_open(cname.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
        if (fd < 0) {
            fail_sys(who, "open", errno, shm_errc::invalid_name);
        }
        posix_guard closer; // closes fd; owns nothing else
        closer.fd = fd;
        closer.armed = false;

        opened_segment out;
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
            if (bytes >= sizeof(std::uint64_t) && probe(fd, who, bytes, options, out.header)) {
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                fail_not_ready(who, bytes, options);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        segment_mapping& m = out.mapping;
        m.bytes = static_cast<std::size_t>(st.st_size);
        m.dev = static_cast<std::uint64_t>(st.st_dev);
        m.ino = static_cast<std::uint64_t>(st.st_ino);
        m.map = ::mmap(nullptr, m.bytes, options.read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m.map == MAP_FAILED) {
            m.map = nullptr;
            fail_sys(who, "map", errno);
        }
        return out;
    }

    bool remove_if_exists(std::string_view name, const std::optional<std::int32_t>& /*key*/) const override {
        check_segment_name(name);
        const std::string cname(name);
        if (::shm_unlink(cname.c_str()) != 0) {
            if (errno == ENOENT) {
                return false;
            }
            fail_sys(segment_subject(name, shm_api::posix, -1), "remove", errno, shm_errc::invalid_name);
        }
        return true;
    }

    void unlink(const std::string& name, const segment_mapping& m) const override {
        // Only the object this mapping came from: the name may have been
        // removed and made again by someone else since.
        struct stat st {};
        const std::string path = std::string(k_shm_dir) + name;
        if (::stat(path.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != m.ino ||
            static_cast<std::uint64_t>(st.st_dev) != m.dev) {
            return;
        }
        if (::shm_unlink(name.c_str()) != 0 && errno != ENOENT) {
            fail_sys(segment_subject(name, shm_api::posix, -1), "remove", errno);
        }
    }

    void unmap(void* base, std::size_t bytes) const noexcept override { ::munmap(base, bytes); }

    void list(std::vector<segment_info>& out, bool include_foreign) const override {
        DIR* dir = ::opendir(k_shm_dir);
        if (dir == nullptr) {
            return;
        }
        while (const dirent* e = ::readdir(dir)) {
            const std::string_view entry = e->d_name;
            if (entry == "." || entry == ".." || (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)) {
                continue;
            }
            segment_info info;
            if (describe(entry, info) && (info.is_topos || include_foreign)) {
                out.push_back(std::move(info));
            }
        }
        ::closedir(dir);
    }

private:
    // One look at a non-raw object of `bytes`: true with `header` validated
    // when its magic is there; false when it is not yet; throws otherwise.
    static bool probe(int fd, const std::string& who, std::size_t bytes, const open_options& options,
                      header_copy& header) {
        if (bytes < sizeof(segment_header)) {
            std::uint64_t m = 0;
            if (::pread(fd, &m, sizeof m, 0) == static_cast<ssize_t>(sizeof m) && m == k_segment_magic) {
                throw shm_error(shm_errc::truncated, who + ": is truncated to " + std::to_string(bytes) +
                                                         " bytes, shorter than its header");
            }
            throw shm_error(shm_errc::not_topos,
                            who + ": is not a topos segment (" + std::to_string(bytes) +
                                " bytes, no topos header; use open_raw for segments made by other programs)");
        }
        if (!read_header(fd, header)) {
            fail_sys(who, "read header", errno);
        }
        const header_kind kind = classify(header);
        if (kind == header_kind::no_magic) {
            return false;
        }
        validate_header(who, kind, header, bytes, options);
        return true;
    }

    // What `topos shm list` shows of /dev/shm/<entry>; false when it cannot be read.
    static bool describe(std::string_view entry, segment_info& info) {
        const std::string path = std::string(k_shm_dir) + "/" + std::string(entry);
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            return false;
        }
        posix_guard closer;
        closer.fd = fd;
        closer.armed = false;
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            return false;
        }
        info.api = shm_api::posix;
        info.name = "/" + std::string(entry);
        info.object_bytes = static_cast<std::size_t>(st.st_size);
        info.size = info.object_bytes;
        info.owner_uid = st.st_uid;
        info.mode = st.st_mode & 0777U;
        header_copy h;
        if (info.object_bytes >= k_segment_header_bytes && read_header(fd, h) && header_fits(h, info.object_bytes)) {
            info.is_topos = true;
            info.size = h.user_size;
            info.creator_pid = h.creator_pid;
            void* p = ::mmap(nullptr, info.object_bytes, PROT_READ, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) {
                summarise_nodes(info, static_cast<char*>(p) + h.header_bytes, h.user_size);
                ::munmap(p, info.object_bytes);
            }
        }
        return true;
    }
};

} // namespace

const segment_backend& posix_backend() noexcept {
    static const posix_segments backend;
    return backend;
}

} // namespace topos::detail
