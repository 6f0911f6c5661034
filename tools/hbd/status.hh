// What hbd shows of its running node: the state `hbctl status` renders (one JSON object) and the
// record of events that the status, `hbctl events` and the metrics read. Everything here runs on
// the engine thread, between two turns of its loop, reading the node's state in place.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hb/engine.hh"
#include "hb/event.hh"
#include "policy/node_detector.hh"
#include "tools/node/node.hh"

namespace hb::diskhb {
class DiskHeartbeat;
}

namespace hb::hbd {

// A count per event kind and the most recent events (a ring sized at construction).
class EventRecord {
public:
    static constexpr std::size_t default_history = 256;
    explicit EventRecord(std::size_t history_capacity = default_history);

    void record(const Event& event) noexcept;
    std::uint64_t count(EventKind kind) const noexcept {
        return counts_[static_cast<std::size_t>(kind)];
    }
    std::uint64_t total() const noexcept { return total_; }
    std::size_t capacity() const noexcept { return history_.size(); }
    // How many events are remembered: min(total, capacity).
    std::size_t remembered() const noexcept;
    // The i-th of the newest `last` remembered events, oldest first (i < min(last, remembered)).
    const Event& recent(std::size_t last, std::size_t i) const noexcept;

private:
    std::array<std::uint64_t, event_kind_count> counts_{};
    std::vector<Event> history_;
    std::uint64_t total_ = 0;
};

// The control socket's own counters, shown in the status and the metrics.
struct ControlCounters {
    std::uint64_t clients = 0;   // connected now
    std::uint64_t accepted = 0;  // connections served since start
    std::uint64_t refused = 0;   // connections closed at once: every client slot was taken
    std::uint64_t requests = 0;
    std::uint64_t bad_requests = 0;
    std::uint64_t subscribers = 0;  // event subscribers now
    std::uint64_t lagged = 0;       // subscribers disconnected for reading too slowly
};

// References into the running node, for rendering. `health` may be empty (a test's node has no
// health plan); `disk` and `control` may be null.
struct NodeView {
    const Engine& engine;
    const policy::NodeDetector& detector;
    std::span<const node::AdapterHealth> health;
    const diskhb::DiskHeartbeat* disk = nullptr;
    const EventRecord& events;
    const ControlCounters* control = nullptr;
    Nanos started_ns = 0;
};

// One path's figures as status and metrics show them.
struct PathFigures {
    PathState state = PathState::down;
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t missed = 0;
    double loss_ratio = 0;      // 0..1
    bool rtt_measured = false;  // a round trip was measured: the two below mean something
    Nanos rtt_last_ns = 0;
    Nanos rtt_avg_ns = 0;          // smoothed (RFC 6298 style)
    Nanos last_heard_ago_ns = -1;  // -1: never heard
    // In effect: raised by adaptive timing, else the network's configured one (which peers
    // advertise).
    std::uint32_t multiplier = 0;
    Nanos timeout_ns = 0;  // in effect
};
PathFigures path_figures(const NodeView& view, PathIndex path, Nanos now) noexcept;

// The whole status as one JSON object (no newline) appended to `out` (docs/operations.md,
// Reading status, describes every field).
void render_status_json(const NodeView& view, Nanos now, std::string& out);

// A generous size for one status, from the topology: control buffers are reserved to it at start.
std::size_t status_size_hint(const Topology& topology) noexcept;

}  // namespace hb::hbd
