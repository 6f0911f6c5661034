// The statistics snapshot of an embedded node (hb/node.hh): the engine thread publishes every
// path's and the engine's counters into a sequence lock at a bounded rate; any thread reads a
// consistent copy without a lock. Sized from the topology at start, so publishing allocates
// nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "hb/engine.hh"
#include "hb/node.hh"
#include "hb/seqlock.hh"
#include "policy/node_detector.hh"

namespace hb::node {

class StatsBoard {
public:
    explicit StatsBoard(const Topology& topology);
    StatsBoard(const StatsBoard&) = delete;
    StatsBoard& operator=(const StatsBoard&) = delete;

    // Engine thread only.
    void publish(const Engine& engine, const policy::NodeDetector& detector, Nanos now) noexcept;

    // Any thread.
    std::size_t path_count() const noexcept { return layout_.size(); }
    bool read(NodeStats& out) const;

private:
    std::vector<PathStats> layout_;       // what never changes: peer, network, adapters
    std::vector<std::uint64_t> staging_;  // the writer's copy, filled then published
    std::uint64_t publications_ = 0;
    SeqlockWords words_;
};

}  // namespace hb::node
