#include "transport/dpdk/tsc_clock.hh"

#include <algorithm>

#include "hb/assert.hh"

namespace hb::transport {
namespace {

__extension__ typedef __int128 Wide;  // GCC and clang: products of 64-bit values

// Back-to-back (monotonic, TSC, monotonic) reads; the tightest of a few brackets is the anchor, so
// that a preemption between two reads costs a retry, not accuracy.
constexpr int anchor_tries = 4;
constexpr Nanos first_period_ns = nanos_per_ms;

std::uint64_t ns_per_tick_q32(std::uint64_t tsc_hz) noexcept {
    return static_cast<std::uint64_t>((Wide{nanos_per_s} << 32) / tsc_hz);
}

}  // namespace

TscClock::TscClock(std::uint64_t tsc_hz, ReadTsc read_tsc, ReadMonotonic read_monotonic,
                   Nanos reanchor_ns) noexcept
    : read_tsc_(read_tsc),
      read_monotonic_(read_monotonic),
      reanchor_ns_(reanchor_ns),
      period_ns_(std::min(first_period_ns, reanchor_ns)),
      tsc_hz_(tsc_hz) {
    HB_ASSERT(tsc_hz > 0);
    HB_ASSERT(reanchor_ns > 0);
    ns_per_tick_q32_ = ns_per_tick_q32(tsc_hz_);
    anchor();
}

void TscClock::anchor() noexcept {
    Anchor best;
    Nanos best_bracket = 0;
    for (int i = 0; i < anchor_tries; ++i) {
        const Nanos before = read_monotonic_();
        const std::uint64_t tsc = read_tsc_();
        const Nanos after = read_monotonic_();
        const Nanos bracket = after - before;
        if (i == 0 || bracket < best_bracket) {
            best = {.tsc = tsc, .ns = before + bracket / 2};
            best_bracket = bracket;
        }
    }
    if (anchors_ > 0) {
        const Anchor& base = history_[anchors_ < history_size ? 0 : anchors_ % history_size];
        if (best.tsc > base.tsc && best.ns > base.ns) {
            const Wide measured = Wide{best.tsc - base.tsc} * nanos_per_s / (best.ns - base.ns);
            if (measured > 0) {
                tsc_hz_ = static_cast<std::uint64_t>(measured);
                ns_per_tick_q32_ = ns_per_tick_q32(tsc_hz_);
            }
        }
        period_ns_ = std::min(reanchor_ns_, period_ns_ * 2);
    }
    history_[anchors_ % history_size] = best;
    anchor_tsc_ = best.tsc;
    anchor_ns_ = best.ns;
    anchor_bracket_ns_ = best_bracket;
    period_ticks_ = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(Wide{period_ns_} * tsc_hz_ / nanos_per_s));
    ++anchors_;
}

Nanos TscClock::to_monotonic(std::uint64_t tsc) const noexcept {
    const Wide ticks = Wide{tsc} - Wide{anchor_tsc_};  // negative for a read before the anchor
    return anchor_ns_ + static_cast<Nanos>((ticks * ns_per_tick_q32_) >> 32);
}

Nanos TscClock::now() noexcept {
    const std::uint64_t tsc = read_tsc_();
    if (tsc - anchor_tsc_ >= period_ticks_) {
        anchor();
    }
    last_ns_ = std::max(last_ns_, to_monotonic(tsc));
    return last_ns_;
}

}  // namespace hb::transport
