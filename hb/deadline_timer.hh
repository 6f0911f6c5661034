// A timerfd armed for absolute CLOCK_MONOTONIC deadlines: how the pollers (netmon prober, inbound
// traffic watch, disk heartbeat) wake the run loop when a round, a window's end or a cycle is
// due, whatever its sleep.
#pragma once

#include "hb/clock.hh"

namespace hb {

class DeadlineTimer {
public:
    DeadlineTimer() = default;
    ~DeadlineTimer();
    DeadlineTimer(const DeadlineTimer&) = delete;
    DeadlineTimer& operator=(const DeadlineTimer&) = delete;

    // Creates the (non-blocking) timerfd; false with errno set when it cannot.
    [[nodiscard]] bool open() noexcept;
    // Readable when the deadline has passed.
    int fd() const noexcept { return fd_; }
    // Arms for `deadline_ns` (a time already past fires at once); a no-op when already armed
    // for it, so calling it after every poll costs one comparison.
    void arm(Nanos deadline_ns) noexcept;
    // Consumes an expiry; true if the timer had fired. Re-arming afterwards is never skipped: it
    // may have fired just after the caller took `now`, with the deadline not yet acted upon.
    // Before the armed deadline (by the caller's `now`) it cannot have fired, and no system call
    // is made: a poller that runs every loop iteration pays one only when its time has come.
    bool consume(Nanos now) noexcept;

private:
    int fd_ = -1;
    Nanos armed_ns_ = 0;
};

}  // namespace hb
