// Renders a running node's state as the JSON object of `hbctl status --json`.
#include "tools/hbd/status.hh"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>

#include "build_config.hh"
#include "hb/assert.hh"
#if HB_HAVE_LIBURING
#include "diskhb/disk_heartbeat.hh"
#endif

namespace hb::hbd {

EventRecord::EventRecord(std::size_t history_capacity) : history_(history_capacity) {
    HB_ASSERT(history_capacity > 0);
}

void EventRecord::record(const Event& event) noexcept {
    const auto kind = static_cast<std::size_t>(event.kind);
    HB_ASSERT(kind < counts_.size());
    ++counts_[kind];
    history_[total_ % history_.size()] = event;
    ++total_;
}

std::size_t EventRecord::remembered() const noexcept {
    return static_cast<std::size_t>(std::min<std::uint64_t>(total_, history_.size()));
}

const Event& EventRecord::recent(std::size_t last, std::size_t i) const noexcept {
    const std::size_t shown = std::min(last, remembered());
    HB_ASSERT(i < shown);
    return history_[(total_ - shown + i) % history_.size()];
}

PathFigures path_figures(const NodeView& view, PathIndex path, Nanos now) noexcept {
    const PathTracker& tracker = view.engine.tracker(path);
    const policy::PathFsm& fsm = view.detector.path(path);
    return PathFigures{
        .state = view.detector.path_state(path),
        .sent = view.engine.beats_sent_on(path),
        .received = tracker.received(),
        .missed = tracker.lost(),
        .loss_ratio = tracker.loss_ratio(),
        .rtt_measured = tracker.rtt_samples() != 0,
        .rtt_last_ns = tracker.rtt_last_ns(),
        .rtt_avg_ns = tracker.rtt_smoothed_ns(),
        .last_heard_ago_ns =
            tracker.heard() ? std::max<Nanos>(0, now - tracker.last_arrival_ns()) : -1,
        .multiplier = fsm.multiplier != 0
                          ? fsm.multiplier
                          : view.engine.topology()
                                .timing(view.engine.topology().paths()[path].network)
                                .multiplier,
        .timeout_ns = fsm.effective_timeout_ns(),
    };
}

namespace {

using Out = std::back_insert_iterator<std::string>;

double ms(Nanos ns) {
    return static_cast<double>(ns) / 1e6;
}

// A duration in milliseconds, or null when there is none (never heard, no RTT sample).
void append_ms_or_null(std::string& out, Nanos ns, bool present) {
    if (present) {
        fmt::format_to(Out(out), "{:.3f}", ms(ns));
    } else {
        out += "null";
    }
}

// ["link","netmon"]: the names of the evidence bits set.
void append_evidence(std::string& out, std::uint32_t bits) {
    out += '[';
    bool first = true;
    for (; bits != 0; bits &= bits - 1) {
        out += first ? "" : ",";
        first = false;
        append_json_string(out, evidence_name(bits & (~bits + 1)));
    }
    out += ']';
}

// The configured health sources of a local adapter (hbd --check's words), as a JSON list.
void append_health(std::string& out, const node::AdapterHealth* health) {
    out += '[';
    if (health != nullptr) {
        bool first = true;
        const auto add = [&](std::string_view source) {
            out += first ? "" : ",";
            first = false;
            append_json_string(out, source);
        };
        if (health->link_state) {
            add("link");
        }
        if (health->netmon_targets != 0) {
            add("netmon");
        }
        if (health->inbound == node::AdapterHealth::Inbound::always) {
            add("inbound");
        }
    }
    out += ']';
}

void append_path(std::string& out, const NodeView& view, PathIndex p, Nanos now) {
    const Topology& topology = view.engine.topology();
    const ClusterConfig& config = topology.config();
    const Path& path = topology.paths()[p];
    const NodeConfig* peer = config.find_node(path.peer_node);
    HB_ASSERT(peer != nullptr && path.peer_adapter < peer->adapters.size());
    const PathFigures figures = path_figures(view, p, now);
    fmt::format_to(Out(out), R"({{"peer":{},"peer_name":)", path.peer_node);
    append_json_string(out, peer->name);
    out += R"(,"peer_adapter":)";
    append_json_string(out, peer->adapters[path.peer_adapter].ifname);
    fmt::format_to(Out(out),
                   R"(,"peer_address":"{}","state":"{}","sent":{},"received":{},"missed":{},)"
                   R"("loss_pct":{:.3f},"rtt_last_ms":)",
                   path.peer_address.to_string(), path_state_name(figures.state), figures.sent,
                   figures.received, figures.missed, figures.loss_ratio * 100.0);
    append_ms_or_null(out, figures.rtt_last_ns, figures.rtt_measured);
    out += R"(,"rtt_avg_ms":)";
    append_ms_or_null(out, figures.rtt_avg_ns, figures.rtt_measured);
    out += R"(,"last_heard_ms_ago":)";
    append_ms_or_null(out, figures.last_heard_ago_ns, figures.last_heard_ago_ns >= 0);
    fmt::format_to(Out(out), R"(,"multiplier":{},"timeout_ms":{:.3f}}})", figures.multiplier,
                   ms(figures.timeout_ns));
}

void append_networks(std::string& out, const NodeView& view, Nanos now) {
    const Topology& topology = view.engine.topology();
    const ClusterConfig& config = topology.config();
    const NodeConfig* local_node = config.find_node(topology.local_node());
    HB_ASSERT(local_node != nullptr);
    const std::uint32_t up_bits = view.detector.local_adapter_states();
    out += R"("networks":[)";
    for (NetworkIndex n = 0; n < config.networks.size(); ++n) {
        const NetworkConfig& network = config.networks[n];
        const Timing& timing = topology.timing(n);
        out += n == 0 ? "{" : ",{";
        out += R"("name":)";
        append_json_string(out, network.name);
        fmt::format_to(Out(out),
                       R"(,"mode":"{}","interval_ms":{:.3f},"multiplier":{},"up_count":{},)"
                       R"("state":"{}","adapters":[)",
                       network.mode == NetworkMode::multicast ? "multicast" : "unicast",
                       ms(timing.interval_ns), timing.multiplier, timing.up_count,
                       view.detector.network_down(n) ? "down" : "up");
        bool first = true;
        for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
            const LocalAdapter& local = topology.local_adapters()[l];
            if (local.network != n) {
                continue;
            }
            const AdapterConfig& adapter = local_node->adapters[local.adapter];
            out += first ? "{" : ",{";
            first = false;
            out += R"("ifname":)";
            append_json_string(out, adapter.ifname);
            fmt::format_to(Out(out), R"(,"address":"{}","transport":"{}","state":"{}","health":)",
                           adapter.address.to_string(),
                           adapter.transport == TransportKind::dpdk ? "dpdk" : "udp",
                           (up_bits >> l) & 1U ? "up" : "down");
            append_health(out, l < view.health.size() ? &view.health[l] : nullptr);
            out += R"(,"down_by":)";
            append_evidence(out, view.detector.local_down_sources(l));
            out += R"(,"paths":[)";
            for (std::uint32_t i = 0; i < local.path_count; ++i) {
                out += i == 0 ? "" : ",";
                append_path(out, view, local.first_path + i, now);
            }
            out += "]}";
        }
        out += "]}";
    }
    out += ']';
}

void append_peers(std::string& out, const NodeView& view, Nanos now) {
    const Topology& topology = view.engine.topology();
    out += R"("peers":[)";
    for (PeerIndex p = 0; p < topology.peers().size(); ++p) {
        const Peer& peer = topology.peers()[p];
        std::size_t up = 0;
        Nanos newest_ns = 0;
        for (const PathIndex path : peer.paths) {
            up += view.detector.path_state(path) == PathState::up ? 1 : 0;
            newest_ns = std::max(newest_ns, view.engine.tracker(path).last_arrival_ns());
        }
        out += p == 0 ? "{" : ",{";
        fmt::format_to(Out(out), R"("id":{},"name":)", peer.node);
        append_json_string(out, topology.node_name(peer.node));
        fmt::format_to(Out(out), R"(,"state":"{}","paths_up":{},"paths":{},"last_heard_ms_ago":)",
                       policy::NodeDetector::node_state_name(view.detector.node_state(p)), up,
                       peer.paths.size());
        append_ms_or_null(out, now - newest_ns, newest_ns != 0);
        out += '}';
    }
    out += ']';
}

void append_counters(std::string& out, const NodeView& view) {
    const EngineCounters& engine = view.engine.counters();
    fmt::format_to(Out(out),
                   R"("engine":{{"beats_sent":{},"send_failures":{},"beats_accepted":{},)"
                   R"("pings_answered":{},"restarts_seen":{},"local_stalls":{},)"
                   R"("events_emitted":{},"events_lost":{},"dropped_total":{},"dropped":{{)",
                   engine.beats_sent, engine.send_failures, engine.beats_accepted,
                   engine.pings_answered, engine.restarts_seen, engine.local_stalls,
                   engine.events_emitted, engine.events_lost, engine.dropped_total());
    for (std::size_t r = 0; r < drop_reason_count; ++r) {
        fmt::format_to(Out(out), R"({}"{}":{})", r == 0 ? "" : ",",
                       drop_reason_name(static_cast<DropReason>(r)), engine.dropped[r]);
    }
    const policy::DetectorCounters& detector = view.detector.counters();
    fmt::format_to(Out(out),
                   R"(}}}},"detector":{{"path_up":{},"path_down":{},"local_stalls":{},)"
                   R"("adaptive_raises":{},"adaptive_lowers":{},"disk_problems_dropped":{}}},)"
                   R"("events":{{"total":{})",
                   detector.path_up, detector.path_down, detector.local_stalls,
                   detector.adaptive_raises, detector.adaptive_lowers,
                   detector.disk_problems_dropped, view.events.total());
    for (std::size_t k = 0; k < event_kind_count; ++k) {
        const auto kind = static_cast<EventKind>(k);
        fmt::format_to(Out(out), R"(,"{}":{})", event_name(kind), view.events.count(kind));
    }
    out += '}';
    if (view.control != nullptr) {
        const ControlCounters& control = *view.control;
        fmt::format_to(Out(out),
                       R"(,"control":{{"clients":{},"accepted":{},"refused":{},"requests":{},)"
                       R"("bad_requests":{},"subscribers":{},"lagged":{}}})",
                       control.clients, control.accepted, control.refused, control.requests,
                       control.bad_requests, control.subscribers, control.lagged);
    }
}

void append_disk(std::string& out, [[maybe_unused]] const NodeView& view) {
    out += R"(,"disk":)";
#if HB_HAVE_LIBURING
    if (view.disk != nullptr) {
        const diskhb::DiskHeartbeat& disk = *view.disk;
        const diskhb::DiskCounters& c = disk.counters();
        fmt::format_to(Out(out),
                       R"({{"state":"{}","io":"{}","interval_ms":{:.3f},"timeout_ms":{:.3f},)"
                       R"("seq":{},"cycles":{},"io_errors":{},"short_io":{},"stalls":{},)"
                       R"("went_down":{},"came_up":{},"corrupt":{},"torn":{},"wrong_cluster":{},)"
                       R"("wrong_node":{},"conflicts":{}}})",
                       disk.disk_up() ? "up" : "down", disk.io_mode(), ms(disk.interval_ns()),
                       ms(disk.timeout_ns()), disk.seq(), c.cycles, c.io_errors, c.short_io,
                       c.stalls, c.went_down, c.came_up, c.corrupt, c.torn, c.wrong_cluster,
                       c.wrong_node, c.conflicts);
        return;
    }
#endif
    out += "null";
}

}  // namespace

