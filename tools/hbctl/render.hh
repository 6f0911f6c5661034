// hbctl's readable status: the JSON object hbd's control socket answers to a status request,
// laid out as tables in the manner of `lssrc -ls topsvcs` (networks, adapters, paths, peers,
// counters).
#pragma once

#include <string>
#include <string_view>

namespace hb::hbctl {

// The tables for one status line; on a line that is not a status object, a message saying so
// (std::nullopt would hide what hbd sent) prefixed "error: ".
std::string render_status_table(std::string_view status_json);

}  // namespace hb::hbctl
