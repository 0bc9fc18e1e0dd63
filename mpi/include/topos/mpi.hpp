// topos/mpi.hpp - hybrid MPI + topos: MPI between processes (and hosts),
// topos threads and NUMA placement inside each process.
//
// An optional component (target topos::mpi, pkg-config topos-mpi), built when
// CMake finds MPI; the core library has no MPI dependency. It adds what MPI
// lacks for NUMA and nothing more: topos has no distributed layer of its own.
//
//   topos::mpi::environment env(argc, argv, topos::mpi::threading::funneled);
//   topos::runtime rt;                                  // respects the launcher's binding
//   auto host = topos::mpi::node_comm();                // ranks sharing this host's memory
//   auto numa = topos::mpi::numa_comm(rt);              // ranks whose workers share a NUMA node
//   topos::mpi::shared_array<double> a(host, n, rt);    // one array per host, each slice on its rank's node
//   { auto epoch = a.lock_all(); for (auto& x : a.local()) x = 1; epoch.barrier(); double s = a[n - 1]; }
//
// Errors of MPI calls are mpi_error exceptions naming the call; the
// communicators and windows made here return errors (MPI_ERRORS_RETURN)
// instead of aborting the job.
#pragma once

#include <topos/error.hpp>
#include <topos/runtime.hpp>
#include <topos/topology.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace topos::mpi {

/// An MPI call failed (the message names the call and carries MPI's own
/// text), or MPI cannot be used as asked (thread level, initialised twice).
class mpi_error : public topos::error {
public:
    mpi_error(std::string call, int code, const std::string& what)
        : topos::error(what), m_call(std::move(call)), m_code(code) {}
    /// The MPI function that failed, e.g. "MPI_Comm_split_type".
    [[nodiscard]] const std::string& call() const noexcept { return m_call; }
    /// MPI's error code (MPI_SUCCESS when the failure is topos's own check).
    [[nodiscard]] int code() const noexcept { return m_code; }

private:
    std::string m_call;
    int m_code;
};

/// Throws mpi_error naming `call` when `rc` is not MPI_SUCCESS.
void check(int rc, const char* call);

/// The thread levels of MPI_Init_thread, weakest first.
enum class threading { single, funneled, serialized, multiple };
[[nodiscard]] std::string_view to_string(threading level) noexcept;
[[nodiscard]] int to_mpi(threading level) noexcept;
[[nodiscard]] threading from_mpi(int level);

namespace detail {
/// Throws mpi_error (naming MPI_Init_thread and both levels) when `provided`
/// is weaker than `required`.
void require_level(threading required, threading provided);
} // namespace detail

/// MPI_Init_thread in the constructor, MPI_Finalize in the destructor. One per
/// process (MPI cannot be initialised twice). The default level, funneled, is
/// what a topos program needs when only the thread that made the environment
/// calls MPI while topos workers compute; ask for `multiple` when tasks call MPI.
/// MPI_COMM_WORLD is set to return errors, so they become mpi_error.
class environment {
public:
    explicit environment(threading required = threading::funneled);
    environment(int& argc, char**& argv, threading required = threading::funneled);
    ~environment();
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;

    /// The level MPI gave (at least the one asked for).
    [[nodiscard]] threading provided() const noexcept { return m_provided; }
    /// True between MPI_Init and MPI_Finalize, whoever called them.
    [[nodiscard]] static bool initialized() noexcept;

private:
    void init(int* argc, char*** argv, threading required);
    threading m_provided = threading::single;
};

/// An owned communicator (freed by MPI_Comm_free), or a view of one that is
/// not ours (MPI_COMM_WORLD). Errors on an owned one are returned, not fatal.
class communicator {
public:
    communicator() noexcept = default;
    /// Adopts `comm` (freed on destruction when `owned`).
    explicit communicator(MPI_Comm comm, bool owned = false) noexcept : m_comm(comm), m_owned(owned) {}
    communicator(communicator&& other) noexcept
        : m_comm(std::exchange(other.m_comm, MPI_COMM_NULL)), m_owned(std::exchange(other.m_owned, false)) {}
    communicator& operator=(communicator&& other) noexcept;
    communicator(const communicator&) = delete;
    communicator& operator=(const communicator&) = delete;
    ~communicator();

