// Builds small clusters of real engines and detectors over a FakeNetwork, driven by one manual
// clock: the engine's behaviour end to end, with no sockets and exact timing.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hb/assert.hh"
#include "hb/engine.hh"
#include "hb/runner.hh"
#include "policy/node_detector.hh"
#include "policy/timing.hh"
#include "tests/support/fake_network.hh"

namespace hb::test {

// Address of node `node` on network `network`: 198.18.<network+1>.<node>.
inline Ipv4 address_of(NodeId node, NetworkIndex network) {
    return Ipv4{(198U << 24) | (18U << 16) | ((network + 1U) << 8) | node};
}

inline ClusterConfig make_cluster_config(std::uint32_t node_count, std::uint32_t network_count,
                                         NetworkMode mode, Timing timing,
                                         std::optional<MacKey> key = std::nullopt) {
    ClusterConfig config;
    config.cluster_id = 7;
    if (key) {
        HB_ASSERT(config.keys.add(*key));
    }
    for (NetworkIndex n = 0; n < network_count; ++n) {
        NetworkConfig network;
        network.name = "net_" + std::to_string(n);
        network.mode = mode;
        network.group = Ipv4{(228U << 24) | (18U << 16) | ((n + 1U) << 8) | 1U};
        network.timing = timing;
        config.networks.push_back(network);
    }
    for (NodeId id = 1; id <= node_count; ++id) {
        NodeConfig node;
        node.id = id;
        node.name = "node" + std::to_string(id);
        for (NetworkIndex n = 0; n < network_count; ++n) {
            node.adapters.push_back(AdapterConfig{.network = n,
                                                  .ifname = "eth" + std::to_string(n),
                                                  .address = address_of(id, n),
                                                  .transport = TransportKind::udp});
        }
        config.nodes.push_back(node);
    }
    return config;
}

class TestCluster {
public:
    struct Member {
        explicit Member(policy::DetectorOptions options) : detector(options) {}
        ClusterConfig config;
        policy::NodeDetector detector;
        std::vector<std::unique_ptr<FakeTransport>> transports;
        std::unique_ptr<Engine> engine;
        std::vector<Event> events;
        // Polled before the engine at every step while the node runs (a disk heartbeat, say).
        std::vector<std::unique_ptr<Poller>> pollers;
        bool running = false;
    };
    // Called for every node now running and every node (re)started from now on, after its engine
    // started: how a suite adds a source of its own (tests/support/fake_disk.hh).
    using NodeSetup = std::function<void(NodeId, Member&)>;
    void set_node_setup(NodeSetup setup) {
        setup_ = std::move(setup);
        for (NodeId id = 1; id < members_.size(); ++id) {
            if (members_[id]) {
                setup_(id, *members_[id]);
            }
        }
    }

    // `seed` makes every incarnation (and so every engine's send jitter) reproducible; every
    // node's detector gets `options`.
    TestCluster(std::uint32_t node_count, std::uint32_t network_count, NetworkMode mode,
                Timing timing, std::optional<MacKey> key = std::nullopt, std::uint64_t seed = 1,
                policy::DetectorOptions options = {})
        : base_(make_cluster_config(node_count, network_count, mode, timing, key)),
          networks_(network_count),
          incarnations_(seed),
          options_(options) {
        members_.resize(node_count + 1);
        for (NodeId id = 1; id <= node_count; ++id) {
            start(id);
        }
    }

    // (Re)starts node `id` with a fresh engine: a new (seeded) incarnation unless one is given.
    void start(NodeId id, std::uint32_t incarnation = 0) {
        stop(id);
        while (incarnation == 0) {
            incarnation = static_cast<std::uint32_t>(incarnations_());
        }
        auto member = std::make_unique<Member>(options_);
        member->config = base_;
        member->config.local_node = id;
        member->engine = std::make_unique<Engine>(member->config, member->detector,
                                                  EngineOptions{.incarnation = incarnation});
        const NodeConfig& node = *member->config.find_node(id);
        for (NetworkIndex n = 0; n < node.adapters.size(); ++n) {
            auto transport = std::make_unique<FakeTransport>(networks_[n], node.adapters[n].address,
                                                             default_port);
            transport->clock_ns = &now_;
            networks_[n].attach(*transport);
            if (base_.networks[n].mode == NetworkMode::multicast) {
                networks_[n].join(base_.networks[n].group, *transport);
            }
            member->engine->attach_transport(n, *transport);
            member->transports.push_back(std::move(transport));
        }
        const std::string error = member->engine->start(now_);
        HB_ASSERT(error.empty());
        member->running = true;
        if (setup_) {
            setup_(id, *member);
        }
        members_[id] = std::move(member);
    }

