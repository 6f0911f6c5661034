#include "policy/node_detector.hh"

#include <algorithm>

#include "hb/assert.hh"
#include "policy/timing.hh"

namespace hb::policy {

NodeDetector::NodeDetector(DetectorOptions options) : options_(options) {}
NodeDetector::~NodeDetector() = default;

std::string_view NodeDetector::node_state_name(NodeState state) noexcept {
    switch (state) {
        case NodeState::unknown:
            return "unknown";
        case NodeState::up:
            return "up";
        case NodeState::down:
            return "down";
        case NodeState::left:
            return "left";
        case NodeState::unreachable:
            return "unreachable";
        case NodeState::partitioned:
            return "partitioned";
    }
    return "unknown";
}

void NodeDetector::attach(const Topology& topology, Nanos now) {
    topology_ = &topology;
    const std::size_t path_count = topology.paths().size();
    paths_.assign(path_count, PathFsm{});
    peers_.assign(topology.peers().size(), PeerFsm{});
    locals_.assign(topology.local_adapters().size(), LocalFsm{});
    networks_.assign(topology.config().networks.size(), NetworkFsm{});
    up_count_.resize(path_count);
    path_dirty_.assign(path_count, false);
    dirty_paths_.clear();
    dirty_paths_.reserve(path_count);
    dirty_peers_.clear();
    dirty_peers_.reserve(peers_.size());
    problems_.clear();
    problems_.reserve(64);
    disk_ = DiskFsm{};
    for (PathIndex p = 0; p < path_count; ++p) {
        paths_[p].expiry.id = p;
    }
    max_timeout_ns_ = 0;
    for (NetworkIndex n = 0; n < networks_.size(); ++n) {
        derive_from_timing(n);
    }
    attached_ns_ = now;
    wheel_ = std::make_unique<TimerWheel>(1024, 100 * nanos_per_us, now);
    recheck_.id = UINT32_MAX;
    local_states_ = 0;
    for (const LocalAdapter& local : topology.local_adapters()) {
        local_states_ |= std::uint32_t{1} << local.adapter;
    }
}

void NodeDetector::derive_from_timing(NetworkIndex network) noexcept {
    const Timing& timing = topology_->timing(network);
    for (PathIndex p = 0; p < paths_.size(); ++p) {
        if (topology_->paths()[p].network == network) {
            up_count_[p] = std::max<std::uint32_t>(timing.up_count, 1);
        }
    }
    networks_[network].settle_ns =
        options_.settle_ns >= 0 ? options_.settle_ns : 2 * timing.interval_ns;
    // Never lowered by a reload: peers may still be on the longer of the two timings.
    max_timeout_ns_ = std::max(max_timeout_ns_, timing.detection_ns() + timing.interval_ns);
}

void NodeDetector::on_timing_changed(NetworkIndex network) noexcept {
    HB_ASSERT(topology_ != nullptr && network < networks_.size());
    derive_from_timing(network);
}

bool NodeDetector::usable(PathIndex path) const noexcept {
    return locals_[topology_->paths()[path].local].up;
}

NodeDetector::Reach NodeDetector::reach(PeerIndex peer, std::int32_t network) const noexcept {
    Reach out;
    out.last_heard_ns = attached_ns_;  // never heard: silent since the detector started
    for (const PathIndex p : topology_->peers()[peer].paths) {
        if ((network >= 0 && topology_->paths()[p].network != network) || !usable(p)) {
            continue;
        }
        const PathFsm& path = paths_[p];
        out.has_paths = true;
        out.any_up = out.any_up || path.state == PathState::up;
        out.all_down = out.all_down && path.state == PathState::down;
        out.cut_since_ns = std::max(out.cut_since_ns, path.down_since_ns);
        out.last_heard_ns = std::max(out.last_heard_ns, path.last_rx_ns);
    }
    out.all_down = out.all_down && out.has_paths;
    return out;
}

void NodeDetector::mark_path(PathIndex path) noexcept {
    if (!path_dirty_[path]) {
        path_dirty_[path] = true;
        HB_ASSERT(dirty_paths_.size() < dirty_paths_.capacity());
        dirty_paths_.push_back(path);
    }
}

void NodeDetector::mark_peer(PeerIndex peer) noexcept {
    if (!peers_[peer].dirty) {
        peers_[peer].dirty = true;
        HB_ASSERT(dirty_peers_.size() < dirty_peers_.capacity());
        dirty_peers_.push_back(peer);
    }
}

void NodeDetector::mark_all_peers() noexcept {
    for (PeerIndex peer = 0; peer < peers_.size(); ++peer) {
        mark_peer(peer);
    }
}

void NodeDetector::recheck_at(Nanos when) noexcept {
    if (!recheck_.armed || recheck_.deadline > when) {
        wheel_->arm(recheck_, when);
    }
}

void NodeDetector::adapt(PathFsm& path, const BeatObservation& beat) noexcept {
    const bool restarted =
        beat.path_received < path.window_received || beat.path_lost < path.window_lost;
    // An outage is not loss: the sequence numbers a silence of many windows skipped would read
    // as a burst of lost beats. A short expiry (what random loss itself causes) stays measured.
    const bool outage = path.state == PathState::down &&
                        beat.rx_ns - path.last_rx_ns > 2 * path.effective_timeout_ns();
    if (restarted || outage) {
        path.window_received = beat.path_received;
        path.window_lost = beat.path_lost;
        return;
    }
    const std::uint64_t received = beat.path_received - path.window_received;
    const std::uint64_t lost = beat.path_lost - path.window_lost;
    if (received < options_.adaptive_window) {
        return;
    }
    path.window_received = beat.path_received;
    path.window_lost = beat.path_lost;
    const double sample = static_cast<double>(lost) / static_cast<double>(received + lost);
    // Smoothed over about four windows: quick to rise, and not fooled by one lucky window.
    path.loss = path.loss < 0.0 ? sample : path.loss + (sample - path.loss) / 4.0;
    const std::uint32_t advertised = static_cast<std::uint32_t>(
        beat.peer_interval_ns > 0 ? beat.peer_timeout_ns / beat.peer_interval_ns : 0);
    const std::uint32_t ceiling = std::max({advertised, options_.adaptive_ceiling, 1U});
    const std::uint32_t current = std::max(path.multiplier, advertised);
    // Up as soon as the loss calls for it; down only when ten times the loss rate would still be
    // under one false expiry a day, so an estimate hovering at a boundary does not flap.
    std::uint32_t multiplier =
        std::max(advertised, multiplier_for(path.loss, beat.peer_interval_ns, 1.0, ceiling));
    if (multiplier < current) {
        multiplier = std::max(multiplier_for(path.loss, beat.peer_interval_ns, 0.1, ceiling),
                              std::max(advertised, multiplier));
        multiplier = std::min(multiplier, current);
    }
    if (multiplier > current) {
        ++counters_.adaptive_raises;
    } else if (multiplier < current) {
        ++counters_.adaptive_lowers;
    }
    path.multiplier = multiplier;
    path.adaptive_timeout_ns = beat.peer_interval_ns * multiplier;
}

void NodeDetector::on_beat(const BeatObservation& beat) noexcept {
    PathFsm& path = paths_[beat.path];
    if (options_.adaptive_ceiling > 0 && beat.peer_interval_ns > 0) {
        adapt(path, beat);
    } else if (path.adaptive_timeout_ns != 0) {
        // A reload turned adaptive timing off: back to the advertised timing.
        path.adaptive_timeout_ns = 0;
        path.multiplier = 0;
    }
    path.last_rx_ns = std::max(path.last_rx_ns, beat.rx_ns);
    path.timeout_ns = beat.peer_timeout_ns;
    path.consecutive = beat.consecutive;
    path.heard = true;
    path.confirmed = path.confirmed || beat.peer_hears_us;
    // Expiry is lazy: the timer is armed once and, when it fires, re-armed at the deadline the
    // latest beat implies. A beat costs no timer operation unless the timer is idle.
    if (!path.expiry.armed) {
        wheel_->arm(path.expiry, deadline(path));
    }
    const PeerIndex peer = topology_->paths()[beat.path].peer;
    PeerFsm& fsm = peers_[peer];
    // Reports count in the order the peer sent them: a beat sent before its adapter failed may
    // arrive, over another path, after one sent since.
    if (beat.peer_tx_time_ns >= fsm.report_tx_ns) {
        fsm.report_tx_ns = beat.peer_tx_time_ns;
        if (fsm.reported_states != beat.peer_adapter_states) {
            fsm.reported_states = beat.peer_adapter_states;
            mark_peer(peer);
        }
    }
    if (beat.leaving && fsm.state != NodeState::left) {
        fsm.leaving = true;
        mark_peer(peer);
    }
    mark_path(beat.path);
}

void NodeDetector::on_peer_restart(PeerIndex peer, Nanos rx_ns) noexcept {
    PeerFsm& fsm = peers_[peer];
    fsm.restarted = true;
    fsm.restart_rx_ns = rx_ns;
    fsm.report_tx_ns = 0;  // a new life, a new clock
    if (fsm.state == NodeState::left) {
        fsm.state = NodeState::down;  // it left, and now it is back: report NODE_UP when it is
    }
    fsm.leaving = false;
    // A new life starts every path from scratch; paths that were up are not reported down for it.
    for (const PathIndex p : topology_->peers()[peer].paths) {
        PathFsm& path = paths_[p];
        if (path.state != PathState::down) {
            path.state = PathState::init;
        }
        path.confirmed = false;
        path.consecutive = 0;
    }
    mark_peer(peer);
}

void NodeDetector::on_local_stall(Nanos now, Nanos /*stalled_ns*/) noexcept {
    resume_ns_ = now;
    ++counters_.local_stalls;
}

void NodeDetector::on_local_adapter(std::uint32_t local, bool up, std::uint32_t source,
                                    Nanos since_ns) noexcept {
    HB_ASSERT(local < locals_.size());
    LocalFsm& fsm = locals_[local];
    const std::uint32_t down_sources = up ? fsm.down_sources & ~source : fsm.down_sources | source;
    if (down_sources == fsm.down_sources) {
        return;
    }
    fsm.down_sources = down_sources;
    if (fsm.up == (down_sources == 0)) {
        if (!fsm.up) {
            fsm.evidence = down_sources;  // still down, now (also) by another source
        }
        return;
    }
    fsm.up = down_sources == 0;
    fsm.evidence = fsm.up ? source : down_sources;
    fsm.changed_ns = since_ns;
    const std::uint32_t bit = std::uint32_t{1} << topology_->local_adapters()[local].adapter;
    local_states_ = fsm.up ? local_states_ | bit : local_states_ & ~bit;
    locals_dirty_ = true;
    mark_all_peers();
}

void NodeDetector::on_disk_slot(const DiskObservation& slot) noexcept {
    HB_ASSERT(slot.peer < peers_.size());
    PeerFsm& fsm = peers_[slot.peer];
    const bool advanced = slot.last_advance_ns != fsm.disk.last_advance_ns;
    const bool changed = slot.alive != fsm.disk.alive || slot.leaving != fsm.disk.leaving;
    if (advanced) {
        fsm.disk_written_after_ns = fsm.disk.rx_ns;
    }
    fsm.disk = slot;
    // Most reads change nothing; one that can settle a verdict marks the peer.
    if (changed || (advanced && fsm.state == NodeState::unreachable)) {
        mark_peer(slot.peer);
    }
}

void NodeDetector::on_local_disk(bool up, Nanos since_ns) noexcept {
    if (disk_.up == up) {
        return;
    }
    disk_.up = up;
    disk_.changed_ns = since_ns;
    disk_.dirty = true;
    mark_all_peers();
}

void NodeDetector::on_disk_problem(DiskProblem problem, NodeId node, Nanos at_ns) noexcept {
    if (problems_.size() == problems_.capacity()) {
        ++counters_.disk_problems_dropped;
        return;
    }
    problems_.push_back(ProblemReport{.problem = problem, .node = node, .at_ns = at_ns});
}

void NodeDetector::judge_disk(Nanos now, EventSink& sink) noexcept {
    if (disk_.dirty) {
        disk_.dirty = false;
        if (disk_.up != disk_.announced_up) {
            disk_.announced_up = disk_.up;
            sink.emit(Event{.kind = disk_.up ? EventKind::disk_up : EventKind::disk_down,
                            .t_ns = now,
                            .latency_ns = now - std::min(disk_.changed_ns, now),
                            .evidence = evidence::disk});
        }
    }
    for (const ProblemReport& report : problems_) {
        sink.emit(Event{.kind = report.problem == DiskProblem::slot_corrupt
                                    ? EventKind::disk_slot_corrupt
                                    : EventKind::disk_slot_conflict,
                        .node = report.node,
                        .t_ns = now,
                        .latency_ns = now - std::min(report.at_ns, now),
                        .evidence = evidence::disk});
    }
    problems_.clear();
}

void NodeDetector::judge_path(PathIndex p) noexcept {
    PathFsm& path = paths_[p];
    if (!path.heard) {
        return;
    }
    path.heard = false;
    if (path.state == PathState::down) {
        path.state = PathState::init;
    }
    if (path.state == PathState::init && path.confirmed && path.consecutive >= up_count_[p]) {
        path.state = PathState::up;
        ++counters_.path_up;
        mark_peer(topology_->paths()[p].peer);
    }
}

void NodeDetector::judge_local_adapters(Nanos now, EventSink& sink) noexcept {
    locals_dirty_ = false;
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        LocalFsm& fsm = locals_[l];
        if (fsm.up == fsm.announced_up) {
            continue;
        }
        fsm.announced_up = fsm.up;
        const LocalAdapter& adapter = topology_->local_adapters()[l];
        sink.emit(Event{.kind = fsm.up ? EventKind::adapter_up : EventKind::adapter_down,
                        .node = 0,
                        .network = adapter.network,
                        .adapter = adapter.adapter,
                        .t_ns = now,
                        .latency_ns = now - fsm.changed_ns,
                        .evidence = fsm.evidence});
    }
}

