#include "tools/node/stats_board.hh"

#include <algorithm>
#include <array>

#include "hb/assert.hh"

namespace hb::node {

namespace {

// The words of one publication: a header, then a fixed block per path. Static facts (peer,
// network, adapters) are not published: they are copied from the layout made at start.
constexpr std::size_t header_words = 12;
constexpr std::size_t path_words = 11;

std::uint64_t word(Nanos value) noexcept {
    return static_cast<std::uint64_t>(value);
}

Nanos nanos(std::uint64_t value) noexcept {
    return static_cast<Nanos>(value);
}

PathStats::State state_of(PathState state) noexcept {
    switch (state) {
        case PathState::down:
            return PathStats::State::down;
        case PathState::init:
            return PathStats::State::init;
        case PathState::up:
            return PathStats::State::up;
    }
    return PathStats::State::down;
}

}  // namespace

StatsBoard::StatsBoard(const Topology& topology)
    : staging_(header_words + path_words * topology.paths().size()),
      words_(header_words + path_words * topology.paths().size()) {
    layout_.reserve(topology.paths().size());
    for (const Path& path : topology.paths()) {
        layout_.push_back(PathStats{
            .peer = path.peer_node,
            .network = path.network,
            .local_adapter = topology.local_adapters()[path.local].adapter,
            .peer_adapter = path.peer_adapter,
        });
    }
}

void StatsBoard::publish(const Engine& engine, const policy::NodeDetector& detector,
                         Nanos now) noexcept {
    HB_ASSERT(engine.topology().paths().size() == layout_.size());
    const EngineCounters& counters = engine.counters();
    const std::array<std::uint64_t, header_words> header = {
        ++publications_,         word(now),
        counters.beats_sent,     counters.beats_accepted,
        counters.send_failures,  counters.dropped_total(),
        counters.pings_answered, counters.restarts_seen,
        counters.local_stalls,   counters.events_emitted,
        counters.events_lost,    detector.counters().path_down,
    };
    std::copy(header.begin(), header.end(), staging_.begin());
    for (PathIndex path = 0; path < layout_.size(); ++path) {
        const PathTracker& tracker = engine.tracker(path);
        std::uint64_t* out = staging_.data() + header_words + path_words * path;
        out[0] = static_cast<std::uint64_t>(state_of(engine.path_state(path)));
        out[1] = engine.beats_sent_on(path);
        out[2] = tracker.received();
        out[3] = tracker.lost();
        out[4] = tracker.duplicates();
        out[5] = tracker.reordered();
        out[6] = word(tracker.rtt_last_ns());
        out[7] = word(tracker.rtt_smoothed_ns());
        out[8] = word(tracker.rtt_min_ns());
        out[9] = word(tracker.rtt_max_ns());
        out[10] = word(tracker.last_arrival_ns());
    }
    words_.publish(staging_);
}

bool StatsBoard::read(NodeStats& out) const {
    out.words.resize(words_.size());  // allocates on the first read of `out` only
    out.paths.resize(layout_.size());
    if (!words_.read(out.words)) {
        return false;
    }
    const std::uint64_t* in = out.words.data();
    out.publication = in[0];
    out.published_ns = nanos(in[1]);
    out.engine = EngineStats{
        .beats_sent = in[2],
        .beats_accepted = in[3],
        .send_failures = in[4],
        .dropped = in[5],
        .pings_answered = in[6],
        .restarts_seen = in[7],
        .local_stalls = in[8],
        .events_emitted = in[9],
        .events_lost = in[10],
        .path_expiries = in[11],
    };
    for (std::size_t path = 0; path < layout_.size(); ++path) {
        const std::uint64_t* block = in + header_words + path_words * path;
        PathStats& stats = out.paths[path];
        stats = layout_[path];
        stats.state = static_cast<PathStats::State>(block[0]);
        stats.beats_sent = block[1];
        stats.beats_received = block[2];
        stats.beats_missed = block[3];
        stats.duplicates = block[4];
        stats.reordered = block[5];
        stats.rtt_last_ns = nanos(block[6]);
        stats.rtt_smoothed_ns = nanos(block[7]);
        stats.rtt_min_ns = nanos(block[8]);
        stats.rtt_max_ns = nanos(block[9]);
        stats.last_heard_ns = nanos(block[10]);
    }
    return true;
}

}  // namespace hb::node
