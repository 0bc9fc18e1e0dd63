// capi/capi_common.hpp - what every C entry point shares: the thread-local
// last error, the mapping of exceptions to status codes, handle checks.
//
// Each entry point is `return capi::guard("name", [&] { ... });`: the body
// throws (capi::bad_input for the C layer's own checks, topos's exceptions
// from below) and guard() turns every exception into a status and a message
// that names the function and the bad input. Nothing escapes.
#pragma once

#include <topos/topos.h>

#include <cstdint>
#include <string>
#include <utility>

namespace topos::capi {

/// An input the C layer itself rejects.
struct bad_input {
    topos_status status;
    std::string message;
};

/// Records `message` as the thread's last error and returns `status`.
topos_status fail(topos_status status, const char* function, const std::string& message) noexcept;

/// The status and message of the exception being handled (call in a catch block).
topos_status fail_current(const char* function) noexcept;

template <class F>
topos_status guard(const char* function, F&& body) noexcept {
    try {
        return std::forward<F>(body)();
    } catch (...) {
        return fail_current(function);
    }
}

[[noreturn]] inline void reject(topos_status status, std::string message) {
    throw bad_input{status, std::move(message)};
}

template <class T>
void require_out(T* out, const char* what) {
    if (out == nullptr) {
        reject(TOPOS_E_INVALID_ARGUMENT, std::string(what) + " is NULL; expected a pointer to the result");
    }
}

/// Throws TOPOS_E_BAD_HANDLE unless h is a live handle (its magic matches).
template <class H>
H& check_handle(H* h, const char* what) {
    if (h == nullptr) {
        reject(TOPOS_E_BAD_HANDLE, std::string(what) + " is NULL");
    }
    if (h->magic != H::k_magic) {
        reject(TOPOS_E_BAD_HANDLE, std::string(what) + " is not a live " + H::k_kind +
                                       " handle (destroyed already, or never made by topos)");
    }
    return *h;
}

} // namespace topos::capi
