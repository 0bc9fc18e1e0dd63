// topos_shm_peer: the other process of the multi-process tests. Each role
// opens the segment a test made (by name) and works on the structure of
// shm_test_layout.hpp at its start. Exit status 0 when the role's own checks
// held, 1 when they did not, 2 on bad usage, 3 on an exception.
//
//   topos_shm_peer ring-produce NAME ID COUNT     put COUNT messages (ID, 0..COUNT-1)
//   topos_shm_peer barrier NAME ROUNDS            ROUNDS rounds of the barrier
//   topos_shm_peer lock-hold NAME                 take the mutex, half-update, hang
//   topos_shm_peer sem-work NAME ITERATIONS       take and give the semaphores
//   topos_shm_peer heap-alloc NAME FIRST COUNT    allocate blocks FIRST.. from the heap
//   topos_shm_peer barrier-lock-die NAME          take a barrier_crash's barrier lock, hang
//   topos_shm_peer heap-lock-die NAME             take the heap's lock, post "locked", hang
//   topos_shm_peer heap-probe NAME                expect the heap recovered, checked and usable
//   topos_shm_peer touch NAME posix|sysv          write every page of the segment
//   topos_shm_peer open-denied NAME posix|sysv    as another user, expect permission_denied
//   topos_shm_peer create-limited NAME            a create that fails after shm_open leaves nothing
#include "shm_test_layout.hpp"

#include "ipc/shm_heap_layout.hpp"

#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>

namespace {

using namespace topos;
using namespace topos::test;

unsigned number(const char* text) { return static_cast<unsigned>(std::strtoul(text, nullptr, 10)); }

int ring_produce(const shared_segment& seg, unsigned id, unsigned count) {
    auto* r = static_cast<message_ring*>(seg.data());
    for (unsigned seq = 0; seq < count; ++seq) {
        (void)r->mutex.lock();
        (void)r->not_full.wait(r->mutex, [&] { return r->tail - r->head < message_ring::k_slots; });
        r->slots[r->tail % message_ring::k_slots] = message{id, seq};
        ++r->tail;
        r->mutex.unlock();
        r->not_empty.notify_one();
    }
    return 0;
}

int barrier(const shared_segment& seg, unsigned rounds) {
    auto* b = static_cast<barrier_rounds*>(seg.data());
    const unsigned n = b->barrier.participants();
    for (unsigned round = 0; round < rounds; ++round) {
        // relaxed: the barrier's mutex orders this add before every check below.
        b->arrived[round].fetch_add(1, std::memory_order_relaxed);
        const bool serial = b->barrier.arrive_and_wait();
        if (b->arrived[round].load(std::memory_order_relaxed) != n) {
            b->errors.fetch_add(1, std::memory_order_relaxed);
        }
        if (serial) {
            b->serial[round].fetch_add(1, std::memory_order_relaxed);
        }
    }
    return 0;
}

int lock_hold(const shared_segment& seg) {
    auto* v = static_cast<lock_victim*>(seg.data());
    (void)v->mutex.lock();
    ++v->a; // b follows a only if we live
    v->locked.post();
    for (;;) {
        ::pause();
    }
}

int sem_work(const shared_segment& seg, unsigned iterations) {
    auto* s = static_cast<semaphore_load*>(seg.data());
    for (unsigned i = 0; i < iterations; ++i) {
        s->sem.wait();
        // relaxed: one counter's modification order is all the check needs.
        const int now = s->inside.fetch_add(1, std::memory_order_relaxed) + 1;
        int most = s->most_inside.load(std::memory_order_relaxed);
        while (now > most && !s->most_inside.compare_exchange_weak(most, now, std::memory_order_relaxed)) {
        }
        s->entries.fetch_add(1, std::memory_order_relaxed);
        if (i % 16 == 0) {
            ::sched_yield();
        }
        s->inside.fetch_sub(1, std::memory_order_relaxed);
        s->sem.post();

        s->mutex_sem.wait();
        s->plain = s->plain + 1;
        s->mutex_sem.post();
    }
    return 0;
}

int heap_alloc(const shared_segment& seg, unsigned first, unsigned count) {
    auto heap = segment_heap::attach(seg.data(), seg.size());
    auto* table = heap.find<heap_table>("table");
    if (table == nullptr) {
        std::fprintf(stderr, "topos_shm_peer: no table in the heap\n");
        return 1;
    }
    for (unsigned i = first; i < first + count && i < heap_table::k_blocks; ++i) {
        const std::uint32_t size = 1 + (i * 37U) % 700U;
        auto* p = static_cast<unsigned char*>(heap.allocate(size, i % 3 == 0 ? 64 : 16));
        std::memset(p, static_cast<int>(i & 0xffU), size);
        table->size[i] = size;
        table->block[i] = p;
    }
    return 0;
}

// Plays a participant killed inside the barrier: holds the barrier's mutex
// (its first member, so the barrier's address is the mutex's: the type is
// standard-layout) until the test kills it.
int barrier_lock_die(const shared_segment& seg) {
    static_assert(std::is_standard_layout_v<process_barrier>);
    auto* c = static_cast<barrier_crash*>(seg.data());
    auto* m = reinterpret_cast<process_mutex*>(&c->barrier);
    (void)m->lock();
    c->locked.post();
    for (;;) {
        ::pause();
    }
}

// Plays a process killed in the middle of a heap operation: holds the heap's
// lock (ipc/shm_heap_layout.hpp) until the test kills it.
int heap_lock_die(const shared_segment& seg) {
    auto heap = segment_heap::attach(seg.data(), seg.size());
    auto* locked = heap.find<process_semaphore>("locked");
    if (locked == nullptr) {
        std::fprintf(stderr, "topos_shm_peer: no semaphore 'locked' in the heap\n");
        return 1;
    }
    auto* state = static_cast<detail::heap_state*>(seg.data());
    (void)state->mutex.lock();
    locked->post();
    for (;;) {
        ::pause();
    }
}

// Another process's view of a heap whose lock holder died: recovered (the
// redo record replayed, the heap checked), not broken, and usable.
int heap_probe(const shared_segment& seg) {
    auto heap = segment_heap::attach(seg.data(), seg.size());
    if (heap.broken() || heap.recoveries() == 0) {
        std::fprintf(stderr, "topos_shm_peer: the heap is broken or was never recovered\n");
        return 1;
    }
    heap.check();
    heap.deallocate(heap.allocate(64), 64);
    return 0;
}

int touch(const std::string& name, shm_api api) {
    open_options o;
    o.api = api;
    const shared_segment seg = shared_segment::open(name, o);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t off = 0; off < seg.size(); off += page) {
        static_cast<volatile char*>(seg.data())[off] = 1;
    }
    return 0;
}

