// tools/cmd_shm.cpp - `topos shm list` and `topos shm rm`: the shared segments
// topos made on this machine (POSIX in /dev/shm, System V as `ipcs -m` shows).
#include "command_set.hpp"

#include <topos/error.hpp>
#include <topos/shm.hpp>

#include <nlohmann/json.hpp>

#include <pwd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace topos::cli {
namespace {

using json = nlohmann::ordered_json;

struct shm_args {
    bool list_json = false;
    bool list_all = false;
    std::string rm_name;
    bool rm_sysv = false;
    bool rm_force = false;
    bool rm_json = false;
};

const char* api_name(shm_api api) { return api == shm_api::posix ? "posix" : "sysv"; }

std::string user_name(unsigned uid) {
    std::vector<char> buf(4096);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
        return found->pw_name;
    }
    return std::to_string(uid);
}

std::string octal(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777U);
    return buf;
}

std::string hex_key(std::int32_t key) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
    return buf;
}

std::string node_list(const std::vector<int>& nodes) {
    if (nodes.empty()) {
        return "-";
    }
    std::string out;
    for (const int n : nodes) {
        out += (out.empty() ? "" : ",") + std::to_string(n);
    }
    return out;
}

json info_to_json(const segment_info& s) {
    return {{"api", api_name(s.api)},
            {"name", s.name.empty() ? json(nullptr) : json(s.name)},
            {"key", s.api == shm_api::sysv ? json(hex_key(s.sysv_key)) : json(nullptr)},
            {"id", s.api == shm_api::sysv ? json(s.sysv_id) : json(nullptr)},
            {"topos", s.is_topos},
            {"size", s.size},
            {"object_bytes", s.object_bytes},
            {"owner", user_name(s.owner_uid)},
            {"uid", s.owner_uid},
            {"mode", octal(s.mode)},
            {"creator_pid", s.is_topos ? json(s.creator_pid) : json(nullptr)},
            {"resident_pages", s.resident_pages},
            {"nodes", s.nodes}};
}

std::string list_text(const std::vector<segment_info>& segments) {
    if (segments.empty()) {
        return "no topos shared segments\n";
    }
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"API", "NAME", "KEY", "SIZE", "OWNER", "MODE", "PID", "NODES"});
    for (const auto& s : segments) {
        rows.push_back({api_name(s.api), s.name.empty() ? "-" : s.name,
                        s.api == shm_api::sysv ? hex_key(s.sysv_key) : "-", std::to_string(s.size),
                        user_name(s.owner_uid), octal(s.mode), s.is_topos ? std::to_string(s.creator_pid) : "-",
                        node_list(s.nodes)});
    }
    std::vector<std::size_t> width(rows.front().size(), 0);
    for (const auto& r : rows) {
        for (std::size_t c = 0; c < r.size(); ++c) {
            width[c] = std::max(width[c], r[c].size());
        }
    }
    std::ostringstream out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t c = 0; c < r.size(); ++c) {
            line += r[c];
            if (c + 1 < r.size()) {
                line += std::string(width[c] - r[c].size() + 2, ' ');
            }
        }
        out << line << '\n';
    }
    return out.str();
}

int run_list(const shm_args& args) {
    const auto segments = list_shared_segments(args.list_all);
    if (args.list_json) {
        json list = json::array();
        for (const auto& s : segments) {
            list.push_back(info_to_json(s));
        }
        return write_stdout(json{{"segments", list}}.dump(2) + "\n");
    }
    return write_stdout(list_text(segments));
}

// A System V key given as 0x1234abcd or in decimal; empty when `text` is a name.
std::optional<std::int32_t> parse_key(const std::string& text) {
    if (text.empty() || text.front() == '/') {
        return std::nullopt;
    }
    const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    const std::string digits = hex ? text.substr(2) : text;
    const std::string allowed = hex ? "0123456789abcdefABCDEF" : "0123456789";
    if (digits.empty() || digits.size() > (hex ? 8U : 10U) || digits.find_first_not_of(allowed) != std::string::npos) {
        throw error("shm rm: '" + text + "' is neither a segment name ('/' and a name) nor a System V key " +
                    "(0x1234abcd or decimal)");
    }
    const unsigned long long value = std::stoull(digits, nullptr, hex ? 16 : 10);
    if (value == 0 || value > 0xffffffffULL) {
        throw error("shm rm: key '" + text + "' is out of range (expected 1 to 0xffffffff)");
    }
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
}

