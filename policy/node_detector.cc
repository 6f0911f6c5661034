#include "policy/node_detector.hh"

#include <algorithm>

#include "hb/assert.hh"

namespace hb::policy {

NodeDetector::NodeDetector() = default;
NodeDetector::~NodeDetector() = default;

void NodeDetector::attach(const Topology& topology, Nanos now) {
    topology_ = &topology;
    const std::size_t path_count = topology.paths().size();
    paths_.assign(path_count, PathFsm{});
    peers_.assign(topology.peers().size(), PeerFsm{});
    up_count_.resize(path_count);
    path_dirty_.assign(path_count, false);
    dirty_paths_.clear();
    dirty_paths_.reserve(path_count);
    dirty_peers_.clear();
    dirty_peers_.reserve(peers_.size());
    for (PathIndex p = 0; p < path_count; ++p) {
        paths_[p].expiry.id = p;
        up_count_[p] =
            std::max<std::uint32_t>(topology.timing(topology.paths()[p].network).up_count, 1);
    }
    wheel_ = std::make_unique<TimerWheel>(1024, 100 * nanos_per_us, now);
    const std::size_t adapters = topology.local_adapters().size();
    local_states_ = adapters >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << adapters) - 1;
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

void NodeDetector::on_beat(const BeatObservation& beat) noexcept {
    PathFsm& path = paths_[beat.path];
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
    if (beat.leaving) {
        const PeerIndex peer = topology_->paths()[beat.path].peer;
        if (peers_[peer].state != NodeState::left) {
            peers_[peer].leaving = true;
            mark_peer(peer);
        }
    }
    mark_path(beat.path);
}

void NodeDetector::on_peer_restart(PeerIndex peer, Nanos rx_ns) noexcept {
    PeerFsm& fsm = peers_[peer];
    fsm.restarted = true;
    fsm.restart_rx_ns = rx_ns;
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
    bool any_up = false;
    bool all_down = true;
    Nanos last_heard_ns = 0;
    for (const PathIndex p : info.paths) {
        any_up = any_up || paths_[p].state == PathState::up;
        all_down = all_down && paths_[p].state == PathState::down;
        last_heard_ns = std::max(last_heard_ns, paths_[p].last_rx_ns);
    }
    if (fsm.state == NodeState::up && all_down) {
        fsm.state = NodeState::down;
        sink.emit(Event{.kind = EventKind::node_down,
                        .node = info.node,
                        .t_ns = now,
                        .latency_ns = now - last_heard_ns,
                        .evidence = evidence::paths});
    } else if (fsm.state != NodeState::up && any_up) {
        fsm.state = NodeState::up;
        sink.emit(Event{.kind = EventKind::node_up,
                        .node = info.node,
                        .t_ns = now,
                        .latency_ns = now - last_heard_ns,
                        .evidence = evidence::paths});
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
        PathFsm& path = paths_[timer.id];
        if (deadline(path) > now) {
            wheel_->arm(timer, deadline(path));
            return;
        }
        if (path.state != PathState::down) {
            path.state = PathState::down;
            path.confirmed = false;
            path.consecutive = 0;
            ++counters_.path_down;
            mark_peer(topology_->paths()[timer.id].peer);
        }
    });

    for (const PeerIndex peer : dirty_peers_) {
        peers_[peer].dirty = false;
        judge_peer(peer, now, sink);
    }
    dirty_peers_.clear();
}

Nanos NodeDetector::next_deadline() const noexcept {
    if (!dirty_paths_.empty() || !dirty_peers_.empty()) {
        return 0;
    }
    return wheel_ ? wheel_->next_deadline() : TimerWheel::never;
}

}  // namespace hb::policy
