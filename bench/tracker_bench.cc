// Path tracker cost per beat (DESIGN §11): PathTracker::record and record_rtt for one beat, with
// the beats of 1 to 4096 peers arriving round-robin, so the trackers' memory is touched as a
// busy node touches it. Arrivals follow a fixed-seed schedule with 1 % loss and 1 % reordering,
// prepared outside the timed region; each run checks that every beat was classified as planned.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/path_tracker.hh"

namespace {

constexpr std::uint64_t seed = 0x6862'7472'6163'0001;
constexpr hb::Nanos interval_ns = 10 * hb::nanos_per_ms;
// The schedule repeats after this many arrivals per tracker (long enough that the branch
// predictor cannot learn it, short enough to be prepared once).
constexpr std::size_t arrivals_per_tracker = 256;

struct Arrival {
    std::uint64_t seq = 0;
    hb::Nanos rtt_ns = 0;
};

// Per tracker: sequence numbers 1, 2, ... with some skipped (lost) and some swapped with their
// successor (reordered), and a round-trip sample with each.
std::vector<Arrival> schedule(std::mt19937_64& rng) {
    std::vector<Arrival> arrivals;
    std::uint64_t seq = 1;
    while (arrivals.size() < arrivals_per_tracker) {
        const std::uint64_t draw = rng() % 100;
        const hb::Nanos rtt_ns = 20'000 + static_cast<hb::Nanos>(rng() % 10'000);
        if (draw == 0) {
            ++seq;  // lost
        } else if (draw == 1 && arrivals.size() + 2 <= arrivals_per_tracker) {
            arrivals.push_back({seq + 1, rtt_ns});  // reordered: the later one arrives first
            arrivals.push_back({seq, rtt_ns});
            seq += 2;
            continue;
        }
        arrivals.push_back({seq++, rtt_ns});
    }
    return arrivals;
}

void bm_tracker_record(benchmark::State& state) {
    const auto peer_count = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(seed);
    const std::vector<Arrival> arrivals = schedule(rng);
    std::vector<hb::PathTracker> trackers(peer_count);
    // Sequence numbers grow by one schedule length per pass, so later passes stay fresh.
    std::uint64_t pass_offset = 0;
    std::size_t index = 0;
    std::size_t peer = 0;
    hb::Nanos now = hb::nanos_per_s;
    std::uint64_t fresh = 0;
    std::uint64_t reordered = 0;
    for (auto _ : state) {
        const Arrival& arrival = arrivals[index];
        hb::PathTracker& tracker = trackers[peer];
        const hb::PathTracker::Arrival kind = tracker.record(arrival.seq + pass_offset, now);
        tracker.record_rtt(arrival.rtt_ns);
        fresh += kind == hb::PathTracker::Arrival::fresh ? 1 : 0;
        reordered += kind == hb::PathTracker::Arrival::reordered ? 1 : 0;
        if (++peer == peer_count) {
            peer = 0;
            now += interval_ns;
            if (++index == arrivals.size()) {
                index = 0;
                pass_offset += arrivals.back().seq + arrivals.size();
            }
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (fresh + reordered != static_cast<std::uint64_t>(state.iterations())) {
        const std::string error = "only " + std::to_string(fresh + reordered) + " of " +
                                  std::to_string(state.iterations()) + " beats were heard";
        state.SkipWithError(error.c_str());
    }
    state.counters["reordered"] = static_cast<double>(reordered);
}

BENCHMARK(bm_tracker_record)->ArgName("peers")->RangeMultiplier(4)->Range(1, 4096);

}  // namespace