void NodeDetector::judge_isolation(Nanos now, EventSink& sink) noexcept {
    bool all_local_down = !locals_.empty();
    std::uint32_t local_evidence = 0;
    for (const LocalFsm& local : locals_) {
        all_local_down = all_local_down && !local.up;
        local_evidence |= local.evidence;
    }
    bool any_up = false;
    bool some_peer_up = false;
    for (PeerIndex peer = 0; peer < peers_.size(); ++peer) {
        const Reach r = reach(peer, -1);
        any_up = any_up || r.any_up;
        some_peer_up = some_peer_up || peers_[peer].state == NodeState::up;
    }
    // Every peer we were hearing went silent at once, and nothing else (netmon) says we can
    // reach the world: the likeliest single fault is here, so no peer is judged.
    // With the disk as a second source, silence on every path is judged peer by peer instead:
    // the disk tells which of the silent peers live (PARTITION) and which died.
    const bool isolated_now =
        all_local_down || (!disk_.up && had_contact_ && some_peer_up && !any_up);
    if (isolated_now == isolated_) {
        return;
    }
    isolated_ = isolated_now;
    if (isolated_) {
        // The last sign of life: a beat on any path (through an adapter now down or not), or
        // the last local adapter's source seeing it work.
        Nanos last_alive_ns = attached_ns_;
        for (const PathFsm& path : paths_) {
            last_alive_ns = std::max(last_alive_ns, path.last_rx_ns);
        }
        for (const LocalFsm& local : locals_) {
            last_alive_ns = std::max(last_alive_ns, all_local_down ? local.changed_ns : 0);
        }
        sink.emit(Event{
            .kind = EventKind::isolated,
            .t_ns = now,
            .latency_ns = now - std::min(last_alive_ns, now),
            .evidence = all_local_down ? local_evidence : evidence::paths | evidence::inference});
        return;
    }
    sink.emit(Event{.kind = EventKind::isolation_ended, .t_ns = now, .evidence = evidence::paths});
    // Silence measured while isolated proves nothing about the peers still silent: give them a
    // full detection window from now.
    judge_peers_after_ns_ = now + max_timeout_ns_;
    recheck_at(judge_peers_after_ns_);
    mark_all_peers();
}

