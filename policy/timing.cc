// Timing profiles and the loss arithmetic of DESIGN §6 (docs/timing.md).
#include "policy/timing.hh"

#include <cmath>

#include "hb/assert.hh"

namespace hb::policy {

std::optional<Timing> timing_profile(std::string_view name) noexcept {
    if (name == "safe") {
        return Timing{.interval_ns = 100 * nanos_per_ms, .multiplier = 5, .up_count = 2};
    }
    if (name == "fast") {
        return Timing{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
    }
    if (name == "extreme") {
        return Timing{.interval_ns = 1 * nanos_per_ms, .multiplier = 3, .up_count = 3};
    }
    return std::nullopt;
}

double false_expiries_per_interval(double loss, std::uint32_t multiplier) noexcept {
    HB_ASSERT(loss >= 0.0 && loss <= 1.0);  // also rejects NaN
    HB_ASSERT(multiplier >= 1);
    return (1.0 - loss) * std::pow(loss, static_cast<double>(multiplier));
}

double false_expiries_per_day(double loss, std::uint32_t multiplier, Nanos interval_ns) noexcept {
    HB_ASSERT(interval_ns > 0);
    const double intervals_per_day =
        static_cast<double>(nanos_per_day) / static_cast<double>(interval_ns);
    return false_expiries_per_interval(loss, multiplier) * intervals_per_day;
}

std::uint32_t multiplier_for(double loss, Nanos interval_ns, double max_per_day,
                             std::uint32_t ceiling) noexcept {
    HB_ASSERT(ceiling >= 1);
    HB_ASSERT(max_per_day > 0.0);
    // The rate falls with every step of k (p < 1), so the first k that satisfies is the answer;
    // at most `ceiling` steps, no closed form to get wrong at p = 0 or p = 1.
    for (std::uint32_t multiplier = 1; multiplier < ceiling; ++multiplier) {
        if (false_expiries_per_day(loss, multiplier, interval_ns) < max_per_day) {
            return multiplier;
        }
    }
    return ceiling;
}

}  // namespace hb::policy
