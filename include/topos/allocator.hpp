// topos/allocator.hpp - standard-library adapters over topos::allocate.
//
// numa_allocator<T> places a container's memory by a mem_policy; numa_resource
// is the same as a std::pmr::memory_resource. Two allocators (or resources)
// are equal when their policies are, since either can free what the other
// allocated under the same policy (in fact topos frees any of its blocks).
#pragma once

#include <topos/memory.hpp>

#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <type_traits>

namespace topos {

namespace detail {
/// deallocate() for callers that must not throw (allocator deallocate,
/// do_deallocate); a pointer topos did not hand out terminates the program.
void deallocate_noexcept(void* p, std::size_t bytes) noexcept;
} // namespace detail

template <class T>
class numa_allocator {
public:
    using value_type = T;
    using propagate_on_container_copy_assignment = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;

    /// The `local` policy.
    numa_allocator() noexcept = default;
    explicit numa_allocator(const mem_policy& policy) noexcept : m_policy(policy) {}
    template <class U>
    numa_allocator(const numa_allocator<U>& other) noexcept : m_policy(other.policy()) {} // NOLINT: rebinding is implicit

    /// Throws std::bad_array_new_length when n * sizeof(T) overflows, std::bad_alloc when memory runs out.
    [[nodiscard]] T* allocate(std::size_t n) {
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
            throw std::bad_array_new_length();
        }
        const std::size_t bytes = n == 0 ? sizeof(T) : n * sizeof(T);
        if (bytes > k_max_block) {
            throw std::bad_alloc();
        }
        return static_cast<T*>(topos::allocate(bytes, m_policy, {.alignment = alignof(T)}));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        detail::deallocate_noexcept(p, n == 0 ? sizeof(T) : n * sizeof(T));
    }

    [[nodiscard]] const mem_policy& policy() const noexcept { return m_policy; }

    template <class U>
    friend bool operator==(const numa_allocator& a, const numa_allocator<U>& b) noexcept {
        return a.policy() == b.policy();
    }

private:
    mem_policy m_policy;
};

/// A std::pmr::memory_resource that allocates by one policy.
class numa_resource : public std::pmr::memory_resource {
public:
    numa_resource() noexcept = default;
    explicit numa_resource(const mem_policy& policy) noexcept : m_policy(policy) {}

    [[nodiscard]] const mem_policy& policy() const noexcept { return m_policy; }

private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override;
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
    [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

    mem_policy m_policy;
};

} // namespace topos
