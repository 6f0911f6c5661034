// The configuration the embedding API's tests run two nodes from: `alpha` (1) and `beta` (2) on
// `lo`, in a network namespace of the test's own, at 20 ms x 5 (tolerates a loaded virtual
// machine). Unauthenticated (allow_unauthenticated = true), so the configuration warns about it.
#pragma once

#include <cstdint>
#include <string>

namespace hb::test {

inline std::string loopback_config(std::uint32_t local, std::uint64_t cluster_id) {
    return "[cluster]\nid = " + std::to_string(cluster_id) +
           "\nallow_unauthenticated = true\n[timing]\ninterval_ms = 20\nmultiplier = "
           "5\n[local]\nnode = " +
           std::to_string(local) +
           "\n[process]\nrealtime_priority = 0\nlock_memory = false\n"
           "[[network]]\nname = \"net_lo\"\n"
           "[[node]]\nid = 1\nname = \"alpha\"\n"
           "adapters = [ { network = \"net_lo\", ifname = \"lo\", address = \"127.0.0.1\" } ]\n"
           "[[node]]\nid = 2\nname = \"beta\"\n"
           "adapters = [ { network = \"net_lo\", ifname = \"lo\", address = \"127.0.0.2\" } ]\n";
}

}  // namespace hb::test
