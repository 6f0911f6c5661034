#include "tools/node/node.hh"

#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "transport/udp/udp_transport.hh"

namespace hb::node {

Node::Node(NodeSettings settings)
    : settings_(std::move(settings)),
      detector_(policy::DetectorOptions{.adaptive_ceiling = settings_.adaptive_ceiling}) {}

Node::~Node() = default;

std::variant<std::unique_ptr<Node>, std::string> Node::create(NodeSettings settings) {
    std::unique_ptr<Node> node{new Node(std::move(settings))};
    const ClusterConfig& cluster = node->settings_.cluster;
    node->engine_ = std::make_unique<Engine>(cluster, node->detector_);
    const Topology& topology = node->engine_->topology();
    const NodeConfig* local = cluster.find_node(cluster.local_node);
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const AdapterConfig& adapter = local->adapters[topology.local_adapters()[l].adapter];
        const NetworkConfig& network = cluster.networks[adapter.network];
        if (adapter.transport != TransportKind::udp) {
            return "adapter " + adapter.ifname + ": transport not available in this build";
        }
        auto opened = transport::UdpTransport::open(transport::UdpOptions{
            .ifname = adapter.ifname,
            .address = adapter.address,
            .port = network.port,
            .mode = network.mode,
            .group = network.group,
            .ttl = network.ttl,
        });
        if (auto* error = std::get_if<std::string>(&opened)) {
            return "network " + network.name + ": " + *error;
        }
        node->transports_.push_back(
            std::move(std::get<std::unique_ptr<transport::UdpTransport>>(opened)));
        node->engine_->attach_transport(l, *node->transports_.back());
    }
    return node;
}

std::string Node::start(Nanos now) {
    if (std::string error = engine_->start(now); !error.empty()) {
        return error;
    }
    auto opened = policy::LinkPoller::open(engine_->topology(), detector_, now);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return *error;
    }
    link_poller_ = std::move(std::get<std::unique_ptr<policy::LinkPoller>>(opened));
    pollers_ = {link_poller_.get()};
    // The link poller and the prober report their own transitions of the same adapters; the
    // detector keeps the last one (see docs/netmon.md, Probing).
    std::vector<policy::NetmonAdapter> netmon =
        policy::netmon_adapters(engine_->topology(), settings_.netmon_targets);
    if (!netmon.empty()) {
        auto prober = policy::NetmonProber::open(std::move(netmon), detector_, now);
        if (auto* error = std::get_if<std::string>(&prober)) {
            return *error;
        }
        netmon_prober_ = std::move(std::get<std::unique_ptr<policy::NetmonProber>>(prober));
        pollers_.push_back(netmon_prober_.get());
    }
    // Warns (on standard error, as every hbd message) when a path's measured loss makes the
    // configured timing too tight, naming the multiplier that would keep false expiries under
    // one a day (DESIGN §6, Timing).
    timing_advisor_ = std::make_unique<policy::TimingAdvisor>(
        *engine_, [](const policy::PathAdvice&, std::string_view message) {
            std::fprintf(stderr, "hbd: warning: timing too tight: %.*s\n",
                         static_cast<int>(message.size()), message.data());
        });
    pollers_.push_back(timing_advisor_.get());
    return {};
}

void Node::run(const std::atomic<bool>& stop, const AfterPoll& after_poll) {
    if (settings_.process.threads == ProcessSettings::Threads::threaded) {
        ThreadedRunner runner(*engine_, pollers_);
        runner.run(stop, after_poll);
    } else {
        SingleThreadRunner runner(*engine_, pollers_);
        runner.run(stop, after_poll);
    }
}

std::vector<std::string> apply_process_settings(const ProcessSettings& settings) {
    std::vector<std::string> report;
    if (settings.lock_memory) {
        if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
            report.emplace_back("memory locked");
        } else {
            report.emplace_back(std::string("memory not locked: mlockall: ") +
                                std::strerror(errno));
        }
    }
    if (settings.realtime_priority > 0) {
        sched_param param{};
        param.sched_priority = settings.realtime_priority;
        if (sched_setscheduler(0, SCHED_FIFO, &param) == 0) {
            report.emplace_back("real-time priority SCHED_FIFO " +
                                std::to_string(settings.realtime_priority));
        } else {
            report.emplace_back(std::string("real-time priority not set: sched_setscheduler: ") +
                                std::strerror(errno));
        }
    }
    return report;
}

}  // namespace hb::node