    [[nodiscard]] MPI_Comm get() const noexcept { return m_comm; }
    operator MPI_Comm() const noexcept { return m_comm; } // NOLINT(google-explicit-constructor): passes to MPI calls
    [[nodiscard]] int rank() const;
    [[nodiscard]] int size() const;
    void barrier() const;

private:
    MPI_Comm m_comm = MPI_COMM_NULL;
    bool m_owned = false;
};

/// MPI_COMM_WORLD, not owned.
[[nodiscard]] communicator world() noexcept;

/// The ranks of `parent` that share memory with this one (one host):
/// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), ranks ordered as in `parent`.
[[nodiscard]] communicator node_comm(MPI_Comm parent = MPI_COMM_WORLD);

/// The ranks of `parent` on this host whose NUMA nodes are the same as this
/// rank's. A rank's nodes are the kernel nodes of its runtime's workers (or,
/// for a topology, of its allowed CPUs): with `--map-by numa --bind-to numa`
/// the ranks of one node group together; unbound ranks (all nodes) form one
/// group. Computed from topos's topology, not a vendor extension, so it works
/// with any MPI. Collective over `parent`.
[[nodiscard]] communicator numa_comm(const runtime& rt, MPI_Comm parent = MPI_COMM_WORLD);
[[nodiscard]] communicator numa_comm(const topology& topo, MPI_Comm parent = MPI_COMM_WORLD);

/// Where one rank runs.
struct rank_info {
    int rank = 0;
    std::string host;          ///< MPI_Get_processor_name
    int local_rank = 0;        ///< rank in its host's node_comm
    std::vector<int> os_nodes; ///< the kernel NUMA nodes it uses, ascending
    /// Its one kernel node, or -1 when it uses several (unbound) or none.
    [[nodiscard]] int os_node() const noexcept { return os_nodes.size() == 1 ? os_nodes.front() : -1; }
};

/// Rank -> host and NUMA node, gathered on every rank of a communicator
/// (collective). The nodes come from the runtime's workers or the topology's
/// allowed CPUs, as for numa_comm.
class rank_map {
public:
    [[nodiscard]] static rank_map gather(const runtime& rt, MPI_Comm comm = MPI_COMM_WORLD);
    [[nodiscard]] static rank_map gather(const topology& topo, MPI_Comm comm = MPI_COMM_WORLD);

    [[nodiscard]] std::size_t size() const noexcept { return m_ranks.size(); }
    /// Throws index_error for a rank the communicator does not have.
    [[nodiscard]] const rank_info& at(int rank) const;
    [[nodiscard]] std::span<const rank_info> ranks() const noexcept { return m_ranks; }
    /// The distinct host names, in order of their lowest rank.
    [[nodiscard]] std::vector<std::string> hosts() const;
    /// The ranks on `host`, ascending.
    [[nodiscard]] std::vector<int> ranks_on(std::string_view host) const;

private:
    static rank_map gather_nodes(std::vector<int> os_nodes, MPI_Comm comm);
    std::vector<rank_info> m_ranks;
};

/// The kernel nodes a runtime's workers are on (every node of its topology
/// when it is unbound), and those of a topology's allowed CPUs.
[[nodiscard]] std::vector<int> os_nodes_of(const runtime& rt);
[[nodiscard]] std::vector<int> os_nodes_of(const topology& topo);

/// A kernel NUMA node named explicitly (-1: none).
struct on_os_node {
    int node = -1;
};

/// How the slices of a shared window are placed.
struct placement_report {
    int os_node = -1;         ///< the kernel node this rank's slice was bound to, -1 when not bound
    bool bound = false;       ///< mbind applied before the first touch
    std::string note;         ///< why it was not bound, empty when it was
};

namespace detail {

/// The untyped part of shared_array: one MPI_Win_allocate_shared window over
/// a node communicator, a slice of `bytes` per rank whose pages are bound to
/// `os_node` before anything touches them.
class shared_window {
public:
    shared_window(MPI_Comm node, std::size_t bytes, int os_node);
    ~shared_window();
    shared_window(const shared_window&) = delete;
    shared_window& operator=(const shared_window&) = delete;

