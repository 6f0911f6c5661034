// Receive timestamps from the TSC: one rdtsc per burst instead of a clock_gettime, converted to
// CLOCK_MONOTONIC nanoseconds so that they compare with every other time in hb (DESIGN §3).
// Pure C++: the transport hands it DPDK's rte_rdtsc and rte_get_tsc_hz; tests hand it their own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "hb/clock.hh"

namespace hb::transport {

class TscClock {
public:
    using ReadTsc = std::uint64_t (*)() noexcept;
    using ReadMonotonic = Nanos (*)() noexcept;

    // `tsc_hz` is the nominal rate (DPDK's rte_get_tsc_hz), used until the first re-anchoring;
    // from then on the rate is the one measured against CLOCK_MONOTONIC over the last few
    // anchors, so an imprecise nominal rate, or NTP slewing the monotonic clock, is followed.
    // Re-anchoring comes after 1 ms, then at doubling periods up to `reanchor_ns`: the rate is
    // learnt within milliseconds of the start and refined as the baseline grows.
    TscClock(std::uint64_t tsc_hz, ReadTsc read_tsc, ReadMonotonic read_monotonic,
             Nanos reanchor_ns = nanos_per_s) noexcept;

    // Now on the monotonic clock, from one TSC read (and a re-anchoring when one is due). Never
    // less than a value it returned before, so a re-anchoring never moves time backwards.
    Nanos now() noexcept;
    // A TSC reading on the monotonic clock, with the current anchor and rate.
    [[nodiscard]] Nanos to_monotonic(std::uint64_t tsc) const noexcept;

    // Ticks per second now in use (measured after the first re-anchoring).
    [[nodiscard]] std::uint64_t tsc_hz() const noexcept { return tsc_hz_; }
    [[nodiscard]] std::uint64_t anchors() const noexcept { return anchors_; }
    // The width of the last anchor's bracket: how far apart the two monotonic reads around its
    // TSC read were, the anchor's uncertainty.
    [[nodiscard]] Nanos anchor_bracket_ns() const noexcept { return anchor_bracket_ns_; }

private:
    struct Anchor {
        std::uint64_t tsc = 0;
        Nanos ns = 0;
    };
    // The rate is measured from the oldest of the anchors kept: a baseline of up to this many
    // periods, long enough that the anchors' own uncertainty (a bracket of ~100 ns) is a small
    // fraction of a ppm, short enough to follow a change of NTP's slew within seconds.
    static constexpr std::size_t history_size = 8;

    void anchor() noexcept;

    ReadTsc read_tsc_;
    ReadMonotonic read_monotonic_;
    Nanos reanchor_ns_;
    Nanos period_ns_;  // the current re-anchoring period, doubling up to reanchor_ns_
    std::uint64_t period_ticks_ = 0;
    std::uint64_t tsc_hz_;
    // ns = anchor_ns_ + (tsc - anchor_tsc_) * ns_per_tick_q32_ / 2^32
    std::uint64_t ns_per_tick_q32_ = 0;
    std::uint64_t anchor_tsc_ = 0;
    Nanos anchor_ns_ = 0;
    Nanos anchor_bracket_ns_ = 0;
    std::array<Anchor, history_size> history_{};
    Nanos last_ns_ = 0;
    std::uint64_t anchors_ = 0;
};

}  // namespace hb::transport
