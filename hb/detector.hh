// The seam between the engine and failure detection. The engine records what arrives and asks the
// detector for verdicts in tick(now); policy/ implements the detector. The engine knows nothing of
// how verdicts are reached.
#pragma once

#include <cstdint>

#include "hb/clock.hh"
#include "hb/event.hh"
#include "hb/topology.hh"

namespace hb {

// BFD's session states, per path.
enum class PathState : std::uint8_t { down, init, up };
std::string_view path_state_name(PathState state) noexcept;

// A valid beat that arrived on a path, as the detector needs to see it.
struct BeatObservation {
    PathIndex path = 0;
    Nanos rx_ns = 0;
    Nanos peer_timeout_ns = 0;      // the peer's advertised interval × multiplier
    Nanos peer_interval_ns = 0;     // the peer's advertised interval
    std::uint32_t consecutive = 0;  // beats in a row on this path without a gap
    // The path's receive counters so far (PathTracker): beats heard, sequence numbers skipped.
    // They start again from zero when the peer restarts.
    std::uint64_t path_received = 0;
    std::uint64_t path_lost = 0;
    std::uint32_t peer_adapter_states = 0;
    std::uint64_t peer_tx_time_ns = 0;  // on the peer's clock: orders its reports across paths
    bool peer_hears_us = false;         // it echoes a beat we sent on this path recently
    bool leaving = false;
};

// What the disk heartbeat (the non-IP liveness source, DESIGN §5) read of one peer's slot: one
// observation per peer per completed read cycle, on the reader's clock.
struct DiskObservation {
    PeerIndex peer = 0;
    Nanos rx_ns = 0;            // when the read completed
    Nanos last_advance_ns = 0;  // when its sequence was last seen to move (0: never)
    // Its sequence moved within the disk timeout before rx_ns: the peer runs and writes.
    bool alive = false;
    bool leaving = false;  // its slot says LEAVING (a graceful stop)
    std::uint64_t incarnation = 0;
};

// Something the disk heartbeat could not trust or could not do, reported as an event.
enum class DiskProblem : std::uint8_t {
    slot_corrupt,   // a slot failed its CRC or was torn (counted, the slot's data ignored)
    slot_conflict,  // two writers on one slot: a sequence or incarnation we did not write
};

class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void emit(const Event& event) noexcept = 0;
};

class Detector {
public:
    virtual ~Detector() = default;

    // Sizes all state for the topology; the only call that may allocate.
    virtual void attach(const Topology& topology, Nanos now) = 0;

    virtual void on_beat(const BeatObservation& beat) noexcept = 0;
    // The peer came back with a new incarnation; its paths were reset by the engine.
    virtual void on_peer_restart(PeerIndex peer, Nanos rx_ns) noexcept = 0;
    // This node itself did not run for `stalled_ns` (descheduled, stopped, suspended): silence
    // it measured across that gap says nothing about its peers.
    virtual void on_local_stall(Nanos now, Nanos stalled_ns) noexcept = 0;
    // One source of a local adapter's health changed its mind: link state, netmon targets or
    // inbound traffic (`source` is that evidence bit). The adapter is down while any source says
    // so. `since_ns` is when the source's evidence begins: for a failure the last time it saw
    // the adapter working (the link event, the last target reply), for a recovery when it saw
    // it work again. Index as in Topology::local_adapters().
    virtual void on_local_adapter(std::uint32_t local, bool up, std::uint32_t source,
                                  Nanos since_ns) noexcept = 0;

    // The disk heartbeat, when one is configured. on_local_disk(true) at its first completed
    // cycle makes the disk a liveness source; from then on, a peer whose IP paths are all down
    // is NODE_UNREACHABLE until its slot tells death (NODE_DOWN) from partition (PARTITION).
    // on_local_disk(false) (an I/O error, a stalled I/O) takes it away again: `since_ns` is the
    // last completed cycle for a failure, the first new one for a recovery.
    virtual void on_disk_slot(const DiskObservation& slot) noexcept = 0;
    virtual void on_local_disk(bool up, Nanos since_ns) noexcept = 0;
    // `node` is the slot's owner by position; `at_ns` when the read that found it completed.
    virtual void on_disk_problem(DiskProblem problem, NodeId node, Nanos at_ns) noexcept = 0;

    // The local timing of `network` changed (a reload; Topology::timing gives the new one). The
    // engine has re-timed its beats; a detector re-derives what it took from the local timing.
    // Peers' timing reaches it with their beats, so one that takes nothing local ignores this.
    virtual void on_timing_changed(NetworkIndex network) noexcept { static_cast<void>(network); }

    // Makes every decision that is due at `now`, emitting verdicts into the sink.
    virtual void tick(Nanos now, EventSink& sink) noexcept = 0;
    // When tick() next has something to decide, or TimerWheel::never.
    virtual Nanos next_deadline() const noexcept = 0;

    virtual PathState path_state(PathIndex path) const noexcept = 0;
    // Bit i set: local adapter i is considered up.
    virtual std::uint32_t local_adapter_states() const noexcept = 0;
};

}  // namespace hb
