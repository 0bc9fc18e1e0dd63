// tools/pinning.cpp - what the measuring threads need from the machine (its
// caches, free memory and cores) and running them pinned, in rounds.
#include "pinning.hpp"

#include "os/affinity.hpp"

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace topos::cli {
namespace {

using clock_type = std::chrono::steady_clock;

} // namespace

std::uint64_t last_level_cache_bytes(const topology& topo) {
    const int level = topo.last_cache_level();
    std::uint64_t total = 0;
    for (const auto& c : topo.caches()) {
        if (c.level == level && c.type != cache_type::instruction) {
            total += c.size_bytes;
        }
    }
    return total;
}

std::uint64_t cache_bytes(const topology& topo, int level) {
    for (const auto& c : topo.caches()) {
        if (c.level == level && c.type != cache_type::instruction) {
            return c.size_bytes;
        }
    }
    return 0;
}

std::uint64_t available_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("MemAvailable:")) {
            return std::strtoull(line.c_str() + 13, nullptr, 10) * 1024;
        }
    }
    return 0;
}

std::vector<std::vector<int>> core_pus_of_node(const topology& topo, int node) {
    std::vector<std::vector<int>> out;
    for (const auto& core : topo.cores()) {
        if (core.node == node && !core.pus.empty()) {
            out.push_back(core.pus);
        }
    }
    return out;
}

std::string places_of(const std::vector<std::vector<int>>& sets) {
    std::string out;
    for (const auto& set : sets) {
        out += out.empty() ? "{" : ",{";
        for (std::size_t i = 0; i < set.size(); ++i) {
            out += (i == 0 ? "" : ",") + std::to_string(set[i]);
        }
        out += "}";
    }
    return out;
}

bool pin_this_thread(const std::vector<int>& pus) {
    if (pus.empty()) {
        return true;
    }
    std::string why;
    return os::pin_current_thread(pus, why);
}

std::vector<double> run_pinned_rounds(const std::vector<std::vector<int>>& pu_sets, unsigned rounds,
                                      const std::function<void(unsigned, unsigned)>& body, bool* pinned) {
    const auto threads = static_cast<unsigned>(pu_sets.size());
    // starts[r][t] / ends[r][t] are written by thread t only; read after join.
    std::vector<std::vector<clock_type::time_point>> starts(rounds, std::vector<clock_type::time_point>(threads));
    std::vector<std::vector<clock_type::time_point>> ends(rounds, std::vector<clock_type::time_point>(threads));
    std::vector<char> pin_ok(threads, 1);
    std::barrier sync(static_cast<std::ptrdiff_t>(threads));
    std::vector<std::thread> team;
    team.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            pin_ok[t] = pin_this_thread(pu_sets[t]) ? 1 : 0;
            for (unsigned r = 0; r < rounds; ++r) {
                sync.arrive_and_wait();
                starts[r][t] = clock_type::now();
                body(t, r);
                ends[r][t] = clock_type::now();
            }
        });
    }
    for (auto& th : team) {
        th.join();
    }
    if (pinned != nullptr) {
        *pinned = std::all_of(pin_ok.begin(), pin_ok.end(), [](char ok) { return ok != 0; });
    }
    std::vector<double> seconds(rounds);
    for (unsigned r = 0; r < rounds; ++r) {
        const auto first = *std::min_element(starts[r].begin(), starts[r].end());
        const auto last = *std::max_element(ends[r].begin(), ends[r].end());
        seconds[r] = std::chrono::duration<double>(last - first).count();
    }
    return seconds;
}

} // namespace topos::cli
