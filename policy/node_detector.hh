// The failure detector: per-path state machines (DOWN -> INIT -> UP, as BFD) and the
// classification of DESIGN §6: the local node's adapters (ADAPTER_DOWN/UP), isolation
// (ISOLATED), a peer's adapter (REMOTE_ADAPTER_DOWN/UP), a whole network (NETWORK_DOWN/UP) and the
// peer itself (NODE_UP/DOWN/RESTARTED/LEFT; with the disk heartbeat as a second, non-IP source of
// liveness also NODE_UNREACHABLE, PARTITION/PARTITION_HEALED and DISK_DOWN/UP). Arrivals are
// recorded in on_beat() and on_disk_slot(); every transition and verdict is made in tick(now).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "hb/detector.hh"
#include "hb/timer_wheel.hh"

namespace hb::policy {

// One path's state machine. A path comes up only when both sides hear each other (the peer's
// beats echo ours) and `up_count` beats arrived in a row; it goes down when no valid beat arrived
// for the peer's advertised interval × multiplier.
struct PathFsm {
    PathState state = PathState::down;
    Nanos last_rx_ns = 0;
    Nanos timeout_ns = 0;
    Nanos down_since_ns = 0;
    std::uint32_t consecutive = 0;
    bool heard = false;      // a beat arrived since the last transition was judged
    bool confirmed = false;  // the peer has shown it hears us since the path was last down
    Timer expiry;
    // Adaptive timing (DetectorOptions::adaptive_ceiling): the loss measured on this path and
    // the timeout it calls for, never shorter than the peer's advertised one.
    Nanos adaptive_timeout_ns = 0;
    double loss = -1.0;                 // smoothed over windows; negative until the first window
    std::uint64_t window_received = 0;  // the path's counters when the window began
    std::uint64_t window_lost = 0;
    std::uint32_t multiplier = 0;  // in effect: the advertised one or the adaptive one

    Nanos effective_timeout_ns() const noexcept {
        return std::max(timeout_ns, adaptive_timeout_ns);
    }
};

struct DetectorCounters {
    std::uint64_t path_up = 0;
    std::uint64_t path_down = 0;
    std::uint64_t local_stalls = 0;
    std::uint64_t adaptive_raises = 0;        // a path's multiplier went up for its measured loss
    std::uint64_t adaptive_lowers = 0;        // ... and back down
    std::uint64_t disk_problems_dropped = 0;  // more disk problems in one tick than queued
};

struct DetectorOptions {
    // How long a partial failure (some of a peer's paths down) waits for corroborating evidence
    // before it is classified: a node's death takes all its paths within about one interval (one
    // more when its last beat on a path was lost) and must yield one NODE_DOWN, not adapter or
    // network events first. Negative: two intervals of the network concerned.
    Nanos settle_ns = -1;
    // Adaptive timing (DESIGN §6, Timing): when above 0, each path's loss is measured over
    // windows of `adaptive_window` beats and its multiplier raised, up to this ceiling, to the
    // one that keeps false expiries under one a day (docs/timing.md); it falls back as the loss
    // does, never below the peer's advertised multiplier. 0: the advertised timing only.
    std::uint32_t adaptive_ceiling = 0;
    std::uint32_t adaptive_window = 64;
};

class NodeDetector final : public Detector {
public:
    explicit NodeDetector(DetectorOptions options = {});
    ~NodeDetector() override;

    void attach(const Topology& topology, Nanos now) override;
    void on_beat(const BeatObservation& beat) noexcept override;
    void on_peer_restart(PeerIndex peer, Nanos rx_ns) noexcept override;
    void on_local_stall(Nanos now, Nanos stalled_ns) noexcept override;
    void on_local_adapter(std::uint32_t local, bool up, std::uint32_t source,
                          Nanos since_ns) noexcept override;
    void on_disk_slot(const DiskObservation& slot) noexcept override;
    void on_local_disk(bool up, Nanos since_ns) noexcept override;
    void on_disk_problem(DiskProblem problem, NodeId node, Nanos at_ns) noexcept override;
    void on_timing_changed(NetworkIndex network) noexcept override;
    void tick(Nanos now, EventSink& sink) noexcept override;
    Nanos next_deadline() const noexcept override;
    PathState path_state(PathIndex path) const noexcept override { return paths_[path].state; }
    std::uint32_t local_adapter_states() const noexcept override { return local_states_; }

    const DetectorCounters& counters() const noexcept { return counters_; }
    // A reload's new [timing] adaptive_ceiling (0: adaptive timing off). Paths re-adapt at their
    // next measurement window; a lowered ceiling lowers them only as their loss allows.
    void set_adaptive_ceiling(std::uint32_t ceiling) noexcept {
        options_.adaptive_ceiling = ceiling;
    }
    std::uint32_t adaptive_ceiling() const noexcept { return options_.adaptive_ceiling; }
    const PathFsm& path(PathIndex path) const noexcept { return paths_[path]; }
    bool isolated() const noexcept { return isolated_; }
    // The disk heartbeat completes cycles: it is a liveness source.
    bool disk_usable() const noexcept { return disk_.up; }

    // unreachable: every IP path down, the disk not yet telling death from partition;
    // partitioned: every IP path down while its disk slot still advances.
    enum class NodeState : std::uint8_t { unknown, up, down, left, unreachable, partitioned };
    static std::string_view node_state_name(NodeState state) noexcept;

