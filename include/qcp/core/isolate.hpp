// Runs third-party parsing code in a child process, so that a crash, a hang or memory
// corruption on hostile input stays there. Used where qcp hands untrusted bytes to libraries
// it cannot fix: ONNX 1.12's shape inference (reads out of bounds on some malformed graphs,
// e.g. a Conv whose input and weight ranks differ) and stb_image 2.27 (writes past a Huffman
// table on a crafted JPEG). Found by fuzzing; see tests/fuzz/regressions/.
#pragma once

#include <functional>
#include <string>

namespace qcp {

struct IsolatedResult {
    enum class Status {
        Ok,          // fn returned; `output` holds what it returned
        Error,       // fn threw qcp::Error; `detail` holds its message
        Crashed,     // the child died (signal, sanitizer report, other exception); `detail` says how
        TimedOut,    // the child ran past the time limit and was killed
        Unavailable  // no child could be started (fork failed); fn did not run
    };
    Status status = Status::Unavailable;
    std::string output;
    std::string detail;
};

// Forks, runs `fn` in the child with stdout and stderr sent to /dev/null, and returns what it
// returned through a pipe. `fn` must not start threads, OpenMP regions or log lines (a forked
// child of a threaded process has only the calling thread). The child ends with _exit: no
// atexit handlers, no flushing of buffers inherited from the parent. Setting the environment
// variable QCP_NO_ISOLATION=1 runs `fn` in this process instead (for debuggers).
IsolatedResult run_isolated(const std::function<std::string()>& fn, double timeout_seconds);

}  // namespace qcp
