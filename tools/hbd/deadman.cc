#include "tools/hbd/deadman.hh"

#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "hb/assert.hh"
#include "hb/clock.hh"
#include "tools/hbd/log.hh"

namespace hb::hbd {

namespace {

bool same_namespace(const char* kind) noexcept {
    struct stat own {};
    struct stat init {};
    const std::string self = std::string("/proc/self/ns/") + kind;
    const std::string first = std::string("/proc/1/ns/") + kind;
    return ::stat(self.c_str(), &own) == 0 && ::stat(first.c_str(), &init) == 0 &&
           own.st_dev == init.st_dev && own.st_ino == init.st_ino;
}

void sleep_for(Nanos ns) noexcept {
    const timespec pause{.tv_sec = ns / nanos_per_s, .tv_nsec = ns % nanos_per_s};
    nanosleep(&pause, nullptr);
}

}  // namespace

std::string halt_refusal() noexcept {
    if (std::getenv("HB_DEADMAN_NO_HALT") != nullptr) {
        return "HB_DEADMAN_NO_HALT is set";
    }
    if (!same_namespace("pid") || !same_namespace("net")) {
        return "not in the initial PID and network namespaces (or /proc/1/ns is unreadable)";
    }
    return {};
}

Deadman::Deadman(const node::DeadmanSettings& settings, EventFanout& sinks,
                 const std::atomic<bool>& stop)
    : settings_(settings), sinks_(sinks), stop_requested_(stop) {
    HB_ASSERT(settings_.timeout_ns > 0);
}

Deadman::~Deadman() {
    stop();
}

void Deadman::stop() noexcept {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Deadman::start() {
    HB_ASSERT(!thread_.joinable());
    thread_ = std::thread([this] { watch(); });
}

bool Deadman::poll(Nanos) noexcept {
    progress_.fetch_add(1, std::memory_order_relaxed);
    if (settings_.test_hook) {
        // The test hook: the loop stops turning until the next SIGUSR2 (or a stop request).
        while (stall_.load(std::memory_order_relaxed) &&
               !stop_requested_.load(std::memory_order_relaxed)) {
            sleep_for(5 * nanos_per_ms);
        }
    }
    return false;
}

void Deadman::toggle_test_stall() noexcept {
    if (settings_.test_hook) {
        stall_.store(!stall_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
}

void Deadman::watch() noexcept {
    // Looks often enough that the switch fires within an eighth of the timeout after it.
    const Nanos period_ns =
        std::clamp<Nanos>(settings_.timeout_ns / 8, nanos_per_ms, 50 * nanos_per_ms);
    std::uint64_t seen = progress_.load(std::memory_order_relaxed);
    Nanos turned_ns = monotonic_now();
    while (!stop_.load(std::memory_order_relaxed)) {
        sleep_for(period_ns);
        const Nanos now = monotonic_now();
        const std::uint64_t progress = progress_.load(std::memory_order_relaxed);
        if (progress != seen) {
            seen = progress;
            turned_ns = now;
            continue;
        }
        if (!fired() && now - turned_ns >= settings_.timeout_ns) {
            fire(now, now - turned_ns);
        }
    }
}

void Deadman::fire(Nanos now, Nanos stalled_ns) noexcept {
    mute_.store(true, std::memory_order_relaxed);
    log_line(fmt::format(
        "DEADMAN: the engine loop has not turned for {:.0f} ms ([deadman] "
        "timeout_ms {:.0f}): this node stops beating until hbd restarts",
        static_cast<double>(stalled_ns) / 1e6, static_cast<double>(settings_.timeout_ns) / 1e6));
    sinks_.publish_from_watchdog(
        Event{.kind = EventKind::deadman, .t_ns = now, .latency_ns = stalled_ns});
    if (settings_.action != node::DeadmanSettings::Action::halt) {
        return;
    }
    if (const std::string refused = halt_refusal(); !refused.empty()) {
        log_line("DEADMAN: action \"halt\" refused (" + refused + "): the node stays muted");
        return;
    }
    // No sync(): on a machine this unwell it may hang, and the point is to stop now.
    log_line("DEADMAN: action \"halt\": powering off");
    ::reboot(RB_POWER_OFF);
    log_line("DEADMAN: reboot(RB_POWER_OFF) failed: the node stays muted");
}

}  // namespace hb::hbd
