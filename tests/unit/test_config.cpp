// Tests for the configuration values (binding policy, thread count) and the
// TOPOS_* environment variables.
#include <topos/error.hpp>
#include <topos/placement.hpp>

#include "topology/config.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <optional>
#include <string>

namespace {

using topos::proc_bind;

std::string message_of(auto&& call) {
    try {
        call();
    } catch (const topos::config_error& e) {
        return e.what();
    }
    return "(no config_error)";
}

TEST(ConfigTest, ParseProcBindAcceptsEveryPolicy) {
    EXPECT_EQ(topos::parse_proc_bind("false"), proc_bind::disabled);
    EXPECT_EQ(topos::parse_proc_bind("true"), proc_bind::enabled);
    EXPECT_EQ(topos::parse_proc_bind("primary"), proc_bind::primary);
    EXPECT_EQ(topos::parse_proc_bind("close"), proc_bind::close);
    EXPECT_EQ(topos::parse_proc_bind("spread"), proc_bind::spread);
}

TEST(ConfigTest, ParseProcBindAcceptsMasterAsPrimary) {
    EXPECT_EQ(topos::parse_proc_bind("master"), proc_bind::primary);
    EXPECT_EQ(topos::parse_proc_bind("MASTER"), proc_bind::primary);
}

TEST(ConfigTest, ParseProcBindIgnoresCaseAndSurroundingSpace) {
    EXPECT_EQ(topos::parse_proc_bind("SPREAD"), proc_bind::spread);
    EXPECT_EQ(topos::parse_proc_bind("Close"), proc_bind::close);
    EXPECT_EQ(topos::parse_proc_bind("  true "), proc_bind::enabled);
    EXPECT_EQ(topos::parse_proc_bind("\tFaLsE\n"), proc_bind::disabled);
    EXPECT_EQ(topos::parse_proc_bind(" Primary"), proc_bind::primary);
}

TEST(ConfigTest, ParseProcBindRejectsUnknownValues) {
    for (const char* bad : {"", " ", "closer", "clos", "spread close", "yes", "no", "1", "0", "on", "c lose",
                            "nearest", "\"close\""}) {
        SCOPED_TRACE(std::string("value '") + bad + "'");
        const auto message = message_of([&] { (void)topos::parse_proc_bind(bad); });
        EXPECT_NE(message.find(std::string("'") + bad + "'"), std::string::npos) << message;
        EXPECT_NE(message.find("expected one of false, true, primary, close or spread"), std::string::npos)
            << message;
    }
}

TEST(ConfigTest, ParseProcBindRejectsNestedLists) {
    for (const char* list : {"spread,close", "close, close", "true,false", ","}) {
        SCOPED_TRACE(list);
        const auto message = message_of([&] { (void)topos::parse_proc_bind(list); });
        EXPECT_NE(message.find(std::string("'") + list + "'"), std::string::npos) << message;
        EXPECT_NE(message.find("nested"), std::string::npos) << message;
    }
}

TEST(ConfigTest, ParseThreadCountAcceptsWholeNumbers) {
    EXPECT_EQ(topos::parse_thread_count("1", "threads"), 1U);
    EXPECT_EQ(topos::parse_thread_count("8", "threads"), 8U);
    EXPECT_EQ(topos::parse_thread_count("64", "threads"), 64U);
    EXPECT_EQ(topos::parse_thread_count("4096", "threads"), topos::k_max_threads);
    EXPECT_EQ(topos::parse_thread_count("007", "threads"), 7U);
}

TEST(ConfigTest, ParseThreadCountRejectsEverythingElse) {
    for (const char* bad : {"", "0", "00", "-1", "+4", "4x", "x4", " 4", "4 ", "4.0", "1e3", "0x10", "4,4",
                            "99999999999999999999", "4097", "18446744073709551617", "\xd9\xa4"}) {
        SCOPED_TRACE(std::string("value '") + bad + "'");
        const auto message = message_of([&] { (void)topos::parse_thread_count(bad, "--threads"); });
        EXPECT_EQ(message, std::string("--threads: '") + bad +
                               "' is not a valid thread count; expected a whole number from 1 to 4096");
    }
}

TEST(ConfigTest, ParseThreadCountEscapesControlCharacters) {
    const auto message = message_of([] { (void)topos::parse_thread_count("4\n", "count"); });
    EXPECT_EQ(message, "count: '4\\x0a' is not a valid thread count; expected a whole number from 1 to 4096");
}

// Saves the TOPOS_* and OMP_* variables the tests touch, clears them, and restores
// them afterwards so tests neither see nor leave behind each other's values.
TEST(ConfigTest, ParseWaitPolicyAcceptsEachPolicyInAnyCase) {
    EXPECT_EQ(topos::parse_wait_policy("active"), topos::wait_policy::active);
    EXPECT_EQ(topos::parse_wait_policy(" PASSIVE\t"), topos::wait_policy::passive);
    EXPECT_EQ(topos::parse_wait_policy("Auto"), topos::wait_policy::automatic);
    for (auto p : {topos::wait_policy::active, topos::wait_policy::passive, topos::wait_policy::automatic}) {
        EXPECT_EQ(topos::parse_wait_policy(topos::to_string(p)), p);
    }
    EXPECT_EQ(message_of([] { (void)topos::parse_wait_policy("spin"); }),
              "wait policy 'spin' is not valid; expected active, passive or auto");
    EXPECT_EQ(message_of([] { (void)topos::parse_wait_policy(""); }),
              "wait policy '' is not valid; expected active, passive or auto");
}

class ConfigEnvTest : public ::testing::Test {
protected:
    static constexpr std::array<const char*, 11> k_names = {
        "TOPOS_PLACES",    "TOPOS_PROC_BIND",      "TOPOS_NUM_THREADS",      "TOPOS_IGNORE_OMP",
        "OMP_PLACES",      "OMP_PROC_BIND",        "OMP_NUM_THREADS",        "TOPOS_DISPLAY_AFFINITY",
        "OMP_DISPLAY_AFFINITY", "TOPOS_WAIT_POLICY", "OMP_WAIT_POLICY"};

