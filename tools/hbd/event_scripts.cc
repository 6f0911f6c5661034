#include "tools/hbd/event_scripts.hh"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "hb/assert.hh"
#include "hb/clock.hh"
#include "tools/hbd/log.hh"
#include "tools/node/node.hh"

extern char** environ;

namespace hb::hbd {

namespace {

// Where the kernel has no pidfd_open, the runner looks for exits this often.
constexpr Nanos reap_poll_ns = 20 * nanos_per_ms;
constexpr Nanos idle_wait_ns = nanos_per_s;
constexpr std::size_t max_line_chars = 1024;
constexpr std::size_t max_reads_per_drain = 16;

std::string lower_case(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

double to_ms(Nanos ns) {
    return static_cast<double>(ns) / 1e6;
}

// What hbd's own environment passes on: not systemd's notify socket and watchdog (a script
// must not speak for hbd), and not HB_ variables, which the event's own replace.
bool passed_on(std::string_view entry) {
    return !entry.starts_with("HB_") && !entry.starts_with("NOTIFY_SOCKET=") &&
           !entry.starts_with("WATCHDOG_USEC=") && !entry.starts_with("WATCHDOG_PID=");
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

std::string subject_of(const Event& event, const ClusterConfig& cluster) {
    std::string out(event_name(event.kind));
    if (event.node != 0) {
        const NodeConfig* node = cluster.find_node(event.node);
        out += fmt::format(" node {}", event.node);
        if (node != nullptr) {
            out += " (" + node->name + ")";
        }
    }
    if (event.network >= 0 && static_cast<std::size_t>(event.network) < cluster.networks.size()) {
        out += " network " + cluster.networks[static_cast<std::size_t>(event.network)].name;
    }
    return out;
}

bool is_script(const std::string& path) {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::vector<std::string> ScriptRunner::scripts_present(const std::filesystem::path& dir) {
    std::vector<std::string> found;
    for (std::size_t k = 0; k <= static_cast<std::size_t>(EventKind::deadman); ++k) {
        std::string name = lower_case(event_name(static_cast<EventKind>(k)));
        if (is_script((dir / name).native())) {
            found.push_back(std::move(name));
        }
    }
    return found;
}

std::vector<std::string> ScriptRunner::script_environment(const Event& event,
                                                          const ClusterConfig& cluster) {
    const NodeConfig* node = event.node == 0 ? nullptr : cluster.find_node(event.node);
    std::string network;
    if (event.network >= 0 && static_cast<std::size_t>(event.network) < cluster.networks.size()) {
        network = cluster.networks[static_cast<std::size_t>(event.network)].name;
    }
    // As in the JSON stream: an adapter event about no peer is about a local adapter.
    std::string adapter;
    const NodeConfig* owner = node != nullptr ? node : cluster.find_node(cluster.local_node);
    if (event.adapter >= 0 && owner != nullptr &&
        static_cast<std::size_t>(event.adapter) < owner->adapters.size()) {
        adapter = owner->adapters[static_cast<std::size_t>(event.adapter)].ifname;
    }
    std::string evidence;
    for (std::uint32_t bits = event.evidence; bits != 0; bits &= bits - 1) {
        evidence += evidence.empty() ? "" : ",";
        evidence += evidence_name(bits & (~bits + 1));
    }
    return {
        "HB_EVENT=" + std::string(event_name(event.kind)),
        "HB_NODE=" + (event.node == 0 ? std::string() : std::to_string(event.node)),
        "HB_NODE_NAME=" + (node != nullptr ? node->name : std::string()),
        "HB_NETWORK=" + network,
        "HB_ADAPTER=" + adapter,
        "HB_LATENCY_MS=" +
            (event.latency_ns > 0 ? fmt::format("{:.3f}", to_ms(event.latency_ns)) : ""),
        "HB_EVIDENCE=" + evidence,
        "HB_CLUSTER=" + std::to_string(cluster.cluster_id),
        "HB_LOCAL_NODE=" + std::to_string(cluster.local_node),
        "HB_T_NS=" + std::to_string(event.t_ns),
    };
}

ScriptRunner::ScriptRunner(const node::EventsSettings& settings, const ClusterConfig& cluster)
    : settings_(settings), cluster_(cluster), queue_(queue_capacity) {
    HB_ASSERT(!settings_.script_dir.empty() && settings_.max_running > 0);
    HB_ASSERT(settings_.max_running <= 64);  // wait()'s poll set
    children_.reserve(settings_.max_running);
}

ScriptRunner::~ScriptRunner() {
    if (thread_.joinable()) {
        stop_.store(true, std::memory_order_relaxed);
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
        thread_.join();
    }
    close_fd(wake_fd_);
}

bool ScriptRunner::start(std::string& error) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        error = std::string("event scripts: eventfd: ") + std::strerror(errno);
        return false;
    }
    thread_ = std::thread([this] { run(); });
    return true;
}

void ScriptRunner::consume(const Event& event) noexcept {
    if (!queue_.push(event)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

void ScriptRunner::consume_from_watchdog(const Event& event) noexcept {
    if (watchdog_pending_.load(std::memory_order_acquire)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    watchdog_event_ = event;
    watchdog_pending_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

void ScriptRunner::run() noexcept {
    node::drop_realtime_priority();
    while (!stop_.load(std::memory_order_relaxed)) {
        const Nanos now = monotonic_now();
        report_drops();
        for (Child& child : children_) {
            drain_output(child, false);
            enforce_deadlines(child, now);
        }
        std::erase_if(children_, [&](Child& child) { return reap(child, now); });
        // A full set of running scripts leaves the rest queued: they start as slots free up.
        while (children_.size() < settings_.max_running) {
            Event event;
            if (watchdog_pending_.load(std::memory_order_acquire)) {
                event = watchdog_event_;
                watchdog_pending_.store(false, std::memory_order_release);
            } else if (!queue_.pop(event)) {
                break;
            }
            launch(event);
        }
        wait(monotonic_now());
    }
    shut_down();
}

void ScriptRunner::report_drops() noexcept {
    const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
    if (dropped != dropped_reported_) {
        log_line(
            fmt::format("warning: event scripts: {} events dropped (queue of {} full); {} "
                        "in all",
                        dropped - dropped_reported_, queue_capacity, dropped));
        dropped_reported_ = dropped;
    }
}

void ScriptRunner::launch(const Event& event) noexcept {
    const std::string name = lower_case(event_name(event.kind));
    const std::string path = (settings_.script_dir / name).native();
    if (!is_script(path)) {
        ++counters_.no_script;
        return;
    }
    Child child;
    child.name = name;
    child.subject = subject_of(event, cluster_);
    std::array<int, 2> pipe_fds{-1, -1};
    if (::pipe2(pipe_fds.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
        ++counters_.not_started;
        log_line(fmt::format("script {} for {} not started: pipe: {}", name, child.subject,
                             std::strerror(errno)));
        return;
    }
    // The child's end blocks as usual; only hbd's end is non-blocking.
    ::fcntl(pipe_fds[1], F_SETFL, 0);

    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        if (passed_on(*entry)) {
            environment.emplace_back(*entry);
        }
    }
    for (std::string& entry : script_environment(event, cluster_)) {
        environment.push_back(std::move(entry));
    }
    std::vector<char*> envp;
    for (std::string& entry : environment) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);
    std::string argv0 = path;
    std::array<char*, 2> argv{argv0.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addchdir_np(&actions, settings_.script_dir.c_str());
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group, so that the timeout kills what the script started too; default
    // signal handling and an empty mask, whatever hbd ignores or catches.
    posix_spawnattr_setflags(&attributes,
                             static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSCHEDULER));
    posix_spawnattr_setpgroup(&attributes, 0);
    // Never the engine's real-time priority: a busy script must not starve heartbeats.
    posix_spawnattr_setschedpolicy(&attributes, SCHED_OTHER);
    const sched_param normal{.sched_priority = 0};
    posix_spawnattr_setschedparam(&attributes, &normal);
    sigset_t mask;
    sigemptyset(&mask);
    posix_spawnattr_setsigmask(&attributes, &mask);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (const int signal_number :
         {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) {
        sigaddset(&defaults, signal_number);
    }
    posix_spawnattr_setsigdefault(&attributes, &defaults);

    child.started_ns = monotonic_now();
    const int failed =
        posix_spawn(&child.pid, path.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(pipe_fds[1]);
    if (failed != 0) {
        ::close(pipe_fds[0]);
        ++counters_.not_started;
        log_line(fmt::format("script {} for {} not started: {}", name, child.subject,
                             std::strerror(failed)));
        return;
    }
    child.output = pipe_fds[0];
    child.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0));
    ++counters_.started;
    log_line(fmt::format("script {} started for {} (pid {})", name, child.subject, child.pid));
    children_.push_back(std::move(child));
}

void ScriptRunner::drain_output(Child& child, bool final) noexcept {
    std::array<char, 4096> buffer{};
    for (std::size_t reads = 0; child.output >= 0 && reads < max_reads_per_drain; ++reads) {
        const ssize_t n = ::read(child.output, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close_fd(child.output);  // end of output (or a broken pipe)
            }
            break;
        }
        child.partial.append(buffer.data(), static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (std::size_t end; (end = child.partial.find('\n', start)) != std::string::npos;
             start = end + 1) {
            log_line(fmt::format("script {}[{}]: {}", child.name, child.pid,
                                 std::string_view(child.partial).substr(start, end - start)));
        }
        child.partial.erase(0, start);
        if (child.partial.size() > max_line_chars) {
            log_line(fmt::format("script {}[{}]: {}", child.name, child.pid, child.partial));
            child.partial.clear();
        }
    }
    if ((final || child.output < 0) && !child.partial.empty()) {
        log_line(fmt::format("script {}[{}]: {}", child.name, child.pid, child.partial));
        child.partial.clear();
    }
}

bool ScriptRunner::reap(Child& child, Nanos now) noexcept {
    int status = 0;
    const pid_t done = ::waitpid(child.pid, &status, WNOHANG);
    if (done != child.pid) {
        return false;
    }
    // What it wrote before exiting; a process it left behind may hold the pipe: not waited for.
    drain_output(child, true);
    close_fd(child.output);
    close_fd(child.pidfd);
    const double ran_ms = to_ms(now - child.started_ns);
    std::string how;
    if (WIFEXITED(status)) {
        how = fmt::format("exited with status {}", WEXITSTATUS(status));
        ++(WEXITSTATUS(status) == 0 ? counters_.succeeded : counters_.failed);
    } else {
        how = fmt::format(
            "was killed by signal {} ({})", WTERMSIG(status),
            sigabbrev_np(WTERMSIG(status)) != nullptr ? sigabbrev_np(WTERMSIG(status)) : "?");
        ++counters_.failed;
    }
    log_line(fmt::format("script {} for {} {} after {:.1f} ms{}", child.name, child.subject, how,
                         ran_ms, child.signalled_ns != 0 ? " (timed out)" : ""));
    return true;
}

void ScriptRunner::enforce_deadlines(Child& child, Nanos now) noexcept {
    const Nanos ran_ns = now - child.started_ns;
    if (!child.warned && ran_ns >= settings_.warn_ns) {
        // PowerHA's config_too_long: say which script, for which event, and for how long.
        child.warned = true;
        ++counters_.warned;
        log_line(
            fmt::format("warning: script {} for {} has been running for {:.0f} ms "
                        "(warn_ms {:.0f}, killed at timeout_ms {:.0f})",
                        child.name, child.subject, to_ms(ran_ns), to_ms(settings_.warn_ns),
                        to_ms(settings_.timeout_ns)));
    }
    if (child.signalled_ns == 0 && ran_ns >= settings_.timeout_ns) {
        child.signalled_ns = now;
        ++counters_.timed_out;
        ::kill(-child.pid, SIGTERM);
        log_line(
            fmt::format("script {} for {} timed out after {:.0f} ms: SIGTERM to process "
                        "group {}",
                        child.name, child.subject, to_ms(ran_ns), child.pid));
    }
    if (child.signalled_ns != 0 && !child.killed && now - child.signalled_ns >= kill_grace_ns) {
        child.killed = true;
        ::kill(-child.pid, SIGKILL);
        log_line(
            fmt::format("script {} for {} still running {:.0f} ms after SIGTERM: SIGKILL "
                        "to process group {}",
                        child.name, child.subject, to_ms(kill_grace_ns), child.pid));
    }
}

Nanos ScriptRunner::wait_deadline(Nanos now) const noexcept {
    Nanos deadline = now + idle_wait_ns;
    for (const Child& child : children_) {
        if (!child.warned) {
            deadline = std::min(deadline, child.started_ns + settings_.warn_ns);
        }
        if (child.signalled_ns == 0) {
            deadline = std::min(deadline, child.started_ns + settings_.timeout_ns);
        } else if (!child.killed) {
            deadline = std::min(deadline, child.signalled_ns + kill_grace_ns);
        }
        if (child.pidfd < 0) {
            deadline = std::min(deadline, now + reap_poll_ns);
        }
    }
    return deadline;
}

void ScriptRunner::wait(Nanos now) noexcept {
    // The wake eventfd, then each child's pidfd and output: at most 1 + 2 x max_running (64).
    std::array<pollfd, 1 + 2 * 64> fds{};
    std::size_t count = 0;
    fds[count++] = pollfd{.fd = wake_fd_, .events = POLLIN, .revents = 0};
    for (const Child& child : children_) {
        if (child.pidfd >= 0) {
            fds[count++] = pollfd{.fd = child.pidfd, .events = POLLIN, .revents = 0};
        }
        if (child.output >= 0) {
            fds[count++] = pollfd{.fd = child.output, .events = POLLIN, .revents = 0};
        }
    }
    const Nanos sleep_ns = std::max<Nanos>(wait_deadline(now) - now, 0);
    const timespec timeout{.tv_sec = sleep_ns / nanos_per_s, .tv_nsec = sleep_ns % nanos_per_s};
    if (::ppoll(fds.data(), count, &timeout, nullptr) > 0 && (fds[0].revents & POLLIN) != 0) {
        std::uint64_t drained = 0;
        [[maybe_unused]] const ssize_t got = ::read(wake_fd_, &drained, sizeof drained);
    }
}

void ScriptRunner::shut_down() noexcept {
    if (children_.empty()) {
        return;
    }
    log_line(fmt::format("stopping: SIGTERM to {} running event script(s)", children_.size()));
    for (Child& child : children_) {
        ::kill(-child.pid, SIGTERM);
    }
    const Nanos deadline = monotonic_now() + kill_grace_ns;
    while (!children_.empty() && monotonic_now() < deadline) {
        const Nanos now = monotonic_now();
        std::erase_if(children_, [&](Child& child) { return reap(child, now); });
        const timespec pause{.tv_sec = 0, .tv_nsec = 10'000'000};
        nanosleep(&pause, nullptr);
    }
    for (Child& child : children_) {
        ::kill(-child.pid, SIGKILL);
        int status = 0;
        ::waitpid(child.pid, &status, 0);
        close_fd(child.output);
        close_fd(child.pidfd);
    }
    children_.clear();
}

}  // namespace hb::hbd
