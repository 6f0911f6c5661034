#include "policy/timing.hh"

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

}  // namespace hb::policy
