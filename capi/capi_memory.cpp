// capi/capi_memory.cpp - allocation with policies, page placement and the
// block-distributed array of <topos/topos.h>.
#include "capi/capi_common.hpp"
#include "capi/capi_handles.hpp"

#include <topos/memory.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace topos::capi {
namespace {

void require_bytes(std::size_t bytes, const char* what) {
    if (bytes == 0) {
        reject(TOPOS_E_INVALID_ARGUMENT, std::string(what) + " is 0; expected a positive size");
    }
}

std::vector<int> node_list(const int* nodes, std::size_t count) {
    if (nodes == nullptr && count > 0) {
        reject(TOPOS_E_INVALID_ARGUMENT, "nodes is NULL with node_count " + std::to_string(count));
    }
    return count == 0 ? std::vector<int>{} : std::vector<int>(nodes, nodes + count);
}

mem_policy policy_of(topos_mem_kind kind, const std::vector<int>& nodes) {
    const auto exactly_one = [&](const char* name) {
        if (nodes.size() != 1) {
            reject(TOPOS_E_INVALID_ARGUMENT, std::string(name) + " takes exactly one node; node_count is " +
                                                 std::to_string(nodes.size()));
        }
        return nodes.front();
    };
    switch (kind) {
    case TOPOS_MEM_LOCAL:
        if (!nodes.empty()) {
            reject(TOPOS_E_INVALID_ARGUMENT,
                   "TOPOS_MEM_LOCAL takes no nodes; node_count is " + std::to_string(nodes.size()));
        }
        return mem_policy::local();
    case TOPOS_MEM_ON_NODE: return mem_policy::on_node(exactly_one("TOPOS_MEM_ON_NODE"));
    case TOPOS_MEM_PREFERRED: return mem_policy::preferred(exactly_one("TOPOS_MEM_PREFERRED"));
    case TOPOS_MEM_INTERLEAVE: return mem_policy::interleave(nodes);
    case TOPOS_MEM_BIND:
        if (nodes.empty()) {
            reject(TOPOS_E_INVALID_ARGUMENT, "TOPOS_MEM_BIND needs at least one node; node_count is 0");
        }
        return mem_policy::bind(nodes);
    case TOPOS_MEM_KIND_MAX_ENUM: break;
    }
    reject(TOPOS_E_INVALID_ARGUMENT, "kind " + std::to_string(static_cast<int>(kind)) +
                                         " is not a memory policy; expected TOPOS_MEM_LOCAL .. TOPOS_MEM_BIND");
}

} // namespace
} // namespace topos::capi

using namespace topos::capi;