    void SetUp() override {
        for (std::size_t i = 0; i < k_names.size(); ++i) {
            const char* value = std::getenv(k_names[i]);
            m_saved[i] = value == nullptr ? std::nullopt : std::optional<std::string>(value);
            ::unsetenv(k_names[i]);
        }
    }

    void TearDown() override {
        for (std::size_t i = 0; i < k_names.size(); ++i) {
            if (m_saved[i]) {
                ::setenv(k_names[i], m_saved[i]->c_str(), 1);
            } else {
                ::unsetenv(k_names[i]);
            }
        }
    }

    static void set(const char* name, const char* value) { ASSERT_EQ(::setenv(name, value, 1), 0); }

private:
    std::array<std::optional<std::string>, k_names.size()> m_saved;
};

TEST_F(ConfigEnvTest, NothingSetLeavesEveryFieldUnset) {
    const auto opts = topos::with_environment({});
    EXPECT_FALSE(opts.places);
    EXPECT_FALSE(opts.bind);
    EXPECT_FALSE(opts.threads);
}

TEST_F(ConfigEnvTest, VariablesFillUnsetFields) {
    set("TOPOS_PLACES", "numa_domains(2)");
    set("TOPOS_PROC_BIND", "Spread");
    set("TOPOS_NUM_THREADS", "12");
    const auto opts = topos::with_environment({});
    EXPECT_EQ(opts.places, "numa_domains(2)");
    EXPECT_EQ(opts.bind, proc_bind::spread);
    EXPECT_EQ(opts.threads, 12U);
}

TEST_F(ConfigEnvTest, EmptyVariablesCountAsUnset) {
    set("TOPOS_PLACES", "");
    set("TOPOS_PROC_BIND", "");
    set("TOPOS_NUM_THREADS", "");
    const auto opts = topos::with_environment({});
    EXPECT_FALSE(opts.places);
    EXPECT_FALSE(opts.bind);
    EXPECT_FALSE(opts.threads);
}

TEST_F(ConfigEnvTest, FieldsSetInCodeWinOverTheEnvironment) {
    set("TOPOS_PLACES", "threads");
    set("TOPOS_PROC_BIND", "spread");
    set("TOPOS_NUM_THREADS", "12");
    const auto opts = topos::with_environment({.places = "sockets", .bind = proc_bind::primary, .threads = 3U});
    EXPECT_EQ(opts.places, "sockets");
    EXPECT_EQ(opts.bind, proc_bind::primary);
    EXPECT_EQ(opts.threads, 3U);

    // Only the unset field is taken from the environment.
    const auto mixed = topos::with_environment({.places = {}, .bind = proc_bind::close, .threads = {}});
    EXPECT_EQ(mixed.places, "threads");
    EXPECT_EQ(mixed.bind, proc_bind::close);
    EXPECT_EQ(mixed.threads, 12U);
}

TEST_F(ConfigEnvTest, AVariableShadowedByCodeIsNotRead) {
    set("TOPOS_PROC_BIND", "sideways");
    set("TOPOS_NUM_THREADS", "lots");
    const auto opts = topos::with_environment({.places = {}, .bind = proc_bind::close, .threads = 2U});
    EXPECT_EQ(opts.bind, proc_bind::close);
    EXPECT_EQ(opts.threads, 2U);
}

TEST_F(ConfigEnvTest, BadProcBindNamesTheVariableAndValue) {
    set("TOPOS_PROC_BIND", "sideways");
    const auto message = message_of([] { (void)topos::with_environment({}); });
    EXPECT_NE(message.find("TOPOS_PROC_BIND"), std::string::npos) << message;
    EXPECT_NE(message.find("'sideways'"), std::string::npos) << message;

    set("TOPOS_PROC_BIND", "spread,close");
    const auto nested = message_of([] { (void)topos::with_environment({}); });
    EXPECT_NE(nested.find("TOPOS_PROC_BIND"), std::string::npos) << nested;
    EXPECT_NE(nested.find("nested"), std::string::npos) << nested;
}

TEST_F(ConfigEnvTest, BadThreadCountNamesTheVariableAndValue) {
    for (const char* bad : {"0", "-2", "4097", "eight", " 8"}) {
        SCOPED_TRACE(bad);
        set("TOPOS_NUM_THREADS", bad);
        const auto message = message_of([] { (void)topos::with_environment({}); });
        EXPECT_EQ(message, std::string("TOPOS_NUM_THREADS: '") + bad +
                               "' is not a valid thread count; expected a whole number from 1 to 4096");
    }
}

TEST_F(ConfigEnvTest, PlacesAreCheckedWhenPlanning) {
    set("TOPOS_PLACES", "{0:4}:99");
    const auto opts = topos::with_environment({});
    EXPECT_EQ(opts.places, "{0:4}:99");
    const auto topo = topos::topology::synthetic("pack:1 core:4 pu:1");
    EXPECT_THROW((void)topos::plan_placement(topo, opts), topos::places_error);

    set("TOPOS_PLACES", "{1:2}:2");
    set("TOPOS_PROC_BIND", "spread");
    const auto plan = topos::plan_placement(topo, topos::with_environment({}));
    EXPECT_EQ(plan.places_text, "{1:2}:2");
    EXPECT_EQ(plan.bind, proc_bind::spread);
    ASSERT_EQ(plan.workers.size(), 2U);
    EXPECT_EQ(plan.workers[1].pus, (std::vector<int>{2, 3}));
}

// OpenMP's variables fill what TOPOS_* leaves unset (code > TOPOS_* > OMP_* > default).
TEST_F(ConfigEnvTest, OmpVariablesFillWhatToposVariablesLeaveUnset) {
    set("OMP_PLACES", "sockets");
    set("OMP_PROC_BIND", "spread");
    set("OMP_NUM_THREADS", "6");
    topos::detail::placement_sources from;
    auto opts = topos::detail::with_environment({}, from);
    EXPECT_EQ(opts.places, "sockets");
    EXPECT_EQ(opts.bind, proc_bind::spread);
    EXPECT_EQ(opts.threads, 6U);
    EXPECT_EQ(from.places, "OMP_PLACES");
    EXPECT_EQ(from.bind, "OMP_PROC_BIND");
    EXPECT_EQ(from.threads, "OMP_NUM_THREADS");

    set("TOPOS_NUM_THREADS", "3");
    opts = topos::detail::with_environment({.places = "cores", .bind = {}, .threads = {}}, from);
    EXPECT_EQ(opts.places, "cores");
    EXPECT_EQ(opts.threads, 3U);
    EXPECT_EQ(from.places, "code");
    EXPECT_EQ(from.bind, "OMP_PROC_BIND");
    EXPECT_EQ(from.threads, "TOPOS_NUM_THREADS");
}

TEST_F(ConfigEnvTest, OmpListsGiveTheirFirstEntryAndAreChecked) {
    set("OMP_NUM_THREADS", "4,2,1");
    set("OMP_PROC_BIND", "spread,close");
    const auto opts = topos::with_environment({});
    EXPECT_EQ(opts.threads, 4U);
    EXPECT_EQ(opts.bind, proc_bind::spread);

    set("OMP_PROC_BIND", "close,sideways");
    auto message = message_of([] { (void)topos::with_environment({}); });
    EXPECT_EQ(message.rfind("OMP_PROC_BIND: ", 0), 0U) << message;
    EXPECT_NE(message.find("'sideways'"), std::string::npos) << message;
    ::unsetenv("OMP_PROC_BIND");

    for (const char* bad : {"0", "x,2", ",4", "99999"}) {
        SCOPED_TRACE(bad);
        set("OMP_NUM_THREADS", bad);
        message = message_of([] { (void)topos::with_environment({}); });
        EXPECT_EQ(message.rfind("OMP_NUM_THREADS: '", 0), 0U) << message;
    }
}

TEST_F(ConfigEnvTest, IgnoreOmpTurnsTheOmpVariablesOff) {
    set("OMP_NUM_THREADS", "5");
    set("OMP_PROC_BIND", "sideways"); // not even read
    set("TOPOS_IGNORE_OMP", "1");
    topos::detail::placement_sources from;
    const auto opts = topos::detail::with_environment({}, from);
    EXPECT_FALSE(opts.threads);
    EXPECT_FALSE(opts.bind);
    EXPECT_EQ(from.threads, "default");
    EXPECT_TRUE(topos::detail::omp_variables_ignored());

    set("TOPOS_IGNORE_OMP", "0");
    EXPECT_FALSE(topos::detail::omp_variables_ignored());
    set("TOPOS_IGNORE_OMP", "perhaps");
    const auto message = message_of([] { (void)topos::with_environment({}); });
    EXPECT_EQ(message, "TOPOS_IGNORE_OMP: 'perhaps' is not valid; expected true or false");
}

TEST_F(ConfigEnvTest, DisplayAffinityFallsBackToOmp) {
    EXPECT_FALSE(topos::detail::display_affinity_from_environment());
    set("OMP_DISPLAY_AFFINITY", "TRUE");
    EXPECT_TRUE(topos::detail::display_affinity_from_environment());
    set("TOPOS_DISPLAY_AFFINITY", "false");
    EXPECT_FALSE(topos::detail::display_affinity_from_environment());
    ::unsetenv("TOPOS_DISPLAY_AFFINITY");
    set("OMP_DISPLAY_AFFINITY", "loud");
    const auto message = message_of([] { (void)topos::detail::display_affinity_from_environment(); });
    EXPECT_EQ(message, "OMP_DISPLAY_AFFINITY: 'loud' is not valid; expected true or false");
    set("TOPOS_IGNORE_OMP", "true");
    EXPECT_FALSE(topos::detail::display_affinity_from_environment());
}

TEST_F(ConfigEnvTest, WaitPolicyFallsBackToOmpAndNamesABadVariable) {
    EXPECT_EQ(topos::detail::wait_policy_from_environment(), topos::wait_policy::automatic);
    set("OMP_WAIT_POLICY", "PASSIVE");
    EXPECT_EQ(topos::detail::wait_policy_from_environment(), topos::wait_policy::passive);
    set("TOPOS_WAIT_POLICY", "active");
    EXPECT_EQ(topos::detail::wait_policy_from_environment(), topos::wait_policy::active);
    set("TOPOS_WAIT_POLICY", "");
    EXPECT_EQ(topos::detail::wait_policy_from_environment(), topos::wait_policy::passive); // empty is unset
    set("OMP_WAIT_POLICY", "eager");
    EXPECT_EQ(message_of([] { (void)topos::detail::wait_policy_from_environment(); }),
              "OMP_WAIT_POLICY: wait policy 'eager' is not valid; expected active, passive or auto");
    set("TOPOS_IGNORE_OMP", "1");
    EXPECT_EQ(topos::detail::wait_policy_from_environment(), topos::wait_policy::automatic);
    set("TOPOS_WAIT_POLICY", "later");
    EXPECT_EQ(message_of([] { (void)topos::detail::wait_policy_from_environment(); }),
              "TOPOS_WAIT_POLICY: wait policy 'later' is not valid; expected active, passive or auto");
}

TEST_F(ConfigEnvTest, APlacesListFromAVariableIsNamedWhenPlanning) {
    const auto topo = topos::topology::synthetic("pack:1 core:4 pu:1");
    set("OMP_PLACES", "{0:4}:99");
    topos::detail::placement_sources from;
    try {
        (void)topos::detail::plan_from_environment(topo, {}, &from);
        ADD_FAILURE() << "no places_error";
    } catch (const topos::places_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("OMP_PLACES: ", 0), 0U) << e.what();
    }
    set("TOPOS_PLACES", "{1:2}:2");
    const auto plan = topos::detail::plan_from_environment(topo, {}, &from);
    EXPECT_EQ(plan.places_text, "{1:2}:2");
    EXPECT_EQ(from.places, "TOPOS_PLACES");
}

} // namespace
