// What the simulation suites share: the timing they run at, and the comparison of the events a
// node reported with the ground truth of its fault schedule.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hb/event.hh"

namespace hb::sim {

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
constexpr Nanos step_ns = 500 * nanos_per_us;

// What every fault schedule has: the cluster's shape, one fault (an enum `Fault` whose values
// index a table of names) and where it strikes.
template <typename Fault>
struct Schedule {
    std::uint64_t seed = 0;
    std::uint32_t nodes = 3;
    std::uint32_t networks = 1;
    NetworkMode mode = NetworkMode::unicast;
    Nanos jitter_ns = 0;
    Fault fault{};
    NodeId victim = 0;
    NetworkIndex network = 0;

    // "seed 7: 3 nodes, 2 network(s) unicast, jitter 404 us, <extra>fault crash victim 2
    // network 1", for a failure's replay line.
    std::string describe(const char* const* fault_names, const std::string& extra) const {
        std::ostringstream out;
        out << "seed " << seed << ": " << nodes << " nodes, " << networks << " network(s) "
            << (mode == NetworkMode::multicast ? "multicast" : "unicast") << ", jitter "
            << jitter_ns / 1000 << " us, " << extra << "fault "
            << fault_names[static_cast<int>(fault)] << " victim " << victim << " network "
            << network;
        return out.str();
    }
};

struct Expected {
    EventKind kind;
    NodeId node;           // 0: about no node
    std::int32_t network;  // no_network: any
};

// "" when `got` holds exactly the `expected` events, compared as multisets (order matters only
// where a story has one, and the caller checks that); else a line saying what each side held.
inline std::string compare_events(NodeId id, const std::vector<Event>& got,
                                  const std::vector<Expected>& expected) {
    std::vector<bool> used(got.size(), false);
    bool match = got.size() == expected.size();
    for (std::size_t i = 0; match && i < expected.size(); ++i) {
        bool found = false;
        for (std::size_t j = 0; !found && j < got.size(); ++j) {
            const bool node_ok =
                expected[i].node == 0 ? got[j].node == 0 : got[j].node == expected[i].node;
            const bool network_ok =
                expected[i].network == no_network || got[j].network == expected[i].network;
            if (!used[j] && got[j].kind == expected[i].kind && node_ok && network_ok) {
                used[j] = true;
                found = true;
            }
        }
        match = found;
    }
    if (match) {
        return {};
    }
    std::ostringstream problem;
    problem << "node " << id << " expected [";
    for (const Expected& e : expected) {
        problem << event_name(e.kind) << "(" << e.node << ") ";
    }
    problem << "] got [";
    for (const Event& e : got) {
        problem << event_name(e.kind) << "(" << e.node << ",net " << e.network << ") ";
    }
    problem << "]; ";
    return problem.str();
}

// Runs seeds `first`.. (`count` of them; `<prefix>_SEED=N` replays one, `<prefix>_SEEDS=N` and
// `<prefix>_FIRST=N` choose a range) through `draw(seed)` -> scenario and `run(scenario)` -> ""
// or what went wrong; prints the mix of faults; returns how many seeds failed (each reported
// with its replay line, the first ten).
template <typename Draw, typename Run>
std::uint64_t run_seeds(const std::string& prefix, std::uint64_t count, Draw draw, Run run) {
    std::uint64_t first = 1;
    const auto env = [&](const char* suffix) { return std::getenv((prefix + suffix).c_str()); };
    if (const char* one = env("_SEED")) {
        first = std::strtoull(one, nullptr, 10);
        count = 1;
    } else if (const char* many = env("_SEEDS")) {
        count = std::strtoull(many, nullptr, 10);
    }
    if (const char* from = env("_FIRST")) {
        first = std::strtoull(from, nullptr, 10);
    }
    std::map<std::string, std::uint64_t> per_fault;
    std::uint64_t failures = 0;
    for (std::uint64_t seed = first; seed < first + count; ++seed) {
        const auto scenario = draw(seed);
        ++per_fault[scenario.fault_name()];
        const std::string problem = run(scenario);
        if (!problem.empty()) {
            ++failures;
            ADD_FAILURE() << scenario.describe() << "\n  " << problem << "\n  replay: " << prefix
                          << "_SEED=" << seed;
            if (failures >= 10) {
                break;
            }
        }
    }
    std::ostringstream mix;
    for (const auto& [fault, runs] : per_fault) {
        mix << fault << "=" << runs << " ";
    }
    std::printf("%llu seeds from %llu, %llu misclassified; faults: %s\n",
                static_cast<unsigned long long>(count), static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(failures), mix.str().c_str());
    return failures;
}

}  // namespace hb::sim