extern "C" {

topos_status topos_alloc(size_t bytes, topos_mem_kind kind, const int* nodes, size_t node_count, unsigned flags,
                         void** out) {
    return guard("topos_alloc", [&] {
        require_out(out, "out");
        *out = nullptr;
        require_bytes(bytes, "bytes");
        if ((flags & ~(TOPOS_ALLOC_OWN_PAGES | TOPOS_ALLOC_HUGE_PAGES)) != 0) {
            reject(TOPOS_E_INVALID_ARGUMENT, "flags " + std::to_string(flags) +
                                                 " has unknown bits; expected TOPOS_ALLOC_OWN_PAGES | TOPOS_ALLOC_HUGE_PAGES");
        }
        const topos::mem_policy policy = policy_of(kind, node_list(nodes, node_count));
        *out = topos::allocate(bytes, policy,
                               {.huge_pages = (flags & TOPOS_ALLOC_HUGE_PAGES) != 0,
                                .own_pages = (flags & TOPOS_ALLOC_OWN_PAGES) != 0});
        return TOPOS_OK;
    });
}

topos_status topos_free(void* p, size_t bytes) {
    return guard("topos_free", [&] {
        if (p == nullptr) {
            return TOPOS_OK;
        }
        require_bytes(bytes, "bytes");
        topos::deallocate(p, bytes);
        return TOPOS_OK;
    });
}

topos_status topos_page_nodes(const void* p, size_t bytes, int* nodes, size_t capacity, size_t* pages) {
    return guard("topos_page_nodes", [&] {
        require_out(p, "p");
        require_out(pages, "pages");
        require_bytes(bytes, "bytes");
        if (nodes == nullptr && capacity > 0) {
            reject(TOPOS_E_INVALID_ARGUMENT, "nodes is NULL with a capacity of " + std::to_string(capacity));
        }
        const std::vector<int> where = topos::page_nodes(p, bytes);
        std::copy_n(where.begin(), std::min(capacity, where.size()), nodes);
        *pages = where.size();
        return TOPOS_OK;
    });
}

topos_status topos_migrate(void* p, size_t bytes, int node, size_t* moved) {
    return guard("topos_migrate", [&] {
        require_out(p, "p");
        require_bytes(bytes, "bytes");
        const std::size_t n = topos::migrate(p, bytes, node);
        if (moved != nullptr) {
            *moved = n;
        }
        return TOPOS_OK;
    });
}

topos_status topos_page_size(size_t* out) {
    return guard("topos_page_size", [&] {
        require_out(out, "out");
        *out = topos::get_memory_status().page_size;
        return TOPOS_OK;
    });
}

topos_status topos_node_array_create(size_t count, size_t elem_size, const int* nodes, size_t node_count,
                                     topos_node_array_t** out) {
    return guard("topos_node_array_create", [&] {
        require_out(out, "out");
        *out = nullptr;
        require_bytes(count, "count");
        require_bytes(elem_size, "elem_size");
        if (count > std::numeric_limits<std::size_t>::max() / elem_size) {
            reject(TOPOS_E_INVALID_ARGUMENT, "count " + std::to_string(count) + " x elem_size " +
                                                 std::to_string(elem_size) + " overflows");
        }
        std::vector<int> list = node_list(nodes, node_count);
        if (list.empty()) {
            list.resize(topos::get_memory_status().node_count);
            for (std::size_t i = 0; i < list.size(); ++i) {
                list[i] = static_cast<int>(i);
            }
        }
        for (int node : list) {
            (void)topos::mem_policy::on_node(node); // node_error naming an unknown node
        }
        auto a = std::make_unique<topos_node_array>();
        a->count = count;
        a->bytes = count * elem_size;
        const std::size_t k = list.size();
        for (std::size_t i = 0; i < k; ++i) {
            a->blocks.push_back({list[i], i * count / k, (i + 1) * count / k});
        }
        // As node_array: bind each block's pages before the first touch (the
        // zeroing), a straddling page going to the lower block's node.
        a->data = topos::allocate(a->bytes, topos::mem_policy::local(), {.alignment = 64, .own_pages = true});
        try {
            const std::size_t page = topos::get_memory_status().page_size;
            const auto up = [page](std::size_t v) { return (v + page - 1) / page * page; };
            for (std::size_t i = 0; i < k; ++i) {
                const std::size_t first = i == 0 ? 0 : up(a->blocks[i].begin * elem_size);
                const std::size_t last = std::min(up(a->bytes), up(a->blocks[i].end * elem_size));
                if (last > first) {
                    topos::set_mem_policy(static_cast<char*>(a->data) + first, last - first,
                                          topos::mem_policy::on_node(a->blocks[i].node));
                }
            }
            std::memset(a->data, 0, a->bytes);
        } catch (...) {
            topos::deallocate(a->data, a->bytes);
            throw;
        }
        *out = a.release();
        return TOPOS_OK;
    });
}

topos_status topos_node_array_destroy(topos_node_array_t* array) {
    return guard("topos_node_array_destroy", [&] {
        auto& a = check_handle(array, "array");
        a.magic = 0;
        topos::deallocate(a.data, a.bytes);
        delete &a;
        return TOPOS_OK;
    });
}

topos_status topos_node_array_data(const topos_node_array_t* array, void** out) {
    return guard("topos_node_array_data", [&] {
        const auto& a = check_handle(array, "array");
        require_out(out, "out");
        *out = a.data;
        return TOPOS_OK;
    });
}

topos_status topos_node_array_size(const topos_node_array_t* array, size_t* out) {
    return guard("topos_node_array_size", [&] {
        const auto& a = check_handle(array, "array");
        require_out(out, "out");
        *out = a.count;
        return TOPOS_OK;
    });
}

topos_status topos_node_array_node_of(const topos_node_array_t* array, size_t index, int* out) {
    return guard("topos_node_array_node_of", [&] {
        const auto& a = check_handle(array, "array");
        require_out(out, "out");
        if (index >= a.count) {
            reject(TOPOS_E_INDEX, "index " + std::to_string(index) + " is past the end; the array has " +
                                      std::to_string(a.count) + " elements");
        }
        const auto it = std::upper_bound(a.blocks.begin(), a.blocks.end(), index,
                                         [](std::size_t i, const topos::node_block& b) { return i < b.end; });
        *out = it->node;
        return TOPOS_OK;
    });
}

topos_status topos_node_array_block_count(const topos_node_array_t* array, size_t* out) {
    return guard("topos_node_array_block_count", [&] {
        const auto& a = check_handle(array, "array");
        require_out(out, "out");
        *out = a.blocks.size();
        return TOPOS_OK;
    });
}

topos_status topos_node_array_block(const topos_node_array_t* array, size_t i, int* node, size_t* begin, size_t* end) {
    return guard("topos_node_array_block", [&] {
        const auto& a = check_handle(array, "array");
        require_out(node, "node");
        require_out(begin, "begin");
        require_out(end, "end");
        if (i >= a.blocks.size()) {
            reject(TOPOS_E_INDEX, "block " + std::to_string(i) + " is past the end; the array has " +
                                      std::to_string(a.blocks.size()) + " blocks");
        }
        *node = a.blocks[i].node;
        *begin = a.blocks[i].begin;
        *end = a.blocks[i].end;
        return TOPOS_OK;
    });
}

} // extern "C"