    // Stops polling node `id` (a crash: nothing more is sent or received). Its transports stay
    // attached so datagrams addressed to it are still accepted by the network.
    void crash(NodeId id) {
        if (members_[id]) {
            members_[id]->running = false;
        }
    }
    void resume(NodeId id) { members_[id]->running = true; }

    void stop(NodeId id) {
        if (id < members_.size() && members_[id]) {
            for (auto& transport : members_[id]->transports) {
                for (auto& network : networks_) {
                    network.detach(*transport);
                }
            }
            members_[id].reset();
        }
    }

    // Advances time in `step_ns` increments until `until_ns`, polling every running node.
    void run_until(Nanos until_ns, Nanos step_ns = 100 * nanos_per_us) {
        while (now_ < until_ns) {
            now_ = std::min(now_ + step_ns, until_ns);
            poll_all();
        }
    }
    void run_for(Nanos duration_ns, Nanos step_ns = 100 * nanos_per_us) {
        run_until(now_ + duration_ns, step_ns);
    }
    void poll_all() {
        for (auto& member : members_) {
            if (member && member->running) {
                for (auto& poller : member->pollers) {
                    poller->poll(now_);
                }
                member->engine->poll(now_);
                Event event;
                while (member->engine->next_event(event)) {
                    member->events.push_back(event);
                }
            }
        }
    }

    // Node `id`'s adapter on `network` fails as its link watch (or another health `source`)
    // would see it: its detector is told at once, and the network carries nothing to or from
    // that adapter.
    void set_adapter(NodeId id, NetworkIndex network, bool up,
                     std::uint32_t source = evidence::link) {
        members_[id]->detector.on_local_adapter(network, up, source, now_);
        for (NodeId other = 1; other < members_.size(); ++other) {
            if (other == id) {
                continue;
            }
            if (up) {
                networks_[network].restore(address_of(id, network), address_of(other, network));
                networks_[network].restore(address_of(other, network), address_of(id, network));
            } else {
                networks_[network].cut_both(address_of(id, network), address_of(other, network));
            }
        }
    }
    // Every frame on `network` is dropped while links stay up (a dead switch).
    void set_network(NetworkIndex network, bool up) {
        for (NodeId a = 1; a < members_.size(); ++a) {
            for (NodeId b = 1; b < members_.size(); ++b) {
                if (a != b && up) {
                    networks_[network].restore(address_of(a, network), address_of(b, network));
                } else if (a != b) {
                    networks_[network].cut(address_of(a, network), address_of(b, network));
                }
            }
        }
    }

    Member& node(NodeId id) { return *members_[id]; }
    Engine& engine(NodeId id) { return *members_[id]->engine; }
    std::vector<Event>& events(NodeId id) { return members_[id]->events; }
    FakeNetwork& network(NetworkIndex n) { return networks_[n]; }
    Nanos now() const noexcept { return now_; }
    const Nanos* clock() const noexcept { return &now_; }

    // Events of `kind` about `about` seen by `observer`.
    std::vector<Event> events_of(NodeId observer, EventKind kind, NodeId about) {
        std::vector<Event> out;
        for (const Event& event : members_[observer]->events) {
            if (event.kind == kind && event.node == about) {
                out.push_back(event);
            }
        }
        return out;
    }

private:
    ClusterConfig base_;
    std::vector<FakeNetwork> networks_;
    std::vector<std::unique_ptr<Member>> members_;
    std::mt19937_64 incarnations_;
    policy::DetectorOptions options_;
    NodeSetup setup_;
    Nanos now_ = nanos_per_s;
};

}  // namespace hb::test
