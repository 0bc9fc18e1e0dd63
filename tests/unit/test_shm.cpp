// Shared segments: create/open/remove for both APIs, every refusal with its
// typed code and nothing left behind, header validation (foreign, wrong
// version, truncated, not yet ready), offset pointers across two mappings at
// different addresses, and the in-segment heap against an oracle and from
// two processes at once.
#include "../shm/shm_test_layout.hpp"
#include "../shm/shm_test_support.hpp"

#include <topos/memory.hpp>
#include <topos/shm.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace topos;
using topos::test::child_process;
using topos::test::shm_test;

constexpr auto k_no_wait = std::chrono::milliseconds(0);

static_assert(!std::is_copy_constructible_v<shared_segment> && !std::is_copy_assignable_v<shared_segment>);
static_assert(std::is_nothrow_move_constructible_v<shared_segment> && std::is_nothrow_move_assignable_v<shared_segment>);

// Runs `fn` and returns the shm_errc it threw (system when it threw nothing).
template <class F>
shm_errc code_of(F fn) {
    try {
        fn();
    } catch (const shm_error& e) {
        EXPECT_FALSE(std::string(e.what()).empty());
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        return e.code();
    }
    ADD_FAILURE() << "no shm_error was thrown";
    return shm_errc::system;
}

// A POSIX object made without topos, holding `bytes` of `fill`.
void make_foreign(const std::string& name, std::size_t bytes, unsigned char fill) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
    if (fill != 0) {
        std::vector<unsigned char> data(bytes, fill);
        ASSERT_EQ(::pwrite(fd, data.data(), bytes, 0), static_cast<ssize_t>(bytes));
    }
    ::close(fd);
}

open_options opts(shm_api api, std::size_t expected = 0) {
    open_options o;
    o.api = api;
    o.expected_size = expected;
    return o;
}

shm_options create_opts(shm_api api) {
    shm_options o;
    o.api = api;
    return o;
}

class ShmApiTest : public shm_test, public ::testing::WithParamInterface<shm_api> {};

INSTANTIATE_TEST_SUITE_P(Both, ShmApiTest, ::testing::Values(shm_api::posix, shm_api::sysv),
                         [](const auto& p) { return p.param == shm_api::posix ? "posix" : "sysv"; });

TEST_P(ShmApiTest, CreateOpenShareAndRemove) {
    const std::string name = unique_name("basic");
    shared_segment a = shared_segment::create(name, 100000, create_opts(GetParam()));
    ASSERT_TRUE(a.valid());
    EXPECT_EQ(a.size(), 100000U);
    EXPECT_EQ(a.name(), name);
    EXPECT_EQ(a.api(), GetParam());
    EXPECT_TRUE(a.is_creator());
    EXPECT_EQ(a.creator_pid(), ::getpid());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 4096, 0U);
    if (GetParam() == shm_api::sysv) {
        EXPECT_EQ(a.sysv_key(), sysv_key_of(name));
        EXPECT_GE(a.sysv_id(), 0);
    }
    auto* bytes = static_cast<unsigned char*>(a.data());
    EXPECT_TRUE(std::all_of(bytes, bytes + a.size(), [](unsigned char c) { return c == 0; }));
    for (std::size_t i = 0; i < a.size(); ++i) {
        bytes[i] = static_cast<unsigned char>(i * 7 + 3);
    }

    shared_segment b = shared_segment::open(name, opts(GetParam(), 100000));
    EXPECT_FALSE(b.is_creator());
    EXPECT_NE(b.data(), a.data()) << "a second mapping lands elsewhere";
    EXPECT_EQ(b.size(), a.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0);
    static_cast<unsigned char*>(b.data())[5] = 0xAB;
    EXPECT_EQ(bytes[5], 0xAB);

    a.unlink();
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name, opts(GetParam())); }), shm_errc::not_found);
    bytes[6] = 0xCD; // both mappings stay usable after the name is gone
    EXPECT_EQ(static_cast<unsigned char*>(b.data())[6], 0xCD);
    EXPECT_EQ(code_of([&] { shared_segment::remove(name, GetParam()); }), shm_errc::not_found);
    EXPECT_FALSE(shared_segment::remove_if_exists(name, GetParam()));
}

