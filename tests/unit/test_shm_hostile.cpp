// A shared segment is an input: a faulty or hostile peer may write any byte
// of it. These tests scribble random bytes over a heap's metadata and over a
// segment's header and run every operation; only shm_error (or bad_alloc,
// from allocate) may come out, and under ASan no access may leave the
// region (the heap regions here are heap allocations of exactly their size,
// so ASan sees a byte past them). They also replay the fuzz corpora
// (tests/fuzz/corpus), every crash the fuzzers found among them.
//
//   TOPOS_SHM_HOSTILE_ROUNDS   scribbled heaps (default 20000)
#include "../shm/shm_test_support.hpp"

#include "ipc/shm_heap_layout.hpp"
#include "ipc/shm_layout.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace topos;
using topos::test::shm_test;

std::uint64_t env_count(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    char* end = nullptr;
    const unsigned long long n = v == nullptr ? 0 : std::strtoull(v, &end, 10);
    return n > 0 && end != nullptr && *end == '\0' ? n : fallback;
}

/// Exactly `bytes` of ordinary heap memory, 4096-aligned: ASan's redzones sit right after it.
struct exact_region {
    explicit exact_region(std::size_t n)
        : bytes(n), p(static_cast<unsigned char*>(::operator new(n, std::align_val_t{4096}))) {
        std::memset(p, 0, n);
    }
    ~exact_region() { ::operator delete(p, std::align_val_t{4096}); }
    exact_region(const exact_region&) = delete;
    exact_region& operator=(const exact_region&) = delete;
    std::size_t bytes;
    unsigned char* p;
};

struct blob {
    std::uint64_t words[5];
};

/// Outcomes by error code, to print and to prove the scribbles bite.
using tally = std::map<std::string, std::uint64_t>;

/// Runs `fn`; an shm_error or bad_alloc is counted, anything else fails the test.
template <class F>
void expect_typed(tally& t, const char* what, F fn) {
    try {
        fn();
        ++t["ok"];
    } catch (const shm_error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        ++t[to_string(e.code())];
    } catch (const std::bad_alloc&) {
        ++t["bad_alloc"];
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << " threw something other than shm_error: " << e.what();
    }
}

/// Every operation of a heap over [p, p + bytes) once scribbled. `held`
/// pointers were allocated before the scribble; `foreign` is a pointer a
/// peer might hand over (anywhere in the region).
void run_every_operation(tally& t, unsigned char* p, std::size_t bytes, const std::vector<std::pair<void*, std::size_t>>& held,
                         std::mt19937_64& rng) {
    expect_typed(t, "check_image", [&] { segment_heap::check_image(p, bytes); });
    std::optional<segment_heap> heap;
    expect_typed(t, "attach", [&] { heap.emplace(segment_heap::attach(p, bytes)); });
    if (!heap) {
        // The scribble may leave the heap's own checks passing while attach
        // refuses (or the reverse); the handle of format-time size goes on.
        return;
    }
    segment_heap& h = *heap;
    expect_typed(t, "check", [&] { h.check(); });
    expect_typed(t, "used_bytes", [&] { (void)h.used_bytes(); });
    for (const auto& [q, n] : held) {
        expect_typed(t, "deallocate", [&, q = q, n = n] { h.deallocate(q, n); });
    }
    for (int i = 0; i < 4; ++i) {
        expect_typed(t, "allocate", [&] {
            const std::size_t n = 1 + rng() % 600;
            void* q = h.allocate(n, std::size_t{8} << (rng() % 4));
            const auto at = static_cast<unsigned char*>(q);
            EXPECT_TRUE(at >= p && at + n <= p + bytes) << "allocate handed out a block outside the region";
            std::memset(q, 0x3c, n);
        });
    }
    expect_typed(t, "deallocate a peer's pointer", [&] { h.deallocate(p + rng() % bytes, 8); });
    expect_typed(t, "construct_named", [&] { (void)h.construct_named<blob>("x" + std::to_string(rng() % 3)); });
    for (const char* name : {"a", "b", "x0", "x1", "x2"}) {
        expect_typed(t, "find", [&] {
            if (blob* b = h.find<blob>(name)) {
                const auto at = reinterpret_cast<unsigned char*>(b);
                EXPECT_TRUE(at >= p && at + sizeof(blob) <= p + bytes) << "find gave an object outside the region";
                b->words[0] ^= 1;
                h.destroy(b);
            }
        });
    }
    expect_typed(t, "check", [&] { h.check(); });
}

