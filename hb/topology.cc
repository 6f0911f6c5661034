#include "hb/topology.hh"

#include <algorithm>

#include "hb/assert.hh"

namespace hb {

Topology::Topology(const ClusterConfig& config) : config_(&config) {
    const NodeConfig* local = config.find_node(config.local_node);
    HB_ASSERT(local != nullptr);
    HB_ASSERT(local->adapters.size() <= max_adapters_per_node);

    NodeId highest = 0;
    for (const NodeConfig& node : config.nodes) {
        highest = std::max(highest, node.id);
    }
    peer_by_node_.assign(static_cast<std::size_t>(highest) + 1, none);
    for (const NodeConfig& node : config.nodes) {
        if (node.id == config.local_node) {
            continue;
        }
        peer_by_node_[node.id] = static_cast<PeerIndex>(peers_.size());
        peers_.push_back(Peer{.node = node.id, .paths = {}});
    }

    // Paths are grouped by local adapter so that one adapter's beats are built from one range.
    for (std::size_t a = 0; a < local->adapters.size(); ++a) {
        const AdapterConfig& mine = local->adapters[a];
        HB_ASSERT(mine.network < config.networks.size());
        LocalAdapter adapter{.adapter = static_cast<AdapterIndex>(a),
                             .network = mine.network,
                             .first_path = static_cast<PathIndex>(paths_.size()),
                             .path_count = 0};
        for (const NodeConfig& node : config.nodes) {
            if (node.id == config.local_node) {
                continue;
            }
            for (std::size_t p = 0; p < node.adapters.size(); ++p) {
                const AdapterConfig& theirs = node.adapters[p];
                if (theirs.network != mine.network) {
                    continue;
                }
                const PeerIndex peer = peer_by_node_[node.id];
                peers_[peer].paths.push_back(static_cast<PathIndex>(paths_.size()));
                paths_.push_back(Path{.local = static_cast<std::uint32_t>(local_adapters_.size()),
                                      .peer = peer,
                                      .peer_node = node.id,
                                      .peer_adapter = static_cast<AdapterIndex>(p),
                                      .network = mine.network,
                                      .peer_address = theirs.address});
                ++adapter.path_count;
            }
        }
        local_adapters_.push_back(adapter);
    }
}

const Timing& Topology::timing(NetworkIndex network) const noexcept {
    HB_ASSERT(network < config_->networks.size());
    return config_->networks[network].timing;
}

PeerIndex Topology::peer_of(NodeId node) const noexcept {
    return node < peer_by_node_.size() ? peer_by_node_[node] : none;
}

PathIndex Topology::find_path(std::uint32_t local, NodeId peer_node,
                              AdapterIndex peer_adapter) const noexcept {
    const PeerIndex peer = peer_of(peer_node);
    if (peer == none) {
        return none;
    }
    // A peer has one path per (local adapter, its adapter) pair on shared networks: a few.
    for (const PathIndex p : peers_[peer].paths) {
        if (paths_[p].local == local && paths_[p].peer_adapter == peer_adapter) {
            return p;
        }
    }
    return none;
}

std::string_view Topology::node_name(NodeId node) const noexcept {
    const NodeConfig* found = config_->find_node(node);
    return found == nullptr ? std::string_view{} : std::string_view{found->name};
}

}  // namespace hb
