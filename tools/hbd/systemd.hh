// systemd integration (docs/operations.md, systemd): sd_notify READY=1, RELOADING=1, STOPPING=1
// and STATUS=, and the watchdog: WATCHDOG=1 from the engine loop at half the period systemd asks
// for, so a stuck loop is restarted by systemd. Without libsystemd in the build, or when hbd is
// not started by systemd (no NOTIFY_SOCKET), every call does nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "hb/deadline_timer.hh"
#include "hb/runner.hh"

namespace hb::hbd {

// Whether this build can talk to systemd (libsystemd was found).
bool systemd_supported() noexcept;

// Thread-safe: each call is one datagram to the notify socket.
class SystemdNotifier {
public:
    void ready() noexcept { send("READY=1"); }
    void stopping() noexcept { send("STOPPING=1"); }
    // With MONOTONIC_USEC, as Type=notify-reload wants it.
    void reloading() noexcept;
    void status(std::string_view text) noexcept;

private:
    void send(const std::string& message) noexcept;
};

// A poller on the engine loop: WATCHDOG=1 every half period of WATCHDOG_USEC (when systemd set
// it for this process), through a DeadlineTimer, so a loop turn costs no system call.
class SystemdWatchdog final : public Poller {
public:
    // Reads the watchdog period (sd_watchdog_enabled); enabled() says whether there is one.
    // False (with `error`) only when the timer cannot be made.
    [[nodiscard]] bool open(Nanos now, std::string& error);
    bool enabled() const noexcept { return period_ns_ > 0; }
    Nanos period_ns() const noexcept { return period_ns_; }
    std::uint64_t pings() const noexcept { return pings_; }

    int wait_fd() const noexcept override { return enabled() ? timer_.fd() : -1; }
    bool poll(Nanos now) noexcept override;

private:
    DeadlineTimer timer_;
    Nanos period_ns_ = 0;
    Nanos next_ns_ = 0;
    std::uint64_t pings_ = 0;
};

}  // namespace hb::hbd