class ShmHostileTest : public shm_test {};

// Rounds of: format a heap in a region of exactly its size, use it, scribble
// random bytes (random words, plausible offsets, near-misses of the values
// there) over its state and its block headers, avoiding only the lock's
// bytes, and run every operation.
TEST_F(ShmHostileTest, ScribbledHeapGivesTypedErrorsOnly) {
    const std::uint64_t rounds = env_count("TOPOS_SHM_HOSTILE_ROUNDS", 20000);
    const auto [lock_at, lock_bytes] = segment_heap::lock_range();
    std::mt19937_64 rng(0xbad5eed);
    tally t;
    std::uint64_t scribbles = 0;
    for (std::uint64_t r = 0; r < rounds; ++r) {
        const std::size_t bytes = 4096 * (1 + rng() % 4) + (rng() % 4) * 16;
        exact_region region(bytes);
        std::vector<std::pair<void*, std::size_t>> held;
        std::vector<std::size_t> metadata; // word offsets a scribble aims at
        for (std::size_t off = 0; off < sizeof(detail::heap_state); off += 8) {
            if (off + 8 <= lock_at || off >= lock_at + lock_bytes) {
                metadata.push_back(off);
            }
        }
        {
            auto heap = segment_heap::format(region.p, bytes);
            for (int i = 0; i < 12; ++i) {
                try {
                    const std::size_t n = 1 + rng() % 300;
                    void* q = heap.allocate(n, std::size_t{16} << (rng() % 3));
                    held.emplace_back(q, n);
                    const auto off = static_cast<std::size_t>(static_cast<unsigned char*>(q) - region.p);
                    metadata.push_back(off - 8);
                    metadata.push_back(off - 16);
                } catch (const std::bad_alloc&) { // NOLINT(bugprone-empty-catch): a small heap fills up
                }
            }
            for (const char* n : {"a", "b"}) {
                try {
                    (void)heap.construct_named<blob>(n);
                } catch (const std::bad_alloc&) { // NOLINT(bugprone-empty-catch): a small heap fills up
                }
            }
            if (!held.empty() && rng() % 2 == 0) {
                heap.deallocate(held.back().first, held.back().second);
                const auto off = static_cast<std::size_t>(static_cast<unsigned char*>(held.back().first) - region.p);
                metadata.push_back(off - 16); // now a free block: its size and link
                metadata.push_back(off - 8);
                held.pop_back();
            }
        }
        const int count = 1 + static_cast<int>(rng() % 6);
        for (int i = 0; i < count; ++i) {
            const std::size_t off = metadata[rng() % metadata.size()];
            std::uint64_t old = 0;
            std::memcpy(&old, region.p + off, 8);
            std::uint64_t v = 0;
            switch (rng() % 5) {
            case 0: v = rng(); break;                                  // anything
            case 1: v = rng() % (bytes + 64); break;                   // an offset, maybe just past the end
            case 2: v = old + (rng() % 33) - 16; break;                // a near miss
            case 3: v = old ^ (std::uint64_t{1} << (rng() % 64)); break; // one bit
            default: v = (rng() % 2) ? 0 : ~std::uint64_t{0}; break;
            }
            if (off == 0 && (v == 0 || v == detail::k_heap_formatting)) {
                v = 1; // a magic of 0 makes attach wait a second for a formatter: slow, and tested elsewhere
            }
            std::memcpy(region.p + off, &v, 8);
            ++scribbles;
        }
        run_every_operation(t, region.p, bytes, held, rng);
        if (HasFailure()) {
            ADD_FAILURE() << "round " << r;
            return;
        }
    }
    std::string outcomes;
    for (const auto& [k, n] : t) {
        outcomes += " " + k + "=" + std::to_string(n);
    }
    std::printf("[ hostile ] %llu scribbled heaps, %llu words scribbled; outcomes:%s\n",
                static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(scribbles), outcomes.c_str());
    EXPECT_GT(t["heap_corrupt"], 0U) << "the scribbles never made a heap inconsistent: they miss the metadata";
}

