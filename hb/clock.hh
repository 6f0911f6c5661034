// Time in hb is CLOCK_MONOTONIC nanoseconds. Decisions take `now` as an argument; a Clock is only
// asked at the edges (run loops), so tests drive everything with a ManualClock.
#pragma once

#include <cstdint>

namespace hb {

using Nanos = std::int64_t;

inline constexpr Nanos nanos_per_us = 1'000;
inline constexpr Nanos nanos_per_ms = 1'000'000;
inline constexpr Nanos nanos_per_s = 1'000'000'000;

// CLOCK_MONOTONIC now, in nanoseconds.
Nanos monotonic_now() noexcept;

class Clock {
public:
    virtual ~Clock() = default;
    virtual Nanos now() const noexcept = 0;
};

class MonotonicClock final : public Clock {
public:
    Nanos now() const noexcept override { return monotonic_now(); }
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(Nanos start = nanos_per_s) : now_ns_(start) {}
    Nanos now() const noexcept override { return now_ns_; }
    void set(Nanos t) noexcept { now_ns_ = t; }
    void advance(Nanos delta) noexcept { now_ns_ += delta; }

private:
    Nanos now_ns_;
};

}  // namespace hb
