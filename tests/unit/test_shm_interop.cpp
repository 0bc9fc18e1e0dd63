// Segments shared with programs that know nothing of topos: Python's
// multiprocessing.shared_memory (POSIX) and a plain C program using
// shmget/shmat (System V), in both directions; `ipcs -m` lists a topos
// System V segment; and `topos shm list` / `topos shm rm` on real segments.
#include "../shm/shm_test_support.hpp"

#include <topos/shm.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

using namespace topos;
using topos::test::child_process;
using topos::test::shm_test;

struct command_result {
    int status = -1;
    std::string out;
};

// Runs a shell command line; stdout (and stderr when `with_stderr`) captured.
command_result run(const std::string& command, bool with_stderr = false) {
    command_result r;
    FILE* f = ::popen((command + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
    if (f == nullptr) {
        ADD_FAILURE() << "cannot run " << command;
        return r;
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        r.out.append(buf, n);
    }
    const int status = ::pclose(f);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string hex_key(std::int32_t key) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
    return buf;
}

void fill_test_pattern(const shared_segment& seg) {
    auto* p = static_cast<unsigned char*>(seg.data());
    for (std::size_t i = 0; i < 8192; ++i) {
        p[i] = static_cast<unsigned char>((i * 7 + 3) & 0xffU);
    }
}

bool has_python() { return ::access(TOPOS_PYTHON3, X_OK) == 0; }

class ShmInteropTest : public shm_test {};

TEST_F(ShmInteropTest, PythonReadsAndWritesATopoSegment) {
    if (!has_python()) {
        GTEST_SKIP() << "python3 not found";
    }
    const std::string name = unique_name("py");
    const shared_segment seg = shared_segment::create(name, 16384);
    fill_test_pattern(seg);
    child_process py({TOPOS_PYTHON3, TOPOS_PY_PEER, "read", name.substr(1)});
    ASSERT_EQ(py.wait(), 0) << "Python did not find the topos header or the pattern";
    EXPECT_EQ(std::memcmp(static_cast<char*>(seg.data()) + 8192, "from python", 11), 0);
    EXPECT_NO_THROW((void)shared_segment::open(name)) << "Python's resource tracker must not have unlinked it";
    shared_segment::remove(name);
}

TEST_F(ShmInteropTest, PythonSegmentOpensRaw) {
    if (!has_python()) {
        GTEST_SKIP() << "python3 not found";
    }
    const std::string name = unique_name("pyraw");
    child_process py({TOPOS_PYTHON3, TOPOS_PY_PEER, "create", name.substr(1), "10000"});
    ASSERT_EQ(py.wait(), 0);
    open_options o;
    o.ready_timeout = std::chrono::milliseconds(0);
    try {
        (void)shared_segment::open(name, o);
        ADD_FAILURE() << "a Python segment has no topos header";
    } catch (const shm_error& e) {
        EXPECT_EQ(e.code(), shm_errc::not_topos) << e.what();
    }
    const shared_segment raw = shared_segment::open_raw(name);
    ASSERT_EQ(raw.size(), 10000U);
    const auto* p = static_cast<const unsigned char*>(raw.data());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        ASSERT_EQ(p[i], static_cast<unsigned char>((i * 13 + 1) & 0xffU)) << "byte " << i;
    }
    shared_segment::remove(name);
}

TEST_F(ShmInteropTest, PlainSysvProgramReadsAndWritesATopoSegment) {
    const std::string name = unique_name("sysvc");
    shm_options o;
    o.api = shm_api::sysv;
    const shared_segment seg = shared_segment::create(name, 16384, o);
    fill_test_pattern(seg);
    child_process c({TOPOS_SYSV_PEER, "read", hex_key(seg.sysv_key())});
    ASSERT_EQ(c.wait(), 0) << "the C program did not find the topos header or the pattern";
    EXPECT_EQ(std::memcmp(static_cast<char*>(seg.data()) + 8192, "from c", 6), 0);

    const command_result ipcs = run("ipcs -m");
    if (ipcs.status == 0) {
        EXPECT_NE(ipcs.out.find(hex_key(seg.sysv_key())), std::string::npos) << ipcs.out;
    }
    shared_segment::remove(name, shm_api::sysv);
    if (ipcs.status == 0) {
        EXPECT_EQ(run("ipcs -m").out.find(hex_key(seg.sysv_key())), std::string::npos) << "removed: key released";
    }
}

TEST_F(ShmInteropTest, PlainSysvSegmentOpensRaw) {
    const std::int32_t key = unique_key();
    child_process c({TOPOS_SYSV_PEER, "create", hex_key(key), "10000"});
    ASSERT_EQ(c.wait(), 0);
    open_options o;
    o.api = shm_api::sysv;
    o.sysv_key = key;
    const shared_segment raw = shared_segment::open_raw("", o);
    ASSERT_EQ(raw.size(), 10000U);
    const auto* p = static_cast<const unsigned char*>(raw.data());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        ASSERT_EQ(p[i], static_cast<unsigned char>((i * 11 + 5) & 0xffU)) << "byte " << i;
    }
    shared_segment::remove("", shm_api::sysv, key);
}