// The same over a real segment, through a second mapping (as a peer writes
// it), with whole random blocks of bytes rather than words.
TEST_F(ShmHostileTest, RandomBytesOverASegmentHeap) {
    const std::string name = unique_name("hostile");
    const shared_segment seg = shared_segment::create(name, 64 * 1024);
    const shared_segment peer = shared_segment::open(name);
    const auto [lock_at, lock_bytes] = segment_heap::lock_range();
    std::mt19937_64 rng(99);
    tally t;
    for (int r = 0; r < 200; ++r) {
        auto heap = segment_heap::format(seg.data(), seg.size());
        std::vector<std::pair<void*, std::size_t>> held;
        for (int i = 0; i < 20; ++i) {
            const std::size_t n = 1 + rng() % 2000;
            held.emplace_back(heap.allocate(n), n);
        }
        auto* w = static_cast<unsigned char*>(peer.data());
        const std::size_t span = 1 + rng() % 256;
        std::size_t at = rng() % (sizeof(detail::heap_state) + 8 * 1024);
        if (at < lock_at + lock_bytes && at + span > lock_at) {
            at = lock_at + lock_bytes;
        }
        for (std::size_t i = 0; i < span && at + i < peer.size(); ++i) {
            w[at + i] = static_cast<unsigned char>(rng());
        }
        run_every_operation(t, static_cast<unsigned char*>(seg.data()), seg.size(), held, rng);
        ASSERT_FALSE(HasFailure()) << "round " << r;
    }
    EXPECT_GT(t["heap_corrupt"], 0U);
    shared_segment::remove(name);
}

// Offset pointers a peer wrote: get_in() gives the target only when it lies
// inside the segment and is aligned, and throws otherwise.
TEST_F(ShmHostileTest, SegmentPtrOffsetsAreChecked) {
    const std::string name = unique_name("ptr");
    const shared_segment seg = shared_segment::create(name, 4096);
    struct cell {
        segment_ptr<std::uint64_t> p;
        std::uint64_t target;
    };
    auto* c = ::new (seg.data()) cell{};
    c->p = &c->target;
    EXPECT_EQ(c->p.get_in(seg.data(), seg.size()), &c->target);
    c->p = nullptr;
    EXPECT_EQ(c->p.get_in(seg.data(), seg.size()), nullptr);
    std::mt19937_64 rng(5);
    std::uint64_t refused = 0;
    for (int i = 0; i < 10000; ++i) {
        std::int64_t off = 0;
        switch (i % 3) {
        case 0: off = static_cast<std::int64_t>(rng()); break;
        case 1: off = static_cast<std::int64_t>(rng() % 8192) - 4096; break;
        default: off = static_cast<std::int64_t>(seg.size()) - 16 + static_cast<std::int64_t>(rng() % 32); break;
        }
        std::memcpy(static_cast<void*>(&c->p), &off, sizeof off); // as a peer's scribble
        try {
            std::uint64_t* q = c->p.get_in(seg.data(), seg.size());
            if (q != nullptr) {
                const auto* b = static_cast<const unsigned char*>(seg.data());
                const auto* at = reinterpret_cast<const unsigned char*>(q);
                ASSERT_TRUE(at >= b && at + sizeof *q <= b + seg.size());
                (void)*static_cast<volatile std::uint64_t*>(q);
            }
        } catch (const shm_error& e) {
            EXPECT_EQ(e.code(), shm_errc::invalid_argument);
            ++refused;
        }
    }
    EXPECT_GT(refused, 5000U);
    shared_segment::remove(name);
}

class ShmHostileHeaderTest : public shm_test, public ::testing::WithParamInterface<shm_api> {};

