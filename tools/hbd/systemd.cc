#include "tools/hbd/systemd.hh"

#include <cerrno>
#include <cstring>

#include "build_config.hh"
#include "hb/clock.hh"
#if HB_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace hb::hbd {

bool systemd_supported() noexcept {
    return HB_HAVE_LIBSYSTEMD != 0;
}

void SystemdNotifier::send([[maybe_unused]] const std::string& message) noexcept {
#if HB_HAVE_LIBSYSTEMD
    sd_notify(0, message.c_str());
#endif
}

void SystemdNotifier::reloading() noexcept {
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_now() / nanos_per_us));
}

void SystemdNotifier::status(std::string_view text) noexcept {
    send("STATUS=" + std::string(text));
}

bool SystemdWatchdog::open([[maybe_unused]] Nanos now, std::string& error) {
#if HB_HAVE_LIBSYSTEMD
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
        return true;  // no watchdog asked for
    }
    if (!timer_.open()) {
        error = std::string("systemd watchdog: timerfd_create: ") + std::strerror(errno);
        return false;
    }
    period_ns_ = static_cast<Nanos>(usec) * nanos_per_us;
    next_ns_ = now;  // the first ping at the first loop turn
    timer_.arm(next_ns_);
#else
    static_cast<void>(error);
#endif
    return true;
}

bool SystemdWatchdog::poll(Nanos now) noexcept {
    if (!enabled() || now < next_ns_) {
        return false;
    }
    static_cast<void>(timer_.consume(now));
#if HB_HAVE_LIBSYSTEMD
    sd_notify(0, "WATCHDOG=1");
#endif
    ++pings_;
    next_ns_ = now + period_ns_ / 2;
    timer_.arm(next_ns_);
    return false;
}

}  // namespace hb::hbd
