// OMP_* conventions: a table of environments (and settings in code), each
// checked through the real `topos places --json` binary and through a
// runtime in this process: the plan's places, bind and thread count, and for
// the binary where each setting came from. Precedence: code > TOPOS_* >
// OMP_* > defaults; TOPOS_IGNORE_OMP=1 turns OMP_* off.
#include <topos/error.hpp>
#include <topos/runtime.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using json = nlohmann::json;

const std::string k_topology = "synthetic:pack:2 numa:1 core:4 pu:2"; // 8 cores, 16 PUs

constexpr std::array<const char*, 9> k_variables{
    "TOPOS_PLACES", "TOPOS_PROC_BIND", "TOPOS_NUM_THREADS", "TOPOS_IGNORE_OMP",    "OMP_PLACES",
    "OMP_PROC_BIND", "OMP_NUM_THREADS", "TOPOS_DISPLAY_AFFINITY", "OMP_DISPLAY_AFFINITY"};

struct case_row {
    const char* name;
    std::map<std::string, std::string> env;
    std::optional<unsigned> code_threads; // --threads / runtime_options::threads
    std::string places;
    std::string bind;
    unsigned threads;
    std::string places_from;
    std::string bind_from;
    std::string threads_from;
};

const std::vector<case_row> k_cases = {
    {"nothing set", {}, {}, "cores", "close", 8, "default", "default", "default"},
    {"OMP_* alone",
     {{"OMP_PLACES", "sockets"}, {"OMP_PROC_BIND", "spread"}, {"OMP_NUM_THREADS", "2"}},
     {}, "sockets", "spread", 2, "OMP_PLACES", "OMP_PROC_BIND", "OMP_NUM_THREADS"},
    {"TOPOS_* wins over OMP_*",
     {{"TOPOS_PLACES", "threads"}, {"OMP_PLACES", "sockets"}, {"TOPOS_PROC_BIND", "close"},
      {"OMP_PROC_BIND", "spread"}, {"TOPOS_NUM_THREADS", "3"}, {"OMP_NUM_THREADS", "5"}},
     {}, "threads", "close", 3, "TOPOS_PLACES", "TOPOS_PROC_BIND", "TOPOS_NUM_THREADS"},
    {"code wins over both",
     {{"TOPOS_NUM_THREADS", "3"}, {"OMP_NUM_THREADS", "5"}, {"OMP_PROC_BIND", "spread"}},
     4U, "cores", "spread", 4, "default", "OMP_PROC_BIND", "code"},
    {"OMP_* fills what TOPOS_* leaves",
     {{"TOPOS_PLACES", "sockets"}, {"OMP_NUM_THREADS", "6"}},
     {}, "sockets", "close", 6, "TOPOS_PLACES", "default", "OMP_NUM_THREADS"},
    {"nested lists give the first level",
     {{"OMP_NUM_THREADS", "4,2"}, {"OMP_PROC_BIND", "spread,close"}},
     {}, "cores", "spread", 4, "default", "OMP_PROC_BIND", "OMP_NUM_THREADS"},
    {"OMP_PROC_BIND=false",
     {{"OMP_PROC_BIND", "false"}, {"OMP_NUM_THREADS", "2"}},
     {}, "cores", "false", 2, "default", "OMP_PROC_BIND", "OMP_NUM_THREADS"},
    {"TOPOS_IGNORE_OMP=1",
     {{"TOPOS_IGNORE_OMP", "1"}, {"OMP_PLACES", "sockets"}, {"OMP_PROC_BIND", "sideways"}, {"OMP_NUM_THREADS", "2"}},
     {}, "cores", "close", 8, "default", "default", "default"},
    {"TOPOS_IGNORE_OMP=0",
     {{"TOPOS_IGNORE_OMP", "0"}, {"OMP_NUM_THREADS", "2"}},
     {}, "cores", "close", 2, "default", "default", "OMP_NUM_THREADS"},
    {"empty OMP_* count as unset",
     {{"OMP_PLACES", ""}, {"OMP_NUM_THREADS", ""}},
     {}, "cores", "close", 8, "default", "default", "default"},
};

struct bad_row {
    const char* name;
    std::map<std::string, std::string> env;
    std::string message_start; // of the library's message, and after "topos: error: "
};

const std::vector<bad_row> k_bad = {
    {"bad OMP_NUM_THREADS", {{"OMP_NUM_THREADS", "lots"}}, "OMP_NUM_THREADS: 'lots' is not a valid thread count"},
    {"bad first OMP_NUM_THREADS entry", {{"OMP_NUM_THREADS", "0,4"}}, "OMP_NUM_THREADS: '0' is not a valid thread count"},
    {"bad OMP_PROC_BIND", {{"OMP_PROC_BIND", "sideways"}}, "OMP_PROC_BIND: binding policy 'sideways' is not valid"},
    {"bad later OMP_PROC_BIND entry", {{"OMP_PROC_BIND", "close,inward"}}, "OMP_PROC_BIND: binding policy 'inward'"},
    {"bad OMP_PLACES", {{"OMP_PLACES", "{0:4}:99"}}, "OMP_PLACES: "},
    {"bad TOPOS_IGNORE_OMP", {{"TOPOS_IGNORE_OMP", "maybe"}}, "TOPOS_IGNORE_OMP: 'maybe' is not valid"},
};

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

