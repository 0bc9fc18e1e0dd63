// Helpers of the shared-memory tests: unique segment names, a fixture that
// removes what a test made and fails when a segment leaked, and child
// processes (the peer programs) started with posix_spawn and reaped with a
// timeout, so a hang fails the test instead of stalling CI.
#pragma once

#include <topos/shm.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace topos::test {

/// "/topos-t-<pid>-": every name a test of this process makes starts so, and
/// no other test process (ctest -j) shares it.
inline std::string shm_test_prefix() { return "/topos-t-" + std::to_string(::getpid()) + "-"; }

/// POSIX objects in /dev/shm whose name starts with `prefix` (leading '/' included).
inline std::set<std::string> posix_objects(const std::string& prefix) {
    std::set<std::string> out;
    DIR* dir = ::opendir("/dev/shm");
    if (dir == nullptr) {
        return out;
    }
    while (const dirent* e = ::readdir(dir)) {
        const std::string name = "/" + std::string(e->d_name);
        if (name.starts_with(prefix)) {
            out.insert(name);
        }
    }
    ::closedir(dir);
    return out;
}

/// Keys of the System V segments that exist now and are not marked for removal.
inline std::set<std::int32_t> sysv_keys() {
    std::set<std::int32_t> out;
    shm_info all{};
    const int highest = ::shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&all));
    for (int index = 0; index <= highest; ++index) {
        shmid_ds ds{};
        if (::shmctl(index, SHM_STAT, &ds) >= 0 && (ds.shm_perm.mode & SHM_DEST) == 0) {
            out.insert(ds.shm_perm.__key);
        }
    }
    return out;
}

/// A started child process; killed (SIGKILL) and reaped when still running at destruction.
class child_process {
public:
    child_process() = default;
    explicit child_process(const std::vector<std::string>& argv) {
        std::vector<std::string> copy = argv;
        std::vector<char*> args;
        for (auto& a : copy) {
            args.push_back(a.data());
        }
        args.push_back(nullptr);
        const int rc = ::posix_spawn(&m_pid, args[0], nullptr, nullptr, args.data(), environ);
        if (rc != 0) {
            m_pid = -1;
            ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
        }
    }
    child_process(child_process&& other) noexcept : m_pid(std::exchange(other.m_pid, -1)) {}
    child_process& operator=(child_process&& other) noexcept {
        std::swap(m_pid, other.m_pid);
        return *this;
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() { kill(); }

    [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

    /// The exit status (0-255), 128 + signal when killed by one, -1 on timeout
    /// (the child is then killed).
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        if (m_pid < 0) {
            return -1;
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
            if (r == m_pid) {
                m_pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (r < 0 || std::chrono::steady_clock::now() >= deadline) {
                kill();
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    void kill() noexcept {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
    }

private:
    pid_t m_pid = -1;
};

/// Base fixture: hands out unique names, and after each test removes any
/// segment of those names still there and fails the test for it (a leak).
class shm_test : public ::testing::Test {
protected:
    void SetUp() override {
        m_posix_before = posix_objects(shm_test_prefix());
        m_sysv_before = sysv_keys();
    }

    void TearDown() override {
        for (const auto& name : m_names) {
            if (shared_segment::remove_if_exists(name, shm_api::posix)) {
                ADD_FAILURE() << "POSIX segment " << name << " leaked";
            }
            const std::int32_t key = sysv_key_of(name);
            if (m_sysv_before.count(key) == 0 && shared_segment::remove_if_exists(name, shm_api::sysv)) {
                ADD_FAILURE() << "System V segment " << name << " leaked";
            }
        }
        for (const std::int32_t key : m_keys) {
            if (m_sysv_before.count(key) == 0 && shared_segment::remove_if_exists("", shm_api::sysv, key)) {
                ADD_FAILURE() << "System V segment with key " << key << " leaked";
            }
        }
        EXPECT_EQ(posix_objects(shm_test_prefix()), m_posix_before) << "a POSIX segment of this test leaked";
        const auto now = sysv_keys();
        for (const std::string& name : m_names) {
            EXPECT_EQ(now.count(sysv_key_of(name)), m_sysv_before.count(sysv_key_of(name)))
                << "System V segment " << name << " leaked";
        }
    }

    /// A fresh name for this test: "/topos-t-<pid>-<tag>-<n>".
    std::string unique_name(const std::string& tag) {
        static int counter = 0;
        m_names.push_back(shm_test_prefix() + tag + "-" + std::to_string(++counter));
        return m_names.back();
    }
    /// A System V key for this test that no segment uses now (removed at the end).
    std::int32_t unique_key() {
        const auto used = sysv_keys();
        auto key = static_cast<std::int32_t>((static_cast<std::uint32_t>(::getpid()) << 8) & 0x7fffff00U);
        for (std::int32_t k = key + 1;; ++k) {
            if (used.count(k) == 0 && k != 0 && std::find(m_keys.begin(), m_keys.end(), k) == m_keys.end()) {
                m_keys.push_back(k);
                return k;
            }
        }
    }

private:
    std::vector<std::string> m_names;
    std::vector<std::int32_t> m_keys;
    std::set<std::string> m_posix_before;
    std::set<std::int32_t> m_sysv_before;
};

} // namespace topos::test
