// libFuzzer target for the hbd configuration reader: any input yields either settings or errors
// (never both, never neither), and settings that were accepted satisfy the model's invariants.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "hb/assert.hh"
#include "tools/node/config.hh"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // No key file can be found under /nonexistent, so a key_file line always fails: the fuzzer
    // explores the parser, not the file system (and only allow_unauthenticated configs pass).
    const hb::node::ConfigResult result = hb::node::parse_config(text, "/nonexistent");
    HB_ASSERT(result.settings.has_value() == result.errors.empty());
    for (const hb::node::ConfigError& error : result.errors) {
        HB_ASSERT(!error.message.empty());
    }
    if (!result.settings) {
        return 0;
    }
    const hb::ClusterConfig& cluster = result.settings->cluster;
    HB_ASSERT(cluster.cluster_id != 0);
    HB_ASSERT(cluster.keys.empty());
    // Without a key a configuration is accepted only when it says so in so many words.
    HB_ASSERT(result.settings->allow_unauthenticated);
    HB_ASSERT(!cluster.networks.empty());
    HB_ASSERT(cluster.nodes.size() >= 2);
    HB_ASSERT(cluster.find_node(cluster.local_node) != nullptr);
    for (const hb::NetworkConfig& network : cluster.networks) {
        HB_ASSERT(!network.name.empty());
        HB_ASSERT(network.port != 0 && network.ttl != 0);
        HB_ASSERT(network.mode == hb::NetworkMode::unicast || network.group.is_multicast());
        HB_ASSERT(network.timing.interval_ns > 0 && network.timing.multiplier > 0);
        HB_ASSERT(network.timing.up_count > 0);
    }
    std::set<hb::NodeId> ids;
    std::set<std::uint32_t> addresses;
    for (const hb::NodeConfig& node : cluster.nodes) {
        HB_ASSERT(node.id != 0 && ids.insert(node.id).second);
        HB_ASSERT(!node.name.empty());
        HB_ASSERT(!node.adapters.empty() && node.adapters.size() <= hb::max_adapters_per_node);
        for (const hb::AdapterConfig& adapter : node.adapters) {
            HB_ASSERT(adapter.network < cluster.networks.size());
            HB_ASSERT(!adapter.ifname.empty() && adapter.ifname.size() <= 15);
            HB_ASSERT(!adapter.address.is_multicast() && !adapter.address.is_unspecified());
            HB_ASSERT(addresses.insert(adapter.address.value).second);
        }
    }
    return 0;
}
