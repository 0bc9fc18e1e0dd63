// Who may open and remove a shared segment: a process of another user
// cannot open a 0600 segment (and can open a 0666 one, so the refusal is
// the mode's doing); `topos shm rm` refuses other users' segments unless run
// as root; creating a segment over a symlink planted in /dev/shm is refused
// and never touches the link's target.
//
// The other user is uid/gid 65534 (nobody): a forked child drops to it with
// setresgid/setresuid, so the tests that need it run only as root and skip,
// saying why, otherwise.
#include "../shm/shm_test_support.hpp"

#include <topos/shm.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

namespace {

using namespace topos;
using topos::test::shm_test;

constexpr uid_t k_nobody = 65534;

/// Runs `fn` in a forked child as uid/gid 65534; its return value is the
/// child's exit status (99: could not drop privileges; 98: fn threw
/// something unexpected). -1 when the child did not end within 60 s.
int as_nobody(const std::function<int()>& fn) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(k_nobody, k_nobody, k_nobody) != 0 ||
            ::setresuid(k_nobody, k_nobody, k_nobody) != 0 || ::geteuid() != k_nobody) {
            ::_exit(99);
        }
        int rc = 98;
        try {
            rc = fn();
        } catch (...) { // NOLINT(bugprone-empty-catch): reported as 98
        }
        ::_exit(rc);
    }
    for (int i = 0; i < 60000; ++i) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        ::usleep(1000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
}

/// 0 when open() failed with permission_denied, 1 when it opened, 2 for another error.
int try_open(const std::string& name, shm_api api) {
    try {
        open_options o;
        o.api = api;
        o.ready_timeout = std::chrono::milliseconds(0);
        const shared_segment s = shared_segment::open(name, o);
        return 1;
    } catch (const shm_error& e) {
        return e.code() == shm_errc::permission_denied ? 0 : 2;
    }
}

class ShmSecurityTest : public shm_test, public ::testing::WithParamInterface<shm_api> {
protected:
    void SetUp() override {
        shm_test::SetUp();
        if (::geteuid() != 0) {
            GTEST_SKIP() << "switching to another user (uid 65534) needs root; this runs as uid " << ::geteuid();
        }
    }
};

