// topos/shm.hpp - memory shared between processes: named segments (POSIX
// shm_open+mmap or System V shmget+shmat), offset pointers that stay valid in
// every process whatever address it maps the segment at, and a heap whose
// state lives inside the segment so that several processes allocate from it.
//
// Names. A segment name is '/' followed by 1 to 254 characters, none of them
// '/' or NUL, and not "/." or "/.." (POSIX's portable form; on Linux the
// object appears as /dev/shm/<name without the slash>). System V segments
// use the same names: the key is derived from the name by the stable hash
// sysv_key_of() documented below, or given outright with shm_options::sysv_key.
//
// Layout. Every segment topos creates starts with a header of
// k_segment_header_bytes (4096) bytes, then the user's bytes, page-aligned:
//
//   offset  size  field
//   0       8     magic 0x31534f504f544f54 ("TOTOPOS1" little-endian), written last
//   8       4     layout version (k_segment_layout_version)
//   12      4     header bytes (offset of the user data, 4096)
//   16      8     user size in bytes
//   24      4     creator's process id
//   28      1     api (0 posix, 1 sysv)
//   29      3     zero
//   32      256   the name, NUL-terminated
//
// A creator sizes the object, applies the memory policy, fills the header and
// only then stores the magic (release). open() waits up to
// open_options::ready_timeout for the magic to appear, then fails with
// shm_errc::not_ready; a size smaller than the header says is `truncated`, a
// different magic is `not_topos`, a different version is `wrong_version`.
// Nothing is read before the object's size has been checked, so a truncated
// segment is never mapped as valid.
#pragma once

#include <topos/error.hpp>
#include <topos/memory.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace topos {

enum class shm_api : std::uint8_t {
    posix, ///< shm_open + ftruncate + mmap; named in /dev/shm
    sysv,  ///< shmget + shmat; listed by `ipcs -m`
};

/// Why a shared-segment operation failed; shm_error::code() says which.
enum class shm_errc : std::uint8_t {
    invalid_name,      ///< empty, no leading '/', a second '/', longer than 255, "/." or "/.."
    invalid_size,      ///< zero, header + size overflows, above k_max_segment_bytes, or the kernel's limit
    invalid_argument,  ///< another option out of range (mode bits, key 0)
    exists,            ///< exclusive create of a name that exists
    not_found,         ///< open or remove of a name that does not exist
    permission_denied, ///< the kernel said EACCES or EPERM
    not_topos,         ///< the object has no topos header (foreign); see open_raw
    wrong_version,     ///< a topos header of another layout version
    truncated,         ///< the object is smaller than its header says
    not_ready,         ///< the header's magic did not appear within ready_timeout
    size_mismatch,     ///< open_options::expected_size differs from the segment's size
    no_memory,         ///< the kernel or /dev/shm has no room for the segment
    system,            ///< another system error (sys_errno() holds it)
    heap_broken,       ///< a segment_heap beyond repair: its redo record cannot be replayed (see segment_heap)
    heap_corrupt,      ///< a segment_heap's metadata is inconsistent (written by a faulty or hostile peer)
};

/// "invalid_name", "exists", ...
[[nodiscard]] const char* to_string(shm_errc code) noexcept;

/// A shared segment could not be created, opened or removed. The message is
/// one line naming the segment and what was expected.
class shm_error : public error {
public:
    shm_error(shm_errc code, const std::string& message, int sys_errno = 0)
        : error(message), m_code(code), m_errno(sys_errno) {}
    [[nodiscard]] shm_errc code() const noexcept { return m_code; }
    /// The errno behind the failure, 0 when topos itself refused.
    [[nodiscard]] int sys_errno() const noexcept { return m_errno; }

private:
    shm_errc m_code;
    int m_errno;
};

inline constexpr std::uint64_t k_segment_magic = 0x31534f504f544f54ULL; // "TOTOPOS1"
inline constexpr std::uint32_t k_segment_layout_version = 1;
inline constexpr std::size_t k_segment_header_bytes = 4096;
/// Largest user size create() accepts (64 TiB, as topos::allocate).
inline constexpr std::size_t k_max_segment_bytes = std::size_t{1} << 46;

/// Validates `object`, the bytes of a whole segment object (header and
/// user bytes, as a peer or a file gave them), exactly as open() validates a
/// segment before mapping it: too short for a header is `truncated` (with the
/// magic) or `not_topos`; no magic yet is `not_ready`; then `not_topos`,
/// `wrong_version` and `truncated` as open() says them. Returns the user size
/// the header gives. Reads nothing outside `object`.
std::size_t validate_segment_image(std::span<const std::byte> object);

