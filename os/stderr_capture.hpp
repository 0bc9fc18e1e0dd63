// os/stderr_capture.hpp - holds back what a C library writes to standard
// error while one call runs, so that the caller can turn it into its own
// one-line message instead of letting several lines reach the user.
#pragma once

#include <string>

namespace topos::os {

/// While alive, file descriptor 2 goes to a private file; finish() puts the
/// old descriptor back and returns what was written. Captures are serialised
/// (one at a time in the process), and writes from other threads during one
/// are captured with it.
class stderr_capture {
public:
    /// post: writes to fd 2 are held back; when no private file can be made,
    ///       nothing is captured and stderr is left as it was.
    stderr_capture();
    /// post: fd 2 is restored if finish() was not called.
    ~stderr_capture();
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;

    /// pre: called at most once. post: fd 2 is restored; returns the text held back.
    std::string finish();

private:
    int m_saved = -1;  // the original fd 2, or -1 when nothing is captured
    int m_file = -1;   // the private file fd 2 points to meanwhile
};

} // namespace topos::os