struct cli_result {
    int status = -1;
    std::string out;
    std::string err;
};

// `topos places --json` with exactly the case's variables of k_variables set.
cli_result run_places(const std::map<std::string, std::string>& env, std::optional<unsigned> threads) {
    const std::string err_file = testing::TempDir() + "omp_env_stderr_" + std::to_string(::getpid());
    std::string cmd = "env";
    for (const char* v : k_variables) {
        cmd += std::string(" -u ") + v;
    }
    for (const auto& [k, v] : env) {
        cmd += " " + k + "=" + quote(v);
    }
    cmd += " " + quote(TOPOS_CLI) + " places --json --topology " + quote(k_topology);
    if (threads) {
        cmd += " --threads " + std::to_string(*threads);
    }
    cmd += " 2>" + quote(err_file);
    cli_result r;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) {
        return r;
    }
    std::array<char, 4096> buf{};
    for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0;) {
        r.out.append(buf.data(), n);
    }
    const int status = ::pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    std::remove(err_file.c_str());
    return r;
}

// Sets exactly the case's variables in this process for one scope.
class scoped_env {
public:
    explicit scoped_env(const std::map<std::string, std::string>& env) {
        for (std::size_t i = 0; i < k_variables.size(); ++i) {
            const char* v = std::getenv(k_variables[i]);
            m_saved[i] = v == nullptr ? std::nullopt : std::optional<std::string>(v);
            ::unsetenv(k_variables[i]);
        }
        for (const auto& [k, v] : env) {
            ::setenv(k.c_str(), v.c_str(), 1);
        }
    }
    ~scoped_env() {
        for (std::size_t i = 0; i < k_variables.size(); ++i) {
            if (m_saved[i]) {
                ::setenv(k_variables[i], m_saved[i]->c_str(), 1);
            } else {
                ::unsetenv(k_variables[i]);
            }
        }
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    std::array<std::optional<std::string>, k_variables.size()> m_saved;
};

TEST(OmpEnvTest, PrecedenceTableThroughTheCommand) {
    for (const auto& row : k_cases) {
        SCOPED_TRACE(row.name);
        const cli_result r = run_places(row.env, row.code_threads);
        ASSERT_EQ(r.status, 0) << r.err;
        const json doc = json::parse(r.out);
        EXPECT_EQ(doc["places"], row.places);
        EXPECT_EQ(doc["bind"], row.bind);
        EXPECT_EQ(doc["workers"].size(), row.threads);
        const std::string threads_from = row.threads_from == "code" ? "--threads" : row.threads_from;
        EXPECT_EQ(doc["setting_sources"]["places"], row.places_from);
        EXPECT_EQ(doc["setting_sources"]["bind"], row.bind_from);
        EXPECT_EQ(doc["setting_sources"]["threads"], threads_from);
    }
}

TEST(OmpEnvTest, PrecedenceTableThroughARuntime) {
    for (const auto& row : k_cases) {
        SCOPED_TRACE(row.name);
        const scoped_env env(row.env);
        topos::runtime_options opts;
        opts.topology = topos::topology::from_spec(k_topology);
        opts.threads = row.code_threads;
        topos::runtime rt(opts);
        EXPECT_EQ(rt.plan().places_text, row.places);
        EXPECT_EQ(topos::to_string(rt.plan().bind), row.bind);
        EXPECT_EQ(rt.thread_count(), row.threads);
    }
}

TEST(OmpEnvTest, BadValuesNameTheVariableInTheCommand) {
    for (const auto& row : k_bad) {
        SCOPED_TRACE(row.name);
        const cli_result r = run_places(row.env, {});
        EXPECT_EQ(r.status, 2);
        EXPECT_EQ(r.out, "");
        // libgomp (linked into the command by its OpenMP benchmarks) may print
        // its own line about an OMP_* value first; topos's line is the last.
        const std::string last = "topos: error: " + row.message_start;
        EXPECT_NE(r.err.find(last), std::string::npos) << r.err;
        EXPECT_EQ(r.err.back(), '\n');
        EXPECT_EQ(r.err.find('\n', r.err.find(last)), r.err.size() - 1) << r.err;
    }
}

TEST(OmpEnvTest, BadValuesNameTheVariableInARuntime) {
    for (const auto& row : k_bad) {
        SCOPED_TRACE(row.name);
        const scoped_env env(row.env);
        topos::runtime_options opts;
        opts.topology = topos::topology::from_spec(k_topology);
        try {
            topos::runtime rt(opts);
            ADD_FAILURE() << "no error";
        } catch (const topos::error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(row.message_start, 0), 0U) << e.what();
        }
    }
}

// OMP_DISPLAY_AFFINITY prints each worker's binding as TOPOS_DISPLAY_AFFINITY does.
TEST(OmpEnvTest, OmpDisplayAffinityPrintsTheBindings) {
    const scoped_env env(std::map<std::string, std::string>{{"OMP_DISPLAY_AFFINITY", "true"}});
    testing::internal::CaptureStderr();
    {
        topos::runtime_options opts;
        opts.threads = 1U;
        topos::runtime rt(opts);
    }
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("worker 0"), std::string::npos) << err;
}

} // namespace