/// The System V key topos uses for `name`: the 32-bit FNV-1a hash of the
/// name's bytes (leading '/' included), masked to 31 bits so it is positive,
/// and 1 where that gives 0 (0 is IPC_PRIVATE). Stable across versions.
[[nodiscard]] std::int32_t sysv_key_of(std::string_view name) noexcept;

struct shm_options {
    shm_api api = shm_api::posix;
    /// Where the pages go; applied to the whole object before anything touches it.
    mem_policy policy = {};
    /// Permission bits (applied exactly, whatever the umask). Only 0777 bits.
    unsigned mode = 0600;
    /// true: fail with shm_errc::exists when the name is taken. false: an
    /// existing object of that name is removed first (processes that have it
    /// mapped keep the old memory).
    bool exclusive = true;
    /// The creator's destructor removes the name (not on a crash: see `topos shm rm`).
    bool remove_on_creator_exit = false;
    /// System V only: this key instead of sysv_key_of(name). Not 0 (IPC_PRIVATE).
    std::optional<std::int32_t> sysv_key = std::nullopt;
};

struct open_options {
    shm_api api = shm_api::posix;
    /// Nonzero: the segment's user size must be exactly this (size_mismatch otherwise).
    std::size_t expected_size = 0;
    bool read_only = false;
    /// How long open() waits for a creator that has not yet written the header.
    std::chrono::milliseconds ready_timeout{1000};
    /// System V only: this key instead of sysv_key_of(name).
    std::optional<std::int32_t> sysv_key = std::nullopt;
};

/// A mapping of a named shared segment. Move-only; the destructor unmaps
/// (detaches) and, for a creator with remove_on_creator_exit, removes the name.
class shared_segment {
public:
    /// Creates and maps a new segment of `size` user bytes, zero-filled.
    /// Throws shm_error (nothing is left behind), node_error or memory_error
    /// when the policy cannot be applied.
    [[nodiscard]] static shared_segment create(std::string_view name, std::size_t size, const shm_options& options = {});
    /// Maps an existing topos segment after checking its header.
    [[nodiscard]] static shared_segment open(std::string_view name, const open_options& options = {});
    /// Maps an existing object whole, without a header check: for segments
    /// made by other programs (Python's SharedMemory, a shmget peer). data()
    /// is the object's first byte and size() its full size.
    [[nodiscard]] static shared_segment open_raw(std::string_view name, const open_options& options = {});
    /// Removes the name (POSIX shm_unlink, System V IPC_RMID). Mappings stay
    /// valid until unmapped. Throws shm_error (not_found, permission_denied, ...).
    static void remove(std::string_view name, shm_api api = shm_api::posix, std::optional<std::int32_t> sysv_key = {});
    /// remove() that reports whether something was removed instead of not_found.
    static bool remove_if_exists(std::string_view name, shm_api api = shm_api::posix,
                                 std::optional<std::int32_t> sysv_key = {});

    shared_segment() noexcept = default;
    shared_segment(shared_segment&& other) noexcept;
    shared_segment& operator=(shared_segment&& other) noexcept;
    shared_segment(const shared_segment&) = delete;
    shared_segment& operator=(const shared_segment&) = delete;
    ~shared_segment();

    /// Removes this segment's name now (see remove()); the mapping stays.
    void unlink();

