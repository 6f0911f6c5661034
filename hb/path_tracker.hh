// Per-path receive bookkeeping: sequence window (loss, duplicates, reordering, replay), arrival
// times and round-trip time from the echo fields. Pure arithmetic, no clock of its own.
#pragma once

#include <cstdint>

#include "hb/clock.hh"

namespace hb {

class PathTracker {
public:
    // Sequence numbers this far behind the highest seen are too old to judge: stale (replay).
    static constexpr std::uint64_t window = 64;

    enum class Arrival : std::uint8_t {
        fresh,      // newest so far (possibly after a gap)
        reordered,  // older than the newest, inside the window, not seen before
        duplicate,  // seen before
        stale,      // older than the window, or zero
    };

    // Records a beat with this sequence number; only fresh and reordered beats count as heard.
    Arrival record(std::uint64_t seq, Nanos rx_ns) noexcept;

    // Records one round-trip sample, in nanoseconds (negative samples are ignored and counted).
    void record_rtt(Nanos rtt_ns) noexcept;

    // Forgets everything (the peer restarted: its sequence numbers start again).
    void reset() noexcept;

    std::uint64_t highest_seq() const noexcept { return highest_seq_; }
    std::uint64_t received() const noexcept { return received_; }
    // Sequence numbers skipped and not (yet) filled in by a reordered arrival.
    std::uint64_t lost() const noexcept { return lost_; }
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    std::uint64_t reordered() const noexcept { return reordered_; }
    std::uint64_t stale() const noexcept { return stale_; }
    // Beats in a row without a gap, ending at the newest.
    std::uint32_t consecutive() const noexcept { return consecutive_; }
    Nanos last_arrival_ns() const noexcept { return last_arrival_ns_; }
    bool heard() const noexcept { return received_ != 0; }
    // Loss as a fraction of the sequence numbers the peer has sent since we first heard it.
    double loss_ratio() const noexcept;

    std::uint64_t rtt_samples() const noexcept { return rtt_samples_; }
    Nanos rtt_last_ns() const noexcept { return rtt_last_ns_; }
    Nanos rtt_min_ns() const noexcept { return rtt_min_ns_; }
    Nanos rtt_max_ns() const noexcept { return rtt_max_ns_; }
    Nanos rtt_mean_ns() const noexcept;
    // Smoothed RTT (RFC 6298 style, gain 1/8).
    Nanos rtt_smoothed_ns() const noexcept { return rtt_smoothed_ns_; }
    std::uint64_t rtt_rejected() const noexcept { return rtt_rejected_; }

private:
    std::uint64_t first_seq_ = 0;
    std::uint64_t highest_seq_ = 0;
    std::uint64_t seen_mask_ = 0;  // bit i: highest_seq_ - i was received
    std::uint64_t received_ = 0;
    std::uint64_t lost_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t reordered_ = 0;
    std::uint64_t stale_ = 0;
    std::uint32_t consecutive_ = 0;
    Nanos last_arrival_ns_ = 0;

    std::uint64_t rtt_samples_ = 0;
    std::uint64_t rtt_rejected_ = 0;
    Nanos rtt_last_ns_ = 0;
    Nanos rtt_min_ns_ = 0;
    Nanos rtt_max_ns_ = 0;
    Nanos rtt_sum_ns_ = 0;
    Nanos rtt_smoothed_ns_ = 0;
};

}  // namespace hb