TEST_P(ShmApiTest, MovedHandleOwnsTheMapping) {
    const std::string name = unique_name("move");
    shared_segment a = shared_segment::create(name, 4096, create_opts(GetParam()));
    void* data = a.data();
    shared_segment b(std::move(a));
    EXPECT_FALSE(a.valid()); // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(b.data(), data);
    shared_segment c;
    c = std::move(b);
    EXPECT_EQ(c.data(), data);
    static_cast<char*>(c.data())[0] = 1;
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, RemoveOnCreatorExit) {
    const std::string name = unique_name("autorm");
    shm_options o = create_opts(GetParam());
    o.remove_on_creator_exit = true;
    {
        shared_segment a = shared_segment::create(name, 8192, o);
        shared_segment opener = shared_segment::open(name, opts(GetParam()));
        shared_segment moved = std::move(a);
        EXPECT_NO_THROW((void)shared_segment::open(name, opts(GetParam())));
    }
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name, opts(GetParam())); }), shm_errc::not_found);
}

TEST_P(ShmApiTest, ExclusiveCreateRefusesAndReplaceStartsFresh) {
    const std::string name = unique_name("excl");
    shared_segment first = shared_segment::create(name, 4096, create_opts(GetParam()));
    static_cast<char*>(first.data())[0] = 'x';
    EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, 4096, create_opts(GetParam())); }), shm_errc::exists);
    EXPECT_EQ(static_cast<char*>(shared_segment::open(name, opts(GetParam())).data())[0], 'x') << "left untouched";

    shm_options replace = create_opts(GetParam());
    replace.exclusive = false;
    shared_segment second = shared_segment::create(name, 8192, replace);
    EXPECT_EQ(static_cast<char*>(first.data())[0], 'x') << "the old mapping keeps the old memory";
    const shared_segment reopened = shared_segment::open(name, opts(GetParam()));
    EXPECT_EQ(reopened.size(), 8192U);
    EXPECT_EQ(static_cast<char*>(reopened.data())[0], 0);
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, BadNamesAreRefusedAndMakeNothing) {
    const std::vector<std::string> bad_names = {std::string(), std::string("plain"), std::string("/"),
                                                std::string("/a/b"), std::string("/."), std::string("/.."),
                                                "/" + std::string(255, 'n'), std::string("/nul\0x", 6)};
    const auto keys_before = topos::test::sysv_keys();
    for (const std::string& bad : bad_names) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(code_of([&] { (void)shared_segment::create(bad, 4096, create_opts(GetParam())); }),
                  shm_errc::invalid_name);
        EXPECT_EQ(code_of([&] { (void)shared_segment::open(bad, opts(GetParam())); }), shm_errc::invalid_name);
    }
    // What shm_open would have made of them had they not been refused.
    for (const std::string& made : {std::string("plain"), std::string(255, 'n'), std::string("nul")}) {
        EXPECT_NE(::access(("/dev/shm/" + made).c_str(), F_OK), 0) << made << " was made";
    }
    for (const std::string& bad : bad_names) {
        EXPECT_EQ(keys_before.count(sysv_key_of(bad)), topos::test::sysv_keys().count(sysv_key_of(bad))) << bad;
    }
    // The longest name accepted: NAME_MAX characters with the slash.
    const std::string longest = unique_name("") + std::string(255 - unique_name("").size(), 'L');
    EXPECT_EQ(longest.size(), 255U);
    (void)shared_segment::create(longest, 4096, create_opts(GetParam()));
    shared_segment::remove(longest, GetParam());
}

