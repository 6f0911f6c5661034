// Timing profiles (DESIGN §6): named interval × multiplier pairs.
#pragma once

#include <optional>
#include <string_view>

#include "hb/model.hh"

namespace hb::policy {

// "safe" (100 ms × 5), "fast" (10 ms × 3), "extreme" (1 ms × 3); nullopt for any other name.
std::optional<Timing> timing_profile(std::string_view name) noexcept;

}  // namespace hb::policy