void NodeDetector::judge_peer(PeerIndex peer, Nanos now, EventSink& sink) noexcept {
    PeerFsm& fsm = peers_[peer];
    const Peer& info = topology_->peers()[peer];
    if (fsm.restarted) {
        fsm.restarted = false;
        sink.emit(Event{.kind = EventKind::node_restarted,
                        .node = info.node,
                        .t_ns = now,
                        .latency_ns = now - fsm.restart_rx_ns,
                        .evidence = evidence::incarnation});
    }
    if (fsm.leaving) {
        fsm.leaving = false;
        fsm.state = NodeState::left;
        sink.emit(Event{.kind = EventKind::node_left,
                        .node = info.node,
                        .t_ns = now,
                        .evidence = evidence::leaving});
        return;
    }
    if (fsm.state == NodeState::left) {
        return;  // silence after a graceful leave is expected
    }
    const bool reachable_state = fsm.state == NodeState::up ||
                                 fsm.state == NodeState::unreachable ||
                                 fsm.state == NodeState::partitioned;
    // Its slot says LEAVING, written in this life (it advanced within the disk timeout) and not
    // already reported: a graceful stop, told over the disk (it may be cut off by IP).
    if (reachable_state && fsm.disk.leaving && fsm.disk.alive &&
        !(fsm.left_by_disk && fsm.left_incarnation == fsm.disk.incarnation)) {
        fsm.left_by_disk = true;
        fsm.left_incarnation = fsm.disk.incarnation;
        fsm.state = NodeState::left;
        sink.emit(Event{.kind = EventKind::node_left,
                        .node = info.node,
                        .t_ns = now,
                        .evidence = evidence::leaving | evidence::disk});
        return;
    }
    const Reach all = reach(peer, -1);
    if (!all.has_paths) {
        return;  // every adapter we share with it is down here: nothing to judge it by
    }
    if (fsm.state == NodeState::unreachable || fsm.state == NodeState::partitioned) {
        if (all.any_up) {
            // Its beats are back: the cut is over (a partition heals; an unreachable peer the
            // disk had not yet judged is reachable again).
            const bool healed = fsm.state == NodeState::partitioned;
            fsm.state = NodeState::up;
            fsm.up_since_ns = now;
            sink.emit(Event{.kind = healed ? EventKind::partition_healed : EventKind::node_up,
                            .node = info.node,
                            .t_ns = now,
                            .latency_ns = now - all.last_heard_ns,
                            .evidence = evidence::paths});
        } else if (all.all_down) {
            judge_unreachable(peer, all, now, sink);
        }
        return;
    }
    if (fsm.state == NodeState::up && all.all_down) {
        if (now < judge_peers_after_ns_) {
            recheck_at(judge_peers_after_ns_);
            return;
        }
        if (disk_.up) {
            // The disk can tell a dead node from one cut off: say what is known now, and let
            // its slot decide.
            fsm.state = NodeState::unreachable;
            fsm.remote_down = 0;
            fsm.unreachable_since_ns = all.cut_since_ns;
            fsm.ip_heard_ns = all.last_heard_ns;
            sink.emit(Event{.kind = EventKind::node_unreachable,
                            .node = info.node,
                            .t_ns = now,
                            .latency_ns = now - all.last_heard_ns,
                            .evidence = evidence::paths});
            judge_unreachable(peer, all, now, sink);
            return;
        }
        fsm.state = NodeState::down;
        fsm.remote_down = 0;  // the node-level verdict supersedes adapter verdicts
        sink.emit(Event{.kind = EventKind::node_down,
                        .node = info.node,
                        .t_ns = now,
                        .latency_ns = now - all.last_heard_ns,
                        .evidence = evidence::paths});
        return;
    }
    if (fsm.state != NodeState::up && all.any_up) {
        fsm.state = NodeState::up;
        fsm.up_since_ns = now;
        had_contact_ = true;
        sink.emit(Event{.kind = EventKind::node_up,
                        .node = info.node,
                        .t_ns = now,
                        .latency_ns = now - all.last_heard_ns,
                        .evidence = evidence::paths});
    }
    if (fsm.state != NodeState::up) {
        return;
    }
    // Its adapters, one network at a time: recoveries, and what it reports about itself.
    for (const PathIndex p : info.paths) {
        const Path& path = topology_->paths()[p];
        const std::uint32_t bit = std::uint32_t{1} << path.peer_adapter;
        const bool announced_down = (fsm.remote_down & bit) != 0;
        const Reach on_network = reach(peer, path.network);
        // Back up only when beats flow on it again and the peer no longer reports it down (its
        // report can arrive, over another path, before our path there has even expired).
        if (announced_down && on_network.any_up && (fsm.reported_states & bit) != 0) {
            fsm.remote_down &= ~bit;
            sink.emit(Event{.kind = EventKind::remote_adapter_up,
                            .node = info.node,
                            .network = path.network,
                            .adapter = path.peer_adapter,
                            .t_ns = now,
                            .evidence = evidence::paths});
        } else if (!announced_down && (fsm.reported_states & bit) == 0 && on_network.has_paths &&
                   !networks_[path.network].announced_down) {
            // The peer says so itself, over another path: no need to wait for silence.
            fsm.remote_down |= bit;
            sink.emit(Event{.kind = EventKind::remote_adapter_down,
                            .node = info.node,
                            .network = path.network,
                            .adapter = path.peer_adapter,
                            .t_ns = now,
                            .latency_ns = now - on_network.last_heard_ns,
                            .evidence = evidence::report});
        }
    }
}

