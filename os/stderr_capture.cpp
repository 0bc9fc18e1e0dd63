// os/stderr_capture.cpp - fd 2 redirected to a memfd for the length of a call.
#include "os/stderr_capture.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace topos::os {
namespace {

// fd 2 is one per process: two captures at once would restore each other's
// descriptors in the wrong order.
std::mutex& capture_mutex() {
    static std::mutex m;
    return m;
}

} // namespace

stderr_capture::stderr_capture() {
    capture_mutex().lock();
    std::fflush(stderr);
    m_file = memfd_create("topos-stderr", MFD_CLOEXEC);
    if (m_file < 0) {
        return;
    }
    m_saved = dup(STDERR_FILENO);
    if (m_saved < 0 || dup2(m_file, STDERR_FILENO) < 0) {
        if (m_saved >= 0) {
            close(m_saved);
            m_saved = -1;
        }
        close(m_file);
        m_file = -1;
    }
}

stderr_capture::~stderr_capture() {
    if (m_file >= 0 || m_saved >= 0) {
        (void)finish();
    }
    capture_mutex().unlock();
}

std::string stderr_capture::finish() {
    std::string text;
    if (m_saved < 0) {
        return text;
    }
    std::fflush(stderr);
    dup2(m_saved, STDERR_FILENO);
    close(m_saved);
    m_saved = -1;
    char buf[4096];
    for (off_t at = 0;;) {
        const ssize_t n = pread(m_file, buf, sizeof buf, at);
        if (n <= 0) {
            break;
        }
        text.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    close(m_file);
    m_file = -1;
    return text;
}

} // namespace topos::os