    [[nodiscard]] MPI_Win win() const noexcept { return m_win; }
    [[nodiscard]] MPI_Comm comm() const noexcept { return m_comm; }
    [[nodiscard]] int rank() const noexcept { return m_rank; }
    [[nodiscard]] int size() const noexcept { return static_cast<int>(m_bases.size()); }
    [[nodiscard]] void* base(int rank) const noexcept { return m_bases[static_cast<std::size_t>(rank)]; }
    [[nodiscard]] std::size_t bytes(int rank) const noexcept { return m_bytes[static_cast<std::size_t>(rank)]; }
    /// Bytes from the start of `rank`'s part of the window to its slice.
    [[nodiscard]] MPI_Aint offset(int rank) const noexcept { return m_offsets[static_cast<std::size_t>(rank)]; }
    [[nodiscard]] const placement_report& placement() const noexcept { return m_placement; }
    /// The kernel node of each page of `rank`'s slice now (move_pages), -1
    /// for a page not yet touched.
    [[nodiscard]] std::vector<int> page_os_nodes(int rank) const;

private:
    MPI_Comm m_comm = MPI_COMM_NULL;
    MPI_Win m_win = MPI_WIN_NULL;
    int m_rank = 0;
    std::vector<void*> m_bases;
    std::vector<std::size_t> m_bytes;
    std::vector<MPI_Aint> m_offsets;
    placement_report m_placement;
};

/// The one kernel node of `nodes`, or -1.
[[nodiscard]] inline int single_node(const std::vector<int>& nodes) noexcept {
    return nodes.size() == 1 ? nodes.front() : -1;
}

} // namespace detail

/// MPI_Win_fence ... MPI_Win_fence: an active-target epoch of a window.
class fence_epoch {
public:
    explicit fence_epoch(MPI_Win win);
    ~fence_epoch();
    fence_epoch(const fence_epoch&) = delete;
    fence_epoch& operator=(const fence_epoch&) = delete;
    /// Ends the epoch and opens the next one (MPI_Win_fence).
    void fence();

private:
    MPI_Win m_win;
};

/// MPI_Win_lock_all ... MPI_Win_unlock_all: a passive-target epoch in which
/// ranks read and write the shared memory directly; barrier() makes every
/// rank's stores before it visible to every rank's loads after it
/// (MPI_Win_sync, MPI_Barrier, MPI_Win_sync: the MPI-3 shared-memory model).
class lock_all_epoch {
public:
    lock_all_epoch(MPI_Win win, MPI_Comm comm);
    ~lock_all_epoch();
    lock_all_epoch(const lock_all_epoch&) = delete;
    lock_all_epoch& operator=(const lock_all_epoch&) = delete;
    /// MPI_Win_sync: this rank's stores become visible in the window.
    void sync();
    /// sync(), MPI_Barrier, sync(): collective over the window's ranks.
    void barrier();

private:
    MPI_Win m_win;
    MPI_Comm m_comm;
};

/// One array of n elements per host, shared by the ranks of a node
/// communicator through MPI_Win_allocate_shared. The elements are split into
/// one contiguous slice per rank, as even as integer division makes them
/// (rank r holds [r*n/k, (r+1)*n/k)), and each slice's pages are bound to its
/// rank's NUMA node before its rank value-initialises them, so the first
/// touch lands there (without the binding every page lands on the node of
/// whichever rank touches it first). local() is this rank's slice; operator[]
/// reaches any element of the host's array by its global index.
///
/// Construction and destruction are collective over the communicator. T must
/// be trivially copyable (the bytes are shared between processes).
template <class T>
class shared_array {
    static_assert(std::is_trivially_copyable_v<T>, "shared_array<T>: T is shared between processes byte for byte");

public:
    using value_type = T;
    using size_type = std::size_t;

    /// Slices on the node of this rank's runtime (its workers' one node; not
    /// bound when they span several).
    shared_array(const communicator& node, std::size_t n, const runtime& rt)
        : shared_array(node, n, on_os_node{detail::single_node(os_nodes_of(rt))}) {}
    /// Slices on the node of this rank's allowed CPUs (not bound when they span several).
    shared_array(const communicator& node, std::size_t n)
        : shared_array(node, n, on_os_node{detail::single_node(os_nodes_of(topology::host()))}) {}

    /// Slices on kernel node `where.node` (-1: not bound, first touch decides).
    /// Collective; throws mpi_error naming the failed call.
    shared_array(const communicator& node, std::size_t n, on_os_node where)
        : m_n(n), m_ranks(node.size()), m_window(node.get(), slice_bytes(node.rank(), m_ranks, n), where.node) {
        // The owner touches its slice first: value-initialise it here, after the binding.
        std::span<T> mine = local();
        for (T& x : mine) {
            ::new (static_cast<void*>(&x)) T();
        }
        lock_all_epoch epoch(m_window.win(), m_window.comm());
        epoch.barrier();
    }

