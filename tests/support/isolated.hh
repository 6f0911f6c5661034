// Runs a test scenario in a forked child inside a new, empty network namespace, so tests that
// create interfaces never touch the host's. For tests that need root; they skip without it.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace hb::test {

// Returns "" on success, "SKIP: ..." when the namespace cannot be made, else the failure.
// A scenario still running after `timeout_s` is killed and reported.
[[nodiscard]] inline std::string run_isolated(const std::function<std::string()>& scenario,
                                              unsigned timeout_s = 30) {
    int result_pipe[2];
    if (pipe2(result_pipe, O_CLOEXEC) != 0) {
        return std::string("pipe2: ") + std::strerror(errno);
    }
    const pid_t child = fork();
    if (child < 0) {
        return std::string("fork: ") + std::strerror(errno);
    }
    if (child == 0) {
        close(result_pipe[0]);
        alarm(timeout_s);
        std::string result;
        if (unshare(CLONE_NEWNET) != 0) {
            result = std::string("SKIP: unshare(CLONE_NEWNET): ") + std::strerror(errno);
        } else {
            result = scenario();
        }
        const ssize_t written = write(result_pipe[1], result.data(), result.size());
        _exit(written == static_cast<ssize_t>(result.size()) && result.empty() ? 0 : 1);
    }
    close(result_pipe[1]);
    std::string result;
    char chunk[512];
    ssize_t got = 0;
    while ((got = read(result_pipe[0], chunk, sizeof(chunk))) != 0) {
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        result.append(chunk, static_cast<std::size_t>(got));
    }
    close(result_pipe[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        return result + " (scenario killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    }
    if (WEXITSTATUS(status) != 0 && result.empty()) {
        return "scenario exited with status " + std::to_string(WEXITSTATUS(status));
    }
    return result;
}

// Runs a shell command (inside the scenario's namespace); true when it succeeded.
[[nodiscard]] inline bool sh(const std::string& command) {
    return std::system(command.c_str()) == 0;
}

// A second network namespace for a scenario's far ends (targets, senders): a forked child that
// unshares its own namespace, runs `body` there (default: wait) and is killed with the object
// or with the test process. `run` executes a shell command inside that namespace.
class NamespaceChild {
public:
    explicit NamespaceChild(const std::function<void()>& body = {}) {
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) != 0) {
            return;
        }
        pid_ = fork();
        if (pid_ == 0) {
            close(ready[0]);
            (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
            const char ok = unshare(CLONE_NEWNET) == 0 ? '1' : '0';
            (void)write(ready[1], &ok, 1);
            if (body) {
                body();
            }
            for (;;) {
                pause();
            }
        }
        close(ready[1]);
        char ok = '0';
        if (pid_ > 0 && read(ready[0], &ok, 1) == 1 && ok == '1') {
            ready_ = true;
        }
        close(ready[0]);
    }
    ~NamespaceChild() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    NamespaceChild(const NamespaceChild&) = delete;
    NamespaceChild& operator=(const NamespaceChild&) = delete;

    bool ready() const { return ready_; }
    std::string pid() const { return std::to_string(pid_); }
    [[nodiscard]] bool run(const std::string& command) const {
        return sh("nsenter -t " + pid() + " -n sh -c '" + command + "' >/dev/null 2>&1");
    }

private:
    pid_t pid_ = -1;
    bool ready_ = false;
};

}  // namespace hb::test

// Inside a scenario: return the failed condition (file:line) as the scenario's result.
#define REQUIRE(condition)                                                                 \
    do {                                                                                   \
        if (!(condition)) {                                                                \
            return std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #condition; \
        }                                                                                  \
    } while (false)

#define REQUIRE_MSG(condition, message)                                                            \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            return std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #condition + " (" + \
                   (message) + ")";                                                                \
        }                                                                                          \
    } while (false)

// Skips without root, skips with the reason when the namespace cannot be made, else expects
// the scenario to succeed.
#define HB_RUN_ISOLATED(...)                                                  \
    do {                                                                      \
        if (geteuid() != 0) {                                                 \
            GTEST_SKIP() << "needs root (network namespaces, veth, sockets)"; \
        }                                                                     \
        const std::string outcome = ::hb::test::run_isolated(__VA_ARGS__);    \
        if (outcome.rfind("SKIP: ", 0) == 0) {                                \
            GTEST_SKIP() << outcome.substr(6);                                \
        }                                                                     \
        EXPECT_EQ(outcome, "");                                               \
    } while (false)
