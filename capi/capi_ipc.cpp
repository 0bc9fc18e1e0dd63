// capi/capi_ipc.cpp - shared segments and the process-shared mutex,
// semaphore and barrier of <topos/topos.h>.
#include "capi/capi_common.hpp"
#include "capi/capi_handles.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <string>

namespace topos::capi {
namespace {

const char* require_name(const char* name) {
    if (name == nullptr) {
        reject(TOPOS_E_INVALID_ARGUMENT, "name is NULL; expected a segment name such as \"/my-segment\"");
    }
    return name;
}

void require_flags(unsigned flags, unsigned allowed, const char* names) {
    if ((flags & ~allowed) != 0) {
        reject(TOPOS_E_INVALID_ARGUMENT,
               "flags " + std::to_string(flags) + " has bits this call does not know; expected " + names);
    }
}

/// Checks the caller's memory for an object of type T and makes one there.
template <class T, class... Args>
T* make_in(void* mem, std::size_t bytes, std::size_t needed, const char* needed_name, Args... args) {
    if (mem == nullptr) {
        reject(TOPOS_E_INVALID_ARGUMENT, "mem is NULL; expected memory for the object (in a shared segment)");
    }
    if (reinterpret_cast<std::uintptr_t>(mem) % TOPOS_SYNC_ALIGN != 0) {
        reject(TOPOS_E_INVALID_ARGUMENT, "mem is not aligned to TOPOS_SYNC_ALIGN (" +
                                             std::to_string(TOPOS_SYNC_ALIGN) + " bytes)");
    }
    if (bytes < needed) {
        reject(TOPOS_E_INVALID_ARGUMENT, "bytes " + std::to_string(bytes) + " is less than " + needed_name + " (" +
                                             std::to_string(needed) + ")");
    }
    return ::new (mem) T(args...);
}

template <class T>
T* attach(void* mem) {
    if (mem == nullptr) {
        reject(TOPOS_E_INVALID_ARGUMENT, "mem is NULL; expected the object's address in this process");
    }
    if (reinterpret_cast<std::uintptr_t>(mem) % TOPOS_SYNC_ALIGN != 0) {
        reject(TOPOS_E_BAD_HANDLE, std::string("mem is not aligned as a ") + T::k_kind + " is");
    }
    return &check_handle(static_cast<T*>(mem), "mem");
}

template <class T>
void destroy(T* h, const char* what) {
    T& obj = check_handle(h, what);
    obj.magic = 0;
    obj.~T();
}

} // namespace
} // namespace topos::capi

using namespace topos::capi;