    shared_array(const shared_array&) = delete;
    shared_array& operator=(const shared_array&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return m_n; }
    [[nodiscard]] int rank() const noexcept { return m_window.rank(); }
    [[nodiscard]] int ranks() const noexcept { return m_ranks; }

    /// First global index of `rank`'s slice.
    [[nodiscard]] std::size_t begin_of(int rank) const noexcept { return first_index(rank, m_ranks, m_n); }
    /// The rank whose slice holds global index i.
    [[nodiscard]] int owner(std::size_t i) const noexcept {
        // r*n/k <= i < (r+1)*n/k: start from the even estimate and step.
        auto k = static_cast<std::size_t>(m_ranks);
        auto r = static_cast<int>(m_n == 0 ? 0 : std::min(i / (m_n / k + 1) , k - 1));
        while (r > 0 && first_index(r, m_ranks, m_n) > i) {
            --r;
        }
        while (r + 1 < m_ranks && first_index(r + 1, m_ranks, m_n) <= i) {
            ++r;
        }
        return r;
    }

    /// This rank's slice.
    [[nodiscard]] std::span<T> local() noexcept { return slice(rank()); }
    [[nodiscard]] std::span<const T> local() const noexcept { return slice(rank()); }
    /// Any rank's slice, through the shared memory.
    [[nodiscard]] std::span<T> slice(int r) noexcept {
        return {static_cast<T*>(m_window.base(r)), m_window.bytes(r) / sizeof(T)};
    }
    [[nodiscard]] std::span<const T> slice(int r) const noexcept {
        return {static_cast<const T*>(m_window.base(r)), m_window.bytes(r) / sizeof(T)};
    }

    /// Element i of the host's array (any rank's slice). No bounds check.
    [[nodiscard]] T& operator[](std::size_t i) noexcept {
        int r = owner(i);
        return static_cast<T*>(m_window.base(r))[i - begin_of(r)];
    }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
        int r = owner(i);
        return static_cast<const T*>(m_window.base(r))[i - begin_of(r)];
    }
    /// As operator[], but throws index_error past the end.
    [[nodiscard]] T& at(std::size_t i) {
        if (i >= m_n) {
            throw index_error("shared_array::at: index " + std::to_string(i) + " is past the end (size " +
                              std::to_string(m_n) + ")");
        }
        return (*this)[i];
    }

    /// A passive-target epoch for direct loads and stores (see lock_all_epoch).
    [[nodiscard]] lock_all_epoch lock_all() const { return lock_all_epoch(m_window.win(), m_window.comm()); }
    /// An active-target epoch (see fence_epoch).
    [[nodiscard]] fence_epoch fence() const { return fence_epoch(m_window.win()); }

    [[nodiscard]] MPI_Win window() const noexcept { return m_window.win(); }
    /// The target displacement (bytes, the window's unit) of element `j` of
    /// `rank`'s slice, for MPI_Put/MPI_Get on window().
    [[nodiscard]] MPI_Aint displacement(int r, std::size_t j = 0) const noexcept {
        return m_window.offset(r) + static_cast<MPI_Aint>(j * sizeof(T));
    }
    /// Where this rank's slice was bound, and why not when it was not.
    [[nodiscard]] const placement_report& placement() const noexcept { return m_window.placement(); }
    /// The kernel node of each page of `rank`'s slice now (move_pages); -1
    /// for a page not yet touched. For another rank's slice, each page is
    /// read once first, so that this process maps it (a read of a page that
    /// its owner never touched allocates it under the slice's binding).
    [[nodiscard]] std::vector<int> page_os_nodes(int r) const { return m_window.page_os_nodes(r); }

private:
    static std::size_t first_index(int r, int k, std::size_t n) noexcept {
        // r*n/k without overflow for any n a process can hold.
        auto rr = static_cast<std::size_t>(r);
        auto kk = static_cast<std::size_t>(k);
        return (n / kk) * rr + (n % kk) * rr / kk;
    }
    static std::size_t slice_bytes(int r, int k, std::size_t n) {
        std::size_t count = first_index(r + 1, k, n) - first_index(r, k, n);
        if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
            throw topos::error("shared_array: " + std::to_string(n) + " elements of " + std::to_string(sizeof(T)) +
                               " bytes overflow the address space");
        }
        return count * sizeof(T);
    }

    std::size_t m_n;
    int m_ranks;
    detail::shared_window m_window;
};

} // namespace topos::mpi