// A peer scribbles over a segment's header: open() gives a typed error, or
// a handle whose size fits the object (never a size past the mapping).
TEST_P(ShmHostileHeaderTest, ScribbledHeaderGivesTypedErrorsOnly) {
    const std::string name = unique_name("hdr");
    shm_options create;
    create.api = GetParam();
    const shared_segment seg = shared_segment::create(name, 8192, create);
    open_options open;
    open.api = GetParam();
    open.ready_timeout = std::chrono::milliseconds(0);
    auto* h = static_cast<unsigned char*>(seg.data()) - k_segment_header_bytes;
    std::vector<unsigned char> pristine(h, h + sizeof(detail::segment_header));
    std::mt19937_64 rng(0x4ead);
    tally t;
    for (int r = 0; r < 400; ++r) {
        std::memcpy(h, pristine.data(), pristine.size());
        const int n = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i) {
            const std::size_t at = rng() % 40; // the fixed fields; the name is free text
            h[at] = static_cast<unsigned char>(rng() % 3 == 0 ? 0 : rng());
        }
        expect_typed(t, "open", [&] {
            const shared_segment o = shared_segment::open(name, open);
            EXPECT_GT(o.size(), 0U);
            EXPECT_LE(o.size(), 8192U) << "a scribbled header must not size the handle past the object";
        });
        const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(h), k_segment_header_bytes + 8192);
        expect_typed(t, "validate_segment_image", [&] { (void)validate_segment_image(image); });
    }
    std::memcpy(h, pristine.data(), pristine.size());
    EXPECT_GT(t["ok"], 0U);
    EXPECT_GT(t["not_topos"] + t["wrong_version"] + t["truncated"] + t["not_ready"], 0U);
    shared_segment::remove(name, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Both, ShmHostileHeaderTest, ::testing::Values(shm_api::posix, shm_api::sysv),
                         [](const auto& p) { return p.param == shm_api::posix ? "posix" : "sysv"; });

std::vector<std::filesystem::path> corpus(const char* sub) {
    std::vector<std::filesystem::path> out;
    const std::filesystem::path dir = std::filesystem::path(TOPOS_FUZZ_CORPUS) / sub;
    if (std::filesystem::is_directory(dir)) {
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<unsigned char> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The fuzz corpora, crashes found included, as regression tests: every
// header image is validated with a typed result and, when accepted, fits.
TEST(ShmFuzzCorpus, HeaderImages) {
    const auto files = corpus("shm_header");
    ASSERT_FALSE(files.empty()) << "no corpus in " << TOPOS_FUZZ_CORPUS;
    for (const auto& f : files) {
        const auto bytes = read_all(f);
        try {
            const std::size_t user =
                validate_segment_image(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()),
                                                                  bytes.size()));
            EXPECT_GT(user, 0U) << f;
            EXPECT_LE(user + k_segment_header_bytes, bytes.size()) << f;
        } catch (const shm_error&) { // NOLINT(bugprone-empty-catch): a typed refusal
        }
    }
    // The crash the header fuzzer found first: a header with user size 0 was accepted.
    const auto zero = read_all(std::filesystem::path(TOPOS_FUZZ_CORPUS) / "shm_header" / "crash-user-size-zero");
    ASSERT_FALSE(zero.empty());
    try {
        (void)validate_segment_image(std::span<const std::byte>(reinterpret_cast<const std::byte*>(zero.data()), zero.size()));
        ADD_FAILURE() << "a header of user size 0 was accepted";
    } catch (const shm_error& e) {
        EXPECT_EQ(e.code(), shm_errc::truncated);
    }
}

// Every heap image: check_image and attach with typed results only, as the harness does.
TEST(ShmFuzzCorpus, HeapImages) {
    const auto files = corpus("shm_heap");
    ASSERT_FALSE(files.empty());
    const auto [lock_at, lock_bytes] = segment_heap::lock_range();
    std::mt19937_64 rng(1);
    tally t;
    for (const auto& f : files) {
        const auto bytes = read_all(f);
        expect_typed(t, "check_image", [&] { segment_heap::check_image(bytes.data(), bytes.size()); });
        if (bytes.size() < lock_at + lock_bytes) {
            continue;
        }
        exact_region region(bytes.size());
        std::memcpy(region.p, bytes.data(), bytes.size());
        ::new (region.p + lock_at) process_mutex;
        run_every_operation(t, region.p, bytes.size(), {}, rng);
        SCOPED_TRACE(f.string());
    }
    EXPECT_GT(t["ok"], 0U) << "the valid images must pass";
    EXPECT_GT(t["heap_corrupt"], 0U) << "the corrupt images must be refused";
}

} // namespace
