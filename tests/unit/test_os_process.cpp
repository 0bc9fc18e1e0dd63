// os/process.hpp: the resident set and CPU clock a process reads about itself,
// and the CPU mask a launcher prepares before fork and applies in the child.
#include "os/affinity.hpp"
#include "os/process.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace {

// Runs `body` in a forked child and returns its exit status (or -1), so a
// test can change the child's mask and leave this process's alone.
template <class Body>
int in_child(Body body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(body());
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}

} // namespace

TEST(OsProcess, ResidentBytesCountsPagesWhenTheyAreTouched) {
    constexpr std::size_t k_bytes = std::size_t{64} << 20;
    void* p = ::mmap(nullptr, k_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    const std::size_t before = topos::os::resident_bytes();
    EXPECT_GT(before, 0U);
    std::memset(p, 1, k_bytes);
    const std::size_t touched = topos::os::resident_bytes();
    EXPECT_GE(touched - before, k_bytes * 3 / 4);
    ::munmap(p, k_bytes);
    EXPECT_LT(topos::os::resident_bytes(), touched - k_bytes / 2);
}

TEST(OsProcess, CpuSecondsCountWorkDone) {
    const double before = topos::os::process_cpu_seconds();
    volatile unsigned long sink = 0;
    for (unsigned long i = 0; i < 50'000'000UL; ++i) {
        sink = sink + i;
    }
    EXPECT_GT(topos::os::process_cpu_seconds(), before);
}

TEST(OsProcess, PreparedAffinityPinsTheChildToExactlyItsCpus) {
    const std::vector<int> allowed = topos::os::current_affinity();
    ASSERT_FALSE(allowed.empty());
    const std::vector<int> want{allowed.back()};
    const topos::os::prepared_affinity mask(want);
    EXPECT_TRUE(mask.active());
    const int status = in_child([&] {
        if (mask.apply() != 0) {
            return 10;
        }
        return topos::os::current_affinity() == want ? 0 : 11;
    });
    EXPECT_EQ(status, 0) << "10: apply failed, 11: the child's mask is not the one asked for";
}

TEST(OsProcess, AnEmptyPreparedAffinityLeavesTheMaskAlone) {
    const std::vector<int> allowed = topos::os::current_affinity();
    const topos::os::prepared_affinity none;
    EXPECT_FALSE(none.active());
    const topos::os::prepared_affinity from_empty(std::vector<int>{});
    EXPECT_FALSE(from_empty.active());
    const int status = in_child([&] {
        if (none.apply() != 0 || from_empty.apply() != 0) {
            return 10;
        }
        return topos::os::current_affinity() == allowed ? 0 : 11;
    });
    EXPECT_EQ(status, 0);
}

// A CPU number past what a fixed cpu_set_t holds (1,024) is taken into the
// mask, which is sized for it. The kernel ignores the CPUs this machine lacks:
// beside one it has, the mask is accepted and the child runs there; alone,
// the mask is refused (EINVAL), never widened to "anywhere". (Whether a large
// number is dropped only shows on a machine with more than 1,024 CPUs.)
TEST(OsProcess, PreparedAffinityTakesCpuNumbersPastAFixedCpuSet) {
    const std::vector<int> allowed = topos::os::current_affinity();
    ASSERT_FALSE(allowed.empty());
    const topos::os::prepared_affinity with_large({allowed.front(), 5000});
    const int status = in_child([&] {
        if (with_large.apply() != 0) {
            return 10;
        }
        return topos::os::current_affinity() == std::vector<int>{allowed.front()} ? 0 : 11;
    });
    EXPECT_EQ(status, 0);
    const topos::os::prepared_affinity only_large({5000});
    const int refused = in_child([&] { return only_large.apply() == EINVAL ? 0 : 12; });
    EXPECT_EQ(refused, 0);
}
