// tools/launch.cpp - starting a program: finding it as execvp would, and
// running it with its environment, CPUs and memory policy, in its own
// process group, its output inherited, discarded or captured.
#include "launch.hpp"

#include "interrupt.hpp"

#include "os/process.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace topos::cli {
namespace {

using clock_type = std::chrono::steady_clock;

} // namespace

std::optional<std::string> find_program(const std::string& name, std::string* why, bool* not_executable) {
    const auto set = [&](const std::string& reason, bool exists) {
        if (why != nullptr) {
            *why = reason;
        }
        if (not_executable != nullptr) {
            *not_executable = exists;
        }
    };
    const auto runnable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
    };
    const auto exists = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0;
    };
    if (name.empty()) {
        set("the program name is empty", false);
        return std::nullopt;
    }
    if (name.find('/') != std::string::npos) {
        if (runnable(name)) {
            return name;
        }
        set(exists(name) ? "'" + name + "' is not an executable file" : "'" + name + "' does not exist", exists(name));
        return std::nullopt;
    }
    const char* path_env = std::getenv("PATH");
    const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    bool found_non_exec = false;
    std::size_t begin = 0;
    while (begin <= path.size()) {
        const auto end = std::min(path.find(':', begin), path.size());
        std::string dir = path.substr(begin, end - begin);
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (runnable(candidate)) {
            return candidate;
        }
        found_non_exec = found_non_exec || exists(candidate);
        begin = end + 1;
    }
    set(found_non_exec ? "'" + name + "' is not executable" : "'" + name + "' was not found in PATH", found_non_exec);
    return std::nullopt;
}

namespace {

// A launch_spec turned into what the child needs, built before fork so the
// child only makes system calls (no allocation) between fork and exec.
struct prepared_launch {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::vector<char*> argv;
    std::vector<char*> envp;
    os::prepared_affinity cpus;
    os::prepared_memory_policy memory;
};

prepared_launch prepare(const launch_spec& spec) {
    prepared_launch p;
    p.args = spec.argv;
    std::string why;
    p.path = find_program(spec.argv.empty() ? std::string() : spec.argv[0], &why).value_or(spec.argv.empty() ? "" : spec.argv[0]);
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string name(entry.substr(0, entry.find('=')));
        if (spec.env.find(name) == spec.env.end()) {
            p.env.emplace_back(entry);
        }
    }
    for (const auto& [name, value] : spec.env) {
        if (value) {
            p.env.push_back(name + "=" + *value);
        }
    }
    for (auto& a : p.args) {
        p.argv.push_back(a.data());
    }
    p.argv.push_back(nullptr);
    for (auto& e : p.env) {
        p.envp.push_back(e.data());
    }
    p.envp.push_back(nullptr);
    p.cpus = os::prepared_affinity(spec.cpus);
    if (spec.memory != launch_spec::mem_mode::inherit) {
        p.memory = os::prepared_memory_policy(spec.memory == launch_spec::mem_mode::bind
                                                  ? os::prepared_memory_policy::mode::bind
                                                  : os::prepared_memory_policy::mode::interleave,
                                              spec.memory_os_nodes);
    }
    return p;
}

// 0, or 'A' (affinity) / 'M' (memory policy) with errno set.
char apply_prepared(const prepared_launch& p) {
    if (const int err = p.cpus.apply(); err != 0) {
        errno = err;
        return 'A';
    }
    if (const int err = p.memory.apply(); err != 0) {
        errno = err;
        return 'M';
    }
    return 0;
}

std::string describe_failure(char what, int err) {
    const std::string reason = std::strerror(err);
    if (what == 'A') {
        return "cannot restrict the CPUs (sched_setaffinity): " + reason;
    }
    if (what == 'M') {
        return "cannot set the memory policy (set_mempolicy): " + reason;
    }
    return reason;
}

// Writes "<what><errno>" without allocating.
void write_failure(int fd, char what, int err) {
    std::array<char, 16> buf{};
    std::size_t n = 0;
    buf[n++] = what;
    std::array<char, 12> digits{};
    std::size_t d = 0;
    unsigned value = static_cast<unsigned>(err);
    do {
        digits[d++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && d < digits.size());
    while (d > 0) {
        buf[n++] = digits[--d];
    }
    (void)!::write(fd, buf.data(), n);
}

} // namespace

