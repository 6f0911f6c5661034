#include "tools/node/node.hh"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "build_config.hh"
#include "hb/assert.hh"
#include "hb/key_file.hh"
#include "transport/udp/udp_transport.hh"
#if HB_HAVE_LIBURING
#include "diskhb/disk_heartbeat.hh"
#endif
#if HB_HAVE_DPDK
#include "transport/dpdk/dpdk_lcore.hh"
#include "transport/dpdk/dpdk_transport.hh"
#include "transport/dpdk/eal.hh"
#endif

namespace hb::node {

std::vector<AdapterHealth> plan_adapter_health(const NodeSettings& settings,
                                               const Topology& topology) {
    const ClusterConfig& cluster = topology.config();
    const NodeConfig* local_node = cluster.find_node(topology.local_node());
    std::vector<AdapterHealth> plan;
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const LocalAdapter& local = topology.local_adapters()[l];
        const NetworkConfig& network = cluster.networks[local.network];
        const AdapterConfig& adapter = local_node->adapters[local.adapter];
        AdapterHealth health{.local = l,
                             .ifname = adapter.ifname,
                             .network = network.name,
                             .port = adapter.port,
                             .link_state = network.link_state == LinkStateUse::watch};
        if (local.adapter < settings.netmon_targets.size()) {
            health.netmon_targets = settings.netmon_targets[local.adapter].size();
        }
        // A DPDK adapter has its port's link only: netmon targets and interface counters are the
        // kernel's, which the port bypasses (the configuration drops its targets, with a warning).
        if (adapter.transport == TransportKind::dpdk) {
            health.netmon_targets = 0;
        } else if (health.netmon_targets == 0) {
            health.inbound = health.link_state ? AdapterHealth::Inbound::if_operstate_unknown
                                               : AdapterHealth::Inbound::always;
        }
        plan.push_back(std::move(health));
    }
    return plan;
}

std::string describe(const AdapterHealth& health) {
    std::vector<std::string> sources;
    if (health.link_state) {
        sources.emplace_back(health.port.empty() ? "link state" : "port link state");
    }
    if (health.netmon_targets != 0) {
        sources.push_back("netmon (" + std::to_string(health.netmon_targets) +
                          (health.netmon_targets == 1 ? " target)" : " targets)"));
    }
    switch (health.inbound) {
        case AdapterHealth::Inbound::never:
            break;
        case AdapterHealth::Inbound::always:
            sources.emplace_back("inbound traffic");
            break;
        case AdapterHealth::Inbound::if_operstate_unknown:
            sources.push_back("inbound traffic if " + health.ifname +
                              " reports no carrier state (operstate UNKNOWN) when hbd starts");
            break;
    }
    std::string out = health.ifname;
    if (!health.port.empty()) {
        out += " (DPDK port " + health.port + ")";
    }
    out += " on " + health.network + ": ";
    if (sources.empty()) {
        // Without link state and targets a kernel adapter always gets rule 3; a DPDK one cannot.
        HB_ASSERT(!health.port.empty());
        return out + "no local health source (link_state = \"ignore\"): only its paths' silence";
    }
    for (std::size_t i = 0; i < sources.size(); ++i) {
        out += (i == 0 ? "" : ", ") + sources[i];
    }
    return out;
}

Node::Node(NodeSettings settings)
    : settings_(std::move(settings)),
      detector_(policy::DetectorOptions{.adaptive_ceiling = settings_.adaptive_ceiling}) {}

Node::~Node() {
    // Everything that uses a DPDK port goes before the ports, and the ports before the EAL.
    pollers_.clear();
    drop_reporter_.reset();
    timing_advisor_.reset();
    disk_ = nullptr;
    disk_owner_.reset();
    traffic_watch_.reset();
    netmon_prober_.reset();
    port_link_poller_.reset();
    link_poller_.reset();
    engine_.reset();
    transports_.clear();
#if HB_HAVE_DPDK
    if (eal_started_) {
        const std::string runtime_directory = transport::eal::runtime_directory();
        transport::eal::stop();
        std::error_code ignored;  // best effort: a leftover directory only holds stale files
        std::filesystem::remove_all(runtime_directory, ignored);
    }
#endif
}

