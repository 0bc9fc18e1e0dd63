// mpi/mpi.cpp - the topos::mpi component: environment, communicators, the
// rank map and the NUMA-placed shared windows (see topos/mpi.hpp).
#include <topos/mpi.hpp>

#include "os/memory.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <unistd.h>

namespace topos::mpi {

namespace {

std::string error_text(int code) {
    std::array<char, MPI_MAX_ERROR_STRING> text{};
    int len = 0;
    if (MPI_Error_string(code, text.data(), &len) != MPI_SUCCESS) {
        return "MPI error code " + std::to_string(code);
    }
    return std::string(text.data(), static_cast<std::size_t>(len));
}

void return_errors(MPI_Comm comm) { check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"); }

std::size_t page_size() {
    long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : 4096;
}

// The colour of a node set for MPI_Comm_split: equal sets, equal colours,
// among the ranks of one host. The sets are gathered and each rank takes the
// index of the first rank that has its set.
int colour_of(const std::vector<int>& nodes, MPI_Comm host) {
    constexpr std::size_t words = os::k_node_mask_bits / 64;
    std::array<std::uint64_t, words> mine{};
    for (int n : nodes) {
        auto u = static_cast<std::size_t>(n);
        mine[u / 64] |= std::uint64_t{1} << (u % 64);
    }
    int size = 0;
    check(MPI_Comm_size(host, &size), "MPI_Comm_size");
    std::vector<std::uint64_t> all(words * static_cast<std::size_t>(size));
    check(MPI_Allgather(mine.data(), static_cast<int>(words), MPI_UINT64_T, all.data(), static_cast<int>(words),
                        MPI_UINT64_T, host),
          "MPI_Allgather");
    for (int r = 0; r < size; ++r) {
        if (std::equal(mine.begin(), mine.end(), all.begin() + static_cast<std::ptrdiff_t>(words) * r)) {
            return r;
        }
    }
    return 0; // unreachable: this rank's own set is among them
}

communicator numa_comm_of(const std::vector<int>& nodes, MPI_Comm parent) {
    communicator host = node_comm(parent);
    int colour = colour_of(nodes, host.get());
    int rank = 0;
    check(MPI_Comm_rank(parent, &rank), "MPI_Comm_rank");
    MPI_Comm out = MPI_COMM_NULL;
    check(MPI_Comm_split(host.get(), colour, rank, &out), "MPI_Comm_split");
    communicator result(out, true);
    return_errors(out);
    return result;
}

} // namespace

void check(int rc, const char* call) {
    if (rc != MPI_SUCCESS) {
        throw mpi_error(call, rc, std::string(call) + " failed: " + error_text(rc));
    }
}

std::string_view to_string(threading level) noexcept {
    switch (level) {
    case threading::single: return "single";
    case threading::funneled: return "funneled";
    case threading::serialized: return "serialized";
    case threading::multiple: return "multiple";
    }
    return "unknown";
}

int to_mpi(threading level) noexcept {
    switch (level) {
    case threading::single: return MPI_THREAD_SINGLE;
    case threading::funneled: return MPI_THREAD_FUNNELED;
    case threading::serialized: return MPI_THREAD_SERIALIZED;
    case threading::multiple: return MPI_THREAD_MULTIPLE;
    }
    return MPI_THREAD_SINGLE;
}

threading from_mpi(int level) {
    if (level == MPI_THREAD_SINGLE) {
        return threading::single;
    }
    if (level == MPI_THREAD_FUNNELED) {
        return threading::funneled;
    }
    if (level == MPI_THREAD_SERIALIZED) {
        return threading::serialized;
    }
    if (level == MPI_THREAD_MULTIPLE) {
        return threading::multiple;
    }
    throw mpi_error("MPI_Init_thread", MPI_SUCCESS,
                    "MPI_Init_thread: unknown thread level " + std::to_string(level) +
                        "; expected MPI_THREAD_SINGLE, _FUNNELED, _SERIALIZED or _MULTIPLE");
}

void detail::require_level(threading required, threading provided) {
    if (static_cast<int>(provided) < static_cast<int>(required)) {
        throw mpi_error("MPI_Init_thread", MPI_SUCCESS,
                        "MPI_Init_thread: asked for thread level '" + std::string(to_string(required)) +
                            "', this MPI provides only '" + std::string(to_string(provided)) + "'");
    }
}

// ---- environment ------------------------------------------------------------

environment::environment(threading required) { init(nullptr, nullptr, required); }

environment::environment(int& argc, char**& argv, threading required) { init(&argc, &argv, required); }

void environment::init(int* argc, char*** argv, threading required) {
    int done = 0;
    check(MPI_Finalized(&done), "MPI_Finalized");
    if (done != 0) {
        throw mpi_error("MPI_Init_thread", MPI_SUCCESS,
                        "MPI_Init_thread: MPI was already finalized in this process; it cannot start again");
    }
    check(MPI_Initialized(&done), "MPI_Initialized");
    if (done != 0) {
        throw mpi_error("MPI_Init_thread", MPI_SUCCESS,
                        "MPI_Init_thread: MPI is already initialized in this process; make one environment");
    }
    int provided = MPI_THREAD_SINGLE;
    check(MPI_Init_thread(argc, argv, to_mpi(required), &provided), "MPI_Init_thread");
    try {
        return_errors(MPI_COMM_WORLD);
        m_provided = from_mpi(provided);
        detail::require_level(required, m_provided);
    } catch (...) {
        MPI_Finalize();
        throw;
    }
}

environment::~environment() {
    int done = 0;
    if (MPI_Finalized(&done) == MPI_SUCCESS && done == 0) {
        MPI_Finalize();
    }
}

bool environment::initialized() noexcept {
    int init = 0;
    int fin = 0;
    return MPI_Initialized(&init) == MPI_SUCCESS && MPI_Finalized(&fin) == MPI_SUCCESS && init != 0 && fin == 0;
}

// ---- communicators ----------------------------------------------------------

communicator& communicator::operator=(communicator&& other) noexcept {
    if (this != &other) {
        if (m_owned && m_comm != MPI_COMM_NULL) {
            MPI_Comm_free(&m_comm);
        }
        m_comm = std::exchange(other.m_comm, MPI_COMM_NULL);
        m_owned = std::exchange(other.m_owned, false);
    }
    return *this;
}

communicator::~communicator() {
    if (m_owned && m_comm != MPI_COMM_NULL && environment::initialized()) {
        MPI_Comm_free(&m_comm);
    }
}

int communicator::rank() const {
    int r = 0;
    check(MPI_Comm_rank(m_comm, &r), "MPI_Comm_rank");
    return r;
}

int communicator::size() const {
    int s = 0;
    check(MPI_Comm_size(m_comm, &s), "MPI_Comm_size");
    return s;
}

void communicator::barrier() const { check(MPI_Barrier(m_comm), "MPI_Barrier"); }

communicator world() noexcept { return communicator(MPI_COMM_WORLD, false); }

communicator node_comm(MPI_Comm parent) {
    int rank = 0;
    check(MPI_Comm_rank(parent, &rank), "MPI_Comm_rank");
    MPI_Comm out = MPI_COMM_NULL;
    check(MPI_Comm_split_type(parent, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &out), "MPI_Comm_split_type");
    communicator result(out, true);
    return_errors(out);
    return result;
}

std::vector<int> os_nodes_of(const topology& topo) {
    std::vector<int> out;
    for (const auto& node : topo.numa_nodes()) {
        if (!node.pus.empty()) {
            out.push_back(node.os_index);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<int> os_nodes_of(const runtime& rt) {
    std::vector<int> logical = rt.nodes();
    if (logical.empty()) {
        return os_nodes_of(rt.topology());
    }
    auto nodes = rt.topology().numa_nodes();
    std::vector<int> out;
    for (int id : logical) {
        out.push_back(nodes[static_cast<std::size_t>(id)].os_index);
    }
    std::sort(out.begin(), out.end());
    return out;
}

communicator numa_comm(const runtime& rt, MPI_Comm parent) { return numa_comm_of(os_nodes_of(rt), parent); }

communicator numa_comm(const topology& topo, MPI_Comm parent) { return numa_comm_of(os_nodes_of(topo), parent); }

// ---- rank map -----------------------------------------------------------------

rank_map rank_map::gather(const runtime& rt, MPI_Comm comm) { return gather_nodes(os_nodes_of(rt), comm); }

rank_map rank_map::gather(const topology& topo, MPI_Comm comm) { return gather_nodes(os_nodes_of(topo), comm); }

rank_map rank_map::gather_nodes(std::vector<int> os_nodes, MPI_Comm comm) {
    int size = 0;
    check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    communicator host = node_comm(comm);
    // One fixed-size record per rank: the host name, the local rank, the node count, the nodes.
    constexpr int k_max_nodes_sent = 64;
    struct record {
        std::array<char, MPI_MAX_PROCESSOR_NAME> name;
        std::array<int, 2 + k_max_nodes_sent> ints;
    };
    record mine{};
    int len = 0;
    check(MPI_Get_processor_name(mine.name.data(), &len), "MPI_Get_processor_name");
    mine.ints[0] = host.rank();
    int count = std::min(static_cast<int>(os_nodes.size()), k_max_nodes_sent);
    mine.ints[1] = count;
    for (int i = 0; i < count; ++i) {
        mine.ints[static_cast<std::size_t>(2 + i)] = os_nodes[static_cast<std::size_t>(i)];
    }
    std::vector<record> all(static_cast<std::size_t>(size));
    check(MPI_Allgather(&mine, static_cast<int>(sizeof(record)), MPI_BYTE, all.data(), static_cast<int>(sizeof(record)),
                        MPI_BYTE, comm),
          "MPI_Allgather");
    rank_map map;
    for (int r = 0; r < size; ++r) {
        const record& rec = all[static_cast<std::size_t>(r)];
        rank_info info;
        info.rank = r;
        info.host.assign(rec.name.data(), strnlen(rec.name.data(), rec.name.size()));
        info.local_rank = rec.ints[0];
        for (int i = 0; i < rec.ints[1]; ++i) {
            info.os_nodes.push_back(rec.ints[static_cast<std::size_t>(2 + i)]);
        }
        map.m_ranks.push_back(std::move(info));
    }
    return map;
}

const rank_info& rank_map::at(int rank) const {
    if (rank < 0 || static_cast<std::size_t>(rank) >= m_ranks.size()) {
        throw index_error("rank_map::at: rank " + std::to_string(rank) + " is not in the communicator (size " +
                          std::to_string(m_ranks.size()) + ")");
    }
    return m_ranks[static_cast<std::size_t>(rank)];
}

std::vector<std::string> rank_map::hosts() const {
    std::vector<std::string> out;
    for (const auto& info : m_ranks) {
        if (std::find(out.begin(), out.end(), info.host) == out.end()) {
            out.push_back(info.host);
        }
    }
    return out;
}

std::vector<int> rank_map::ranks_on(std::string_view host) const {
    std::vector<int> out;
    for (const auto& info : m_ranks) {
        if (info.host == host) {
            out.push_back(info.rank);
        }
    }
    return out;
}

// ---- epochs -------------------------------------------------------------------

fence_epoch::fence_epoch(MPI_Win win) : m_win(win) { check(MPI_Win_fence(0, m_win), "MPI_Win_fence"); }

fence_epoch::~fence_epoch() { MPI_Win_fence(MPI_MODE_NOSUCCEED, m_win); }

void fence_epoch::fence() { check(MPI_Win_fence(0, m_win), "MPI_Win_fence"); }

lock_all_epoch::lock_all_epoch(MPI_Win win, MPI_Comm comm) : m_win(win), m_comm(comm) {
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, m_win), "MPI_Win_lock_all");
}

lock_all_epoch::~lock_all_epoch() { MPI_Win_unlock_all(m_win); }

void lock_all_epoch::sync() { check(MPI_Win_sync(m_win), "MPI_Win_sync"); }

void lock_all_epoch::barrier() {
    sync();
    check(MPI_Barrier(m_comm), "MPI_Barrier");
    sync();
}

// ---- shared windows -------------------------------------------------------------

detail::shared_window::shared_window(MPI_Comm node, std::size_t bytes, int os_node) {
    int size = 0;
    check(MPI_Comm_size(node, &size), "MPI_Comm_size");
    check(MPI_Comm_rank(node, &m_rank), "MPI_Comm_rank");
    check(MPI_Comm_dup(node, &m_comm), "MPI_Comm_dup");
    try {
        return_errors(m_comm);
        // Each slice on pages of its own, so that binding one rank's slice
        // leaves the others' pages alone: a whole number of pages per rank,
        // one more page so the slice can start on a page boundary (Open MPI
        // puts a header in front of the first slice), and no padding between
        // ranks' parts (alloc_shared_noncontig). A part's offset inside the
        // segment is the same in every process, and so is its alignment.
        const std::size_t page = page_size();
        std::size_t rounded = (bytes + page - 1) / page * page;
        std::size_t asked = rounded == 0 ? 0 : rounded + page;
        if (asked > static_cast<std::size_t>(std::numeric_limits<MPI_Aint>::max()) || asked < bytes) {
            throw mpi_error("MPI_Win_allocate_shared", MPI_SUCCESS,
                            "MPI_Win_allocate_shared: a slice of " + std::to_string(bytes) + " bytes is too large");
        }
        MPI_Info info = MPI_INFO_NULL;
        check(MPI_Info_create(&info), "MPI_Info_create");
        MPI_Info_set(info, "alloc_shared_noncontig", "true");
        void* base = nullptr;
        int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(asked), 1, info, m_comm, &base, &m_win);
        MPI_Info_free(&info);
        check(rc, "MPI_Win_allocate_shared");
        check(MPI_Win_set_errhandler(m_win, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");

        m_bytes.resize(static_cast<std::size_t>(size));
        unsigned long long mine = bytes;
        std::vector<unsigned long long> all(static_cast<std::size_t>(size));
        check(MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, m_comm),
              "MPI_Allgather");
        m_bases.resize(static_cast<std::size_t>(size));
        m_offsets.resize(static_cast<std::size_t>(size));
        for (int r = 0; r < size; ++r) {
            MPI_Aint got = 0;
            int unit = 0;
            void* rbase = nullptr;
            check(MPI_Win_shared_query(m_win, r, &got, &unit, &rbase), "MPI_Win_shared_query");
            auto addr = reinterpret_cast<std::uintptr_t>(rbase);
            m_bases[static_cast<std::size_t>(r)] = reinterpret_cast<void*>((addr + page - 1) / page * page);
            m_offsets[static_cast<std::size_t>(r)] = static_cast<MPI_Aint>((addr + page - 1) / page * page - addr);
            m_bytes[static_cast<std::size_t>(r)] = static_cast<std::size_t>(all[static_cast<std::size_t>(r)]);
        }

        // Bind this rank's pages before its first touch (the caller
        // initialises the slice after this).
        void* own = m_bases[static_cast<std::size_t>(m_rank)];
        if (os_node < 0) {
            m_placement.note = "this rank's CPUs span several NUMA nodes (or none is known): its slice is not bound";
        } else if (rounded == 0) {
            m_placement.os_node = os_node;
            m_placement.note = "this rank's slice is empty";
        } else if (static_cast<std::size_t>(os_node) >= os::k_node_mask_bits) {
            m_placement.note = "kernel node " + std::to_string(os_node) + " is beyond the kernel's node mask";
        } else {
            os::node_mask mask{};
            os::add_to_mask(mask, static_cast<std::size_t>(os_node));
            int err = os::bind_range(own, rounded, os::mem_mode::bind, mask);
            if (err == 0) {
                m_placement.os_node = os_node;
                m_placement.bound = true;
            } else {
                m_placement.note = std::string("mbind of this rank's slice to kernel node ") +
                                   std::to_string(os_node) + " was refused: " + std::strerror(err);
            }
        }
    } catch (...) {
        if (m_win != MPI_WIN_NULL) {
            MPI_Win_free(&m_win);
        }
        MPI_Comm_free(&m_comm);
        throw;
    }
}

detail::shared_window::~shared_window() {
    if (!environment::initialized()) {
        return;
    }
    if (m_win != MPI_WIN_NULL) {
        MPI_Win_free(&m_win);
    }
    if (m_comm != MPI_COMM_NULL) {
        MPI_Comm_free(&m_comm);
    }
}

std::vector<int> detail::shared_window::page_os_nodes(int rank) const {
    if (rank < 0 || rank >= size()) {
        throw index_error("shared_array::page_os_nodes: rank " + std::to_string(rank) + " is not in the window (" +
                          std::to_string(size()) + " ranks)");
    }
    const std::size_t page = page_size();
    auto start = reinterpret_cast<std::uintptr_t>(base(rank)) / page * page;
    std::size_t n = bytes(rank);
    if (n == 0) {
        return {};
    }
    auto end = reinterpret_cast<std::uintptr_t>(base(rank)) + n;
    // move_pages sees only pages mapped in this process: another rank's
    // pages are shared but not yet faulted in here, so read one byte of
    // each first (a read maps the page the owner placed; it moves nothing).
    std::vector<void*> pages;
    for (std::uintptr_t a = start; a < end; a += page) {
        pages.push_back(reinterpret_cast<void*>(a));
        if (rank != m_rank) {
            (void)*static_cast<const volatile unsigned char*>(pages.back());
        }
    }
    std::vector<int> status(pages.size(), -1);
    int err = os::page_nodes(pages.data(), pages.size(), status.data());
    if (err != 0) {
        throw topos::error(std::string("shared_array::page_os_nodes: move_pages failed: ") + std::strerror(err));
    }
    for (int& s : status) {
        if (s < 0) {
            s = -1;
        }
    }
    return status;
}

} // namespace topos::mpi
