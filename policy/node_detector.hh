// The failure detector: per-path state machines (DOWN -> INIT -> UP, as BFD) and node verdicts
// (NODE_UP, NODE_DOWN, NODE_RESTARTED, NODE_LEFT). Arrivals are recorded in on_beat(); every
// transition and verdict is made in tick(now).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
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
    std::uint32_t consecutive = 0;
    bool heard = false;      // a beat arrived since the last transition was judged
    bool confirmed = false;  // the peer has shown it hears us since the path was last down
    Timer expiry;
};

struct DetectorCounters {
    std::uint64_t path_up = 0;
    std::uint64_t path_down = 0;
    std::uint64_t local_stalls = 0;
};

class NodeDetector final : public Detector {
public:
    NodeDetector();
    ~NodeDetector() override;

    void attach(const Topology& topology, Nanos now) override;
    void on_beat(const BeatObservation& beat) noexcept override;
    void on_peer_restart(PeerIndex peer, Nanos rx_ns) noexcept override;
    void on_local_stall(Nanos now, Nanos stalled_ns) noexcept override;
    void tick(Nanos now, EventSink& sink) noexcept override;
    Nanos next_deadline() const noexcept override;
    PathState path_state(PathIndex path) const noexcept override { return paths_[path].state; }
    std::uint32_t local_adapter_states() const noexcept override { return local_states_; }

    const DetectorCounters& counters() const noexcept { return counters_; }
    const PathFsm& path(PathIndex path) const noexcept { return paths_[path]; }

private:
    enum class NodeState : std::uint8_t { unknown, up, down, left };
    struct PeerFsm {
        NodeState state = NodeState::unknown;
        bool dirty = false;
        bool leaving = false;    // a LEAVING beat arrived, not yet reported
        bool restarted = false;  // a new incarnation arrived, not yet reported
        Nanos restart_rx_ns = 0;
    };

    // When the path expires: its timeout after the newest beat, or after the end of the last
    // local stall if that came later (silence across our own stall proves nothing).
    Nanos deadline(const PathFsm& path) const noexcept {
        return std::max(path.last_rx_ns, resume_ns_) + path.timeout_ns;
    }
    void mark_path(PathIndex path) noexcept;
    void mark_peer(PeerIndex peer) noexcept;
    void judge_path(PathIndex path) noexcept;
    void judge_peer(PeerIndex peer, Nanos now, EventSink& sink) noexcept;

    const Topology* topology_ = nullptr;
    std::vector<PathFsm> paths_;
    std::vector<PeerFsm> peers_;
    std::vector<std::uint32_t> up_count_;  // per path: the local network's anti-flap count
    std::vector<PathIndex> dirty_paths_;   // capacity reserved at attach: never grows past it
    std::vector<PeerIndex> dirty_peers_;
    std::vector<bool> path_dirty_;
    std::unique_ptr<TimerWheel> wheel_;
    std::uint32_t local_states_ = 0;
    Nanos resume_ns_ = 0;  // when this node last resumed from a stall
    DetectorCounters counters_;
};

}  // namespace hb::policy
