// os/memory.hpp - mappings, page advice and the kernel's memory-policy
// syscalls (mbind, get_mempolicy, move_pages), plus the coarse clock the
// allocator's purge reads. Node numbers here are the kernel's; the
// allocators translate logical ids (allocators/numa_layer.cpp). Nothing here
// throws; only transparent_huge_pages_enabled allocates (stdio), so the
// drop-in malloc calls it once, inside its slow path's reentry guard.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace topos::os {

/// post: the size of a base page in bytes (read once).
[[nodiscard]] std::size_t page_size() noexcept;

/// post: an anonymous private read-write mapping of `bytes` at an address
/// aligned to `alignment` (a power of two >= page size), reserving no swap
/// (MAP_NORESERVE); nullptr when the kernel has no memory or bytes + alignment
/// overflows. Untouched pages cost no memory.
[[nodiscard]] void* map_aligned(std::size_t bytes, std::size_t alignment) noexcept;

/// pre: bytes > 0.
/// post: a plain anonymous private read-write mapping of `bytes` (pages are
/// reserved as usual), or nullptr when the kernel refused.
[[nodiscard]] void* map_anonymous(std::size_t bytes) noexcept;

/// pre: bytes > 0.
/// post: an anonymous private read-write MAP_NORESERVE mapping of `bytes`,
/// or nullptr when the kernel refused. Never failed by fault injection: for
/// bookkeeping made once, whose loss no test means to provoke.
[[nodiscard]] void* map_untracked(std::size_t bytes) noexcept;

/// pre: `want` is page-aligned.
/// post: `want` when [want, want+bytes) is now an anonymous read-write
/// MAP_NORESERVE mapping that replaced nothing; nullptr otherwise, with
/// `error` set to errno (0 when a kernel before 4.17 placed it elsewhere,
/// which is then unmapped again).
[[nodiscard]] void* map_fixed_noreplace(void* want, std::size_t bytes, int& error) noexcept;

/// pre: [p, p+bytes) is (part of) a mapping of this process.
/// post: unmapped.
void unmap(void* p, std::size_t bytes) noexcept;

/// pre: [old, old+old_bytes) is one whole private anonymous mapping and
/// [target, target+new_bytes) a mapping of this process (a reservation).
/// post: true when the old mapping's pages (page tables, not copies) now lie
/// at target, grown or shrunk to new_bytes (new pages fault in zero, under
/// the old mapping's policy) and the reservation is gone; false with both
/// mappings as they were (mremap failed).
[[nodiscard]] bool remap_to(void* old, std::size_t old_bytes, std::size_t new_bytes, void* target) noexcept;

/// pre: page-aligned range inside a mapping.
/// post: the pages are dropped (MADV_DONTNEED); a refault reads a zero page
/// placed by the range's policy.
void decommit(void* p, std::size_t bytes) noexcept;

/// pre: page-aligned range inside a mapping.
/// post: 0 when MADV_HUGEPAGE was accepted, errno otherwise.
[[nodiscard]] int advise_huge(void* p, std::size_t bytes) noexcept;

/// post: MADV_NOHUGEPAGE asked for (best effort).
void advise_no_huge(void* p, std::size_t bytes) noexcept;

/// post: true when transparent huge pages are "always" or "madvise" (read
/// from sysfs; false when the file is missing).
[[nodiscard]] bool transparent_huge_pages_enabled() noexcept;

/// pre: `page` is a page-aligned address of this process.
/// post: true when the page is resident (mincore); false when it is not or
/// the kernel would not say.
[[nodiscard]] bool page_resident(const void* page) noexcept;

/// pre: page-aligned range of a mapping of this process.
/// post: 0 when the range is now readable and writable (`access`) or
/// inaccessible (PROT_NONE); errno of mprotect(2) otherwise (ENOMEM when
/// the split would pass vm.max_map_count). Async-signal-safe.
[[nodiscard]] int protect(void* p, std::size_t bytes, bool access) noexcept;

/// pre: page-aligned read-write range of a private anonymous mapping.
/// post: 0 when every page is present and writable (MADV_POPULATE_WRITE,
/// Linux 5.14; new pages are placed by the range's policy as if the caller
/// wrote them, nothing is modified); errno otherwise (EINVAL on older kernels).
[[nodiscard]] int populate_write(void* p, std::size_t bytes) noexcept;

/// Bits of a kernel node mask: Linux has at most 1024 nodes.
inline constexpr std::size_t k_node_mask_bits = 1024;
/// A node mask in the kernel's layout (bit n = kernel node n).
using node_mask = std::array<unsigned long, k_node_mask_bits / (8 * sizeof(unsigned long))>;

/// pre: os_node < k_node_mask_bits.
/// post: bit os_node of m is set.
inline void add_to_mask(node_mask& m, std::size_t os_node) noexcept {
    constexpr std::size_t word_bits = 8 * sizeof(unsigned long);
    m[os_node / word_bits] |= 1UL << (os_node % word_bits);
}

/// The memory policies of mbind(2), by the kernel's names.
enum class mem_mode { local, bind, preferred, interleave };

/// pre: page-aligned range of a mapping; `nodes` names nodes the kernel has
/// (ignored for mem_mode::local).
/// post: 0 when the kernel now applies the policy to pages faulted in the
/// range; errno otherwise (EPERM, ENOSYS or EACCES where NUMA syscalls are
/// refused; EINVAL or EFAULT for a bad policy or range).
[[nodiscard]] int bind_range(void* p, std::size_t bytes, mem_mode mode, const node_mask& nodes) noexcept;

/// post: true when the calling thread's memory policy is MPOL_DEFAULT
/// (get_mempolicy); false when it is another or the kernel would not say.
[[nodiscard]] bool thread_policy_is_default() noexcept;

/// pre: `pages` holds `count` page-aligned addresses of this process;
/// `status` has room for `count`.
/// post: 0 with status[i] the kernel node of pages[i] (negative errno where
/// the page is absent); errno of move_pages(2) otherwise.
[[nodiscard]] int page_nodes(void* const* pages, std::size_t count, int* status) noexcept;

/// pre: as page_nodes, and `targets` holds `count` kernel nodes.
/// post: 0 when move_pages(2) ran (status[i] the page's node now, or a
/// negative errno for a page it could not move); errno otherwise.
[[nodiscard]] int move_pages(void* const* pages, std::size_t count, const int* targets, int* status) noexcept;

/// post: milliseconds of CLOCK_MONOTONIC_COARSE, wrapping after 49 days
/// (compare by unsigned difference). Cheap: a vDSO read.
[[nodiscard]] std::uint32_t coarse_ms() noexcept;

} // namespace topos::os