void NodeDetector::judge_unreachable(PeerIndex peer, const Reach& all, Nanos now,
                                     EventSink& sink) noexcept {
    PeerFsm& fsm = peers_[peer];
    const NodeId node = topology_->peers()[peer].node;
    const DiskObservation& slot = fsm.disk;
    if (!disk_.up) {
        // The disk can no longer tell. An undecided peer falls back to the IP verdict; a
        // partition stays one: the last evidence said it lives, and a takeover on silence
        // alone is what the disk is there to prevent.
        if (fsm.state == NodeState::unreachable) {
            fsm.state = NodeState::down;
            sink.emit(Event{.kind = EventKind::node_down,
                            .node = node,
                            .t_ns = now,
                            .latency_ns = now - all.last_heard_ns,
                            .evidence = evidence::paths});
        }
        return;
    }
    if (!slot.alive) {
        // Its slot stopped too: it is dead, on both kinds of evidence.
        fsm.state = NodeState::down;
        sink.emit(Event{.kind = EventKind::node_down,
                        .node = node,
                        .t_ns = now,
                        .latency_ns = now - std::max(all.last_heard_ns, slot.last_advance_ns),
                        .evidence = evidence::paths | evidence::disk});
        return;
    }
    if (fsm.state == NodeState::unreachable &&
        fsm.disk_written_after_ns >= fsm.unreachable_since_ns) {
        // It wrote its slot after its IP paths were cut: alive, and cut off. A takeover now
        // would run its resources twice.
        fsm.state = NodeState::partitioned;
        sink.emit(Event{.kind = EventKind::partition,
                        .node = node,
                        .t_ns = now,
                        .latency_ns = now - fsm.ip_heard_ns,
                        .evidence = evidence::paths | evidence::disk});
    }
}