std::string apply_launch_spec(const launch_spec& spec) {
    for (const auto& [name, value] : spec.env) {
        if (value) {
            ::setenv(name.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name.c_str());
        }
    }
    const prepared_launch p = prepare(spec);
    const char failed = apply_prepared(p);
    return failed == 0 ? std::string() : describe_failure(failed, errno);
}

child_result run_child(const launch_spec& spec, child_output out, child_output err) {
    child_result result;
    std::array<int, 2> status_pipe{-1, -1}; // child reports a failed set-up or exec here; closes on success
    std::array<int, 2> data_pipe{-1, -1};
    const bool capture_out = out == child_output::capture;
    const bool capture_err = !capture_out && err == child_output::capture;
    if (::pipe2(status_pipe.data(), O_CLOEXEC) != 0 ||
        ((capture_out || capture_err) && ::pipe2(data_pipe.data(), O_CLOEXEC) != 0)) {
        result.start_error = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    const prepared_launch launch = prepare(spec);
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out_fd = capture_out ? data_pipe[1] : (out == child_output::discard ? null_fd : -1);
    const int err_fd = capture_err ? data_pipe[1] : (err == child_output::discard ? null_fd : -1);

    const auto started = clock_type::now();
    const pid_t pid = ::fork();
    if (pid < 0) {
        result.start_error = std::string("fork: ") + std::strerror(errno);
        return result;
    }
    if (pid == 0) {
        // The child: system calls only until exec. Its own process group, so a
        // Ctrl-C we pass on reaches whatever it started too; stdin is /dev/null
        // (a background group must not read the terminal).
        ::setpgid(0, 0);
        if (in_fd >= 0) {
            ::dup2(in_fd, STDIN_FILENO);
        }
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGPIPE, SIG_DFL);
        if (out_fd >= 0) {
            ::dup2(out_fd, STDOUT_FILENO);
        }
        if (err_fd >= 0) {
            ::dup2(err_fd, STDERR_FILENO);
        }
        const char failed = apply_prepared(launch);
        if (failed != 0) {
            write_failure(status_pipe[1], failed, errno);
            ::_exit(126);
        }
        ::execve(launch.path.c_str(), launch.argv.data(), launch.envp.data());
        const int e = errno;
        write_failure(status_pipe[1], 'X', e);
        ::_exit(e == ENOENT ? 127 : 126);
    }
    ::setpgid(pid, pid); // also here, so the group exists before we might signal it
    ::close(status_pipe[1]);
    if (data_pipe[1] >= 0) {
        ::close(data_pipe[1]);
    }
    if (null_fd >= 0) {
        ::close(null_fd);
    }
    if (in_fd >= 0) {
        ::close(in_fd);
    }
    bool forwarded = false;
    const auto forward_interrupt = [&] {
        if (interrupt::requested() && !forwarded) {
            if (::kill(-pid, SIGINT) != 0) {
                ::kill(pid, SIGINT);
            }
            forwarded = true;
            result.interrupted = true;
        }
    };
    if (data_pipe[0] >= 0) {
        std::array<char, 8192> buf{};
        for (;;) {
            const ssize_t n = ::read(data_pipe[0], buf.data(), buf.size());
            if (n > 0) {
                result.captured.append(buf.data(), static_cast<std::size_t>(n));
                if (capture_err && result.captured.size() > 8192) {
                    result.captured.erase(0, result.captured.size() - 4096);
                }
            } else if (n < 0 && errno == EINTR) {
                forward_interrupt();
            } else {
                break;
            }
        }
        ::close(data_pipe[0]);
        if (capture_err && result.captured.size() > 4096) {
            result.captured.erase(0, result.captured.size() - 4096);
        }
    }
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            result.start_error = std::string("waitpid: ") + std::strerror(errno);
            ::close(status_pipe[0]);
            return result;
        }
        forward_interrupt();
    }
    forward_interrupt(); // a Ctrl-C that reached the child and us at once
    result.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    std::string report;
    std::array<char, 64> buf{};
    for (;;) {
        const ssize_t n = ::read(status_pipe[0], buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        report.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(status_pipe[0]);
    if (!report.empty()) {
        result.status = -1;
        result.start_error = describe_failure(report[0], std::atoi(report.c_str() + 1));
        return result;
    }
    result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return result;
}

} // namespace topos::cli
