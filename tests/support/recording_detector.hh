// A Detector that records on_local_adapter() calls and nothing else: for testing the sources of
// local adapter health (netmon prober, inbound traffic watch) without a detector behind them.
// The calls vector is reserved up front so that recording allocates nothing inside poll().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/detector.hh"

namespace hb::test {

struct AdapterCall {
    std::uint32_t local = 0;
    bool up = false;
    std::uint32_t evidence = 0;
    Nanos since = 0;  // when the evidence began, as the source says
    Nanos at = 0;     // when the call was made
};

class RecordingDetector final : public Detector {
public:
    RecordingDetector() { calls.reserve(256); }
    void attach(const Topology&, Nanos) override {}
    void on_beat(const BeatObservation&) noexcept override {}
    void on_peer_restart(PeerIndex, Nanos) noexcept override {}
    void on_local_stall(Nanos, Nanos) noexcept override {}
    void on_local_adapter(std::uint32_t local, bool up, std::uint32_t evidence,
                          Nanos since) noexcept override {
        if (calls.size() < calls.capacity()) {
            calls.push_back(AdapterCall{local, up, evidence, since, monotonic_now()});
        }
    }
    void tick(Nanos, EventSink&) noexcept override {}
    Nanos next_deadline() const noexcept override { return 0; }
    PathState path_state(PathIndex) const noexcept override { return PathState::down; }
    std::uint32_t local_adapter_states() const noexcept override { return 0; }

    std::vector<AdapterCall> calls;
};

inline std::string describe(const std::vector<AdapterCall>& calls) {
    std::string out;
    for (const AdapterCall& call : calls) {
        out += "local " + std::to_string(call.local) + (call.up ? " up" : " down") + " evidence " +
               std::to_string(call.evidence) + " since " +
               std::to_string(call.since / nanos_per_ms) + " at " +
               std::to_string(call.at / nanos_per_ms) + " ms; ";
    }
    return out.empty() ? "no calls" : out;
}

}  // namespace hb::test