// Only the owner of a segment, or root, may remove it. The kernel already
// refuses others in a sticky /dev/shm and for System V, but says only
// "Operation not permitted"; this names the owner, and also holds where the
// kernel would not (a /dev/shm without the sticky bit). A name that does not
// exist passes here, for remove() to report.
void check_owner(const std::string& name, shm_api api, const std::optional<std::int32_t>& key) {
    const auto me = static_cast<unsigned>(::geteuid());
    if (me == 0) {
        return;
    }
    std::optional<unsigned> owner;
    std::string what;
    if (api == shm_api::posix) {
        struct stat st {};
        if (name.size() > 1 && name.find('/', 1) == std::string::npos &&
            ::lstat(("/dev/shm/" + name.substr(1)).c_str(), &st) == 0) {
            owner = static_cast<unsigned>(st.st_uid);
        }
        what = name;
    } else {
        const std::int32_t k = key.value_or(sysv_key_of(name));
        what = "System V key " + hex_key(k);
        const int id = ::shmget(k, 0, 0);
        shmid_ds ds{};
        if (id >= 0) {
            if (::shmctl(id, IPC_STAT, &ds) == 0) {
                owner = static_cast<unsigned>(ds.shm_perm.uid);
            } else if (errno == EACCES) {
                throw error("shm rm: " + what + " is not readable by uid " + std::to_string(me) +
                            ", so it belongs to another user; only its owner or root may remove it");
            }
        }
    }
    if (owner && *owner != me) {
        throw error("shm rm: " + what + " belongs to user " + user_name(*owner) + " (uid " + std::to_string(*owner) +
                    "); only its owner or root may remove it");
    }
}

int run_rm(const shm_args& args) {
    const shm_api api = args.rm_sysv ? shm_api::sysv : shm_api::posix;
    std::optional<std::int32_t> key;
    std::string name = args.rm_name;
    if (api == shm_api::sysv) {
        key = parse_key(name);
        if (key) {
            name.clear();
        }
    }
    check_owner(name, api, key);
    // A topos segment is one whose header checks out; anything else needs --force.
    std::int32_t shown_key = key.value_or(api == shm_api::sysv ? sysv_key_of(name) : -1);
    std::string shown_name = name;
    try {
        open_options o;
        o.api = api;
        o.read_only = true;
        o.ready_timeout = std::chrono::milliseconds(0);
        o.sysv_key = key;
        const shared_segment seg = shared_segment::open(name, o);
        shown_name = seg.name();
    } catch (const shm_error& e) {
        const bool foreign = e.code() == shm_errc::not_topos || e.code() == shm_errc::not_ready ||
                             e.code() == shm_errc::truncated || e.code() == shm_errc::permission_denied;
        if (!foreign || !args.rm_force) {
            throw error(std::string("shm rm: ") + e.what() +
                        (foreign ? " (use --force to remove a segment topos did not make)" : ""));
        }
    }
    shared_segment::remove(name, api, key);
    if (args.rm_json) {
        return write_stdout(json{{"removed",
                                  {{"api", api_name(api)},
                                   {"name", shown_name.empty() ? json(nullptr) : json(shown_name)},
                                   {"key", api == shm_api::sysv ? json(hex_key(shown_key)) : json(nullptr)}}}}
                                .dump(2) +
                            "\n");
    }
    std::string what = api == shm_api::posix ? "posix segment " + shown_name
                                             : "sysv segment " + (shown_name.empty() ? "" : shown_name + " ") +
                                                   "(key " + hex_key(shown_key) + ")";
    return write_stdout("removed " + what + "\n");
}

} // namespace

void add_shm_commands(CLI::App& app, command_set& out) {
    auto args = std::make_shared<shm_args>();
    CLI::App* shm = app.add_subcommand("shm", "List and remove shared memory segments made by topos");
    shm->require_subcommand(1);

    CLI::App* list = shm->add_subcommand("list", "List topos segments: POSIX (/dev/shm) and System V (ipcs -m)");
    list->add_flag("--json", args->list_json, "Print a JSON document instead of text");
    list->add_flag("--all", args->list_all, "Also list segments that other programs made");
    list->footer("NODES are the NUMA nodes of the segment's resident pages ('-' when none is resident).");

    CLI::App* rm = shm->add_subcommand("rm", "Remove a shared segment by name (or System V key)");
    rm->add_option("NAME", args->rm_name, "Segment name such as /topos-demo; with --sysv also a key such as 0x1234abcd")
        ->required();
    rm->add_flag("--sysv", args->rm_sysv, "A System V segment (default: POSIX)");
    rm->add_flag("--force", args->rm_force, "Remove it even when it is not a topos segment");
    rm->add_flag("--json", args->rm_json, "Print a JSON document instead of text");
    rm->footer("Example: topos shm rm /topos-demo; topos shm rm --sysv 0x1234abcd");

    out.push_back({list, [args] { return run_list(*args); }});
    out.push_back({rm, [args] { return run_rm(*args); }});
}

} // namespace topos::cli