// ---- the command line ------------------------------------------------------------------

const nlohmann::json* find_segment(const nlohmann::json& doc, const std::string& name, const std::string& api) {
    for (const auto& s : doc.at("segments")) {
        if (s.at("name") == name && s.at("api") == api) {
            return &s;
        }
    }
    return nullptr;
}

TEST_F(ShmInteropTest, CliListsBothKindsWithTheirNodes) {
    const std::string px = unique_name("clip");
    const std::string sv = unique_name("clis");
    shm_options po;
    po.mode = 0640;
    const shared_segment a = shared_segment::create(px, 3 * 4096, po);
    shm_options so;
    so.api = shm_api::sysv;
    const shared_segment b = shared_segment::create(sv, 5000, so);
    static_cast<char*>(a.data())[0] = 1; // one resident user page; b has none

    const command_result r = run(std::string(TOPOS_CLI) + " shm list --json");
    ASSERT_EQ(r.status, 0);
    const auto doc = nlohmann::json::parse(r.out);
    const auto* pa = find_segment(doc, px, "posix");
    const auto* pb = find_segment(doc, sv, "sysv");
    ASSERT_NE(pa, nullptr) << r.out;
    ASSERT_NE(pb, nullptr) << r.out;
    EXPECT_EQ(pa->at("size"), 3 * 4096);
    EXPECT_EQ(pa->at("mode"), "0640");
    EXPECT_EQ(pa->at("creator_pid"), ::getpid());
    EXPECT_EQ(pa->at("resident_pages"), 1);
    EXPECT_EQ(pa->at("nodes"), nlohmann::json::array({0}));
    EXPECT_TRUE(pa->at("key").is_null());
    EXPECT_EQ(pb->at("size"), 5000);
    EXPECT_EQ(pb->at("key"), hex_key(b.sysv_key()));
    EXPECT_EQ(pb->at("id"), b.sysv_id());
    EXPECT_EQ(pb->at("nodes"), nlohmann::json::array());
    EXPECT_EQ(pb->at("resident_pages"), 0);

    const command_result text = run(std::string(TOPOS_CLI) + " shm list");
    ASSERT_EQ(text.status, 0);
    EXPECT_NE(text.out.find(px), std::string::npos);
    EXPECT_NE(text.out.find(hex_key(b.sysv_key())), std::string::npos);
    EXPECT_NE(text.out.find("NODES"), std::string::npos);

    EXPECT_EQ(run(std::string(TOPOS_CLI) + " shm rm " + px).status, 0);
    EXPECT_EQ(run(std::string(TOPOS_CLI) + " shm rm --sysv " + hex_key(b.sysv_key()) + " --json").status, 0);
    const auto after = nlohmann::json::parse(run(std::string(TOPOS_CLI) + " shm list --json").out);
    EXPECT_EQ(find_segment(after, px, "posix"), nullptr);
    EXPECT_EQ(find_segment(after, sv, "sysv"), nullptr);
}

TEST_F(ShmInteropTest, CliRmRefusesForeignAndBadInput) {
    const std::string foreign = unique_name("clif");
    const int fd = ::shm_open(foreign.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 8192), 0);
    ASSERT_EQ(::pwrite(fd, "not topos", 9, 0), 9);
    ::close(fd);

    command_result r = run(std::string(TOPOS_CLI) + " shm rm " + foreign, true);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
    EXPECT_EQ(topos::test::posix_objects(foreign).size(), 1U) << "refused: still there";
    const auto all = nlohmann::json::parse(run(std::string(TOPOS_CLI) + " shm list --all --json").out);
    const auto* entry = find_segment(all, foreign, "posix");
    ASSERT_NE(entry, nullptr);
    EXPECT_FALSE(entry->at("topos").get<bool>());
    EXPECT_EQ(find_segment(nlohmann::json::parse(run(std::string(TOPOS_CLI) + " shm list --json").out), foreign,
                           "posix"),
              nullptr)
        << "only topos segments without --all";

    r = run(std::string(TOPOS_CLI) + " shm rm --force --json " + foreign);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(nlohmann::json::parse(r.out).at("removed").at("name"), foreign);
    EXPECT_TRUE(topos::test::posix_objects(foreign).empty());

    for (const std::string& bad : {std::string(" shm rm ") + foreign, std::string(" shm rm plain-name"),
                                   std::string(" shm rm --sysv 0xzz"), std::string(" shm rm --sysv 0"),
                                   std::string(" shm rm"), std::string(" shm list --bogus")}) {
        SCOPED_TRACE(bad);
        r = run(std::string(TOPOS_CLI) + bad, true);
        EXPECT_EQ(r.status, 2) << r.out;
        EXPECT_EQ(r.out.rfind("topos: error: ", 0), 0U) << r.out;
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    }
    EXPECT_EQ(run(std::string(TOPOS_CLI) + " shm list --help").status, 0);
    EXPECT_EQ(run(std::string(TOPOS_CLI) + " shm rm --help").status, 0);
}

} // namespace
