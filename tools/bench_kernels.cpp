// tools/bench_kernels.cpp - pointer chase, bandwidth reader and STREAM kernels.
#include "bench_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace topos::cli {

void* build_chase_chain(std::byte* base, std::size_t elements, std::size_t stride, std::uint64_t seed) {
    if (elements == 0 || stride < sizeof(void*) || stride % alignof(void*) != 0) {
        throw std::invalid_argument("build_chase_chain: needs at least one slot of at least one pointer");
    }
    // Visit order: a uniformly random permutation (Fisher-Yates); linking each
    // slot to the next in that order, and the last back to the first, makes one
    // cycle through every slot.
    std::vector<std::uint32_t> order(elements);
    std::iota(order.begin(), order.end(), 0U);
    std::mt19937_64 rng(seed);
    for (std::size_t i = elements - 1; i > 0; --i) {
        std::uniform_int_distribution<std::size_t> pick(0, i);
        std::swap(order[i], order[pick(rng)]);
    }
    for (std::size_t k = 0; k < elements; ++k) {
        std::byte* from = base + std::size_t{order[k]} * stride;
        std::byte* to = base + std::size_t{order[(k + 1) % elements]} * stride;
        *reinterpret_cast<void**>(from) = to;
    }
    return base + std::size_t{order[0]} * stride;
}

// Out of line and unrolled by eight: the loop overhead is small next to a
// load, and each load's address is the value of the one before.
__attribute__((noinline)) void* chase(void* start, std::size_t loads) {
    void* p = start;
    std::size_t left = loads;
    while (left >= 8) {
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        p = *static_cast<void**>(p);
        left -= 8;
    }
    while (left-- > 0) {
        p = *static_cast<void**>(p);
    }
    return p;
}

chain_check check_chase_chain(const std::byte* base, std::size_t elements, std::size_t stride, const void* start) {
    chain_check out;
    std::vector<bool> seen(elements, false);
    const auto* p = static_cast<const std::byte*>(start);
    bool ok = true;
    for (;;) {
        if (p < base || p >= base + elements * stride || static_cast<std::size_t>(p - base) % stride != 0) {
            ok = false;
            break;
        }
        const auto slot = static_cast<std::size_t>(p - base) / stride;
        if (seen[slot]) {
            ok = ok && p == start;
            break;
        }
        seen[slot] = true;
        ++out.cycle_length;
        p = *reinterpret_cast<const std::byte* const*>(p);
    }
    out.every_slot_once = ok && out.cycle_length == elements &&
                          std::all_of(seen.begin(), seen.end(), [](bool b) { return b; });
    return out;
}

void fill_index_pattern(std::uint64_t* words, std::size_t n, std::size_t first_index) {
    for (std::size_t i = 0; i < n; ++i) {
        words[i] = first_index + i;
    }
}

std::uint64_t read_sum(const std::uint64_t* words, std::size_t n) {
    // Four independent sums so the adds do not serialise the loads.
    std::uint64_t s0 = 0;
    std::uint64_t s1 = 0;
    std::uint64_t s2 = 0;
    std::uint64_t s3 = 0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += words[i];
        s1 += words[i + 1];
        s2 += words[i + 2];
        s3 += words[i + 3];
    }
    for (; i < n; ++i) {
        s0 += words[i];
    }
    return s0 + s1 + s2 + s3;
}

std::uint64_t index_pattern_sum(std::size_t first, std::size_t n) {
    // n*first + n(n-1)/2, halving whichever factor is even so the product is
    // exact before it wraps.
    const std::uint64_t m = n;
    const std::uint64_t tri = m % 2 == 0 ? (m / 2) * (m - 1) : m * ((m - 1) / 2);
    return m * std::uint64_t{first} + tri;
}

std::vector<std::size_t> latency_sizes(const topology& topo, std::size_t max_bytes, bool quick) {
    std::vector<std::size_t> sizes;
    const std::size_t first = quick ? 16 * 1024 : 4 * 1024;
    const std::size_t factor = quick ? 4 : 2;
    for (std::size_t s = first; s < max_bytes; s *= factor) {
        sizes.push_back(s);
    }
    if (!quick) {
        for (const auto& c : topo.caches()) {
            if (c.type != cache_type::instruction && c.size_bytes >= first && c.size_bytes < max_bytes) {
                sizes.push_back(static_cast<std::size_t>(c.size_bytes));
            }
        }
    }
    sizes.push_back(max_bytes);
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    return sizes;
}

const char* to_string(stream_kernel k) noexcept {
    switch (k) {
    case stream_kernel::copy:
        return "copy";
    case stream_kernel::scale:
        return "scale";
    case stream_kernel::add:
        return "add";
    case stream_kernel::triad:
        break;
    }
    return "triad";
}

std::size_t stream_bytes_per_element(stream_kernel k) noexcept {
    return k == stream_kernel::add || k == stream_kernel::triad ? 3 * sizeof(double) : 2 * sizeof(double);
}

void stream_range(stream_kernel k, double* a, double* b, double* c, std::size_t lo, std::size_t hi) noexcept {
    constexpr double q = k_stream_scalar;
    switch (k) {
    case stream_kernel::copy:
        for (std::size_t i = lo; i < hi; ++i) {
            c[i] = a[i];
        }
        break;
    case stream_kernel::scale:
        for (std::size_t i = lo; i < hi; ++i) {
            b[i] = q * c[i];
        }
        break;
    case stream_kernel::add:
        for (std::size_t i = lo; i < hi; ++i) {
            c[i] = a[i] + b[i];
        }
        break;
    case stream_kernel::triad:
        for (std::size_t i = lo; i < hi; ++i) {
            a[i] = b[i] + q * c[i];
        }
        break;
    }
}

std::size_t stream_first_bad_element(const double* a, const double* b, const double* c, std::size_t n,
                                     unsigned passes) {
    double aj = k_stream_a0;
    double bj = k_stream_b0;
    double cj = k_stream_c0;
    for (unsigned p = 0; p < passes; ++p) {
        cj = aj;
        bj = k_stream_scalar * cj;
        cj = aj + bj;
        aj = bj + k_stream_scalar * cj;
    }
    constexpr double k_epsilon = 1e-13; // STREAM's tolerance for doubles
    const auto off = [](double got, double want) { return std::fabs(got - want) > k_epsilon * std::fabs(want); };
    for (std::size_t i = 0; i < n; ++i) {
        if (off(a[i], aj) || off(b[i], bj) || off(c[i], cj)) {
            return i;
        }
    }
    return n;
}

} // namespace topos::cli
