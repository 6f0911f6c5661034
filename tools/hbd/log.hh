// hbd's log: one line per message on standard error, "hbd: " first. Safe from any thread: each
// line is one write, so lines of several threads never interleave.
#pragma once

#include <string_view>

namespace hb::hbd {

void log_line(std::string_view text) noexcept;

}  // namespace hb::hbd
