// What a SIGHUP reload may change in a running node (docs/operations.md, Reload): the timing of
// its networks, the adaptive ceiling, netmon's targets and the cluster keys (a rollover step,
// docs/security.md). Everything else needs a restart; a
// plan says which differences it applies and which it ignores.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tools/node/config.hh"

namespace hb::node {

struct ReloadPlan {
    std::vector<std::pair<NetworkIndex, Timing>> timings;  // networks whose timing changes
    std::optional<std::uint32_t> adaptive_ceiling;         // set when it changes
    // Set when the netmon targets of this node's adapters change: indexed like its adapters.
    std::optional<std::vector<std::vector<Ipv4>>> netmon_targets;
    // Set when the keys change (authentication stays on): the key this node signs with and the
    // ones it accepts, and the files they came from.
    std::optional<KeySet> keys;
    std::filesystem::path key_file;
    std::vector<std::filesystem::path> accept_key_files;
    std::vector<std::string> applied;        // one line per change that is applied
    std::vector<std::string> needs_restart;  // one line per difference that is ignored
    bool empty() const noexcept {
        return timings.empty() && !adaptive_ceiling && !netmon_targets && !keys;
    }
};

// Compares the running settings with a new, valid configuration of the same node.
[[nodiscard]] ReloadPlan plan_reload(const NodeSettings& running, const NodeSettings& next);

// "100 ms x 5" (and ", up_count 3" when not the default 2).
[[nodiscard]] std::string describe(const Timing& timing);

}  // namespace hb::node
