// The cluster model: what a configuration describes (cluster, nodes, networks, adapters, timing).
// Plain values, validated by whoever builds them; the engine derives its Topology from them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hb/clock.hh"

namespace hb {

using NodeId = std::uint32_t;        // 1..N; 0 means "all" or "none" on the wire
using NetworkIndex = std::uint16_t;  // position of the network in the configuration
using AdapterIndex = std::uint8_t;   // position of the adapter in its node's adapter list

inline constexpr std::size_t max_adapters_per_node = 32;  // fits the wire's adapter-state bitmap
inline constexpr std::uint16_t default_port = 4098;       // CAA's heartbeat port

// An IPv4 address in host byte order.
struct Ipv4 {
    std::uint32_t value = 0;

    static std::optional<Ipv4> parse(std::string_view text) noexcept;
    std::string to_string() const;
    bool is_multicast() const noexcept { return (value >> 28) == 0xE; }
    bool is_unspecified() const noexcept { return value == 0; }
    friend bool operator==(Ipv4, Ipv4) = default;
};

// How often beats are sent and how many may be missed before a path expires.
struct Timing {
    Nanos interval_ns = 100 * nanos_per_ms;
    std::uint32_t multiplier = 5;
    // Consecutive beats needed before a path that was down comes back up (anti-flap).
    std::uint32_t up_count = 2;

    Nanos detection_ns() const noexcept { return interval_ns * multiplier; }
    friend bool operator==(const Timing&, const Timing&) = default;
};

enum class NetworkMode : std::uint8_t { unicast, multicast };
// Whether an interface's carrier/operstate says anything on this network (DESIGN §6, local adapter
// health): `ignore` where it cannot (a virtual switch that keeps every link up), so the link state
// is not used and adapters without netmon targets get the inbound-traffic check instead.
enum class LinkStateUse : std::uint8_t { watch, ignore };
enum class TransportKind : std::uint8_t { udp, dpdk };

struct NetworkConfig {
    std::string name;
    NetworkMode mode = NetworkMode::unicast;
    Ipv4 group{};  // multicast only
    std::uint16_t port = default_port;
    std::uint8_t ttl = 1;
    Timing timing{};
    LinkStateUse link_state = LinkStateUse::watch;
};

struct AdapterConfig {
    NetworkIndex network = 0;
    std::string ifname;
    Ipv4 address{};
    TransportKind transport = TransportKind::udp;
    // transport = dpdk: the DPDK port, an ethdev name ("0000:03:00.0") or devargs the transport
    // probes ("net_af_packet0,iface=eth1"). Empty for udp.
    std::string port;
};

struct NodeConfig {
    NodeId id = 0;
    std::string name;
    std::vector<AdapterConfig> adapters;
};

// 128-bit key for the beat MAC, derived from the cluster key file.
using MacKeyBytes = std::array<std::uint8_t, 16>;

// A cluster key as the MAC uses it: the derived key and its 8-bit id, which every beat signed with
// it carries so that a receiver holding several keys (a rollover) knows which one to check.
struct MacKey {
    MacKeyBytes bytes{};
    std::uint8_t id = 0;

    friend bool operator==(const MacKey&, const MacKey&) = default;
};

// The keys of a node: the first signs what it sends, every one is accepted. More than one only
// during a key rollover (docs/security.md); none means unauthenticated.
struct KeySet {
    static constexpr std::size_t capacity = 4;

    std::array<MacKey, capacity> keys{};
    std::size_t count = 0;

    bool empty() const noexcept { return count == 0; }
    const MacKey& signing() const noexcept;
    std::span<const MacKey> accepted() const noexcept { return {keys.data(), count}; }
    // Appends a key; false when the set is full.
    [[nodiscard]] bool add(const MacKey& key) noexcept;

    friend bool operator==(const KeySet&, const KeySet&) = default;
};

struct ClusterConfig {
    std::uint64_t cluster_id = 0;
    KeySet keys;  // empty: beats are sent and accepted unauthenticated
    NodeId local_node = 0;
    std::vector<NetworkConfig> networks;
    std::vector<NodeConfig> nodes;

    const NodeConfig* find_node(NodeId id) const noexcept;
};

}  // namespace hb