namespace {

using OpenedTransport = std::variant<std::unique_ptr<Transport>, std::string>;

// A concrete transport's open() result as the engine's seam.
template <typename Concrete>
OpenedTransport as_transport(std::variant<std::unique_ptr<Concrete>, std::string> opened) {
    if (auto* error = std::get_if<std::string>(&opened)) {
        return std::move(*error);
    }
    return std::unique_ptr<Transport>(std::move(std::get<std::unique_ptr<Concrete>>(opened)));
}

#if HB_HAVE_DPDK
OpenedTransport open_dpdk(const NodeSettings& settings, const AdapterConfig& adapter,
                          const NetworkConfig& network, bool& eal_started) {
    if (!transport::eal::running()) {
        if (std::string error = transport::eal::start(settings.dpdk.eal_args); !error.empty()) {
            return "[dpdk] eal_args: " + error;
        }
        eal_started = true;
    }
    auto opened = transport::DpdkTransport::open(transport::DpdkOptions{
        .port = adapter.port,
        .address = adapter.address,
        .udp_port = network.port,
        .mode = network.mode,
        .group = network.group,
        .ttl = network.ttl,
    });
    if (settings.dpdk.mode != DpdkSettings::Mode::lcore || opened.index() != 0) {
        return as_transport(std::move(opened));
    }
    // The port's polling thread; the engine thread sleeps on its eventfd between beats.
    return as_transport(transport::DpdkLcoreTransport::start(
        std::move(std::get<0>(opened)),
        {.cpu = settings.dpdk.lcore_cpu, .priority = settings.dpdk.lcore_priority}));
}
#else
OpenedTransport open_dpdk(const NodeSettings&, const AdapterConfig&, const NetworkConfig&, bool&) {
    return std::string("transport \"dpdk\" is not available in this build");
}
#endif

OpenedTransport open_udp(const AdapterConfig& adapter, const NetworkConfig& network) {
    auto opened = transport::UdpTransport::open(transport::UdpOptions{
        .ifname = adapter.ifname,
        .address = adapter.address,
        .port = network.port,
        .mode = network.mode,
        .group = network.group,
        .ttl = network.ttl,
    });
    return as_transport(std::move(opened));
}

}  // namespace

std::string describe_keys(const KeySet& keys) {
    if (keys.empty()) {
        return "unauthenticated";
    }
    std::string out = "signs with key " + key_id_text(keys.signing().id) + ", accepts ";
    for (std::size_t i = 0; i < keys.count; ++i) {
        out += (i == 0 ? "" : ", ") + key_id_text(keys.keys[i].id);
    }
    return out;
}

std::variant<std::unique_ptr<Node>, std::string> Node::create(NodeSettings settings) {
    // The configuration refuses this too; checked here as well, so that no embedder builds a node
    // that believes forged beats by leaving the key out.
    if (settings.cluster.keys.empty() && !settings.allow_unauthenticated) {
        return std::string(
            "no cluster key: beats would be unauthenticated ([cluster] key_file, or "
            "allow_unauthenticated = true to run without)");
    }
    std::unique_ptr<Node> node{new Node(std::move(settings))};
    const ClusterConfig& cluster = node->settings_.cluster;
    node->engine_ = std::make_unique<Engine>(cluster, node->detector_);
    const Topology& topology = node->engine_->topology();
    const NodeConfig* local = cluster.find_node(cluster.local_node);
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const AdapterConfig& adapter = local->adapters[topology.local_adapters()[l].adapter];
        const NetworkConfig& network = cluster.networks[adapter.network];
        auto opened = adapter.transport == TransportKind::dpdk
                          ? open_dpdk(node->settings_, adapter, network, node->eal_started_)
                          : open_udp(adapter, network);
        if (auto* error = std::get_if<std::string>(&opened)) {
            return "network " + network.name + ": " + *error;
        }
        node->transports_.push_back(std::move(std::get<std::unique_ptr<Transport>>(opened)));
        node->engine_->attach_transport(l, *node->transports_.back());
    }
    return node;
}

