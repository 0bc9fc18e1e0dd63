// allocators/malloc_shim.cpp - libtopos_malloc.so: the C allocation functions
// and the C++ operators new and delete over topos's node-local allocator, for
// unmodified programs under LD_PRELOAD.
//
// Every allocation follows the `local` policy: small blocks come from the
// arena of the node the calling thread runs on, larger ones are page blocks
// placed by first touch. A pointer topos did not hand out (the C library's own
// allocations from before this library took over, or made while the
// allocator was inside one of its slow paths) goes back to the C library.
#include <topos/memory.hpp>

#include "allocators/arena.hpp"
#include "allocators/arena_stats.hpp"
#include "allocators/fast_path.hpp"
#include "allocators/numa_layer.hpp"
#include "allocators/page_block.hpp"
#include "os/memory.hpp"

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

// The C library's allocator, for pointers that are not ours (glibc exports these).
extern "C" {
void* __libc_malloc(std::size_t bytes);          // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
void* __libc_calloc(std::size_t n, std::size_t size); // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
void* __libc_realloc(void* p, std::size_t bytes); // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
void* __libc_memalign(std::size_t alignment, std::size_t bytes); // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
void __libc_free(void* p);                       // NOLINT(bugprone-reserved-identifier,readability-identifier-naming): glibc names
}

#define TOPOS_EXPORT __attribute__((visibility("default")))

namespace {

using topos::detail::region;

constexpr std::size_t k_min_align = alignof(std::max_align_t);
// What malloc, calloc, realloc and new ask for: the alignment any object of
// the size can need, so up to 8 bytes come 8-aligned (the arena's 8-byte
// class) and everything larger 16-aligned, as with jemalloc. The aligned
// entry points ask for at least k_min_align.
constexpr std::size_t k_natural_align = 1;

// Set by the library constructor, after libnuma and libstdc++ are initialised;
// allocations before that (their constructors) go to the C library.
std::atomic<bool> g_ready{false};

bool ours(const void* p) noexcept { return topos::detail::region_of(p) != region::none; }

void install_fork_handlers() noexcept {
    static const bool installed = [] {
        pthread_atfork(
            [] {
                // A program may fork before its first allocation (/usr/bin/time
                // does): the allocator's singletons are then made here, while
                // its own locks are being taken. What they allocate goes to the
                // C library, so no thread heap is made under those locks.
                const topos::detail::alloc_reentry_guard guard;
                topos::detail::alloc_fork_prepare();
                topos::detail::status_fork_prepare();
                topos::detail::medium_fork_prepare();
            },
            [] {
                topos::detail::medium_fork_release();
                topos::detail::status_fork_release();
                topos::detail::alloc_fork_parent();
            },
            [] {
                topos::detail::medium_fork_release();
                topos::detail::status_fork_release();
                topos::detail::alloc_fork_child();
            });
        return true;
    }();
    (void)installed;
}

// nullptr (errno ENOMEM) when memory runs out; never throws.
void* alloc(std::size_t bytes, std::size_t alignment) noexcept {
    // relaxed: set once by the constructor before main and before any thread of the program
    if (!g_ready.load(std::memory_order_relaxed) || topos::detail::alloc_reentered()) {
        return alignment <= k_min_align ? __libc_malloc(bytes) : __libc_memalign(alignment, bytes);
    }
    if (bytes == 0) {
        bytes = 1;
    }
    try {
        if (bytes <= topos::k_small_max) [[likely]] {
            if (alignment <= k_min_align) [[likely]] {
                // The fast path in place: malloc makes no second call.
                const std::size_t at_least = topos::detail::min_block(bytes, alignment);
                return at_least <= topos::detail::k_fast_max ? topos::detail::small_alloc_local_inline(at_least)
                                                             : topos::detail::small_alloc_local_mid(at_least);
            }
            if (alignment <= topos::detail::k_small_align_max) {
                return topos::detail::small_alloc(bytes, alignment, topos::detail::current_node());
            }
        }
        return topos::allocate(bytes, topos::mem_policy::local(), {.alignment = alignment});
    } catch (...) {
        errno = ENOMEM;
        return nullptr;
    }
}

// The drop-in entry points try these first: the fast paths with no call,
// no frame and no exception region, so that malloc, free, new and delete
// stay leaf functions that fall back to the full paths with a tail call.
// post: a block of at least `bytes`, or nullptr (then alloc decides).
inline void* alloc_try(std::size_t bytes) noexcept {
    // relaxed: see alloc
    if (bytes - 1 < topos::detail::k_fast_max && g_ready.load(std::memory_order_relaxed) &&
        !topos::detail::alloc_reentered()) [[likely]] {
        return topos::detail::small_alloc_try(bytes);
    }
    return nullptr;
}

// post: true when p was a block of this thread's own span and is free now;
// false when release_slow must decide (nothing was done then).
inline bool release_try(void* p) noexcept {
    return topos::detail::t_local.m_in_range && topos::detail::in_range(p) && topos::detail::small_free_try(p);
}

[[gnu::noinline]] void release_slow(void* p) noexcept;

// Every free and delete: the leaf fast path, else the full one.
inline void release(void* p) noexcept {
    if (!release_try(p)) {
        release_slow(p);
    }
}

void release_slow(void* p) noexcept {
    if (p == nullptr) {
        return;
    }
    // The range test first, as in node_free: constants only, no load of the
    // region map for a block of the thread's own reserved range.
    if (topos::detail::t_local.m_in_range && topos::detail::in_range(p)) [[likely]] {
        try {
            topos::detail::small_free_inline(p);
        } catch (...) {
            std::abort(); // a pointer into an arena that is no block: the heap is corrupt
        }
        return;
    }
    switch (topos::detail::region_of(p)) {
    case region::none: __libc_free(p); return;
    case region::arena:
        try {
            topos::detail::small_free_inline(p);
        } catch (...) {
            std::abort(); // a pointer into an arena that is no block: the heap is corrupt
        }
        return;
    case region::page_head:
    case region::page_tail:
        try {
            topos::node_free(p);
        } catch (...) {
            std::abort();
        }
        return;
    }
}

std::size_t usable(const void* p) noexcept {
    if (p == nullptr) {
        return 0;
    }
    if (!ours(p)) {
        using fn = std::size_t (*)(void*);
        static fn next = [] {
            const topos::detail::alloc_reentry_guard guard;
            return reinterpret_cast<fn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
        }();
        return next != nullptr ? next(const_cast<void*>(p)) : 0;
    }
    try {
        return topos::usable_size(p);
    } catch (...) {
        return 0;
    }
}

void* resize(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) {
        return alloc(bytes, k_natural_align);
    }
    if (!ours(p)) {
        return __libc_realloc(p, bytes);
    }
    if (bytes == 0) {
        release(p);
        return nullptr;
    }
    const std::size_t have = usable(p);
    if (bytes <= have && bytes >= have / 2) {
        return p;
    }
    void* q = alloc(bytes, k_natural_align);
    if (q == nullptr) {
        return nullptr;
    }
    std::memcpy(q, p, std::min(have, bytes));
    release(p);
    return q;
}

