// Where hbd's events go: a fan-out to every consumer (the JSON-lines --events writer, the event
// scripts, the control socket). The engine thread publishes each verdict; the deadman's thread
// publishes its one DEADMAN event while the engine thread is stuck.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hb/event.hh"
#include "hb/model.hh"

namespace hb::hbd {

class EventConsumer {
public:
    virtual ~EventConsumer() = default;
    // On the engine thread, for every event. Must not block.
    virtual void consume(const Event& event) noexcept = 0;
    // On the deadman's thread, at most once per run (DEADMAN), while the engine thread is
    // stalled. The engine may resume at any moment, so a consumer that keeps state for the
    // engine thread alone must hand the event over by other means (a one-slot mailbox).
    virtual void consume_from_watchdog(const Event& event) noexcept = 0;
};

class EventFanout {
public:
    // Before the engine runs; not owned.
    void add(EventConsumer& consumer) { consumers_.push_back(&consumer); }
    void publish(const Event& event) noexcept {
        for (EventConsumer* consumer : consumers_) {
            consumer->consume(event);
        }
    }
    void publish_from_watchdog(const Event& event) noexcept {
        for (EventConsumer* consumer : consumers_) {
            consumer->consume_from_watchdog(event);
        }
    }

private:
    std::vector<EventConsumer*> consumers_;
};

// The --events stream (DESIGN §9): one JSON object per line, each line one write(2), so a reader
// never sees half an event and the deadman's line cannot interleave with the engine's.
class JsonLinesWriter final : public EventConsumer {
public:
    // `fd` is not owned; `cluster` names nodes and networks and must outlive the writer.
    JsonLinesWriter(int fd, const ClusterConfig& cluster) : fd_(fd), cluster_(cluster) {}
    void consume(const Event& event) noexcept override;
    void consume_from_watchdog(const Event& event) noexcept override { consume(event); }
    // Lines that could not be written.
    std::uint64_t lost() const noexcept { return lost_.load(std::memory_order_relaxed); }

private:
    void write_line(std::string_view line) noexcept;

    int fd_;
    const ClusterConfig& cluster_;
    std::atomic<std::uint64_t> lost_{0};
};

}  // namespace hb::hbd