TEST_P(ShmApiTest, BadSizesAreRefusedAndMakeNothing) {
    const std::string name = unique_name("size");
    const auto keys_before = topos::test::sysv_keys();
    EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, 0, create_opts(GetParam())); }), shm_errc::invalid_size);
    EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, k_max_segment_bytes + 1, create_opts(GetParam())); }),
              shm_errc::invalid_size);
    EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, SIZE_MAX, create_opts(GetParam())); }),
              shm_errc::invalid_size);
    // Within topos's limit but more than the machine has.
    const shm_errc huge = code_of([&] { (void)shared_segment::create(name, k_max_segment_bytes, create_opts(GetParam())); });
    EXPECT_TRUE(huge == shm_errc::no_memory || huge == shm_errc::invalid_size) << to_string(huge);
    EXPECT_FALSE(shared_segment::remove_if_exists(name, GetParam()));
    EXPECT_EQ(topos::test::sysv_keys().count(sysv_key_of(name)), keys_before.count(sysv_key_of(name)));
}

TEST_P(ShmApiTest, BadOptionsAreRefused) {
    const std::string name = unique_name("opt");
    shm_options o = create_opts(GetParam());
    o.mode = 01777;
    EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, 4096, o); }), shm_errc::invalid_argument);
    if (GetParam() == shm_api::sysv) {
        o = create_opts(GetParam());
        o.sysv_key = 0;
        EXPECT_EQ(code_of([&] { (void)shared_segment::create(name, 4096, o); }), shm_errc::invalid_argument);
    }
    EXPECT_FALSE(shared_segment::remove_if_exists(name, GetParam()));
}

TEST_P(ShmApiTest, ModeIsAppliedExactly) {
    const std::string name = unique_name("mode");
    const mode_t old_mask = ::umask(077);
    shm_options o = create_opts(GetParam());
    o.mode = 0640;
    const shared_segment seg = shared_segment::create(name, 4096, o);
    ::umask(old_mask);
    unsigned mode = 0;
    if (GetParam() == shm_api::posix) {
        struct stat st {};
        ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &st), 0);
        mode = st.st_mode & 0777U;
    } else {
        shmid_ds ds{};
        ASSERT_EQ(::shmctl(seg.sysv_id(), IPC_STAT, &ds), 0);
        mode = ds.shm_perm.mode & 0777U;
    }
    EXPECT_EQ(mode, 0640U);
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, OpenChecksTheSizeAskedFor) {
    const std::string name = unique_name("expect");
    const shared_segment seg = shared_segment::create(name, 5000, create_opts(GetParam()));
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name, opts(GetParam(), 4096)); }), shm_errc::size_mismatch);
    EXPECT_EQ(shared_segment::open(name, opts(GetParam(), 5000)).size(), 5000U);
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, ReadOnlyOpenSeesTheData) {
    const std::string name = unique_name("ro");
    const shared_segment seg = shared_segment::create(name, 4096, create_opts(GetParam()));
    std::strcpy(static_cast<char*>(seg.data()), "written");
    open_options o = opts(GetParam());
    o.read_only = true;
    const shared_segment ro = shared_segment::open(name, o);
    EXPECT_STREQ(static_cast<const char*>(ro.data()), "written");
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, PagesAreAbsentUntilTouched) {
    const std::string name = unique_name("pages");
    shm_options o = create_opts(GetParam());
    o.policy = mem_policy::on_node(0);
    const shared_segment seg = shared_segment::create(name, 8 * 4096, o);
    auto nodes = seg.page_nodes();
    ASSERT_EQ(nodes.size(), 8U);
    EXPECT_TRUE(std::all_of(nodes.begin(), nodes.end(), [](int n) { return n == -1; }));
    static_cast<char*>(seg.data())[2 * 4096] = 1;
    static_cast<char*>(seg.data())[5 * 4096] = 1;
    nodes = seg.page_nodes();
    EXPECT_EQ(nodes[2], 0);
    EXPECT_EQ(nodes[5], 0);
    EXPECT_EQ(std::count(nodes.begin(), nodes.end(), -1), 6);
    // A second mapping that never touched them still finds the resident pages.
    const auto other = shared_segment::open(name, opts(GetParam())).page_nodes();
    EXPECT_EQ(other, nodes);
    shared_segment::remove(name, GetParam());
}

