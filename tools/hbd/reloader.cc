#include "tools/hbd/reloader.hh"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>

#include "hb/assert.hh"
#include "tools/hbd/log.hh"

namespace hb::hbd {

namespace {

std::atomic<int> sighup_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_sighup(int) {
    const int saved_errno = errno;
    const int fd = sighup_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
    }
    errno = saved_errno;
}

void signal_eventfd(int fd) noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
}

}  // namespace

Reloader::Reloader(std::filesystem::path config_path, node::NodeSettings running, node::Node& node,
                   SystemdNotifier& notifier)
    : config_path_(std::move(config_path)),
      running_(std::move(running)),
      node_(node),
      notifier_(notifier) {}

Reloader::~Reloader() {
    std::signal(SIGHUP, SIG_IGN);
    sighup_fd.store(-1, std::memory_order_relaxed);
    if (thread_.joinable()) {
        stop_.store(true, std::memory_order_relaxed);
        signal_eventfd(hup_fd_);
        thread_.join();
    }
    for (node::ReloadPlan* plan = nullptr; plans_.pop(plan);) {
        delete plan;
    }
    for (const int fd : {hup_fd_, ready_fd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

bool Reloader::start(std::string& error) {
    hup_fd_ = eventfd(0, EFD_CLOEXEC);  // the reload thread blocks on it
    ready_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hup_fd_ < 0 || ready_fd_ < 0) {
        error = std::string("reload: eventfd: ") + std::strerror(errno);
        return false;
    }
    HB_ASSERT(sighup_fd.load() < 0);
    sighup_fd.store(hup_fd_, std::memory_order_relaxed);
    struct sigaction action {};
    action.sa_handler = on_sighup;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &action, nullptr);
    thread_ = std::thread([this] { run(); });
    return true;
}

void Reloader::run() noexcept {
    node::drop_realtime_priority();
    while (true) {
        std::uint64_t count = 0;
        const ssize_t got = ::read(hup_fd_, &count, sizeof count);
        if (stop_.load(std::memory_order_relaxed)) {
            return;
        }
        if (got == sizeof count) {
            reload();  // several SIGHUPs while one was read: one reload covers them all
        }
    }
}

void Reloader::reload() noexcept {
    notifier_.reloading();
    log_line("SIGHUP: reloading " + config_path_.native());
    node::ConfigResult loaded = node::load_config(config_path_);
    if (!loaded.errors.empty()) {
        log_line("reload failed: the running configuration is kept; the new one has errors:");
        std::istringstream lines(node::format_errors(config_path_, loaded.errors));
        for (std::string line; std::getline(lines, line);) {
            log_line("  " + line);
        }
        notifier_.ready();
        return;
    }
    for (const std::string& warning : loaded.warnings) {
        log_line("reload: warning: " + warning);
    }
    auto plan = std::make_unique<node::ReloadPlan>(node::plan_reload(running_, *loaded.settings));
    for (const std::string& line : plan->needs_restart) {
        log_line("reload: " + line + "; ignored");
    }
    if (plan->empty()) {
        log_line("reload: nothing to apply");
        notifier_.ready();
        return;
    }
    // What runs from now on, as far as a reload can change it: later reloads compare with it.
    // Taken before the hand-over: from then on the plan is the engine thread's.
    node::NodeSettings next_running = running_;
    for (const auto& [network, timing] : plan->timings) {
        next_running.cluster.networks[network].timing = timing;
    }
    if (plan->adaptive_ceiling) {
        next_running.adaptive_ceiling = *plan->adaptive_ceiling;
    }
    if (plan->keys) {
        next_running.cluster.keys = *plan->keys;
        next_running.key_file = plan->key_file;
        next_running.accept_key_files = plan->accept_key_files;
    }
    if (plan->netmon_targets) {
        next_running.netmon_targets = *plan->netmon_targets;
        next_running.netmon_file = loaded.settings->netmon_file;
        next_running.netmon_mode = loaded.settings->netmon_mode;
    }
    if (!plans_.push(plan.get())) {
        log_line("reload: the engine has not applied the previous reloads yet; try again");
        notifier_.ready();
        return;
    }
    running_ = std::move(next_running);
    plan.release();
    signal_eventfd(ready_fd_);
}

bool Reloader::poll(Nanos now) noexcept {
    node::ReloadPlan* raw = nullptr;
    if (!plans_.pop(raw)) {
        return false;
    }
    std::uint64_t drained = 0;
    [[maybe_unused]] const ssize_t got = ::read(ready_fd_, &drained, sizeof drained);
    const std::unique_ptr<node::ReloadPlan> plan(raw);
    // Reloads are rare and not on the beat path: applying one may allocate (a rebuilt prober).
    for (const std::string& problem : node_.apply_reload(*plan, now)) {
        log_line("reload: " + problem);
    }
    for (const std::string& line : plan->applied) {
        log_line("reload: applied " + line);
    }
    reloads_.fetch_add(1, std::memory_order_relaxed);
    notifier_.ready();
    return true;
}

}  // namespace hb::hbd