    [[nodiscard]] bool valid() const noexcept { return m_base != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    /// The user's bytes (after the header; the object's start for open_raw).
    [[nodiscard]] void* data() const noexcept { return m_data; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] const std::string& name() const noexcept { return m_name; }
    [[nodiscard]] shm_api api() const noexcept { return m_api; }
    /// System V key and shmid; -1 for POSIX.
    [[nodiscard]] std::int32_t sysv_key() const noexcept { return m_key; }
    [[nodiscard]] int sysv_id() const noexcept { return m_shmid; }
    [[nodiscard]] bool is_creator() const noexcept { return m_creator; }
    [[nodiscard]] bool is_raw() const noexcept { return m_raw; }
    /// Process id in the header as validated at open (0 for raw mappings).
    [[nodiscard]] int creator_pid() const noexcept { return m_creator_pid; }

    /// The logical node of each page of the user range, -1 for pages with no
    /// memory yet. Asks the kernel (move_pages) about pages this process has
    /// touched or that are resident in the object.
    [[nodiscard]] std::vector<int> page_nodes() const;

    /// Offset of p from data(); p must lie in [data(), data() + size()].
    [[nodiscard]] std::size_t offset_of(const void* p) const;
    /// data() + offset, checked against size().
    [[nodiscard]] void* at(std::size_t offset) const;

private:
    void release() noexcept;

    void* m_base = nullptr;     ///< the mapping (header included)
    std::size_t m_map_bytes = 0;
    void* m_data = nullptr;
    std::size_t m_size = 0;
    std::string m_name;
    shm_api m_api = shm_api::posix;
    std::int32_t m_key = -1;
    int m_shmid = -1;
    std::uint64_t m_dev = 0;    ///< POSIX: the object's device and inode, so unlink()
    std::uint64_t m_ino = 0;    ///< removes this object and not a newer one of that name
    int m_creator_pid = 0;      ///< from the validated header (0 for raw mappings)
    int m_owner_pid = 0;        ///< the process that created it (a forked child does not remove)
    bool m_creator = false;
    bool m_remove_on_exit = false;
    bool m_raw = false;
};

/// What `topos shm list` shows about one segment.
struct segment_info {
    shm_api api = shm_api::posix;
    std::string name;           ///< "/name" (System V: from the header; empty for foreign ones)
    std::int32_t sysv_key = -1; ///< System V only
    int sysv_id = -1;           ///< System V only
    bool is_topos = false;      ///< a valid header of this layout version
    std::size_t size = 0;       ///< user bytes (the object's size when not topos)
    std::size_t object_bytes = 0;
    unsigned owner_uid = 0;
    unsigned mode = 0;
    int creator_pid = 0;
    std::size_t resident_pages = 0;
    std::vector<int> nodes;     ///< distinct nodes of the resident user pages, ascending
};

/// The shared segments of this machine this process can read: POSIX objects
/// in /dev/shm and System V segments (shmctl SHM_STAT). Only topos ones unless
/// `include_foreign`. Nodes are asked only for pages already resident; listing
/// never allocates a segment's pages.
[[nodiscard]] std::vector<segment_info> list_shared_segments(bool include_foreign = false);

/// An offset pointer: holds the distance from itself to its target, so a
/// segment_ptr inside a segment points at the same object in every process
/// that maps the segment, wherever the mapping lands. Both the pointer and its
/// target must lie in the same segment (or both in ordinary memory).
template <class T>
class segment_ptr {
public:
    using element_type = T;

    segment_ptr() noexcept = default;
    segment_ptr(std::nullptr_t) noexcept {} // NOLINT(google-explicit-constructor)
    segment_ptr(T* p) noexcept { set(p); }  // NOLINT(google-explicit-constructor)
    segment_ptr(const segment_ptr& other) noexcept { set(other.get()); }
    template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    segment_ptr(const segment_ptr<U>& other) noexcept { set(other.get()); } // NOLINT(google-explicit-constructor)
    segment_ptr& operator=(const segment_ptr& other) noexcept {
        set(other.get());
        return *this;
    }
    segment_ptr& operator=(T* p) noexcept {
        set(p);
        return *this;
    }
    ~segment_ptr() = default;

    [[nodiscard]] T* get() const noexcept {
        if (m_offset == k_null) {
            return nullptr;
        }
        const auto self = reinterpret_cast<std::uintptr_t>(this);
        return reinterpret_cast<T*>(self + static_cast<std::uintptr_t>(m_offset));
    }
    /// get(), checked against the memory it must point into: nullptr for a
    /// null pointer, else the target when [target, target + sizeof(T)) lies in
    /// [base, base + bytes) and is aligned for T. Throws shm_error
    /// (invalid_argument) otherwise: the offset was written by a faulty or
    /// hostile peer. Use it for every segment_ptr another process may write.
    [[nodiscard]] T* get_in(const void* base, std::size_t bytes) const {
        if (m_offset == k_null) {
            return nullptr;
        }
        const auto lo = reinterpret_cast<std::uintptr_t>(base);
        const auto target = reinterpret_cast<std::uintptr_t>(this) + static_cast<std::uintptr_t>(m_offset);
        if (target < lo || target - lo > bytes || bytes - (target - lo) < sizeof(T) || target % alignof(T) != 0) {
            throw shm_error(shm_errc::invalid_argument, "segment_ptr: offset " + std::to_string(m_offset) +
                                                            " leads outside its segment or is misaligned");
        }
        return reinterpret_cast<T*>(target);
    }
    T& operator*() const noexcept { return *get(); }
    T* operator->() const noexcept { return get(); }
    T& operator[](std::ptrdiff_t i) const noexcept { return get()[i]; }
    explicit operator bool() const noexcept { return m_offset != k_null; }

