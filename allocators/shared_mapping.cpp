// allocators/shared_mapping.cpp - the registry of shared segments' mappings
// (see shared_mapping.hpp).
#include "allocators/shared_mapping.hpp"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace topos::detail {
namespace {

#ifndef TOPOS_ALLOC_STANDALONE
// Shared segments' mappings (base, bytes), registered by ipc/shm.cpp.
struct shared_mappings {
    std::mutex lock;
    std::vector<std::pair<std::uintptr_t, std::size_t>> ranges;
};
shared_mappings& mappings() {
    static shared_mappings m;
    return m;
}
#endif


} // namespace

bool in_shared_mapping([[maybe_unused]] const void* p, [[maybe_unused]] std::size_t bytes) {
#ifndef TOPOS_ALLOC_STANDALONE
    const auto q = reinterpret_cast<std::uintptr_t>(p);
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    return std::any_of(m.ranges.begin(), m.ranges.end(), [&](const auto& r) {
        return q >= r.first && q - r.first < r.second && bytes <= r.second - (q - r.first);
    });
#else
    return false;
#endif
}

#ifndef TOPOS_ALLOC_STANDALONE
void register_shared_mapping(void* base, std::size_t bytes) {
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    m.ranges.emplace_back(reinterpret_cast<std::uintptr_t>(base), bytes);
}

void unregister_shared_mapping(void* base) noexcept {
    auto& m = mappings();
    std::lock_guard guard(m.lock);
    const auto q = reinterpret_cast<std::uintptr_t>(base);
    std::erase_if(m.ranges, [q](const auto& r) { return r.first == q; });
}
#endif

} // namespace topos::detail
