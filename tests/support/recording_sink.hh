// An EventSink that keeps every event, with the questions detector tests ask of them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hb/detector.hh"

namespace hb::test {

struct RecordingSink final : EventSink {
    std::vector<Event> events;

    void emit(const Event& event) noexcept override { events.push_back(event); }

    std::size_t count(EventKind kind) const {
        std::size_t n = 0;
        for (const Event& e : events) {
            n += e.kind == kind ? 1 : 0;
        }
        return n;
    }
    std::size_t count(EventKind kind, NodeId node) const {
        std::size_t n = 0;
        for (const Event& e : events) {
            n += e.kind == kind && e.node == node ? 1 : 0;
        }
        return n;
    }
    // The events about one node, in order.
    std::vector<Event> about(NodeId node) const {
        std::vector<Event> out;
        for (const Event& e : events) {
            if (e.node == node) {
                out.push_back(e);
            }
        }
        return out;
    }
    // "NODE_DOWN(2) at 31 ms; ...", times counted from `origin`.
    std::string describe(Nanos origin) const {
        std::string out;
        for (const Event& e : events) {
            out += std::string(event_name(e.kind)) + "(" + std::to_string(e.node) + ") at " +
                   std::to_string((e.t_ns - origin) / nanos_per_ms) + " ms; ";
        }
        return out.empty() ? "no events" : out;
    }
};

}  // namespace hb::test
