// Timing (DESIGN §6): the named profiles, and the arithmetic of random loss against a timing.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "hb/clock.hh"
#include "hb/model.hh"

namespace hb::policy {

// "safe" (100 ms × 5), "fast" (10 ms × 3), "extreme" (1 ms × 3); nullopt for any other name.
std::optional<Timing> timing_profile(std::string_view name) noexcept;

inline constexpr Nanos nanos_per_day = 86'400 * nanos_per_s;

// Expected false expiries per interval at random loss `loss` (0..1) and `multiplier` (>= 1): a
// false expiry starts where a beat arrives and the next `multiplier` beats are all lost, so
// (1 − p)·p^k. Zero at p = 0 and at p = 1 (no beat ever arrives: an expiry then is true).
double false_expiries_per_interval(double loss, std::uint32_t multiplier) noexcept;

// The same per day of beats at `interval_ns`.
double false_expiries_per_day(double loss, std::uint32_t multiplier, Nanos interval_ns) noexcept;

// The smallest multiplier in 1..ceiling whose false expiries per day stay below `max_per_day`;
// `ceiling` when none does (the loss is too high for any timing to hide).
std::uint32_t multiplier_for(double loss, Nanos interval_ns, double max_per_day = 1.0,
                             std::uint32_t ceiling = 255) noexcept;

}  // namespace hb::policy