namespace {

// Keeps what a poller's open() made in `owner`, or returns the error it gave instead.
template <typename Poller>
std::string adopt(std::variant<std::unique_ptr<Poller>, std::string> opened,
                  std::unique_ptr<Poller>& owner) {
    if (auto* error = std::get_if<std::string>(&opened)) {
        return std::move(*error);
    }
    owner = std::move(std::get<std::unique_ptr<Poller>>(opened));
    return {};
}

}  // namespace

// The DPDK adapters' link, read from their ports as often as the quickest of their networks
// beats (within 1..100 ms), so a port's carrier loss is reported before silence could be.
void Node::start_port_link(Nanos now) {
    const Topology& topology = engine_->topology();
    const NodeConfig* local_node = topology.config().find_node(topology.local_node());
    std::vector<policy::PortLinkAdapter> adapters;
    Nanos period_ns = 100 * nanos_per_ms;
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const LocalAdapter& local = topology.local_adapters()[l];
        const NetworkConfig& network = topology.config().networks[local.network];
        if (local_node->adapters[local.adapter].transport != TransportKind::dpdk ||
            network.link_state != LinkStateUse::watch) {
            continue;
        }
        adapters.push_back(policy::PortLinkAdapter{.local = l, .transport = transports_[l].get()});
        period_ns = std::min(period_ns, std::max(nanos_per_ms, network.timing.interval_ns));
    }
    if (adapters.empty()) {
        return;
    }
    port_link_poller_ =
        policy::PortLinkPoller::open(std::move(adapters), detector_, period_ns, now);
    pollers_.push_back(port_link_poller_.get());
}

