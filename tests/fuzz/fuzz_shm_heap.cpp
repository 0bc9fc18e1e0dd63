// libFuzzer harness: segment_heap over random bytes. The input is a heap
// region as a faulty or hostile peer might have left it; check_image() reads
// it, then attach() and every operation run on a copy (with a fresh lock in
// the lock's bytes: those are the one part a heap cannot validate). Only
// shm_error and std::bad_alloc may come out, and ASan sees any access
// outside the region (it is allocated at exactly the input's size).
#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

struct blob {
    std::uint64_t words[6];
};

// The operations, driven by the input's last bytes so the fuzzer steers them too.
void exercise(topos::segment_heap& heap, const std::uint8_t* data, std::size_t size) {
    std::vector<std::pair<void*, std::size_t>> held;
    const std::size_t steps = size < 16 ? size : 16;
    for (std::size_t i = 0; i < steps; ++i) {
        const std::uint8_t b = data[size - 1 - i];
        try {
            switch (b % 8) {
            case 0:
            case 1: {
                const std::size_t n = 1 + (static_cast<std::size_t>(b) * 37) % 700;
                void* p = heap.allocate(n, std::size_t{16} << (b % 3));
                std::memset(p, 0xa5, n);
                held.emplace_back(p, n);
                break;
            }
            case 2:
                if (!held.empty()) {
                    heap.deallocate(held.back().first, held.back().second);
                    held.pop_back();
                }
                break;
            case 3: (void)heap.construct_named<blob>("n" + std::to_string(b % 4)); break;
            case 4: {
                if (blob* p = heap.find<blob>("n" + std::to_string(b % 4))) {
                    heap.destroy(p);
                }
                break;
            }
            case 5: (void)heap.used_bytes(); break;
            case 6: heap.check(); break;
            default: (void)heap.find<std::uint64_t>("n" + std::to_string(b % 4)); break;
            }
        } catch (const topos::shm_error&) { // NOLINT(bugprone-empty-catch): typed refusals are expected
        } catch (const std::bad_alloc&) {   // NOLINT(bugprone-empty-catch)
        }
    }
    for (auto& [p, n] : held) {
        try {
            heap.deallocate(p, n);
        } catch (const topos::shm_error&) { // NOLINT(bugprone-empty-catch)
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        topos::segment_heap::check_image(data, size);
    } catch (const topos::shm_error& e) {
        // No heap magic: attach would wait a second for a formatter to finish,
        // and then refuse the same way; nothing more to learn from this input.
        if (e.code() == topos::shm_errc::not_topos) {
            return 0;
        }
    }
    const auto [lock_at, lock_bytes] = topos::segment_heap::lock_range();
    if (size < lock_at + lock_bytes || size > (std::size_t{1} << 20)) {
        return 0;
    }
    // Exactly `size` bytes, 64-byte aligned: ASan reports a byte read past them.
    auto* region = static_cast<unsigned char*>(::operator new(size, std::align_val_t{64}));
    std::memcpy(region, data, size);
    ::new (region + lock_at) topos::process_mutex;
    try {
        topos::segment_heap heap = topos::segment_heap::attach(region, size);
        exercise(heap, data, size);
        // A pointer anywhere in the region, as a peer's segment_ptr might give.
        if (size > 8) {
            std::uint64_t off = 0;
            std::memcpy(&off, data + size - 8, sizeof off);
            heap.deallocate(region + off % size, 1);
        }
    } catch (const topos::shm_error&) { // NOLINT(bugprone-empty-catch)
    } catch (const std::bad_alloc&) {   // NOLINT(bugprone-empty-catch)
    }
    reinterpret_cast<topos::process_mutex*>(region + lock_at)->~process_mutex();
    ::operator delete(region, std::align_val_t{64});
    return 0;
}
