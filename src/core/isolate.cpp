#include "qcp/core/isolate.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "qcp/core/error.hpp"

// Present only in sanitizer builds (ASan/UBSan runtimes), hence weak.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace qcp {
namespace {

// First byte of the child's message: what follows is fn's output or an error message.
constexpr char kTagOk = 'O';
constexpr char kTagError = 'E';
constexpr int kChildFailedExit = 3;

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

[[noreturn]] void child_main(const std::function<std::string()>& fn, int out_fd) {
    // A contained crash is no finding: the child dies plainly, without the handlers a sanitizer
    // runtime or libFuzzer installed (libFuzzer's would save the input as a crash).
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(sig, SIG_DFL);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
    }
    std::string message;
    try {
        message = kTagOk + fn();
    } catch (const Error& e) {
        message = kTagError + std::string(e.what());
    } catch (...) {
        ::_exit(kChildFailedExit);
    }
    ::_exit(write_all(out_fd, message.data(), message.size()) ? 0 : kChildFailedExit);
}

IsolatedResult in_process(const std::function<std::string()>& fn) {
    IsolatedResult r;
    try {
        r.output = fn();
        r.status = IsolatedResult::Status::Ok;
    } catch (const Error& e) {
        r.status = IsolatedResult::Status::Error;
        r.detail = e.what();
    }
    return r;
}

}  // namespace

IsolatedResult run_isolated(const std::function<std::string()>& fn, double timeout_seconds) {
    const char* off = std::getenv("QCP_NO_ISOLATION");
    if (off && std::string(off) == "1") return in_process(fn);
    IsolatedResult r;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return r;
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return r;
    }
    if (pid == 0) {
        ::close(fds[0]);
        child_main(fn, fds[1]);
    }
    ::close(fds[1]);
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
    std::string message;
    bool timed_out = false;
    for (char buf[1 << 16];;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (ready < 0 && errno != EINTR) break;
        if (ready <= 0) continue;
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF: the child is done or gone
        message.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        r.status = IsolatedResult::Status::TimedOut;
        r.detail = "no result after " + std::to_string(static_cast<int>(timeout_seconds)) + " s";
    } else if (WIFSIGNALED(status)) {
        r.status = IsolatedResult::Status::Crashed;
        r.detail = std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || message.empty()) {
        r.status = IsolatedResult::Status::Crashed;
        r.detail = "exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else {
        const bool ok = message[0] == kTagOk;
        r.status = ok ? IsolatedResult::Status::Ok : IsolatedResult::Status::Error;
        message.erase(0, 1);
        (ok ? r.output : r.detail) = std::move(message);
    }
    return r;
}

}  // namespace qcp
