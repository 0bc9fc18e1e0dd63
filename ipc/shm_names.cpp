// ipc/shm_names.cpp - segment names, System V keys and shm_error wording.
#include "ipc/shm_names.hpp"

#include <sys/ipc.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace topos {
namespace detail {
namespace {

constexpr std::size_t k_name_max = NAME_MAX; // the whole name, leading '/' included

std::string key_text(std::int32_t key) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
    return buf;
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

} // namespace

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

std::string segment_subject(std::string_view name, shm_api api, std::int32_t key) {
    if (api == shm_api::posix) {
        return "shared segment " + quoted(name);
    }
    return "System V segment " + (name.empty() ? std::string() : quoted(name) + " ") + "(key " + key_text(key) + ")";
}

void fail_sys(const std::string& who, const char* step, int err, shm_errc otherwise) {
    const shm_errc code = code_of(err, otherwise);
    throw shm_error(code, who + ": " + step + ": " + explain(code, err), err);
}

void check_segment_name(std::string_view name) {
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

std::int32_t sysv_key_for(std::string_view name, const std::optional<std::int32_t>& key) {
    if (key) {
        if (*key == IPC_PRIVATE) {
            throw shm_error(shm_errc::invalid_argument,
                            "System V key 0 is IPC_PRIVATE, which no other process can find (expected a nonzero key)");
        }
        return *key;
    }
    check_segment_name(name);
    return sysv_key_of(name);
}

} // namespace detail

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
    case shm_errc::heap_broken: return "heap_broken";
    case shm_errc::heap_corrupt: return "heap_corrupt";
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

} // namespace topos