// The allocator's page operations accept a live segment's pages, and only
// ranges that stay inside it.
TEST_P(ShmApiTest, MemoryPageOperationsWorkOnASegment) {
    const std::string name = unique_name("pageops");
    shm_options o = create_opts(GetParam());
    o.policy = mem_policy::on_node(0);
    const shared_segment seg = shared_segment::create(name, 8 * 4096, o);
    static_cast<char*>(seg.data())[3 * 4096] = 1;
    const auto nodes = topos::page_nodes(seg.data(), seg.size());
    ASSERT_EQ(nodes.size(), 8U);
    EXPECT_EQ(nodes[3], 0);
    EXPECT_NO_THROW(topos::set_mem_policy(seg.data(), seg.size(), mem_policy::on_node(0)));
    EXPECT_NO_THROW((void)topos::migrate(seg.data(), 4096, 0));
    EXPECT_THROW((void)topos::page_nodes(seg.data(), seg.size() + 64 * 4096), topos::memory_error);
    EXPECT_THROW((void)topos::page_nodes(static_cast<char*>(seg.data()) + 1, 4096), topos::memory_error);
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, WrongVersionIsRefused) {
    const std::string name = unique_name("version");
    const shared_segment seg = shared_segment::create(name, 4096, create_opts(GetParam()));
    // The version field sits at byte 8 of the header (documented layout).
    std::uint32_t version = 99;
    std::memcpy(static_cast<char*>(seg.data()) - k_segment_header_bytes + 8, &version, sizeof version);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name, opts(GetParam())); }), shm_errc::wrong_version);
    shared_segment::remove(name, GetParam());
}

TEST_P(ShmApiTest, HeaderWithoutMagicIsNotReady) {
    const std::string name = unique_name("notready");
    const shared_segment seg = shared_segment::create(name, 4096, create_opts(GetParam()));
    const std::uint64_t zero = 0;
    std::memcpy(static_cast<char*>(seg.data()) - k_segment_header_bytes, &zero, sizeof zero);
    open_options o = opts(GetParam());
    o.ready_timeout = std::chrono::milliseconds(30);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name, o); }), shm_errc::not_ready);
    shared_segment::remove(name, GetParam());
}

class ShmPosixTest : public shm_test {};

TEST_F(ShmPosixTest, ForeignObjectsAreNotTopos) {
    const std::string garbage = unique_name("garbage");
    make_foreign(garbage, 8192, 0x5A);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(garbage); }), shm_errc::not_topos);
    const std::string small = unique_name("small");
    make_foreign(small, 100, 0x5A);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(small); }), shm_errc::not_topos);
    // Zero bytes (or zero-filled): a creator may still be at work, so open waits, then says so.
    const std::string empty = unique_name("empty");
    make_foreign(empty, 0, 0);
    open_options o;
    o.ready_timeout = std::chrono::milliseconds(20);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(empty, o); }), shm_errc::not_ready);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open_raw(empty); }), shm_errc::invalid_size);

    const shared_segment raw = shared_segment::open_raw(garbage);
    EXPECT_TRUE(raw.is_raw());
    EXPECT_EQ(raw.size(), 8192U);
    EXPECT_EQ(static_cast<unsigned char*>(raw.data())[8191], 0x5A);
    for (const auto& n : {garbage, small, empty}) {
        shared_segment::remove(n);
    }
}

