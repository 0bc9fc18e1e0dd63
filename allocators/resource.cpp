// allocators/resource.cpp - the out-of-line parts of the standard adapters.
#include <topos/allocator.hpp>

#include <cstdio>
#include <exception>
#include <new>

namespace topos {

namespace detail {
void deallocate_noexcept(void* p, std::size_t bytes) noexcept {
    try {
        topos::deallocate(p, bytes);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "topos: %s\n", e.what());
        std::terminate();
    }
}
} // namespace detail

void* numa_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
    if (bytes > k_max_block) {
        throw std::bad_alloc();
    }
    return topos::allocate(bytes == 0 ? 1 : bytes, m_policy, {.alignment = alignment});
}

void numa_resource::do_deallocate(void* p, std::size_t bytes, std::size_t /*alignment*/) {
    detail::deallocate_noexcept(p, bytes == 0 ? 1 : bytes);
}

bool numa_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
    const auto* o = dynamic_cast<const numa_resource*>(&other);
    return o != nullptr && o->m_policy == m_policy;
}

} // namespace topos