    // What hbctl status and the metrics show (read on the engine thread, between ticks).
    NodeState node_state(PeerIndex peer) const noexcept { return peers_[peer].state; }
    // The health sources (evidence bits: link, netmon, inbound) now saying local adapter `local`
    // is down; 0 while it is up.
    std::uint32_t local_down_sources(std::uint32_t local) const noexcept {
        return locals_[local].down_sources;
    }
    // NETWORK_DOWN was reported for `network` and NETWORK_UP not yet.
    bool network_down(NetworkIndex network) const noexcept {
        return networks_[network].announced_down;
    }

private:
    struct PeerFsm {
        NodeState state = NodeState::unknown;
        bool dirty = false;
        bool leaving = false;    // a LEAVING beat arrived, not yet reported
        bool restarted = false;  // a new incarnation arrived, not yet reported
        Nanos restart_rx_ns = 0;
        Nanos up_since_ns = 0;  // NODE_UP: its other paths may still be coming up
        std::uint32_t reported_states = ~std::uint32_t{0};  // its own adapters, by its report
        std::uint64_t report_tx_ns = 0;  // when (its clock) it sent the report we hold
        std::uint32_t remote_down = 0;   // its adapters we announced REMOTE_ADAPTER_DOWN for
        Nanos unreachable_since_ns = 0;  // when its last IP path went down
        Nanos ip_heard_ns = 0;           // the last beat heard from it then
        DiskObservation disk;            // its slot, as last read (disk.rx_ns 0: never)
        // Its current sequence was written after this (the read before the one that first saw
        // it): a write after its IP paths were cut proves it lives on.
        Nanos disk_written_after_ns = 0;
        std::uint64_t left_incarnation = 0;  // NODE_LEFT reported for this disk incarnation
        bool left_by_disk = false;
    };
    // The local disk path: usable while its cycles complete.
    struct DiskFsm {
        bool up = false;
        bool announced_up = false;
        bool dirty = false;
        Nanos changed_ns = 0;
    };
    struct ProblemReport {
        DiskProblem problem = DiskProblem::slot_corrupt;
        NodeId node = 0;
        Nanos at_ns = 0;
    };
    // A local adapter is down while any of its health sources (link, netmon, inbound traffic:
    // evidence bits) says so; each source speaks only for itself.
    struct LocalFsm {
        std::uint32_t down_sources = 0;
        bool up = true;
        bool announced_up = true;
        std::uint32_t evidence = 0;  // the sources behind the current state
        Nanos changed_ns = 0;        // when the current state began, by its sources
    };
    struct NetworkFsm {
        bool announced_down = false;
        Nanos settle_ns = 0;
    };
    // What a peer looks like on one network right now, from our usable paths.
    struct Reach {
        bool has_paths = false;  // we share the network and our adapter on it is up
        bool any_up = false;
        bool all_down = true;
        Nanos cut_since_ns = 0;  // when the last of its paths there went down
        Nanos last_heard_ns = 0;
    };

    Nanos deadline(const PathFsm& path) const noexcept {
        return std::max(path.last_rx_ns, resume_ns_) + path.effective_timeout_ns();
    }
    void adapt(PathFsm& path, const BeatObservation& beat) noexcept;
    // up_count, settle window and longest timeout from the local timing of `network`.
    void derive_from_timing(NetworkIndex network) noexcept;
    bool usable(PathIndex path) const noexcept;
    Reach reach(PeerIndex peer, std::int32_t network) const noexcept;  // network -1: all
    void mark_path(PathIndex path) noexcept;
    void mark_peer(PeerIndex peer) noexcept;
    void mark_all_peers() noexcept;
    void recheck_at(Nanos when) noexcept;
    void judge_path(PathIndex path) noexcept;
    void judge_local_adapters(Nanos now, EventSink& sink) noexcept;
    void judge_isolation(Nanos now, EventSink& sink) noexcept;
    void judge_peer(PeerIndex peer, Nanos now, EventSink& sink) noexcept;
    void judge_network(NetworkIndex network, Nanos now, EventSink& sink) noexcept;
    void judge_disk(Nanos now, EventSink& sink) noexcept;
    // A peer with every IP path down: what the disk says of it, once the disk can say it.
    void judge_unreachable(PeerIndex peer, const Reach& all, Nanos now, EventSink& sink) noexcept;

    DetectorOptions options_;
    const Topology* topology_ = nullptr;
    std::vector<PathFsm> paths_;
    std::vector<PeerFsm> peers_;
    std::vector<LocalFsm> locals_;
    std::vector<NetworkFsm> networks_;
    std::vector<std::uint32_t> up_count_;  // per path: the local network's anti-flap count
    std::vector<PathIndex> dirty_paths_;   // capacity reserved at attach: never grows past it
    std::vector<PeerIndex> dirty_peers_;
    std::vector<bool> path_dirty_;
    std::unique_ptr<TimerWheel> wheel_;
    Timer recheck_;  // a settle window or a grace period ends
    DiskFsm disk_;
    std::vector<ProblemReport> problems_;  // capacity reserved at attach: never grows past it
    bool locals_dirty_ = false;
    bool isolated_ = false;
    bool had_contact_ = false;        // some peer was up at some point
    Nanos judge_peers_after_ns_ = 0;  // no NODE_DOWN before this (after isolation ended)
    std::uint32_t local_states_ = 0;
    Nanos resume_ns_ = 0;    // when this node last resumed from a stall
    Nanos attached_ns_ = 0;  // silence is measured from here when nothing was ever heard
    Nanos max_timeout_ns_ = 0;
    DetectorCounters counters_;
};

}  // namespace hb::policy