TEST_F(ShmPosixTest, TruncatedSegmentsAreNeverMapped) {
    const std::string name = unique_name("trunc");
    const shared_segment seg = shared_segment::create(name, 64 * 1024);
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(k_segment_header_bytes + 4096)), 0);
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name); }), shm_errc::truncated);
    ASSERT_EQ(::ftruncate(fd, 100), 0); // shorter than the header itself
    EXPECT_EQ(code_of([&] { (void)shared_segment::open(name); }), shm_errc::truncated);
    ::close(fd);
    shared_segment::remove(name);
}

TEST_F(ShmPosixTest, FailedCreateRemovesWhatItMade) {
    const std::string name = unique_name("limited");
    child_process peer({TOPOS_SHM_PEER, "create-limited", name});
    EXPECT_EQ(peer.wait(), 0);
}

TEST_F(ShmPosixTest, UnlinkLeavesANewerObjectOfTheSameNameAlone) {
    const std::string name = unique_name("newer");
    shared_segment old = shared_segment::create(name, 4096);
    shared_segment::remove(name);
    const shared_segment newer = shared_segment::create(name, 4096);
    old.unlink();
    EXPECT_NO_THROW((void)shared_segment::open(name));
    shared_segment::remove(name);
}

TEST_P(ShmApiTest, PermissionDeniedIsTyped) {
    const std::string name = unique_name("perm");
    shm_options o = create_opts(GetParam());
    o.mode = 0600;
    const shared_segment seg = shared_segment::create(name, 4096, o);
    // Another user (root drops to nobody in the peer) may not open it.
    child_process other({TOPOS_SHM_PEER, "open-denied", name, GetParam() == shm_api::sysv ? "sysv" : "posix"});
    EXPECT_EQ(other.wait(), 0) << "the peer did not get permission_denied";
    shared_segment::remove(name, GetParam());
}

class ShmSysvTest : public shm_test {};

TEST_F(ShmSysvTest, ExplicitKeyAndForeignSegments) {
    const std::int32_t key = unique_key();
    shm_options o = create_opts(shm_api::sysv);
    o.sysv_key = key;
    const std::string name = unique_name("keyed");
    {
        const shared_segment seg = shared_segment::create(name, 4096, o);
        EXPECT_EQ(seg.sysv_key(), key);
        open_options by_key = opts(shm_api::sysv);
        by_key.sysv_key = key;
        const shared_segment opened = shared_segment::open("", by_key);
        EXPECT_EQ(opened.name(), name) << "the name comes from the header";
        shared_segment::remove("", shm_api::sysv, key);
    }
    // A plain shmget segment: not topos, but open_raw maps it.
    const int id = ::shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(id, 0) << std::strerror(errno);
    void* p = ::shmat(id, nullptr, 0);
    ASSERT_NE(p, reinterpret_cast<void*>(-1));
    std::memset(p, 0x77, 8192);
    ::shmdt(p);
    open_options by_key = opts(shm_api::sysv);
    by_key.sysv_key = key;
    EXPECT_EQ(code_of([&] { (void)shared_segment::open("", by_key); }), shm_errc::not_topos);
    const shared_segment raw = shared_segment::open_raw("", by_key);
    EXPECT_EQ(raw.size(), 8192U);
    EXPECT_EQ(static_cast<unsigned char*>(raw.data())[4000], 0x77);
    shared_segment::remove("", shm_api::sysv, key);
}

TEST(ShmKey, StableDocumentedHash) {
    // FNV-1a 32-bit of the bytes, masked to 31 bits; fixed values keep it stable.
    EXPECT_EQ(sysv_key_of("/topos-demo"), 0x4b833e7d);
    EXPECT_EQ(sysv_key_of(""), static_cast<std::int32_t>(2166136261U & 0x7fffffffU));
    EXPECT_NE(sysv_key_of("/a"), sysv_key_of("/b"));
}

// ---- offset pointers and the heap ------------------------------------------------------