void NodeDetector::judge_network(NetworkIndex network, Nanos now, EventSink& sink) noexcept {
    NetworkFsm& net = networks_[network];
    // A local adapter on this network that just came back up has had no time to bring its paths
    // up: silence on them is not yet evidence.
    Nanos adapter_up_since_ns = 0;
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        if (topology_->local_adapters()[l].network == network && locals_[l].up) {
            adapter_up_since_ns = std::max(adapter_up_since_ns, locals_[l].changed_ns);
        }
    }
    // Peers alive (up somewhere) that we share this network with through an adapter that is up.
    std::uint32_t alive = 0;
    std::uint32_t cut = 0;
    std::uint32_t cut_reporting_down = 0;
    std::uint32_t cut_reporting_up = 0;
    bool any_up = false;
    Nanos settled_at = 0;
    Nanos last_heard_ns = 0;
    Nanos reachable_heard_ns = 0;  // the newest beat from a peer not cut off here
    for (PeerIndex peer = 0; peer < peers_.size(); ++peer) {
        const PeerFsm& fsm = peers_[peer];
        if (fsm.state != NodeState::up) {
            continue;
        }
        const Reach r = reach(peer, network);
        if (!r.has_paths) {
            continue;
        }
        ++alive;
        any_up = any_up || r.any_up;
        if (!r.all_down) {
            reachable_heard_ns = std::max(reachable_heard_ns, r.last_heard_ns);
            continue;
        }
        ++cut;
        // A path still down since before the peer came (back) up has not failed, it has not
        // come up yet: it gets a whole detection window from NODE_UP.
        settled_at =
            std::max({settled_at, r.cut_since_ns + net.settle_ns, fsm.up_since_ns + max_timeout_ns_,
                      adapter_up_since_ns + max_timeout_ns_});
        last_heard_ns = std::max(last_heard_ns, r.last_heard_ns);
        bool reports_down = false;
        for (const PathIndex p : topology_->peers()[peer].paths) {
            const Path& path = topology_->paths()[p];
            if (path.network == network &&
                (fsm.reported_states & (std::uint32_t{1} << path.peer_adapter)) == 0) {
                reports_down = true;
            }
        }
        cut_reporting_down += reports_down ? 1 : 0;
        cut_reporting_up += reports_down ? 0 : 1;
    }
    if (net.announced_down) {
        if (any_up) {
            net.announced_down = false;
            sink.emit(Event{.kind = EventKind::network_up,
                            .network = network,
                            .t_ns = now,
                            .evidence = evidence::paths});
        }
        return;
    }
    if (cut == 0) {
        return;
    }
    if (now < settled_at) {
        recheck_at(settled_at);  // wait for corroborating evidence (a node death, say)
        return;
    }
    if (cut == alive && cut_reporting_down < cut) {
        // Nobody is reachable on this network while everyone is alive elsewhere, and they do not
        // say their own adapters failed: the network did (our adapter's link is up).
        net.announced_down = true;
        const std::uint32_t basis =
            cut_reporting_up == cut ? evidence::report : evidence::inference;
        sink.emit(Event{.kind = EventKind::network_down,
                        .network = network,
                        .t_ns = now,
                        .latency_ns = now - last_heard_ns,
                        .evidence = evidence::paths | basis});
        return;
    }
    // Some peers are reachable here and these are not: their adapters on it failed. Both halves
    // need evidence newer than the cut. Reachable means heard here since then: a path whose last
    // beat is older is only one that has not expired yet (a longer timeout, a later last beat),
    // and a network failing path by path is not adapters failing one by one. And the peer must
    // have been heard elsewhere since then: otherwise it may be dying, path by path, and its
    // death is one NODE_DOWN. Until such beats arrive or the paths expire, look again every
    // interval.
    const Nanos recheck_ns = topology_->timing(network).interval_ns;
    for (PeerIndex peer = 0; peer < peers_.size(); ++peer) {
        PeerFsm& fsm = peers_[peer];
        if (fsm.state != NodeState::up) {
            continue;
        }
        const Reach r = reach(peer, network);
        if (!r.all_down) {
            continue;
        }
        const bool heard_since_cut = reachable_heard_ns > r.cut_since_ns &&
                                     reach(peer, no_network).last_heard_ns > r.cut_since_ns;
        for (const PathIndex p : topology_->peers()[peer].paths) {
            const Path& path = topology_->paths()[p];
            const std::uint32_t bit = std::uint32_t{1} << path.peer_adapter;
            if (path.network != network || (fsm.remote_down & bit) != 0) {
                continue;
            }
            const bool reported = (fsm.reported_states & bit) == 0;
            if (!reported && !heard_since_cut) {
                recheck_at(now + recheck_ns);
                continue;
            }
            fsm.remote_down |= bit;
            sink.emit(Event{
                .kind = EventKind::remote_adapter_down,
                .node = topology_->peers()[peer].node,
                .network = network,
                .adapter = path.peer_adapter,
                .t_ns = now,
                .latency_ns = now - r.last_heard_ns,
                .evidence = evidence::paths | (reported ? evidence::report : evidence::inference)});
        }
    }
}

