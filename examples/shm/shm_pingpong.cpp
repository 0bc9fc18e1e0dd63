// examples/shm/shm_pingpong.cpp - two processes hit a ball back and forth
// through a shared segment. The parent creates the segment and forks; the
// child maps it again by name (at whatever address) and answers each serve.
#include <topos/shm.hpp>
#include <topos/sync.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <new>
#include <string>

struct table {
    topos::process_semaphore serve{0};
    topos::process_semaphore reply{0};
    int ball = 0;
};

int main() {
    const std::string name = "/topos-pingpong-" + std::to_string(::getpid());
    const auto seg = topos::shared_segment::create(
        name, sizeof(table), {.policy = topos::mem_policy::on_node(0), .remove_on_creator_exit = true});
    auto* t = ::new (seg.data()) table; // the semaphores live in the segment
    constexpr int rounds = 1000;

    if (::fork() == 0) {
        const auto mine = topos::shared_segment::open(name, {.expected_size = sizeof(table)});
        auto* u = static_cast<table*>(mine.data());
        for (int i = 0; i < rounds; ++i) {
            u->serve.wait();
            ++u->ball;
            u->reply.post();
        }
        ::_exit(0);
    }
    for (int i = 0; i < rounds; ++i) {
        ++t->ball;
        t->serve.post();
        t->reply.wait();
    }
    int status = 0;
    ::wait(&status);
    std::printf("ball hit %d times in %d rounds\n", t->ball, rounds);
    const bool ok = t->ball == 2 * rounds && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    t->~table();
    return ok ? 0 : 1;
}
