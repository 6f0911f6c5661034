#include "hb/path_tracker.hh"

#include <algorithm>

namespace hb {

PathTracker::Arrival PathTracker::record(std::uint64_t seq, Nanos rx_ns) noexcept {
    if (seq == 0) {
        ++stale_;
        return Arrival::stale;
    }
    if (received_ == 0) {
        first_seq_ = seq;
        highest_seq_ = seq;
        seen_mask_ = 1;
        received_ = 1;
        consecutive_ = 1;
        last_arrival_ns_ = rx_ns;
        return Arrival::fresh;
    }
    if (seq > highest_seq_) {
        const std::uint64_t advance = seq - highest_seq_;
        lost_ += advance - 1;
        seen_mask_ = advance >= window ? 1 : (seen_mask_ << advance) | 1;
        highest_seq_ = seq;
        consecutive_ = advance == 1 ? consecutive_ + 1 : 1;
        ++received_;
        last_arrival_ns_ = std::max(last_arrival_ns_, rx_ns);
        return Arrival::fresh;
    }
    const std::uint64_t behind = highest_seq_ - seq;
    if (behind >= window || seq < first_seq_) {
        ++stale_;
        return Arrival::stale;
    }
    const std::uint64_t bit = std::uint64_t{1} << behind;
    if ((seen_mask_ & bit) != 0) {
        ++duplicates_;
        return Arrival::duplicate;
    }
    seen_mask_ |= bit;
    ++reordered_;
    ++received_;
    if (lost_ > 0) {
        --lost_;
    }
    last_arrival_ns_ = std::max(last_arrival_ns_, rx_ns);
    return Arrival::reordered;
}

void PathTracker::record_rtt(Nanos rtt_ns) noexcept {
    if (rtt_ns < 0) {
        ++rtt_rejected_;
        return;
    }
    if (rtt_samples_ == 0) {
        rtt_min_ns_ = rtt_max_ns_ = rtt_smoothed_ns_ = rtt_ns;
    } else {
        rtt_min_ns_ = std::min(rtt_min_ns_, rtt_ns);
        rtt_max_ns_ = std::max(rtt_max_ns_, rtt_ns);
        rtt_smoothed_ns_ += (rtt_ns - rtt_smoothed_ns_) / 8;
    }
    rtt_last_ns_ = rtt_ns;
    rtt_sum_ns_ += rtt_ns;
    ++rtt_samples_;
}

void PathTracker::reset() noexcept {
    *this = PathTracker{};
}

double PathTracker::loss_ratio() const noexcept {
    if (received_ == 0) {
        return 0.0;
    }
    const std::uint64_t expected = highest_seq_ - first_seq_ + 1;
    return static_cast<double>(lost_) / static_cast<double>(expected);
}

Nanos PathTracker::rtt_mean_ns() const noexcept {
    return rtt_samples_ == 0 ? 0 : rtt_sum_ns_ / static_cast<Nanos>(rtt_samples_);
}

}  // namespace hb