void NodeDetector::tick(Nanos now, EventSink& sink) noexcept {
    // Arrivals first: a path heard since the last tick is judged on its newest beat.
    for (const PathIndex p : dirty_paths_) {
        path_dirty_[p] = false;
        judge_path(p);
    }
    dirty_paths_.clear();

    wheel_->advance(now, [&](Timer& timer) {
        if (&timer == &recheck_) {
            mark_all_peers();
            return;
        }
        PathFsm& path = paths_[timer.id];
        if (deadline(path) > now) {
            wheel_->arm(timer, deadline(path));
            return;
        }
        if (path.state != PathState::down) {
            path.state = PathState::down;
            path.down_since_ns = deadline(path);
            path.confirmed = false;
            path.consecutive = 0;
            ++counters_.path_down;
            mark_peer(topology_->paths()[timer.id].peer);
        }
    });

    if (locals_dirty_) {
        judge_local_adapters(now, sink);
    }
    if (disk_.dirty || !problems_.empty()) {
        judge_disk(now, sink);
    }
    if (dirty_peers_.empty()) {
        return;
    }
    judge_isolation(now, sink);
    for (const PeerIndex peer : dirty_peers_) {
        peers_[peer].dirty = false;
        if (!isolated_) {
            judge_peer(peer, now, sink);
        }
    }
    dirty_peers_.clear();
    if (!isolated_) {
        for (NetworkIndex network = 0; network < networks_.size(); ++network) {
            judge_network(network, now, sink);
        }
    }
}

Nanos NodeDetector::next_deadline() const noexcept {
    if (!dirty_paths_.empty() || !dirty_peers_.empty() || locals_dirty_ || disk_.dirty ||
        !problems_.empty()) {
        return 0;
    }
    return wheel_ ? wheel_->next_deadline() : TimerWheel::never;
}

}  // namespace hb::policy