    segment_ptr& operator+=(std::ptrdiff_t n) noexcept {
        set(get() + n);
        return *this;
    }
    segment_ptr& operator-=(std::ptrdiff_t n) noexcept { return *this += -n; }
    segment_ptr& operator++() noexcept { return *this += 1; }
    segment_ptr& operator--() noexcept { return *this -= 1; }
    friend bool operator==(const segment_ptr& a, const segment_ptr& b) noexcept { return a.get() == b.get(); }
    friend bool operator==(const segment_ptr& a, std::nullptr_t) noexcept { return !a; }

private:
    // 1 can never be a target's distance from a T-aligned self for T larger
    // than a byte when both live in one object; for char it is "self + 1",
    // which this pointer cannot then represent (as in other offset pointers).
    static constexpr std::ptrdiff_t k_null = 1;

    void set(T* p) noexcept {
        if (p == nullptr) {
            m_offset = k_null;
            return;
        }
        m_offset = static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(p) -
                                               reinterpret_cast<std::uintptr_t>(this));
    }

    std::ptrdiff_t m_offset = k_null;
};

namespace detail {
struct heap_state;
}

/// A heap inside shared memory: first-fit free list with coalescing, blocks
/// 16-byte aligned (any power-of-two alignment up to 4096 on request). Its
/// state (free list, statistics, a small directory of named objects) lives at
/// the start of the region it manages and is guarded by a robust process
/// mutex, so any process that maps the region can allocate and free.
///
/// The segment_heap object itself is a per-process handle (it derives from
/// std::pmr::memory_resource, whose vtable is per process). The heap's state
/// begins with a magic word: 0 in a fresh segment, the heap magic once
/// formatted. segment_heap(seg) formats only a fresh region and attaches to
/// one that already holds a heap, so any number of handles, in any process,
/// share one heap. format() formats unconditionally (wiping what was there).
///
/// Crashes. Every operation that changes the heap (allocate, deallocate, a
/// name added or removed) first writes all the words it will change, with
/// their new values, into a redo record in the heap's state; then arms the
/// record (one store); then writes the words; then disarms it. The invariant:
/// while the record is disarmed the heap is consistent, and while it is armed
/// the heap becomes consistent by writing the record's words (again: writing
/// them is idempotent). A process killed at any instruction leaves the
/// record either disarmed (nothing or everything written) or armed; the
/// next process to take the lock (the robust mutex says owner_died) writes
/// an armed record's words, disarms it, checks the whole heap (check()) and
/// goes on. Nothing is lost but what the dead process held: its blocks stay
/// allocated (leaked, never handed out twice). A name is published by one
/// operation after its object is constructed, and removed (destroy) before
/// the object is destroyed, so a named object is either whole or absent.
/// shm_errc::heap_broken is left for a record that cannot be replayed (its
/// words lead outside the heap): the heap then refuses every operation.
///
/// Hostile bytes. Every word the heap reads from the segment (links, sizes,
/// name offsets, the redo record) is checked against the region this handle
/// attached with before it is used, and every walk of the free list is
/// bounded (the list must rise strictly), so a peer that writes garbage can
/// make an operation throw shm_error(heap_corrupt) but cannot make this
/// process read or write outside the region. The bytes of the lock
/// (lock_range()) cannot be validated: a peer that scribbles there can stall
/// or break the lock for everyone (denial of service, as holding it can).
///
/// Blocks handed out hold raw addresses only of this process's mapping: link
/// objects inside the heap with segment_ptr, not with raw pointers, and do
/// not share std::pmr containers between processes (they store a pointer to
/// this handle).
class segment_heap final : public std::pmr::memory_resource {
public:
    /// Lays out an empty heap over [region, region + bytes), whatever was
    /// there. region must be 64-byte aligned and bytes at least 4096. Throws
    /// shm_error(invalid_argument).
    [[nodiscard]] static segment_heap format(void* region, std::size_t bytes);
    /// Attaches to a heap formatted over [region, region + bytes) (by any
    /// process), waiting up to 1 s for a formatter still at work, and checks
    /// it (check()) before use. Throws shm_error: not_topos when no heap
    /// appears there, heap_corrupt when its state does not fit `bytes` or is
    /// inconsistent, invalid_argument for a misaligned or short region.
    [[nodiscard]] static segment_heap attach(void* region, std::size_t bytes);
    /// attach() trusting the region size the heap's state records (for a
    /// region whose size the caller does not know; prefer the form above).
    [[nodiscard]] static segment_heap attach(void* region);
    /// The whole user range of a segment. The creator formats it when it is
    /// still fresh (its magic word 0) and otherwise attaches, as every other
    /// process does: a second segment_heap(seg) never wipes the first's heap.
    explicit segment_heap(const shared_segment& seg);

