// The composition root: builds a running node from its settings (transports, detector, engine)
// so that hbd and every other embedder assemble a node the same way.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "hb/engine.hh"
#include "hb/runner.hh"
#include "policy/link_poller.hh"
#include "policy/netmon_prober.hh"
#include "policy/node_detector.hh"
#include "policy/port_link_poller.hh"
#include "policy/timing_advice.hh"
#include "policy/traffic_watch.hh"
#include "tools/node/config.hh"
#include "tools/node/drop_report.hh"
#include "tools/node/reload.hh"

namespace hb::diskhb {
class DiskHeartbeat;
}

namespace hb::node {

// The health sources of one local adapter (DESIGN §6, local adapter health), as the configuration
// decides them: `hbd --check` prints them and Node::start() follows them.
struct AdapterHealth {
    // Rule 3, the inbound-traffic check: an adapter with netmon targets never gets it; one without
    // gets it when its network says link_state = "ignore", or when its interface has no carrier
    // reporting (operstate UNKNOWN: tun, dummy), which only the link watch's first read at start
    // can tell.
    enum class Inbound : std::uint8_t { never, always, if_operstate_unknown };

    std::uint32_t local = 0;  // index in Topology::local_adapters()
    std::string ifname;
    std::string network;
    std::string port;  // a DPDK adapter's port; empty for a kernel socket
    // Rule 1: the link poller's carrier/operstate reports count, or for a DPDK adapter the
    // port's own link (PortLinkPoller).
    bool link_state = true;
    std::size_t netmon_targets = 0;  // rule 2
    Inbound inbound = Inbound::never;
};

// Whether this node may use the disk of its [disk] section: opened, initialised for its cluster,
// a slot for every node. "" when it may (or without [disk]); else what is wrong. For --check.
[[nodiscard]] std::string check_disk(const NodeSettings& settings);

// "signs with key 3a, accepts 3a, 91" or "unauthenticated": which keys a node uses, for its log.
[[nodiscard]] std::string describe_keys(const KeySet& keys);

// Every local adapter's health sources, in Topology::local_adapters() order.
[[nodiscard]] std::vector<AdapterHealth> plan_adapter_health(const NodeSettings& settings,
                                                             const Topology& topology);
// One line for an operator: "eth1 on net_a: link state, netmon (2 targets)".
[[nodiscard]] std::string describe(const AdapterHealth& health);

class Node {
public:
    // Opens a transport for every local adapter; for DPDK adapters it starts the EAL first, once,
    // from [dpdk] eal_args. Refuses a node without a cluster key unless the settings allow it
    // ([cluster] allow_unauthenticated). The message names what failed.
    static std::variant<std::unique_ptr<Node>, std::string> create(NodeSettings settings);
    // Closes the transports; when create() started the EAL, stops it and removes its runtime
    // directory (its file prefix is this process's own: DPDK lets one primary use it at a time).
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    const NodeSettings& settings() const noexcept { return settings_; }
    Engine& engine() noexcept { return *engine_; }
    const Engine& engine() const noexcept { return *engine_; }
    const policy::NodeDetector& detector() const noexcept { return detector_; }
    const policy::NetmonProber* netmon_prober() const noexcept { return netmon_prober_.get(); }
    const policy::TrafficWatch* traffic_watch() const noexcept { return traffic_watch_.get(); }
    // Null when no DPDK adapter's link is watched.
    const policy::PortLinkPoller* port_link_poller() const noexcept {
        return port_link_poller_.get();
    }
    // Null without [disk].
    const diskhb::DiskHeartbeat* disk() const noexcept { return disk_; }
    // After start(): each local adapter's health sources, with rule 3 resolved to always or never.
    const std::vector<AdapterHealth>& adapter_health() const noexcept { return health_; }

    // Starts the engine, the link watch of the local adapters (rtnetlink for kernel sockets, the
    // port's own link for DPDK adapters) and, when netmon.cf gives any adapter targets, the
    // netmon prober; when any adapter gets rule 3, the traffic watch; with [disk], the disk
    // heartbeat.
    [[nodiscard]] std::string start(Nanos now);
    // After start(): what the engine thread polls besides the engine (link watch, prober, disk
    // ...), for an embedder that drives the node with its own SingleThreadRunner.
    std::span<Poller* const> pollers() const noexcept { return pollers_; }
    // Something else the engine loop must serve (hbd's deadman and systemd watchdog): after
    // start(), before run(). Not owned.
    void add_poller(Poller& poller) { pollers_.push_back(&poller); }
    // Applies a reload's plan on the engine thread (docs/operations.md, Reload): new timings go
    // to the engine (which re-times its beats without a false verdict at any peer) and the
    // detector; the netmon prober and the traffic watch are rebuilt on the new timing or
    // targets. An adapter that one of them held down is judged again from scratch. Returns one
    // line per problem (a prober that could not be rebuilt keeps the old one).
    std::vector<std::string> apply_reload(const ReloadPlan& plan, Nanos now);
    // Runs the engine with the runner the settings ask for until `stop` is set. `extra_pollers`
    // (the daemon's own: its control socket, its metrics endpoint) are served on the engine
    // thread after the node's.
    void run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
             std::span<Poller* const> extra_pollers = {});
    // A graceful stop, after run(): LEAVING beats on every path and, with the disk, a LEAVING
    // slot (waits for that write, at most a few disk intervals), so peers report NODE_LEFT.
    void leave(Nanos now);

private:
    explicit Node(NodeSettings settings);
    [[nodiscard]] std::string start_disk(Nanos now);
    [[nodiscard]] std::string rebuild_netmon(Nanos now);
    [[nodiscard]] std::string rebuild_traffic_watch(Nanos now);
    void start_port_link(Nanos now);

    NodeSettings settings_;
    policy::NodeDetector detector_;
    std::vector<std::unique_ptr<Transport>> transports_;
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<policy::LinkPoller> link_poller_;
    std::unique_ptr<policy::PortLinkPoller> port_link_poller_;  // null without DPDK link watch
    std::unique_ptr<policy::NetmonProber> netmon_prober_;       // null without netmon targets
    std::unique_ptr<policy::TrafficWatch> traffic_watch_;       // null when no adapter gets rule 3
    // Owned as a Poller, so that a build without the disk module needs no complete type.
    std::unique_ptr<Poller> disk_owner_;  // null without [disk]
    diskhb::DiskHeartbeat* disk_ = nullptr;
    std::vector<AdapterHealth> health_;
    std::unique_ptr<policy::TimingAdvisor> timing_advisor_;
    std::unique_ptr<DropReporter> drop_reporter_;
    std::vector<Poller*> pollers_;
    // The runner watches these, so that a reload can replace what they hold.
    PollerSlot netmon_slot_;
    PollerSlot traffic_slot_;
    bool eal_started_ = false;  // create() started the DPDK EAL: the destructor stops it
};

// How often a running node logs what it dropped, at most (DropReporter).
inline constexpr Nanos drop_report_period_ns = 10 * nanos_per_s;

// Applies real-time priority and memory locking to the calling process/thread. Returns one line
// per setting saying what was done or why it could not be (e.g. not permitted): never fatal.
std::vector<std::string> apply_process_settings(const ProcessSettings& settings);

// Puts the calling thread back to the normal scheduler: for helper threads (event scripts,
// reload) that would otherwise inherit the engine's real-time priority and compete with it.
void drop_realtime_priority() noexcept;

}  // namespace hb::node
