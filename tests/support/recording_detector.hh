// A Detector that records what its sources tell it and decides nothing: for testing the sources
// of local adapter health (netmon prober, inbound traffic watch) and the disk heartbeat without
// a detector behind them. The vectors are reserved up front so that recording allocates nothing
// inside poll().
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

struct DiskCall {
    bool up = false;
    Nanos since = 0;
    Nanos at = 0;
};

struct ProblemCall {
    DiskProblem problem = DiskProblem::slot_corrupt;
    NodeId node = 0;
    Nanos at = 0;
};

class RecordingDetector final : public Detector {
public:
    RecordingDetector() {
        calls.reserve(256);
        slots.reserve(65536);
        disk_calls.reserve(256);
        problems.reserve(4096);
    }
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
    void on_disk_slot(const DiskObservation& slot) noexcept override {
        if (slots.size() < slots.capacity()) {
            slots.push_back(slot);
        }
    }
    void on_local_disk(bool up, Nanos since) noexcept override {
        if (disk_calls.size() < disk_calls.capacity()) {
            disk_calls.push_back(DiskCall{up, since, monotonic_now()});
        }
    }
    void on_disk_problem(DiskProblem problem, NodeId node, Nanos at) noexcept override {
        if (problems.size() < problems.capacity()) {
            problems.push_back(ProblemCall{problem, node, at});
        }
    }
    void tick(Nanos, EventSink&) noexcept override {}
    Nanos next_deadline() const noexcept override { return 0; }
    PathState path_state(PathIndex) const noexcept override { return PathState::down; }
    std::uint32_t local_adapter_states() const noexcept override { return 0; }

    std::vector<AdapterCall> calls;
    std::vector<DiskObservation> slots;
    std::vector<DiskCall> disk_calls;
    std::vector<ProblemCall> problems;
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