    /// check() for a copy of a heap's bytes, `bytes` long, without taking a
    /// lock: a redo record left armed is replayed on a private copy first.
    /// Reads nothing outside [region, region + bytes). Throws shm_error
    /// (not_topos, heap_corrupt) naming the first inconsistency.
    static void check_image(const void* region, std::size_t bytes);
    /// Where the heap's lock lies in its region: [first, first + second).
    [[nodiscard]] static std::pair<std::size_t, std::size_t> lock_range() noexcept;

    segment_heap(const segment_heap&) = delete;
    segment_heap& operator=(const segment_heap&) = delete;
    segment_heap(segment_heap&& other) noexcept
        : m_state(std::exchange(other.m_state, nullptr)), m_bytes(std::exchange(other.m_bytes, 0)) {}
    ~segment_heap() override = default;

    /// Bytes the heap can hand out in total (its region less its own state).
    [[nodiscard]] std::size_t capacity() const noexcept;
    /// Bytes of blocks in use now (block headers and padding included).
    /// Throws shm_error(heap_broken) when the heap is broken, as allocate,
    /// deallocate, construct, construct_named, find and destroy do.
    [[nodiscard]] std::size_t used_bytes() const;

    /// Walks the whole heap under its lock: the chain of blocks covers the
    /// region exactly, sizes and alignment are sound, the free list holds
    /// exactly the free blocks in rising order and no two free blocks touch,
    /// the bytes in use add up, and every name lies inside an allocated
    /// block. Throws shm_error(heap_corrupt) naming the first fault. Costs
    /// one pass over the blocks.
    void check() const;

    /// true once the heap is beyond repair (see above).
    [[nodiscard]] bool broken() const noexcept;
    /// Times a process took the heap's lock from a holder that had died, and
    /// times one of them found the dead holder's operation half done and
    /// finished it from the redo record.
    [[nodiscard]] std::uint64_t recoveries() const noexcept;
    [[nodiscard]] std::uint64_t replays() const noexcept;

    /// Allocates and constructs a T. Returns a plain pointer, as
    /// construct_named() and find() do; store it in the segment as a
    /// segment_ptr<T> (which it converts to).
    template <class T, class... Args>
    T* construct(Args&&... args) {
        void* p = allocate(sizeof(T), alignof(T));
        try {
            return ::new (p) T(std::forward<Args>(args)...);
        } catch (...) {
            deallocate(p, sizeof(T), alignof(T));
            throw;
        }
    }
    /// As construct(), and records it under `name` (up to 47 characters; 32
    /// names per heap) so another process can find() it. shm_error(exists)
    /// when the name is taken. The name appears only once the object is
    /// constructed (a process killed before that leaks the block).
    template <class T, class... Args>
    T* construct_named(std::string_view name, Args&&... args) {
        void* p = allocate(sizeof(T), alignof(T));
        T* obj = nullptr;
        try {
            obj = ::new (p) T(std::forward<Args>(args)...);
            add_name(name, obj, sizeof(T));
        } catch (...) {
            if (obj != nullptr) {
                obj->~T();
            }
            deallocate(p, sizeof(T), alignof(T));
            throw;
        }
        return obj;
    }
    /// The object recorded under `name`, nullptr when none. The size recorded
    /// must be sizeof(T) (shm_error(size_mismatch) otherwise), and the object
    /// must lie in the heap and be aligned for T (heap_corrupt otherwise).
    template <class T>
    [[nodiscard]] T* find(std::string_view name) const {
        return static_cast<T*>(find_name(name, sizeof(T), alignof(T)));
    }
    /// Destroys and frees a T made by construct() or construct_named(): its
    /// name, if it has one, is removed first, so no process finds it half
    /// destroyed.
    template <class T>
    void destroy(T* p) {
        if (p != nullptr) {
            remove_names(p);
            p->~T();
            deallocate(p, sizeof(T), alignof(T));
        }
    }

private:
    segment_heap(detail::heap_state* state, std::size_t bytes) noexcept : m_state(state), m_bytes(bytes) {}
    static detail::heap_state* format_state(void* region, std::size_t bytes);
    static std::size_t attach_state(void* region, std::size_t bytes);
    static segment_heap attach_or_format(const shared_segment& seg);

    void* do_allocate(std::size_t bytes, std::size_t alignment) override;
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;
    void add_name(std::string_view name, void* obj, std::size_t bytes);
    void* find_name(std::string_view name, std::size_t bytes, std::size_t alignment) const;
    void remove_names(const void* obj);

    detail::heap_state* m_state = nullptr;
    std::size_t m_bytes = 0; ///< the region's bytes as this handle validated them (never re-read)
};

} // namespace topos
