// ipc/shm_names.hpp - segment names, System V keys and the wording of
// shm_error messages, shared by both backends and the handle.
#pragma once

#include <topos/shm.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace topos::detail {

/// "'name'", for messages.
[[nodiscard]] std::string quoted(std::string_view name);

/// What a message calls the segment: "shared segment '/x'" or
/// "System V segment '/x' (key 0x...)".
[[nodiscard]] std::string segment_subject(std::string_view name, shm_api api, std::int32_t key);

/// Throws shm_error(invalid_name) naming `name` unless it is '/' and 1 to 254
/// characters without '/' or NUL, and not "/." or "/..".
void check_segment_name(std::string_view name);

/// The System V key of a segment: `key` when given (not IPC_PRIVATE: throws
/// invalid_argument), else sysv_key_of(name) after checking the name.
[[nodiscard]] std::int32_t sysv_key_for(std::string_view name, const std::optional<std::int32_t>& key);

/// Throws the shm_error for errno `err` from `step` (the code follows errno:
/// EEXIST is exists, ENOENT not_found, ...; `otherwise` for the rest).
[[noreturn]] void fail_sys(const std::string& who, const char* step, int err, shm_errc otherwise = shm_errc::system);

} // namespace topos::detail
