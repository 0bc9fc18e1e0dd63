// topology/config.cpp - binding policy and thread count values, and every
// TOPOS_* environment variable the library reads.
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include "topology/config.hpp"
#include "topology/places_internal.hpp"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

// A true/false variable: true, 1, yes, on / false, 0, no, off (any case).
bool parse_switch(const std::string& name, const std::string& value) {
    const std::string v = detail::lowercase(detail::trim(value));
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
        return true;
    }
    if (v == "false" || v == "0" || v == "no" || v == "off") {
        return false;
    }
    throw config_error(name + ": '" + detail::printable(value) + "' is not valid; expected true or false");
}

// A setting's value and the variable it came from: TOPOS_<name>, else
// OMP_<name> unless TOPOS_IGNORE_OMP is true (code > TOPOS_* > OMP_* > default).
struct env_setting {
    std::string variable;
    std::string value;
};
std::optional<env_setting> setting_from_environment(const std::string& name) {
    const bool ignore_omp = detail::omp_variables_ignored(); // checked even when unused
    for (const std::string& variable : {"TOPOS_" + name, "OMP_" + name}) {
        if (auto value = env_value(variable.c_str())) {
            return env_setting{variable, *value};
        }
        if (ignore_omp) {
            break;
        }
    }
    return std::nullopt;
}

// OMP_NUM_THREADS and OMP_PROC_BIND may be lists (one entry per nesting
// level): topos takes the first. Every entry must still be valid.
std::string first_of_list(const std::string& text) { return text.substr(0, text.find(',')); }

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

wait_policy parse_wait_policy(std::string_view text) {
    const std::string value = detail::lowercase(detail::trim(text));
    if (value == "auto") {
        return wait_policy::automatic;
    }
    if (value == "active") {
        return wait_policy::active;
    }
    if (value == "passive") {
        return wait_policy::passive;
    }
    throw config_error("wait policy '" + detail::printable(text) + "' is not valid; expected active, passive or auto");
}

std::string_view to_string(wait_policy p) noexcept {
    switch (p) {
    case wait_policy::automatic: return "auto";
    case wait_policy::active: return "active";
    case wait_policy::passive: return "passive";
    }
    return "unknown";
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
    detail::placement_sources sources;
    return detail::with_environment(std::move(opts), sources);
}

namespace detail {

bool omp_variables_ignored() {
    const auto value = env_value("TOPOS_IGNORE_OMP");
    return value && parse_switch("TOPOS_IGNORE_OMP", *value);
}

placement_options with_environment(placement_options opts, placement_sources& sources) {
    sources = {opts.places ? "code" : "default", opts.bind ? "code" : "default", opts.threads ? "code" : "default"};
    if (!opts.places) {
        // Checked when planning: the grammar needs a topology to expand against.
        if (auto s = setting_from_environment("PLACES")) {
            opts.places = s->value;
            sources.places = s->variable;
        }
    }
    if (!opts.bind) {
        if (auto s = setting_from_environment("PROC_BIND")) {
            try {
                const bool omp = s->variable.starts_with("OMP_");
                std::string_view rest = s->value;
                opts.bind = parse_proc_bind(omp ? first_of_list(s->value) : s->value);
                for (std::size_t comma = rest.find(','); omp && comma != std::string_view::npos;
                     comma = rest.find(',')) {
                    rest.remove_prefix(comma + 1);
                    (void)parse_proc_bind(rest.substr(0, rest.find(',')));
                }
            } catch (const config_error& e) {
                throw config_error(s->variable + ": " + e.what());
            }
            sources.bind = s->variable;
        }
    }
    if (!opts.threads) {
        if (auto s = setting_from_environment("NUM_THREADS")) {
            opts.threads = parse_thread_count(s->variable.starts_with("OMP_") ? first_of_list(s->value) : s->value,
                                              s->variable);
            sources.threads = s->variable;
        }
    }
    return opts;
}

placement_plan plan_from_environment(const topology& topo, const placement_options& opts,
                                     placement_sources* sources) {
    placement_sources local;
    placement_sources& where = sources != nullptr ? *sources : local;
    const placement_options filled = with_environment(opts, where);
    try {
        return plan_placement(topo, filled);
    } catch (const places_error& e) {
        if (where.places.ends_with("_PLACES")) { // from a variable: name it
            throw places_error(where.places + ": " + e.what());
        }
        throw;
    }
}

std::optional<std::string> environment_value(const char* name) { return env_value(name); }

std::optional<std::string> topology_spec_from_environment() { return env_value("TOPOS_TOPOLOGY"); }

bool display_affinity_from_environment() {
    const auto s = setting_from_environment("DISPLAY_AFFINITY");
    return s && parse_switch(s->variable, s->value);
}

wait_policy wait_policy_from_environment() {
    const auto s = setting_from_environment("WAIT_POLICY");
    if (!s) {
        return wait_policy::automatic;
    }
    try {
        return parse_wait_policy(s->value);
    } catch (const config_error& e) {
        throw config_error(s->variable + ": " + e.what());
    }
}

std::optional<std::string> trace_path_from_environment() { return env_value("TOPOS_TRACE"); }

std::size_t trace_events_from_environment() {
    constexpr std::size_t k_default = std::size_t{1} << 20;
    constexpr std::uint64_t k_most = std::uint64_t{1} << 32;
    const auto value = env_value("TOPOS_TRACE_EVENTS");
    if (!value) {
        return k_default;
    }
    const std::string_view v = trim(*value);
    std::uint64_t n = 0;
    bool valid = !v.empty();
    for (char c : v) {
        if (!is_digit(c)) {
            valid = false;
            break;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
        if (n > k_most) {
            valid = false; // also stops before the accumulator could overflow
            break;
        }
    }
    if (!valid || n == 0) {
        throw config_error("TOPOS_TRACE_EVENTS: '" + printable(*value) +
                           "' is not valid; expected a whole number of events per worker from 1 to 4294967296");
    }
    return static_cast<std::size_t>(n);
}

} // namespace detail

} // namespace topos
