// What survives a dead process, and what an opener trusts: a barrier whose
// participant is killed inside it, a heap whose lock holder is killed, a
// header changed after it was validated; and the heap handle's attach rules.
// The dying processes are topos_shm_peer roles, SIGKILLed by the test.
#include "../shm/shm_test_layout.hpp"
#include "../shm/shm_test_support.hpp"

#include "ipc/shm_backend.hpp"
#include "ipc/shm_layout.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

namespace {

using namespace topos;
using namespace std::chrono_literals;
using topos::test::child_process;
using topos::test::shm_test;

template <class F>
shm_errc code_of(F fn) {
    try {
        fn();
    } catch (const shm_error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        return e.code();
    }
    ADD_FAILURE() << "no shm_error was thrown";
    return shm_errc::system;
}

class ShmCrashTest : public shm_test {};

// ---- the barrier -------------------------------------------------------------------------

// A participant dies holding the barrier's lock (as one killed between the
// steps of ending a round would). The survivor already waiting and the one
// arriving next both get sync_error(EOWNERDEAD), and the barrier says it is
// broken in every mapping; nobody hangs. (Before the fix the dead owner was
// ignored: the arrival waited out its timeout, the barrier still "working".)
TEST_F(ShmCrashTest, BarrierBreaksWhenAParticipantDiesInside) {
    const std::string name = unique_name("barrier-crash");
    const shared_segment seg = shared_segment::create(name, sizeof(topos::test::barrier_crash));
    auto* c = ::new (seg.data()) topos::test::barrier_crash(3);

    std::optional<int> waiter_errno;
    std::optional<bool> waiter_result;
    std::thread waiter([&] {
        try {
            waiter_result = c->barrier.arrive_and_wait_for(10s);
        } catch (const sync_error& e) {
            waiter_errno = e.sys_errno();
        }
    });
    for (int i = 0; i < 30000 && c->barrier.arrived() != 1; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(c->barrier.arrived(), 1U) << "the waiting thread never arrived";

    child_process peer({TOPOS_SHM_PEER, "barrier-lock-die", name});
    ASSERT_TRUE(c->locked.wait_for(30s)) << "the peer never took the barrier's lock";
    peer.kill();

    std::optional<int> arriver_errno;
    try {
        (void)c->barrier.arrive_and_wait_for(10s);
    } catch (const sync_error& e) {
        arriver_errno = e.sys_errno();
    }
    waiter.join();
    EXPECT_EQ(arriver_errno, std::optional<int>(EOWNERDEAD)) << "the next arrival must see the broken barrier";
    EXPECT_EQ(waiter_errno, std::optional<int>(EOWNERDEAD)) << "the waiter must be woken with the error";
    EXPECT_FALSE(waiter_result.has_value());
    EXPECT_TRUE(c->barrier.broken());

    const shared_segment again = shared_segment::open(name);
    auto& other = static_cast<topos::test::barrier_crash*>(again.data())->barrier;
    ASSERT_TRUE(other.broken());
    EXPECT_THROW((void)other.arrive_and_wait_for(10s), sync_error) << "broken for every later arrival";
    EXPECT_THROW((void)other.arrive_and_wait(), sync_error) << "waiting forever too";
    c->~barrier_crash();
    shared_segment::remove(name);
}

// ---- the heap ----------------------------------------------------------------------------

// A process dies holding the heap's lock: the next operation takes the lock
// with owner_died, replays the redo record (none here: the peer wrote
// nothing), checks the heap and goes on, in this handle, in a new handle and
// in another process; what was allocated stays allocated. (Before the redo
// record the heap marked itself broken and refused every operation.)
TEST_F(ShmCrashTest, HeapRecoversAfterItsLockHolderDies) {
    const std::string name = unique_name("heap-crash");
    const shared_segment seg = shared_segment::create(name, 256 * 1024);
    segment_heap heap(seg);
    auto* locked = heap.construct_named<process_semaphore>("locked", 0U);
    void* block = heap.allocate(100);
    std::memset(block, 0x5a, 100);
    const std::size_t used = heap.used_bytes();
    EXPECT_FALSE(heap.broken());

    child_process peer({TOPOS_SHM_PEER, "heap-lock-die", name});
    ASSERT_TRUE(locked->wait_for(30s)) << "the peer never took the heap's lock";
    peer.kill();

    EXPECT_EQ(heap.used_bytes(), used) << "the dead holder changed nothing";
    EXPECT_EQ(heap.recoveries(), 1U);
    EXPECT_FALSE(heap.broken());
    heap.check();
    EXPECT_EQ(heap.find<process_semaphore>("locked"), locked);
    void* more = heap.allocate(64);
    EXPECT_NE(more, block);
    heap.deallocate(more, 64);
    for (std::size_t i = 0; i < 100; ++i) {
        ASSERT_EQ(static_cast<unsigned char*>(block)[i], 0x5a);
    }

    const shared_segment opened = shared_segment::open(name);
    segment_heap second(opened);
    EXPECT_FALSE(second.broken());
    EXPECT_EQ(second.used_bytes(), used);
    child_process probe({TOPOS_SHM_PEER, "heap-probe", name});
    EXPECT_EQ(probe.wait(), 0) << "another process must find the heap recovered and usable";
    heap.deallocate(block, 100);
    heap.destroy(locked);
    EXPECT_EQ(heap.used_bytes(), 0U);
    shared_segment::remove(name);
}

// A second segment_heap over the creator's segment attaches to the heap the
// first one formatted (before the fix it formatted again, wiping it).
TEST_F(ShmCrashTest, SecondHeapHandleInTheCreatorAttaches) {
    const std::string name = unique_name("heap-twice");
    const shared_segment seg = shared_segment::create(name, 64 * 1024);
    segment_heap first(seg);
    int* x = first.construct_named<int>("x", 42);
    const std::size_t used = first.used_bytes();
    segment_heap second(seg);
    EXPECT_EQ(second.find<int>("x"), x) << "the named object survives a second handle";
    EXPECT_EQ(*x, 42);
    EXPECT_EQ(second.used_bytes(), used);
    EXPECT_TRUE(first.is_equal(second));
    // construct and construct_named hand out the same kind of pointer, which
    // converts to the offset pointer stored in the segment.
    static_assert(std::is_same_v<decltype(first.construct<int>()), int*>);
    static_assert(std::is_same_v<decltype(first.construct_named<int>("")), int*>);
    segment_ptr<int> stored = second.construct<int>(7);
    EXPECT_EQ(*stored, 7);
    second.destroy(stored.get());
    EXPECT_EQ(first.used_bytes(), used);
    shared_segment::remove(name);
}

// ---- the header --------------------------------------------------------------------------

// Set by the hook: the live header is changed between validation and use, as
// a peer writing the shared header at that moment would.
void grow_live_header(void* mapping) {
    auto* h = static_cast<detail::segment_header*>(mapping);
    h->user_size = k_max_segment_bytes;
    h->creator_pid = 1;
}

class ShmHeaderTest : public shm_test, public ::testing::WithParamInterface<shm_api> {};

// open() sizes the handle from the header copy it validated, not from a
// second read of the live header (before the fix, size() was the huge value
// written after validation, far past the mapping).
TEST_P(ShmHeaderTest, OpenUsesTheHeaderItValidated) {
    const std::string name = unique_name("reread");
    shm_options create;
    create.api = GetParam();
    const shared_segment seg = shared_segment::create(name, 64 * 1024, create);
    open_options open;
    open.api = GetParam();
    detail::set_segment_open_hook(&grow_live_header);
    std::optional<shared_segment> opened;
    try {
        opened.emplace(shared_segment::open(name, open));
    } catch (...) {
        detail::set_segment_open_hook(nullptr);
        throw;
    }
    detail::set_segment_open_hook(nullptr);
    EXPECT_EQ(opened->size(), 64U * 1024U);
    EXPECT_EQ(opened->creator_pid(), static_cast<int>(::getpid()));
    EXPECT_EQ(seg.size(), 64U * 1024U);
    opened.reset();
    shared_segment::remove(name, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Both, ShmHeaderTest, ::testing::Values(shm_api::posix, shm_api::sysv),
                         [](const auto& p) { return p.param == shm_api::posix ? "posix" : "sysv"; });

} // namespace
