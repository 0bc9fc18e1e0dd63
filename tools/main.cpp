// tools/main.cpp - the `topos` program: the command line of tools/topos_main.cpp
// run against the process's own stdout and stderr.
#include "command_line.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace {

// With fd 1 closed, the next file the process opens would become "stdout";
// park /dev/null there and remember to report the closed stream instead.
bool guard_closed_stdout() {
    if (::fcntl(STDOUT_FILENO, F_GETFD) != -1 || errno != EBADF) {
        return false;
    }
    const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && fd != STDOUT_FILENO) {
        ::close(fd);
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    const bool stdout_closed = guard_closed_stdout();
    // Broken pipes surface as EPIPE from write() rather than killing us.
    std::signal(SIGPIPE, SIG_IGN);
    topos::cli::command_line_io io;
    io.stdout_closed = stdout_closed;
    return topos::cli::run_command_line(argc, argv, io);
}
