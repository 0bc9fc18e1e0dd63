// ipc/shm_heap_layout.hpp - the state at the start of a segment_heap's
// region (ipc/shm_heap.cpp). Internal; the tests' peer program reads it to
// play a process that dies holding the heap's lock, and the hostile-bytes
// tests to know which bytes are the heap's metadata.
#pragma once

#include <topos/sync.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace topos::detail {

/// The magic of a formatted heap: segment_heap(seg) attaches when it finds
/// this and formats only memory that still holds 0 (a fresh segment).
/// Layout 2 (redo record, tagged block sizes); layout 1 was "TOPSHEEP".
inline constexpr std::uint64_t k_heap_magic = 0x3250454853504f54ULL; // "TOPSHEP2"
/// Claimed (by compare-exchange from 0) by the one process formatting the heap.
inline constexpr std::uint64_t k_heap_formatting = 0x474e4954414d524fULL; // "ORMATING"
inline constexpr std::size_t k_heap_names = 32;
inline constexpr std::size_t k_heap_name_chars = 48;
/// Most words one heap operation writes (allocate: 6, deallocate: 5, a name: 8).
inline constexpr std::size_t k_redo_words = 10;

struct heap_name {
    char name[k_heap_name_chars]; ///< NUL-terminated; name[0] == 0: a free slot
    std::uint64_t offset;         ///< of the object from the heap state
    std::uint64_t bytes;
};

/// One word a heap operation writes: the value at `offset` from the heap state.
struct redo_word {
    std::uint64_t offset;
    std::uint64_t value;
};

/// The writes of the one operation in progress. `armed` is stored (nonzero)
/// only after count, op and words are complete, and cleared only after every
/// word was written; so whoever finds it armed may write the words again.
struct redo_record {
    std::atomic<std::uint64_t> armed{0}; ///< sequence number of the operation; 0: none in progress
    std::uint32_t count = 0;
    std::uint32_t op = 0; ///< heap_op, for diagnostics
    redo_word words[k_redo_words]{};
};

struct heap_state {
    std::atomic<std::uint64_t> magic{k_heap_formatting}; ///< k_heap_magic once formatted
    std::uint64_t region_bytes = 0;
    std::uint64_t first_block = 0;
    /// Nonzero once the heap is beyond repair (a redo record that cannot be
    /// replayed): every operation from then on throws heap_broken.
    std::atomic<std::uint32_t> broken{0};
    process_mutex mutex; ///< guards everything below
    std::uint64_t free_head = 0;
    std::uint64_t used = 0;
    std::uint64_t sequence = 0; ///< operations committed (the next redo's number)
    std::uint64_t recoveries = 0; ///< times a process found the lock's owner dead
    std::uint64_t replays = 0; ///< times a recovery found a record armed and wrote its words
    redo_record redo;
    heap_name names[k_heap_names]{};
};

/// Tests only: called by every committed heap operation at each step of its
/// commit, so a test can kill the process exactly there: step 0 before the
/// record is written, 1 before it is armed, 2 once armed, 3 + i after the
/// i-th word is written, 3 + count once disarmed. nullptr (the default) for none.
using heap_commit_hook = void (*)(unsigned step, unsigned count);
void set_heap_commit_hook(heap_commit_hook hook) noexcept;

} // namespace topos::detail