struct list_node {
    int value = 0;
    segment_ptr<list_node> next;
};

TEST_F(ShmPosixTest, OffsetPointersWorkAtAnyMappingAddress) {
    const std::string name = unique_name("ptr");
    shared_segment a = shared_segment::create(name, 64 * 1024);
    segment_heap heap(a);
    auto* head = heap.construct_named<segment_ptr<list_node>>("head");
    for (int i = 0; i < 10; ++i) {
        segment_ptr<list_node> n = heap.construct<list_node>();
        n->value = i;
        n->next = *head;
        *head = n;
    }
    const shared_segment b = shared_segment::open(name);
    ASSERT_NE(a.data(), b.data());
    segment_heap other(b);
    auto* head_b = other.find<segment_ptr<list_node>>("head");
    ASSERT_NE(head_b, nullptr);
    EXPECT_EQ(b.offset_of(head_b), a.offset_of(head));
    int expect = 9;
    for (list_node* n = head_b->get(); n != nullptr; n = n->next.get()) {
        EXPECT_EQ(n->value, expect--);
        EXPECT_GE(reinterpret_cast<char*>(n), static_cast<char*>(b.data()));
        EXPECT_LT(reinterpret_cast<char*>(n), static_cast<char*>(b.data()) + b.size());
    }
    EXPECT_EQ(expect, -1);
    segment_ptr<int> null;
    EXPECT_FALSE(null);
    EXPECT_EQ(null.get(), nullptr);
    EXPECT_EQ(other.find<int>("missing"), nullptr);
    EXPECT_EQ(code_of([&] { (void)other.find<double[2]>("head"); }), shm_errc::size_mismatch);
    EXPECT_EQ(code_of([&] { (void)heap.construct_named<int>("head"); }), shm_errc::exists);
    shared_segment::remove(name);
}

TEST_F(ShmPosixTest, HeapMatchesAnOracle) {
    const std::string name = unique_name("heap");
    const shared_segment seg = shared_segment::create(name, 256 * 1024);
    segment_heap heap(seg);
    EXPECT_EQ(heap.used_bytes(), 0U);
    struct block {
        unsigned char* p;
        std::size_t size;
        std::size_t align;
        unsigned char fill;
    };
    std::vector<block> live;
    std::mt19937 rng(12345);
    std::size_t failures = 0;
    for (int step = 0; step < 20000; ++step) {
        if (live.empty() || rng() % 100 < 55) {
            const std::size_t size = 1 + rng() % 3000;
            const std::size_t align = std::size_t{1} << (rng() % 13);
            try {
                auto* p = static_cast<unsigned char*>(heap.allocate(size, align));
                ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0U);
                ASSERT_GE(p, static_cast<unsigned char*>(seg.data()));
                ASSERT_LE(p + size, static_cast<unsigned char*>(seg.data()) + seg.size());
                const auto fill = static_cast<unsigned char>(rng());
                std::memset(p, fill, size);
                live.push_back({p, size, align, fill});
            } catch (const std::bad_alloc&) {
                ++failures;
            }
        } else {
            const std::size_t i = rng() % live.size();
            const block b = live[i];
            ASSERT_TRUE(std::all_of(b.p, b.p + b.size, [&](unsigned char c) { return c == b.fill; }))
                << "a block was overwritten by another";
            heap.deallocate(b.p, b.size, b.align);
            live[i] = live.back();
            live.pop_back();
        }
    }
    EXPECT_GT(failures, 0U) << "the walk should reach a full heap at times";
    for (const block& b : live) {
        ASSERT_TRUE(std::all_of(b.p, b.p + b.size, [&](unsigned char c) { return c == b.fill; }));
        heap.deallocate(b.p, b.size, b.align);
    }
    EXPECT_EQ(heap.used_bytes(), 0U);
    // Everything coalesced back: one block of nearly the whole capacity fits.
    void* big = heap.allocate(heap.capacity() - 64, 16);
    EXPECT_THROW((void)heap.allocate(64, 16), std::bad_alloc);
    heap.deallocate(big, heap.capacity() - 64, 16);
    EXPECT_THROW((void)heap.allocate(heap.capacity() + 1, 16), std::bad_alloc);
    EXPECT_EQ(code_of([&] { (void)heap.allocate(8, 3); }), shm_errc::invalid_argument);
    int outside = 0;
    EXPECT_EQ(code_of([&] { heap.deallocate(&outside, sizeof outside); }), shm_errc::invalid_argument);
    void* twice = heap.allocate(100);
    heap.deallocate(twice, 100);
    EXPECT_EQ(code_of([&] { heap.deallocate(twice, 100); }), shm_errc::invalid_argument);
    EXPECT_EQ(heap.used_bytes(), 0U);
    shared_segment::remove(name);
}