extern "C" {

topos_status topos_segment_create(const char* name, size_t size, unsigned flags, topos_segment_t** out) {
    return guard("topos_segment_create", [&] {
        require_out(out, "out");
        *out = nullptr;
        require_name(name);
        require_flags(flags, TOPOS_SEGMENT_REPLACE | TOPOS_SEGMENT_REMOVE_ON_CLOSE,
                      "TOPOS_SEGMENT_REPLACE | TOPOS_SEGMENT_REMOVE_ON_CLOSE");
        if (size == 0) {
            reject(TOPOS_E_INVALID_ARGUMENT, "size is 0; expected a positive size");
        }
        auto h = std::make_unique<topos_segment>();
        h->segment = topos::shared_segment::create(
            name, size,
            {.exclusive = (flags & TOPOS_SEGMENT_REPLACE) == 0,
             .remove_on_creator_exit = (flags & TOPOS_SEGMENT_REMOVE_ON_CLOSE) != 0});
        *out = h.release();
        return TOPOS_OK;
    });
}

topos_status topos_segment_open(const char* name, unsigned flags, topos_segment_t** out) {
    return guard("topos_segment_open", [&] {
        require_out(out, "out");
        *out = nullptr;
        require_name(name);
        require_flags(flags, TOPOS_SEGMENT_READ_ONLY, "TOPOS_SEGMENT_READ_ONLY");
        auto h = std::make_unique<topos_segment>();
        h->segment = topos::shared_segment::open(name, {.read_only = (flags & TOPOS_SEGMENT_READ_ONLY) != 0});
        *out = h.release();
        return TOPOS_OK;
    });
}

topos_status topos_segment_unlink(topos_segment_t* segment) {
    return guard("topos_segment_unlink", [&] {
        check_handle(segment, "segment").segment.unlink();
        return TOPOS_OK;
    });
}

topos_status topos_segment_remove(const char* name) {
    return guard("topos_segment_remove", [&] {
        topos::shared_segment::remove(require_name(name));
        return TOPOS_OK;
    });
}

topos_status topos_segment_close(topos_segment_t* segment) {
    return guard("topos_segment_close", [&] {
        auto& h = check_handle(segment, "segment");
        h.magic = 0;
        delete &h;
        return TOPOS_OK;
    });
}

topos_status topos_segment_data(const topos_segment_t* segment, void** out) {
    return guard("topos_segment_data", [&] {
        const auto& h = check_handle(segment, "segment");
        require_out(out, "out");
        *out = h.segment.data();
        return TOPOS_OK;
    });
}

topos_status topos_segment_size(const topos_segment_t* segment, size_t* out) {
    return guard("topos_segment_size", [&] {
        const auto& h = check_handle(segment, "segment");
        require_out(out, "out");
        *out = h.segment.size();
        return TOPOS_OK;
    });
}

topos_status topos_mutex_init(void* mem, size_t bytes, topos_mutex_t** out) {
    return guard("topos_mutex_init", [&] {
        require_out(out, "out");
        *out = make_in<topos_mutex>(mem, bytes, TOPOS_MUTEX_BYTES, "TOPOS_MUTEX_BYTES");
        return TOPOS_OK;
    });
}

topos_status topos_mutex_attach(void* mem, topos_mutex_t** out) {
    return guard("topos_mutex_attach", [&] {
        require_out(out, "out");
        *out = attach<topos_mutex>(mem);
        return TOPOS_OK;
    });
}

topos_status topos_mutex_destroy(topos_mutex_t* mutex) {
    return guard("topos_mutex_destroy", [&] {
        destroy(mutex, "mutex");
        return TOPOS_OK;
    });
}

topos_status topos_mutex_lock(topos_mutex_t* mutex, int* owner_died) {
    return guard("topos_mutex_lock", [&] {
        const auto how = check_handle(mutex, "mutex").mutex.lock();
        if (owner_died != nullptr) {
            *owner_died = how == topos::lock_result::owner_died ? 1 : 0;
        }
        return TOPOS_OK;
    });
}

topos_status topos_mutex_try_lock(topos_mutex_t* mutex, int* acquired, int* owner_died) {
    return guard("topos_mutex_try_lock", [&] {
        auto& h = check_handle(mutex, "mutex");
        require_out(acquired, "acquired");
        topos::lock_result how = topos::lock_result::acquired;
        *acquired = h.mutex.try_lock(&how) ? 1 : 0;
        if (owner_died != nullptr) {
            *owner_died = *acquired != 0 && how == topos::lock_result::owner_died ? 1 : 0;
        }
        return TOPOS_OK;
    });
}

topos_status topos_mutex_unlock(topos_mutex_t* mutex) {
    return guard("topos_mutex_unlock", [&] {
        check_handle(mutex, "mutex").mutex.unlock();
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_init(void* mem, size_t bytes, unsigned initial, topos_semaphore_t** out) {
    return guard("topos_semaphore_init", [&] {
        require_out(out, "out");
        *out = make_in<topos_semaphore>(mem, bytes, TOPOS_SEMAPHORE_BYTES, "TOPOS_SEMAPHORE_BYTES", initial);
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_attach(void* mem, topos_semaphore_t** out) {
    return guard("topos_semaphore_attach", [&] {
        require_out(out, "out");
        *out = attach<topos_semaphore>(mem);
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_destroy(topos_semaphore_t* sem) {
    return guard("topos_semaphore_destroy", [&] {
        destroy(sem, "sem");
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_post(topos_semaphore_t* sem) {
    return guard("topos_semaphore_post", [&] {
        check_handle(sem, "sem").sem.post();
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_wait(topos_semaphore_t* sem) {
    return guard("topos_semaphore_wait", [&] {
        check_handle(sem, "sem").sem.wait();
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_timed_wait(topos_semaphore_t* sem, int64_t timeout_ns, int* taken) {
    return guard("topos_semaphore_timed_wait", [&] {
        auto& h = check_handle(sem, "sem");
        require_out(taken, "taken");
        if (timeout_ns < 0) {
            h.sem.wait();
            *taken = 1;
        } else {
            *taken = h.sem.wait_for(std::chrono::nanoseconds(timeout_ns)) ? 1 : 0;
        }
        return TOPOS_OK;
    });
}

topos_status topos_semaphore_value(const topos_semaphore_t* sem, int* out) {
    return guard("topos_semaphore_value", [&] {
        const auto& h = check_handle(sem, "sem");
        require_out(out, "out");
        *out = h.sem.value();
        return TOPOS_OK;
    });
}

topos_status topos_barrier_init(void* mem, size_t bytes, unsigned participants, topos_barrier_t** out) {
    return guard("topos_barrier_init", [&] {
        require_out(out, "out");
        if (participants == 0) {
            reject(TOPOS_E_INVALID_ARGUMENT, "participants is 0; expected at least 1");
        }
        *out = make_in<topos_barrier>(mem, bytes, TOPOS_BARRIER_BYTES, "TOPOS_BARRIER_BYTES", participants);
        return TOPOS_OK;
    });
}

topos_status topos_barrier_attach(void* mem, topos_barrier_t** out) {
    return guard("topos_barrier_attach", [&] {
        require_out(out, "out");
        *out = attach<topos_barrier>(mem);
        return TOPOS_OK;
    });
}

topos_status topos_barrier_destroy(topos_barrier_t* barrier) {
    return guard("topos_barrier_destroy", [&] {
        destroy(barrier, "barrier");
        return TOPOS_OK;
    });
}

topos_status topos_barrier_wait(topos_barrier_t* barrier, int* serial) {
    return guard("topos_barrier_wait", [&] {
        const bool last = check_handle(barrier, "barrier").barrier.arrive_and_wait();
        if (serial != nullptr) {
            *serial = last ? 1 : 0;
        }
        return TOPOS_OK;
    });
}

} // extern "C"
