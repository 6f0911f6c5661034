// Least privilege for a running node: once every socket, port, disk and scheduling setting is in
// place, the process keeps only the capabilities its running work still uses (docs/security.md).
#pragma once

#include <string>
#include <vector>

#include "tools/node/config.hh"

namespace hb::node {

struct KeptCapability {
    int capability = 0;  // CAP_*
    std::string why;
};

// The capabilities a node with these settings still needs after Node::start().
[[nodiscard]] std::vector<KeptCapability> capabilities_needed(const NodeSettings& settings);

// Drops every other capability from the effective, permitted, inheritable and bounding sets
// (libcap-ng), so neither this process nor anything it runs can regain them. Returns the lines
// for the log: what was kept and why, or why nothing was dropped. Never fatal.
[[nodiscard]] std::vector<std::string> drop_capabilities(const NodeSettings& settings);

}  // namespace hb::node