std::string Node::start(Nanos now) {
    if (std::string error = engine_->start(now); !error.empty()) {
        return error;
    }
    if (std::string error =
            adopt(policy::LinkPoller::open(engine_->topology(), detector_, now), link_poller_);
        !error.empty()) {
        return error;
    }
    pollers_ = {link_poller_.get()};
    start_port_link(now);
    // The link poller, the prober and the traffic watch report their own transitions of the same
    // adapters; the detector combines them: down while any says down (docs/netmon.md, Probing).
    std::vector<policy::NetmonAdapter> netmon =
        policy::netmon_adapters(engine_->topology(), settings_.netmon_targets);
    if (!netmon.empty()) {
        if (std::string error = adopt(policy::NetmonProber::open(std::move(netmon), detector_, now),
                                      netmon_prober_);
            !error.empty()) {
            return error;
        }
        netmon_slot_.hold(netmon_prober_.get());
        pollers_.push_back(&netmon_slot_);
    }
    // Rule 3 for adapters without netmon targets whose link state says nothing: by configuration
    // (link_state = "ignore"), or because the interface has no carrier reporting (operstate
    // UNKNOWN in the link watch's first read). The decision is taken once, here.
    health_ = plan_adapter_health(settings_, engine_->topology());
    std::vector<policy::TrafficAdapter> traffic;
    for (AdapterHealth& health : health_) {
        if (health.inbound == AdapterHealth::Inbound::if_operstate_unknown) {
            health.inbound = policy::has_no_carrier_state(link_poller_->status_of(health.local))
                                 ? AdapterHealth::Inbound::always
                                 : AdapterHealth::Inbound::never;
        }
        if (health.inbound == AdapterHealth::Inbound::always) {
            const LocalAdapter& local = engine_->topology().local_adapters()[health.local];
            traffic.push_back(
                policy::TrafficAdapter{.local = health.local,
                                       .ifname = health.ifname,
                                       .timing = engine_->topology().timing(local.network)});
        }
    }
    if (!traffic.empty()) {
        if (std::string error = adopt(
                policy::TrafficWatch::open(std::move(traffic), detector_, now), traffic_watch_);
            !error.empty()) {
            return error;
        }
        traffic_slot_.hold(traffic_watch_.get());
        pollers_.push_back(&traffic_slot_);
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
    // Rejected datagrams, by reason, at most one line per period: a flood is one line, not one
    // line per datagram (docs/security.md).
    drop_reporter_ = std::make_unique<DropReporter>(
        engine_->counters(), drop_report_period_ns,
        [](std::string_view line) {
            std::fprintf(stderr, "hbd: warning: %.*s\n", static_cast<int>(line.size()),
                         line.data());
        },
        now);
    pollers_.push_back(drop_reporter_.get());
    return start_disk(now);
}

namespace {

// Replaces a health source (netmon prober, traffic watch) by one opened on `adapters`, in the
// slot the runner watches. The new one starts with every adapter up, so what the old one held
// down is cleared; it reports again after a window if still so. On failure the old one stays.
template <typename Watch, typename Adapter>
std::string replace_watch(std::unique_ptr<Watch>& current, PollerSlot& slot,
                          std::vector<Adapter> adapters, Detector& detector, std::uint32_t source,
                          Nanos now) {
    std::unique_ptr<Watch> opened;
    if (std::string error = adopt(Watch::open(std::move(adapters), detector, now), opened);
        !error.empty()) {
        return error;
    }
    slot.hold(opened.get());
    for (std::size_t i = 0; i < current->size(); ++i) {
        if (!current->up(i)) {
            detector.on_local_adapter(current->adapter(i).local, true, source, now);
        }
    }
    current = std::move(opened);
    return {};
}

}  // namespace

std::string Node::rebuild_netmon(Nanos now) {
    std::string error =
        replace_watch(netmon_prober_, netmon_slot_,
                      policy::netmon_adapters(engine_->topology(), settings_.netmon_targets),
                      detector_, evidence::netmon, now);
    return error.empty() ? error : "netmon prober not rebuilt, the old one goes on: " + error;
}

std::string Node::rebuild_traffic_watch(Nanos now) {
    std::vector<policy::TrafficAdapter> adapters;
    for (std::size_t i = 0; i < traffic_watch_->size(); ++i) {
        policy::TrafficAdapter adapter = traffic_watch_->adapter(i);
        adapter.timing =
            engine_->topology().timing(engine_->topology().local_adapters()[adapter.local].network);
        adapters.push_back(std::move(adapter));
    }
    std::string error = replace_watch(traffic_watch_, traffic_slot_, std::move(adapters), detector_,
                                      evidence::inbound, now);
    return error.empty() ? error : "traffic watch not rebuilt, the old one goes on: " + error;
}

std::vector<std::string> Node::apply_reload(const ReloadPlan& plan, Nanos now) {
    std::vector<std::string> problems;
    for (const auto& [network, timing] : plan.timings) {
        HB_ASSERT(network < settings_.cluster.networks.size());
        settings_.cluster.networks[network].timing = timing;
        engine_->timing_changed(network, now);
    }
    if (plan.adaptive_ceiling) {
        settings_.adaptive_ceiling = *plan.adaptive_ceiling;
        detector_.set_adaptive_ceiling(*plan.adaptive_ceiling);
    }
    if (plan.netmon_targets) {
        settings_.netmon_targets = *plan.netmon_targets;
    }
    if (netmon_prober_ && (plan.netmon_targets || !plan.timings.empty())) {
        if (std::string error = rebuild_netmon(now); !error.empty()) {
            problems.push_back(std::move(error));
        }
    }
    if (traffic_watch_ && !plan.timings.empty()) {
        if (std::string error = rebuild_traffic_watch(now); !error.empty()) {
            problems.push_back(std::move(error));
        }
    }
    if (plan.keys) {
        // A rollover step (docs/security.md): beats are signed with the new signing key from
        // the next one on, and every listed key is accepted.
        engine_->replace_keys(*plan.keys);
        settings_.cluster.keys = *plan.keys;
        settings_.key_file = plan.key_file;
        settings_.accept_key_files = plan.accept_key_files;
#if HB_HAVE_LIBURING
        if (disk_ != nullptr) {
            disk_->replace_keys(*plan.keys);
        }
#endif
    }
    return problems;
}

#if HB_HAVE_LIBURING

namespace {

diskhb::DiskOptions disk_options(const DiskSettings& disk) {
    diskhb::IoMode mode = diskhb::IoMode::automatic;
    switch (disk.io) {
        case DiskSettings::Io::automatic:
            break;
        case DiskSettings::Io::interrupt:
            mode = diskhb::IoMode::interrupt;
            break;
        case DiskSettings::Io::iopoll:
            mode = diskhb::IoMode::iopoll;
            break;
        case DiskSettings::Io::sqpoll:
            mode = diskhb::IoMode::sqpoll;
            break;
    }
    return diskhb::DiskOptions{.interval_ns = disk.interval_ns,
                               .multiplier = disk.multiplier,
                               .sector_size = disk.sector_size,
                               .io_mode = mode};
}

}  // namespace

std::string Node::start_disk(Nanos now) {
    if (settings_.disk.path.empty()) {
        return {};
    }
    std::unique_ptr<diskhb::DiskHeartbeat> opened;
    if (std::string error =
            adopt(diskhb::DiskHeartbeat::open(settings_.disk.path.native(), engine_->topology(),
                                              detector_, disk_options(settings_.disk), now),
                  opened);
        !error.empty()) {
        return error;
    }
    disk_ = opened.get();
    disk_owner_ = std::move(opened);
    pollers_.push_back(disk_);
    return {};
}

void Node::leave(Nanos now) {
    engine_->leave(now);
    if (!disk_) {
        return;
    }
    disk_->leaving(now);
    const Nanos deadline = now + std::max(nanos_per_s, 4 * disk_->timeout_ns());
    while (!disk_->left() && monotonic_now() < deadline) {
        // The runner is done: poll the disk alone until its LEAVING slot is written.
        if (!disk_->poll(monotonic_now())) {
            timespec pause{.tv_sec = 0, .tv_nsec = 200'000};
            nanosleep(&pause, nullptr);
        }
    }
}

std::string check_disk(const NodeSettings& settings) {
    if (settings.disk.path.empty()) {
        return {};
    }
    auto opened = diskhb::DiskFile::open(settings.disk.path.native(), settings.disk.sector_size);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return *error;
    }
    const diskhb::DiskFile& disk = std::get<diskhb::DiskFile>(opened);
    auto header = diskhb::read_header(disk);
    if (auto* error = std::get_if<std::string>(&header)) {
        return *error;
    }
    std::vector<NodeId> nodes;
    for (const NodeConfig& node : settings.cluster.nodes) {
        nodes.push_back(node.id);
    }
    if (std::string problem = diskhb::check_header(disk, std::get<diskhb::Header>(header),
                                                   settings.cluster.cluster_id, nodes);
        !problem.empty()) {
        return problem;
    }
    return diskhb::check_authentication(disk.path(), std::get<diskhb::Header>(header),
                                        !settings.cluster.keys.empty());
}

#else  // configuration refuses [disk] in a build without liburing

std::string Node::start_disk(Nanos) {
    return {};
}

void Node::leave(Nanos now) {
    engine_->leave(now);
}

std::string check_disk(const NodeSettings&) {
    return {};
}

#endif

void Node::run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
               std::span<Poller* const> extra_pollers) {
    std::vector<Poller*> pollers = pollers_;
    pollers.insert(pollers.end(), extra_pollers.begin(), extra_pollers.end());
    if (settings_.process.threads == ProcessSettings::Threads::threaded) {
        ThreadedRunner runner(*engine_, pollers);
        runner.run(stop, after_poll);
    } else {
        SingleThreadRunner runner(*engine_, pollers);
        runner.run(stop, after_poll);
    }
}

void drop_realtime_priority() noexcept {
    sched_param param{};
    param.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &param);
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
