// What the engine derives from a ClusterConfig at start: the local adapters, every path
// (local adapter, peer adapter on the same network) and where each peer's paths are. Read-only
// once built; the engine and the detector index their per-path state by PathIndex.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hb/model.hh"

namespace hb {

using PathIndex = std::uint32_t;
using PeerIndex = std::uint32_t;  // dense index of a peer node, 0..peer_count-1

struct LocalAdapter {
    AdapterIndex adapter = 0;  // index in the local node's adapter list
    NetworkIndex network = 0;
    PathIndex first_path = 0;  // paths from this adapter are [first_path, first_path + path_count)
    std::uint32_t path_count = 0;
};

struct Path {
    std::uint32_t local = 0;  // index into Topology::local_adapters
    PeerIndex peer = 0;
    NodeId peer_node = 0;
    AdapterIndex peer_adapter = 0;
    NetworkIndex network = 0;
    Ipv4 peer_address{};
};

struct Peer {
    NodeId node = 0;
    std::vector<PathIndex> paths;  // every path to this peer, over every network
};

class Topology {
public:
    // The config must have been validated (local node present, adapters on known networks).
    explicit Topology(const ClusterConfig& config);

    const ClusterConfig& config() const noexcept { return *config_; }
    NodeId local_node() const noexcept { return config_->local_node; }
    std::span<const LocalAdapter> local_adapters() const noexcept { return local_adapters_; }
    std::span<const Path> paths() const noexcept { return paths_; }
    std::span<const Peer> peers() const noexcept { return peers_; }
    const Timing& timing(NetworkIndex network) const noexcept;

    // Lookups used on receive; `none` when there is no such path or peer.
    static constexpr std::uint32_t none = UINT32_MAX;
    PeerIndex peer_of(NodeId node) const noexcept;
    PathIndex find_path(std::uint32_t local, NodeId peer_node,
                        AdapterIndex peer_adapter) const noexcept;
    // The config's name of a node, for messages; empty if unknown.
    std::string_view node_name(NodeId node) const noexcept;

private:
    const ClusterConfig* config_;
    std::vector<LocalAdapter> local_adapters_;
    std::vector<Path> paths_;
    std::vector<Peer> peers_;
    std::vector<PeerIndex> peer_by_node_;  // indexed by NodeId; none where not a peer
};

}  // namespace hb