TEST_F(ShmPosixTest, HeapIsAPmrResource) {
    const std::string name = unique_name("pmr");
    const shared_segment seg = shared_segment::create(name, 128 * 1024);
    segment_heap heap(seg);
    {
        std::pmr::vector<int> v(&heap);
        for (int i = 0; i < 1000; ++i) {
            v.push_back(i);
        }
        EXPECT_GE(reinterpret_cast<char*>(v.data()), static_cast<char*>(seg.data()));
        EXPECT_LT(reinterpret_cast<char*>(v.data()), static_cast<char*>(seg.data()) + seg.size());
        EXPECT_EQ(v[999], 999);
        EXPECT_GT(heap.used_bytes(), 4000U);
    }
    EXPECT_EQ(heap.used_bytes(), 0U);
    const auto again = segment_heap::attach(seg.data());
    EXPECT_TRUE(heap.is_equal(again));
    std::pmr::monotonic_buffer_resource other;
    EXPECT_FALSE(heap.is_equal(other));
    int region_too_small[8];
    EXPECT_EQ(code_of([&] { (void)segment_heap::format(region_too_small, sizeof region_too_small); }),
              shm_errc::invalid_argument);
    shared_segment::remove(name);
}

TEST_F(ShmPosixTest, TwoProcessesAllocateFromOneHeap) {
    const std::string name = unique_name("heap2");
    const shared_segment seg = shared_segment::create(name, 1024 * 1024);
    segment_heap heap(seg);
    auto* table = heap.construct_named<topos::test::heap_table>("table");
    const std::size_t base_used = heap.used_bytes();
    constexpr unsigned k_half = topos::test::heap_table::k_blocks / 2;
    child_process p1({TOPOS_SHM_PEER, "heap-alloc", name, "0", std::to_string(k_half)});
    child_process p2({TOPOS_SHM_PEER, "heap-alloc", name, std::to_string(k_half), std::to_string(k_half)});
    EXPECT_EQ(p1.wait(), 0);
    EXPECT_EQ(p2.wait(), 0);
    std::map<const unsigned char*, std::size_t> spans;
    for (unsigned i = 0; i < topos::test::heap_table::k_blocks; ++i) {
        const unsigned char* p = table->block[i].get();
        ASSERT_NE(p, nullptr) << "block " << i;
        const std::size_t size = table->size[i];
        EXPECT_TRUE(std::all_of(p, p + size, [&](unsigned char c) { return c == static_cast<unsigned char>(i); }))
            << "block " << i << " was overwritten";
        spans[p] = size;
    }
    const unsigned char* end = nullptr;
    for (const auto& [p, size] : spans) {
        EXPECT_GE(p, end) << "two blocks overlap";
        end = p + size;
    }
    for (unsigned i = 0; i < topos::test::heap_table::k_blocks; ++i) {
        heap.deallocate(table->block[i].get(), table->size[i]);
    }
    EXPECT_EQ(heap.used_bytes(), base_used);
    shared_segment::remove(name);
}

} // namespace