// A 0600 segment refuses another user, for open and open_raw, read-only too;
// the same segment made 0666 lets it in (so it is the mode that refuses).
TEST_P(ShmSecurityTest, AnotherUserCannotOpenA0600Segment) {
    const std::string name = unique_name("private");
    shm_options create;
    create.api = GetParam();
    create.mode = 0600;
    {
        const shared_segment seg = shared_segment::create(name, 4096, create);
        EXPECT_EQ(as_nobody([&] { return try_open(name, GetParam()); }), 0)
            << "uid 65534 must get permission_denied for a 0600 segment of root";
        EXPECT_EQ(as_nobody([&] {
                      try {
                          open_options o;
                          o.api = GetParam();
                          o.read_only = true;
                          (void)shared_segment::open_raw(name, o);
                          return 1;
                      } catch (const shm_error& e) {
                          return e.code() == shm_errc::permission_denied ? 0 : 2;
                      }
                  }),
                  0)
            << "nor may it map the raw object, even read-only";
    }
    shared_segment::remove(name, GetParam());
    create.mode = 0666;
    {
        const shared_segment seg = shared_segment::create(name, 4096, create);
        EXPECT_EQ(as_nobody([&] { return try_open(name, GetParam()); }), 1)
            << "a 0666 segment opens for uid 65534 (the control)";
    }
    shared_segment::remove(name, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Both, ShmSecurityTest, ::testing::Values(shm_api::posix, shm_api::sysv),
                         [](const auto& p) { return p.param == shm_api::posix ? "posix" : "sysv"; });

/// Runs the topos CLI with `args` (as the calling user) and returns its exit
/// status; *err gets its stderr.
int run_cli(const std::vector<std::string>& args, std::string* err) {
    char path[] = "/tmp/topos-shm-sec-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fd, 2);
        ::dup2(fd, 1);
        std::vector<char*> argv;
        std::vector<std::string> copy = args;
        std::string cli = TOPOS_CLI;
        argv.push_back(cli.data());
        for (auto& a : copy) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(cli.c_str(), argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::ifstream in(path);
    err->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ::close(fd);
    ::unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// `topos shm rm` run by uid 65534 refuses root's segment (0666 too, so the
// refusal is not the mode's): exit 2, one line naming the owner, and the
// segment is still there. Root may remove a segment of uid 65534.
TEST_P(ShmSecurityTest, ShmRmRefusesAnotherUsersSegmentUnlessRoot) {
    if (::access(TOPOS_CLI, X_OK) != 0) {
        GTEST_SKIP() << "no topos CLI at " << TOPOS_CLI;
    }
    const std::string name = unique_name("rm-owner");
    shm_options create;
    create.api = GetParam();
    create.mode = 0666;
    const shared_segment seg = shared_segment::create(name, 4096, create);
    std::vector<std::string> rm = {"shm", "rm"};
    if (GetParam() == shm_api::sysv) {
        rm.push_back("--sysv");
    }
    rm.push_back(name);
    const int rc = as_nobody([&] {
        // Searchable path to the binary for uid 65534 is a precondition; 97 says it is missing.
        if (::access(TOPOS_CLI, X_OK) != 0) {
            return 97;
        }
        std::string err;
        const int status = run_cli(rm, &err);
        const bool one_line = !err.empty() && err.find('\n') == err.size() - 1;
        const bool names_owner = err.find("belongs to user root") != std::string::npos;
        if (status == 2 && one_line && names_owner) {
            return 0;
        }
        std::fprintf(stderr, "topos shm rm as uid 65534: exit %d, stderr: %s", status, err.c_str());
        return 1;
    });
    if (rc == 97) {
        GTEST_SKIP() << "uid 65534 cannot run " << TOPOS_CLI << " (a directory on its path is not searchable)";
    }
    EXPECT_EQ(rc, 0) << "uid 65534 must be refused with exit 2 and one line naming the owner";
    EXPECT_EQ(try_open(name, GetParam()), 1) << "the segment must still be there";

    // Root removes a segment of uid 65534.
    const std::string theirs = unique_name("rm-theirs");
    ASSERT_EQ(as_nobody([&] {
                  shm_options o;
                  o.api = GetParam();
                  (void)shared_segment::create(theirs, 4096, o);
                  return 0;
              }),
              0);
    std::string err;
    std::vector<std::string> rm_theirs = {"shm", "rm"};
    if (GetParam() == shm_api::sysv) {
        rm_theirs.push_back("--sysv");
    }
    rm_theirs.push_back(theirs);
    EXPECT_EQ(run_cli(rm_theirs, &err), 0) << err;
    EXPECT_FALSE(shared_segment::remove_if_exists(theirs, GetParam())) << "root's rm removed it";
    shared_segment::remove(name, GetParam());
}

// A symlink planted in /dev/shm under the name a program is about to
// create: create() refuses (the name exists; shm_open uses O_CREAT|O_EXCL
// and O_NOFOLLOW), and the link's target is never created, truncated or
// written. Non-exclusive create replaces the link itself, not its target;
// open() of a planted link refuses too.
TEST(ShmSymlinkTest, CreateOverAPlantedSymlinkIsRefused) {
    const std::string name = topos::test::shm_test_prefix() + "planted";
    const std::string link = "/dev/shm/" + name.substr(1);
    const std::string target = "/tmp/topos-shm-target-" + std::to_string(::getpid());
    {
        std::ofstream out(target);
        out << "precious";
    }
    ::unlink(link.c_str());
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << std::strerror(errno);
    try {
        (void)shared_segment::create(name, 1 << 20);
        ADD_FAILURE() << "create over a planted symlink succeeded";
    } catch (const shm_error& e) {
        EXPECT_EQ(e.code(), shm_errc::exists) << e.what();
    }
    try {
        (void)shared_segment::open(name);
        ADD_FAILURE() << "open through a planted symlink succeeded";
    } catch (const shm_error& e) { // NOLINT(bugprone-empty-catch): any typed refusal (ELOOP)
    }
    struct stat st {};
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 8) << "the target must be untouched";
    // A dangling link, to a file that does not exist yet: not created.
    const std::string missing = target + "-missing";
    ::unlink(link.c_str());
    ASSERT_EQ(::symlink(missing.c_str(), link.c_str()), 0);
    EXPECT_THROW((void)shared_segment::create(name, 4096), shm_error);
    EXPECT_NE(::access(missing.c_str(), F_OK), 0) << "create must not make the link's target";
    // Non-exclusive: the link is replaced by a real object; the target stays as it was.
    shm_options replace;
    replace.exclusive = false;
    {
        const shared_segment seg = shared_segment::create(name, 4096, replace);
        struct stat ls {};
        ASSERT_EQ(::lstat(link.c_str(), &ls), 0);
        EXPECT_TRUE(S_ISREG(ls.st_mode)) << "the new object is a regular file, not the link";
        EXPECT_NE(::access(missing.c_str(), F_OK), 0);
    }
    shared_segment::remove(name);
    ::unlink(target.c_str());
}

} // namespace
