// A runtime whose workers cannot allocate their state: the constructor throws
// memory_error naming the worker, joins the threads it started and frees
// what it allocated (no hang, no std::terminate, no leak under ASan).
//
// The failure is injected by replacing the global aligned operator new for
// this program: while armed, it refuses a given number of aligned requests
// made by threads other than the one that armed it. A worker's state is the
// first aligned allocation its thread makes (the worker is cache-line
// aligned), and the arming thread's own requests (the guest slots, the
// runtime itself) go through. Its own program, since the replacement is
// global.
#include "test_sched_support.hpp"

#include <topos/memory.hpp>
#include <topos/parallel.hpp>
#include <topos/runtime.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

namespace {

std::atomic<int> g_refusals_left{0};
std::thread::id g_armed_by; // written before the runtime's threads start, so they see it

void* aligned_allocate(std::size_t size, std::align_val_t align) {
    if (g_refusals_left.load(std::memory_order_relaxed) > 0 && std::this_thread::get_id() != g_armed_by &&
        g_refusals_left.fetch_sub(1, std::memory_order_relaxed) > 0) {
        throw std::bad_alloc();
    }
    const auto a = static_cast<std::size_t>(align);
    void* p = std::aligned_alloc(a, (size + a - 1) / a * a);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

// Refuses the next `count` aligned allocations of other threads.
class refusals {
public:
    explicit refusals(int count) {
        g_armed_by = std::this_thread::get_id();
        g_refusals_left.store(count, std::memory_order_relaxed);
    }
    ~refusals() { g_refusals_left.store(0, std::memory_order_relaxed); }
    refusals(const refusals&) = delete;
    refusals& operator=(const refusals&) = delete;
};

using namespace std::chrono_literals;

topos::runtime_options unbound(unsigned threads) {
    return {.places = {}, .bind = topos::proc_bind::disabled, .threads = threads, .topology = {}};
}

void expect_start_fails(int refused, const char* what) {
    topos::test::with_timeout(60s, what, [&] {
        const refusals armed(refused);
        try {
            const topos::runtime rt(unbound(4));
            FAIL() << "the runtime started although " << refused << " worker states could not be allocated";
        } catch (const topos::memory_error& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find("cannot allocate the state of worker"), std::string::npos) << message;
            EXPECT_NE(message.find("no worker was started"), std::string::npos) << message;
        }
    });
}

TEST(RuntimeOutOfMemory, OneWorkerWithoutStateFailsTheStart) {
    expect_start_fails(1, "RuntimeOutOfMemory.OneWorkerWithoutStateFailsTheStart");
}

TEST(RuntimeOutOfMemory, EveryWorkerWithoutStateFailsTheStart) {
    expect_start_fails(4, "RuntimeOutOfMemory.EveryWorkerWithoutStateFailsTheStart");
}

TEST(RuntimeOutOfMemory, TheNextRuntimeStartsAndRuns) {
    expect_start_fails(2, "RuntimeOutOfMemory.TheNextRuntimeStartsAndRuns");
    topos::runtime rt(unbound(4));
    std::atomic<int> n{0};
    topos::parallel_for(rt, 0, 1000, [&](int) { ++n; });
    EXPECT_EQ(n.load(), 1000);
    EXPECT_EQ(rt.thread_count(), 4U);
}

} // namespace

// The replacements: every aligned form the library or the standard library
// may call, so that allocation and release always pair up.
void* operator new(std::size_t size, std::align_val_t align) { return aligned_allocate(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return aligned_allocate(size, align); }
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    try {
        return aligned_allocate(size, align);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t& tag) noexcept {
    return operator new(size, align, tag);
}
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
