#include "hb/deadline_timer.hh"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace hb {

DeadlineTimer::~DeadlineTimer() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool DeadlineTimer::open() noexcept {
    fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd_ >= 0;
}

void DeadlineTimer::arm(Nanos deadline_ns) noexcept {
    // A zero it_value would disarm the timer; a past absolute time fires at once, as wanted.
    deadline_ns = std::max<Nanos>(deadline_ns, 1);
    if (deadline_ns == armed_ns_) {
        return;
    }
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / nanos_per_s);
    spec.it_value.tv_nsec = static_cast<long>(deadline_ns % nanos_per_s);
    if (timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr) == 0) {
        armed_ns_ = deadline_ns;
    }
}

bool DeadlineTimer::consume(Nanos now) noexcept {
    if (armed_ns_ == 0 || now < armed_ns_) {
        return false;
    }
    std::uint64_t expirations = 0;
    if (::read(fd_, &expirations, sizeof(expirations)) != sizeof(expirations)) {
        return false;
    }
    armed_ns_ = 0;
    return true;
}

}  // namespace hb
