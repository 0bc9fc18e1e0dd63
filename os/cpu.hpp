// os/cpu.hpp - which CPU the calling thread runs on. The one definition in
// topos: the allocator's fast path, the scheduler and the cohort lock all
// read it here.
#pragma once

#include <sched.h>
#include <sys/rseq.h>

#include <cstddef>
#include <cstdint>

namespace topos::os {

/// post: the OS index of the CPU the caller runs on now (it may move at any
/// time), or -1 when unknown. Reads the cpu_id the kernel keeps in the
/// thread's rseq area when glibc registered one (a load, no call), and asks
/// sched_getcpu otherwise. Inline: the malloc fast path calls it.
inline int current_cpu() noexcept {
    // __rseq_size is 0 when glibc did not register rseq (tunable off, old
    // kernel, valgrind); the kernel then does not update the area.
    if (__rseq_size != 0) [[likely]] {
        const auto* area =
            reinterpret_cast<const rseq*>(static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
        // relaxed: the kernel rewrites cpu_id when it moves the thread; any recent value will do
        return static_cast<int>(__atomic_load_n(&area->cpu_id, __ATOMIC_RELAXED));
    }
    return sched_getcpu();
}

/// post: true when glibc registered an rseq area for the calling thread, so
/// the kernel keeps its cpu_id there.
inline bool rseq_registered() noexcept { return __rseq_size != 0; }

/// pre: rseq_registered().
/// post: the offset of the kernel's cpu_id from the thread pointer (the same
/// for every thread of the process).
inline std::ptrdiff_t rseq_cpu_offset() noexcept {
    return __rseq_offset + static_cast<std::ptrdiff_t>(offsetof(rseq, cpu_id));
}

/// pre: `offset` from the thread pointer lies inside the calling thread's
/// static TLS block or rseq area, 4-aligned.
/// post: the 32-bit word there, read once (relaxed): the kernel's cpu_id for
/// the calling thread when offset is rseq_cpu_offset(). Inline: the
/// allocator's fast path reads its CPU with it.
inline std::uint32_t thread_word(std::ptrdiff_t offset) noexcept {
    const auto* word =
        reinterpret_cast<const std::uint32_t*>(static_cast<const char*>(__builtin_thread_pointer()) + offset);
    // relaxed: the kernel rewrites cpu_id when it moves the thread; any recent value will do
    return __atomic_load_n(word, __ATOMIC_RELAXED);
}

/// pre: `p` is an object in the calling thread's static TLS block.
/// post: its offset from the thread pointer, for thread_word.
inline std::ptrdiff_t thread_offset_of(const void* p) noexcept {
    return static_cast<const char*>(p) - static_cast<const char*>(__builtin_thread_pointer());
}

} // namespace topos::os
