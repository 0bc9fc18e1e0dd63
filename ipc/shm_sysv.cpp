// ipc/shm_sysv.cpp - the System V backend of shared segments: shmget +
// shmat, segments found by key (sysv_key_of(name) unless given).
//
// The header of an existing segment is checked after IPC_STAT says the
// segment is at least a header long; it is read from the attached mapping
// once, into a copy, and only that copy is validated and used.
#include "ipc/shm_backend.hpp"
#include "ipc/shm_names.hpp"

#include "allocators/numa_layer.hpp"
#include "os/memory.hpp"

#include <topos/detail/assert.hpp>

#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace topos::detail {
namespace {

// shmat reports failure as (void*)-1.
bool attach_failed(const void* p) { return reinterpret_cast<std::intptr_t>(p) == -1; }

// The header of an attached segment, read once: the magic with acquire
// (pairing with fill_header's release store), then the other fields.
header_copy read_header(const void* base) {
    const auto* h = static_cast<const segment_header*>(base);
    const std::uint64_t magic = h->magic.load(std::memory_order_acquire);
    return copy_header(*h, magic);
}

class sysv_segments final : public segment_backend {
public:
    [[nodiscard]] shm_api api() const noexcept override { return shm_api::sysv; }

    segment_mapping create(std::string_view name, std::size_t total, const shm_options& options) const override {
        TOPOS_ASSERT(total > k_segment_header_bytes && (options.mode & ~0777U) == 0,
                     "sysv create: a checked size and mode");
        const std::int32_t key = sysv_key_for(name, options.sysv_key);
        const std::string who = segment_subject(name, shm_api::sysv, key);
        const int mode = static_cast<int>(options.mode);
        int id = ::shmget(key, total, IPC_CREAT | IPC_EXCL | mode);
        if (id < 0 && errno == EEXIST && !options.exclusive) {
            const int old = ::shmget(key, 0, 0);
            if (old >= 0) {
                ::shmctl(old, IPC_RMID, nullptr);
            }
            id = ::shmget(key, total, IPC_CREAT | IPC_EXCL | mode);
        }
        if (id < 0) {
            // EINVAL: below SHMMIN or above SHMMAX.
            fail_sys(who, "create", errno, shm_errc::invalid_size);
        }
        void* p = ::shmat(id, nullptr, 0);
        if (attach_failed(p)) {
            const int err = errno;
            ::shmctl(id, IPC_RMID, nullptr);
            fail_sys(who, "attach", err);
        }
        segment_mapping m;
        m.map = p;
        m.bytes = total;
        m.shmid = id;
        m.key = key;
        return m;
    }

    void discard(std::string_view /*name*/, const segment_mapping& m) const noexcept override {
        ::shmdt(m.map);
        ::shmctl(m.shmid, IPC_RMID, nullptr);
    }

    opened_segment open(std::string_view name, const open_options& options, bool raw) const override {
        if (!name.empty()) {
            check_segment_name(name);
        }
        const std::int32_t key = sysv_key_for(name, options.sysv_key);
        const std::string who = segment_subject(name, shm_api::sysv, key);
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
        opened_segment out;
        out.mapping.map = p;
        out.mapping.bytes = bytes;
        out.mapping.shmid = id;
        out.mapping.key = key;
        if (!raw) {
            try {
                out.header = wait_for_header(p, name, who, bytes, options);
            } catch (...) {
                ::shmdt(p);
                throw;
            }
        }
        return out;
    }

    bool remove_if_exists(std::string_view name, const std::optional<std::int32_t>& key) const override {
        if (!name.empty()) {
            check_segment_name(name);
        }
        const std::int32_t k = sysv_key_for(name, key);
        const int id = ::shmget(k, 0, 0);
        if (id < 0 && errno == ENOENT) {
            return false;
        }
        if (id < 0 || ::shmctl(id, IPC_RMID, nullptr) != 0) {
            fail_sys(segment_subject(name, shm_api::sysv, k), "remove", errno);
        }
        return true;
    }

    void unlink(const std::string& name, const segment_mapping& m) const override {
        if (::shmctl(m.shmid, IPC_RMID, nullptr) != 0 && errno != EINVAL && errno != EIDRM) {
            fail_sys(segment_subject(name, shm_api::sysv, m.key), "remove", errno);
        }
    }

    void unmap(void* base, std::size_t /*bytes*/) const noexcept override { ::shmdt(base); }

    void list(std::vector<segment_info>& out, bool include_foreign) const override {
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
            describe(id, info);
            if (info.is_topos || include_foreign) {
                out.push_back(std::move(info));
            }
        }
    }

private:
    // Waits up to options.ready_timeout for the magic, then validates one
    // copy of the header (and that it names `name`, when one was given).
    static header_copy wait_for_header(const void* p, std::string_view name, const std::string& who,
                                       std::size_t bytes, const open_options& options) {
        const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
        for (;;) {
            header_copy h = read_header(p);
            const header_kind kind = classify(h);
            if (kind != header_kind::no_magic) {
                validate_header(who, kind, h, bytes, options);
                if (!name.empty() && h.name != name) {
                    throw shm_error(shm_errc::not_found, who + ": the key holds topos segment " + quoted(h.name) +
                                                             ", not " + quoted(name));
                }
                return h;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                fail_not_ready(who, bytes, options);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    // Fills the topos fields of `info` when segment `id` has a topos header.
    static void describe(int id, segment_info& info) {
        void* p = info.object_bytes >= k_segment_header_bytes ? ::shmat(id, nullptr, SHM_RDONLY) : nullptr;
        if (p == nullptr || attach_failed(p)) {
            return;
        }
        unsigned char first = 0;
        // Reading a page that is not there would allocate it: only a
        // resident first page can hold a header.
        if (::mincore(p, os::page_size(), &first) == 0 && (first & 1U) != 0) {
            const header_copy h = read_header(p);
            if (header_fits(h, info.object_bytes)) {
                info.is_topos = true;
                info.size = h.user_size;
                info.creator_pid = h.creator_pid;
                info.name = h.name;
                summarise_nodes(info, static_cast<const char*>(p) + h.header_bytes, h.user_size);
            }
        }
        ::shmdt(p);
    }
};

} // namespace

const segment_backend& sysv_backend() noexcept {
    static const sysv_segments backend;
    return backend;
}

} // namespace topos::detail
