// os/cpu.hpp - which CPU the calling thread runs on. The one definition in
// topos: the allocator's fast path, the scheduler and the cohort lock all
// read it here.
#pragma once

#include <sched.h>
#include <sys/rseq.h>

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

} // namespace topos::os
