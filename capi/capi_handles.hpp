// capi/capi_handles.hpp - the structs behind the C API's opaque handles.
// Each starts with a magic word that check_handle() compares, so that a NULL,
// destroyed or foreign pointer is reported as TOPOS_E_BAD_HANDLE.
#pragma once

#include <topos/node_array.hpp>
#include <topos/runtime.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>
#include <topos/task_group.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

struct topos_runtime {
    static constexpr std::uint64_t k_magic = 0x6e75722d736f706fULL;
    static constexpr const char* k_kind = "topos_runtime_t";
    std::uint64_t magic = k_magic;
    topos::runtime rt;
    explicit topos_runtime(const topos::runtime_options& options) : rt(options) {}
};

struct topos_task_group {
    static constexpr std::uint64_t k_magic = 0x7072672d736f706fULL;
    static constexpr const char* k_kind = "topos_task_group_t";
    std::uint64_t magic = k_magic;
    topos::task_group group;
    explicit topos_task_group(topos::runtime& rt) : group(rt) {}
};

/// A block-distributed page block: the layout of topos::node_array<T>, for
/// elements of a size known only at run time.
struct topos_node_array {
    static constexpr std::uint64_t k_magic = 0x7272612d736f706fULL;
    static constexpr const char* k_kind = "topos_node_array_t";
    std::uint64_t magic = k_magic;
    void* data = nullptr;
    std::size_t count = 0;
    std::size_t bytes = 0;
    std::vector<topos::node_block> blocks;
};

struct topos_segment {
    static constexpr std::uint64_t k_magic = 0x6765732d736f706fULL;
    static constexpr const char* k_kind = "topos_segment_t";
    std::uint64_t magic = k_magic;
    topos::shared_segment segment;
};

// The process-shared objects live in the caller's (shared) memory, magic first.
struct alignas(TOPOS_SYNC_ALIGN) topos_mutex {
    static constexpr std::uint64_t k_magic = 0x78746d2d736f706fULL;
    static constexpr const char* k_kind = "topos_mutex_t";
    std::uint64_t magic = k_magic;
    topos::process_mutex mutex;
};

struct alignas(TOPOS_SYNC_ALIGN) topos_semaphore {
    static constexpr std::uint64_t k_magic = 0x6d65732d736f706fULL;
    static constexpr const char* k_kind = "topos_semaphore_t";
    std::uint64_t magic = k_magic;
    topos::process_semaphore sem;
    explicit topos_semaphore(unsigned initial) : sem(initial) {}
};

struct alignas(TOPOS_SYNC_ALIGN) topos_barrier {
    static constexpr std::uint64_t k_magic = 0x7261622d736f706fULL;
    static constexpr const char* k_kind = "topos_barrier_t";
    std::uint64_t magic = k_magic;
    topos::process_barrier barrier;
    explicit topos_barrier(unsigned participants) : barrier(participants) {}
};

static_assert(sizeof(topos_mutex) <= TOPOS_MUTEX_BYTES, "TOPOS_MUTEX_BYTES is too small");
static_assert(sizeof(topos_semaphore) <= TOPOS_SEMAPHORE_BYTES, "TOPOS_SEMAPHORE_BYTES is too small");
static_assert(sizeof(topos_barrier) <= TOPOS_BARRIER_BYTES, "TOPOS_BARRIER_BYTES is too small");