void render_status_json(const NodeView& view, Nanos now, std::string& out) {
    const Topology& topology = view.engine.topology();
    const ClusterConfig& config = topology.config();
    fmt::format_to(Out(out),
                   R"({{"version":"{}","pid":{},"now_ns":{},"cluster":{},"node":{{"id":{},)"
                   R"("name":)",
                   HB_VERSION, ::getpid(), now, config.cluster_id, topology.local_node());
    append_json_string(out, topology.node_name(topology.local_node()));
    fmt::format_to(Out(out),
                   R"(,"incarnation":"{:#010x}","uptime_s":{:.3f},"isolated":{},)"
                   R"("authenticated":{}}},)",
                   view.engine.incarnation(),
                   static_cast<double>(std::max<Nanos>(0, now - view.started_ns)) / 1e9,
                   view.detector.isolated(), !config.keys.empty());
    append_networks(out, view, now);
    out += ',';
    append_peers(out, view, now);
    out += ',';
    append_counters(out, view);
    append_disk(out, view);
    out += '}';
}

std::size_t status_size_hint(const Topology& topology) noexcept {
    // Measured renders: 2.8 KB for 4 paths, 10 KB for 30 (about 300 bytes a path, counters
    // included); this is over twice that (tests/hbd/status_test.cc checks it).
    return 16384 + 1024 * topology.paths().size() + 512 * topology.peers().size() +
           512 * topology.local_adapters().size();
}

}  // namespace hb::hbd