bool valid_alignment(std::size_t alignment) noexcept {
    return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

// The program's new-handler. libstdc++ is linked into this library (a C
// program then loads none, see CMakeLists.txt), so std::get_new_handler()
// here reads this library's copy; a C++ program sets its handler in its own
// libstdc++, found by name (looked up each time: this is the out-of-memory
// path, and a program may load libstdc++ late).
std::new_handler program_new_handler() noexcept {
    using fn = std::new_handler (*)();
    fn program = nullptr;
    {
        const topos::detail::alloc_reentry_guard guard;
        program = reinterpret_cast<fn>(dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv"));
    }
    return program != nullptr ? program() : std::get_new_handler();
}

void* new_or_throw(std::size_t bytes, std::size_t alignment) {
    for (;;) {
        if (void* p = alloc(bytes, alignment)) {
            return p;
        }
        std::new_handler handler = program_new_handler();
        if (handler == nullptr) {
            throw std::bad_alloc();
        }
        handler();
    }
}

std::size_t page() noexcept { return topos::os::page_size(); }

} // namespace

extern "C" {

TOPOS_EXPORT void* malloc(std::size_t bytes) noexcept {
    if (void* p = alloc_try(bytes)) [[likely]] {
        return p;
    }
    return alloc(bytes, k_natural_align);
}

TOPOS_EXPORT void free(void* p) noexcept { release(p); }

TOPOS_EXPORT void* calloc(std::size_t n, std::size_t size) noexcept {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    if (topos::detail::alloc_reentered()) {
        return __libc_calloc(n, size);
    }
    void* p = alloc(bytes, k_natural_align);
    if (p != nullptr) {
        // Recycled small blocks and cached medium blocks hold old data; fresh
        // page blocks (and cached ones whose pages were dropped) are zero pages.
        if (topos::detail::region_of(p) == region::arena || !topos::detail::page_block_zeroed(p)) {
            std::memset(p, 0, bytes);
        }
    }
    return p;
}

TOPOS_EXPORT void* realloc(void* p, std::size_t bytes) noexcept { return resize(p, bytes); }

TOPOS_EXPORT void* reallocarray(void* p, std::size_t n, std::size_t size) noexcept {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    return resize(p, bytes);
}

TOPOS_EXPORT int posix_memalign(void** out, std::size_t alignment, std::size_t bytes) noexcept {
    if (!valid_alignment(alignment) || alignment % sizeof(void*) != 0) {
        return EINVAL;
    }
    void* p = alloc(bytes, std::max(alignment, k_min_align));
    if (p == nullptr) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

TOPOS_EXPORT void* aligned_alloc(std::size_t alignment, std::size_t bytes) noexcept {
    if (!valid_alignment(alignment)) {
        errno = EINVAL;
        return nullptr;
    }
    return alloc(bytes, std::max(alignment, k_min_align));
}

TOPOS_EXPORT void* memalign(std::size_t alignment, std::size_t bytes) noexcept {
    if (alignment == 0) {
        alignment = 1;
    }
    if (alignment > topos::k_max_block) {
        errno = EINVAL;
        return nullptr;
    }
    if (!valid_alignment(alignment)) {
        alignment = std::size_t{1} << (64 - __builtin_clzll(alignment)); // glibc rounds up
    }
    return alloc(bytes, std::max(alignment, k_min_align));
}

TOPOS_EXPORT void* valloc(std::size_t bytes) noexcept { return alloc(bytes, page()); }

TOPOS_EXPORT void* pvalloc(std::size_t bytes) noexcept {
    const std::size_t pg = page();
    return alloc((bytes + pg - 1) / pg * pg, pg);
}

TOPOS_EXPORT std::size_t malloc_usable_size(void* p) noexcept { return usable(p); }

/// Lets a program (and the tests) ask whether topos serves its allocations.
TOPOS_EXPORT int topos_malloc_active() noexcept { return 1; }

} // extern "C"

namespace {

void report_at_exit() {
    const auto c = topos::get_memory_counters();
    std::fprintf(stderr, "topos_malloc: %lld bytes in use, %llu bytes from the OS, %llu remote frees, %zu node(s)\n",
                 static_cast<long long>(c.bytes_in_use), static_cast<unsigned long long>(c.os_bytes),
                 static_cast<unsigned long long>(c.remote_frees), c.nodes.size());
}

__attribute__((constructor)) void start() {
    {
        const topos::detail::alloc_reentry_guard guard;
        (void)topos::detail::host_node_count(); // load the node table while nothing else runs
        install_fork_handlers();
        if (const char* v = std::getenv("TOPOS_MALLOC_REPORT"); v != nullptr && *v != '\0' && *v != '0') {
            std::atexit(report_at_exit);
        }
    }
    g_ready.store(true, std::memory_order_relaxed);
}

} // namespace

// ---- C++ operators ---------------------------------------------------------------

TOPOS_EXPORT void* operator new(std::size_t bytes) {
    if (void* p = alloc_try(bytes)) [[likely]] {
        return p;
    }
    return new_or_throw(bytes, k_natural_align);
}
TOPOS_EXPORT void* operator new[](std::size_t bytes) {
    if (void* p = alloc_try(bytes)) [[likely]] {
        return p;
    }
    return new_or_throw(bytes, k_natural_align);
}
TOPOS_EXPORT void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept { return alloc(bytes, k_natural_align); }
TOPOS_EXPORT void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept {
    return alloc(bytes, k_natural_align);
}
TOPOS_EXPORT void* operator new(std::size_t bytes, std::align_val_t a) {
    return new_or_throw(bytes, std::max(static_cast<std::size_t>(a), k_min_align));
}
TOPOS_EXPORT void* operator new[](std::size_t bytes, std::align_val_t a) {
    return new_or_throw(bytes, std::max(static_cast<std::size_t>(a), k_min_align));
}
TOPOS_EXPORT void* operator new(std::size_t bytes, std::align_val_t a, const std::nothrow_t&) noexcept {
    return alloc(bytes, std::max(static_cast<std::size_t>(a), k_min_align));
}
TOPOS_EXPORT void* operator new[](std::size_t bytes, std::align_val_t a, const std::nothrow_t&) noexcept {
    return alloc(bytes, std::max(static_cast<std::size_t>(a), k_min_align));
}

TOPOS_EXPORT void operator delete(void* p) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p) noexcept { release(p); }
TOPOS_EXPORT void operator delete(void* p, std::size_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p, std::size_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
TOPOS_EXPORT void operator delete(void* p, std::align_val_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
TOPOS_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
TOPOS_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
