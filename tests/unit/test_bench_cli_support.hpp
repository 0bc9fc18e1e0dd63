// Runs the real `topos` binary for the bench/tune/run tests: output goes to
// temporary files, the child can be signalled while it runs, and one that
// outlives its deadline is killed and reported, so a hang fails the test.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace topos::test {

/// A scratch folder removed at the end of its scope; under the emulated-NUMA
/// harness it lives in the writable $TOPOS_VM_OUT.
class scratch_dir {
public:
    scratch_dir() {
        const char* vm_out = std::getenv("TOPOS_VM_OUT");
        std::string base = vm_out != nullptr && *vm_out != '\0' ? vm_out : std::filesystem::temp_directory_path().string();
        std::string pattern = base + "/topos-bench-test.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            ADD_FAILURE() << "mkdtemp in " << base << ": " << std::strerror(errno);
        }
        m_path = pattern;
    }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return (m_path / name).string(); }

private:
    std::filesystem::path m_path;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct finished_run {
    int status = -1; ///< exit status, 128 + signal when killed
    std::string out;
    std::string err;
    bool timed_out = false;
};

/// One `topos` process started with `args`; TOPOS_* variables of the test's
/// environment are removed so a developer's settings cannot change results.
class topos_process {
public:
    explicit topos_process(const std::vector<std::string>& args) {
        m_out = m_dir.file("stdout");
        m_err = m_dir.file("stderr");
        std::vector<std::string> argv_s{TOPOS_CLI};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<std::string> env_s;
        for (char** e = environ; *e != nullptr; ++e) {
            if (std::strncmp(*e, "TOPOS_", 6) != 0 || std::strncmp(*e, "TOPOS_VM_OUT=", 13) == 0) {
                env_s.emplace_back(*e);
            }
        }
        std::vector<char*> argv;
        std::vector<char*> envp;
        for (auto& a : argv_s) {
            argv.push_back(a.data());
        }
        for (auto& e : env_s) {
            envp.push_back(e.data());
        }
        argv.push_back(nullptr);
        envp.push_back(nullptr);
        m_pid = ::fork();
        if (m_pid == 0) {
            const int in = ::open("/dev/null", O_RDONLY);
            const int out = ::open(m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            const int err = ::open(m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (in < 0 || out < 0 || err < 0) {
                ::_exit(125);
            }
            ::dup2(in, STDIN_FILENO);
            ::dup2(out, STDOUT_FILENO);
            ::dup2(err, STDERR_FILENO);
            ::execve(TOPOS_CLI, argv.data(), envp.data());
            ::_exit(125);
        }
        if (m_pid < 0) {
            ADD_FAILURE() << "fork: " << std::strerror(errno);
        }
    }
    ~topos_process() {
        if (m_pid > 0 && !m_reaped) {
            ::kill(m_pid, SIGKILL);
            int ws = 0;
            ::waitpid(m_pid, &ws, 0);
        }
    }
    topos_process(const topos_process&) = delete;
    topos_process& operator=(const topos_process&) = delete;

    void signal(int sig) const { ::kill(m_pid, sig); }

    /// Waits for the exit, killing the process after `limit`.
    finished_run wait(std::chrono::seconds limit = std::chrono::seconds(120)) {
        finished_run r;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int ws = 0;
        for (;;) {
            const pid_t done = ::waitpid(m_pid, &ws, WNOHANG);
            if (done == m_pid) {
                break;
            }
            if (done < 0 && errno != EINTR) {
                ADD_FAILURE() << "waitpid: " << std::strerror(errno);
                return r;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                r.timed_out = true;
                ::kill(m_pid, SIGKILL);
                ::waitpid(m_pid, &ws, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        m_reaped = true;
        r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        r.out = slurp(m_out);
        r.err = slurp(m_err);
        return r;
    }

private:
    scratch_dir m_dir;
    std::string m_out;
    std::string m_err;
    pid_t m_pid = -1;
    bool m_reaped = false;
};

inline finished_run run_topos(const std::vector<std::string>& args,
                              std::chrono::seconds limit = std::chrono::seconds(120)) {
    topos_process p(args);
    return p.wait(limit);
}

inline std::string show(const std::vector<std::string>& args, const finished_run& r) {
    std::string cmd = "topos";
    for (const auto& a : args) {
        cmd += " '" + a + "'";
    }
    return cmd + "\n  status " + std::to_string(r.status) + (r.timed_out ? " (timed out)" : "") +
           "\n  stdout: " + r.out.substr(0, 3000) + "\n  stderr: " + r.err.substr(0, 3000);
}

/// The JSON document in `path`, or a failure.
inline nlohmann::json read_json(const std::string& path) {
    try {
        return nlohmann::json::parse(slurp(path));
    } catch (const nlohmann::json::exception& e) {
        ADD_FAILURE() << path << " is not JSON: " << e.what();
        return nlohmann::json::object();
    }
}

/// Checks the Google Benchmark shape: a context object and rows with the keys
/// compare.py reads, with their types.
inline void expect_google_benchmark_shape(const nlohmann::json& doc) {
    ASSERT_TRUE(doc.is_object());
    ASSERT_TRUE(doc.contains("context") && doc["context"].is_object()) << doc.dump().substr(0, 500);
    for (const char* key : {"date", "host_name", "executable", "library_build_type", "topos_version"}) {
        EXPECT_TRUE(doc["context"].contains(key) && doc["context"][key].is_string()) << key;
    }
    EXPECT_TRUE(doc["context"]["num_cpus"].is_number_integer());
    EXPECT_TRUE(doc["context"]["caches"].is_array());
    ASSERT_TRUE(doc.contains("benchmarks") && doc["benchmarks"].is_array());
    for (const auto& b : doc["benchmarks"]) {
        for (const char* key : {"name", "run_name", "run_type", "time_unit"}) {
            ASSERT_TRUE(b.contains(key) && b[key].is_string()) << key << " in " << b.dump();
        }
        for (const char* key : {"iterations", "real_time", "cpu_time"}) {
            ASSERT_TRUE(b.contains(key) && b[key].is_number()) << key << " in " << b.dump();
        }
        const std::string unit = b["time_unit"];
        EXPECT_TRUE(unit == "ns" || unit == "us" || unit == "ms" || unit == "s") << b.dump();
        EXPECT_TRUE(b["run_type"] == "iteration" || b["run_type"] == "aggregate") << b.dump();
        EXPECT_GE(b["real_time"].get<double>(), 0.0) << b.dump();
    }
}

} // namespace topos::test
