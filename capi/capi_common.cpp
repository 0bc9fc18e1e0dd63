// capi/capi_common.cpp - the last error and the exception -> status mapping.
#include "capi/capi_common.hpp"

#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>
#include <topos/version.hpp>

#include <new>
#include <system_error>

namespace topos::capi {
namespace {
thread_local std::string t_last_error;
} // namespace

topos_status fail(topos_status status, const char* function, const std::string& message) noexcept {
    try {
        t_last_error = std::string(function) + ": " + message;
    } catch (...) {
        t_last_error.clear(); // no memory for the message: the status still says what happened
    }
    return status;
}

topos_status fail_current(const char* function) noexcept {
    try {
        throw;
    } catch (const bad_input& e) {
        return fail(e.status, function, e.message);
    } catch (const node_error& e) {
        return fail(TOPOS_E_NODE, function, e.what());
    } catch (const config_error& e) {
        return fail(TOPOS_E_CONFIG, function, e.what());
    } catch (const places_error& e) {
        return fail(TOPOS_E_PLACES, function, e.what());
    } catch (const topology_error& e) {
        return fail(TOPOS_E_TOPOLOGY, function, e.what());
    } catch (const index_error& e) {
        return fail(TOPOS_E_INDEX, function, e.what());
    } catch (const shm_error& e) {
        return fail(e.code() == shm_errc::no_memory ? TOPOS_E_NO_MEMORY : TOPOS_E_SHM, function, e.what());
    } catch (const sync_error& e) {
        return fail(TOPOS_E_SYNC, function, e.what());
    } catch (const memory_error& e) {
        return fail(TOPOS_E_MEMORY, function, e.what());
    } catch (const error& e) {
        return fail(TOPOS_E_INVALID_ARGUMENT, function, e.what());
    } catch (const std::bad_alloc& e) {
        return fail(TOPOS_E_NO_MEMORY, function, std::string("out of memory (") + e.what() + ")");
    } catch (const std::system_error& e) {
        return fail(TOPOS_E_SYSTEM, function, e.what());
    } catch (const std::exception& e) {
        return fail(TOPOS_E_INTERNAL, function, e.what());
    } catch (...) {
        return fail(TOPOS_E_INTERNAL, function, "an unknown exception");
    }
}

} // namespace topos::capi

extern "C" {

const char* topos_last_error(void) { return topos::capi::t_last_error.c_str(); }

const char* topos_status_name(topos_status status) {
    switch (status) {
    case TOPOS_OK: return "TOPOS_OK";
    case TOPOS_E_INVALID_ARGUMENT: return "TOPOS_E_INVALID_ARGUMENT";
    case TOPOS_E_BAD_HANDLE: return "TOPOS_E_BAD_HANDLE";
    case TOPOS_E_NODE: return "TOPOS_E_NODE";
    case TOPOS_E_CONFIG: return "TOPOS_E_CONFIG";
    case TOPOS_E_PLACES: return "TOPOS_E_PLACES";
    case TOPOS_E_TOPOLOGY: return "TOPOS_E_TOPOLOGY";
    case TOPOS_E_INDEX: return "TOPOS_E_INDEX";
    case TOPOS_E_MEMORY: return "TOPOS_E_MEMORY";
    case TOPOS_E_NO_MEMORY: return "TOPOS_E_NO_MEMORY";
    case TOPOS_E_SHM: return "TOPOS_E_SHM";
    case TOPOS_E_SYNC: return "TOPOS_E_SYNC";
    case TOPOS_E_SYSTEM: return "TOPOS_E_SYSTEM";
    case TOPOS_E_INTERNAL: return "TOPOS_E_INTERNAL";
    case TOPOS_STATUS_MAX_ENUM: break;
    }
    return "unknown status";
}

const char* topos_version(void) { return TOPOS_VERSION_STRING; }

} // extern "C"
