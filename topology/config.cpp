// topology/config.cpp - binding policy and thread count values, and every
// TOPOS_* environment variable the library reads.
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include "topology/config.hpp"
#include "topology/places_internal.hpp"

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace topos {
namespace {

constexpr std::string_view k_proc_bind_values = "false, true, primary, close or spread";

// The variable's value, or nothing when it is unset or empty.
std::optional<std::string> env_value(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        return std::nullopt;
    }
    return std::string(value);
}

} // namespace

proc_bind parse_proc_bind(std::string_view text) {
    const std::string value = detail::lowercase(detail::trim(text));
    if (value == "false") {
        return proc_bind::disabled;
    }
    if (value == "true") {
        return proc_bind::enabled;
    }
    if (value == "primary" || value == "master") {
        return proc_bind::primary;
    }
    if (value == "close") {
        return proc_bind::close;
    }
    if (value == "spread") {
        return proc_bind::spread;
    }
    const std::string quoted = "'" + detail::printable(text) + "'";
    if (value.find(',') != std::string::npos) {
        throw config_error("binding policy " + quoted +
                           " is a list for nested parallelism, which topos does not support; expected one of " +
                           std::string(k_proc_bind_values));
    }
    throw config_error("binding policy " + quoted + " is not valid; expected one of " +
                       std::string(k_proc_bind_values));
}

unsigned parse_thread_count(std::string_view text, std::string_view what) {
    unsigned long value = 0;
    bool valid = !text.empty();
    for (char c : text) {
        if (!detail::is_digit(c)) {
            valid = false;
            break;
        }
        value = value * 10 + static_cast<unsigned long>(c - '0');
        if (value > k_max_threads) {
            valid = false; // also stops before the accumulator could overflow
            break;
        }
    }
    if (!valid || value == 0) {
        throw config_error(std::string(what) + ": '" + detail::printable(text) +
                           "' is not a valid thread count; expected a whole number from 1 to " +
                           std::to_string(k_max_threads));
    }
    return static_cast<unsigned>(value);
}

placement_options with_environment(placement_options opts) {
    if (!opts.places) {
        // Checked when planning: the grammar needs a topology to expand against.
        opts.places = env_value("TOPOS_PLACES");
    }
    if (!opts.bind) {
        if (auto value = env_value("TOPOS_PROC_BIND")) {
            try {
                opts.bind = parse_proc_bind(*value);
            } catch (const config_error& e) {
                throw config_error(std::string("TOPOS_PROC_BIND: ") + e.what());
            }
        }
    }
    if (!opts.threads) {
        if (auto value = env_value("TOPOS_NUM_THREADS")) {
            opts.threads = parse_thread_count(*value, "TOPOS_NUM_THREADS");
        }
    }
    return opts;
}

namespace detail {

std::optional<std::string> environment_value(const char* name) { return env_value(name); }

std::optional<std::string> topology_spec_from_environment() { return env_value("TOPOS_TOPOLOGY"); }

bool display_affinity_from_environment() {
    const auto value = env_value("TOPOS_DISPLAY_AFFINITY");
    if (!value) {
        return false;
    }
    const std::string v = lowercase(trim(*value));
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
        return true;
    }
    if (v == "false" || v == "0" || v == "no" || v == "off") {
        return false;
    }
    throw config_error("TOPOS_DISPLAY_AFFINITY: '" + printable(*value) + "' is not valid; expected true or false");
}

} // namespace detail

} // namespace topos