// As another user than the segment's owner (nobody, when started as root),
// opening must fail with permission_denied.
int open_denied(const std::string& name, shm_api api) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
        std::perror("topos_shm_peer: cannot become nobody");
        return 1;
    }
    open_options o;
    o.api = api;
    try {
        (void)shared_segment::open(name, o);
    } catch (const shm_error& e) {
        if (e.code() == shm_errc::permission_denied) {
            return 0;
        }
        std::fprintf(stderr, "topos_shm_peer: %s (%s)\n", e.what(), to_string(e.code()));
        return 1;
    }
    std::fprintf(stderr, "topos_shm_peer: opened a segment of mode 0600 as uid %u\n", ::geteuid());
    return 1;
}

// With a file-size limit below the segment's size, ftruncate fails after
// shm_open made the object: create must report it and remove the object.
int create_limited(const std::string& name) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 * 1024, 64 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
        std::perror("topos_shm_peer: setrlimit");
        return 1;
    }
    try {
        (void)shared_segment::create(name, 1024 * 1024);
        std::fprintf(stderr, "topos_shm_peer: create succeeded above RLIMIT_FSIZE\n");
        return 1;
    } catch (const shm_error& e) {
        if (e.code() != shm_errc::invalid_size) {
            std::fprintf(stderr, "topos_shm_peer: %s (%s)\n", e.what(), to_string(e.code()));
            return 1;
        }
    }
    const std::string path = "/dev/shm" + name;
    if (::access(path.c_str(), F_OK) == 0) {
        std::fprintf(stderr, "topos_shm_peer: the failed create left %s behind\n", path.c_str());
        return 1;
    }
    return 0;
}

int run(int argc, char** argv) {
    const std::string role = argc > 1 ? argv[1] : "";
    if ((role == "touch" || role == "open-denied") && argc == 4) {
        const shm_api api = std::string(argv[3]) == "sysv" ? shm_api::sysv : shm_api::posix;
        return role == "touch" ? touch(argv[2], api) : open_denied(argv[2], api);
    }
    if (role == "create-limited" && argc == 3) {
        return create_limited(argv[2]);
    }
    if (argc < 3) {
        return 2;
    }
    const shared_segment seg = shared_segment::open(argv[2]);
    if (role == "ring-produce" && argc == 5) {
        return ring_produce(seg, number(argv[3]), number(argv[4]));
    }
    if (role == "barrier" && argc == 4) {
        return barrier(seg, number(argv[3]));
    }
    if (role == "lock-hold" && argc == 3) {
        return lock_hold(seg);
    }
    if (role == "sem-work" && argc == 4) {
        return sem_work(seg, number(argv[3]));
    }
    if (role == "barrier-lock-die" && argc == 3) {
        return barrier_lock_die(seg);
    }
    if (role == "heap-lock-die" && argc == 3) {
        return heap_lock_die(seg);
    }
    if (role == "heap-probe" && argc == 3) {
        return heap_probe(seg);
    }
    if (role == "heap-alloc" && argc == 5) {
        return heap_alloc(seg, number(argv[3]), number(argv[4]));
    }
    std::fprintf(stderr, "topos_shm_peer: unknown role or arguments\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "topos_shm_peer: %s\n", e.what());
        return 3;
    }
}
