// The inbound-traffic check (DESIGN §6, local adapter health rule 3): an adapter with neither
// usable link state nor netmon targets is down when its interface received nothing for the
// detection window. The judging (InboundJudge) is apart from the reading (TrafficWatch, rtnetlink).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "hb/deadline_timer.hh"
#include "hb/detector.hh"
#include "hb/model.hh"
#include "hb/runner.hh"

struct mnl_socket;

namespace hb::policy {

// Rule 3's decision for one adapter from a series of readings of its interface's rx_packets,
// with the times injected: no clock, no sockets. Decides only when given a reading, so that a
// node that did not run never blames the interface for the gap: packets that arrived meanwhile
// show in the next reading.
class InboundJudge {
public:
    enum class Verdict : std::uint8_t { none, went_down, came_up };
    static constexpr Nanos never = std::numeric_limits<Nanos>::max();

    // Up, and the window counted from `start_ns` as if the counter had just moved.
    InboundJudge(Nanos window_ns, Nanos start_ns) noexcept;

    // The interface `ifindex` (> 0) has received `rx_packets` packets so far. The counter moved
    // when the same interface shows more than at the last reading. A lower value means the counter
    // was reset (a 32-bit counter wrapped, a driver cleared its statistics): what it shows now
    // arrived since, so a non-zero value is movement too. Another ifindex under the name is a new
    // device, a new baseline and no movement yet.
    [[nodiscard]] Verdict observe(int ifindex, std::uint64_t rx_packets, Nanos now) noexcept;
    // The interface does not exist: nothing arrived. The next reading starts a new baseline.
    [[nodiscard]] Verdict absent(Nanos now) noexcept;

    [[nodiscard]] bool up() const noexcept { return up_; }
    // The start, or the last reading that showed the counter move: a down verdict's since_ns.
    [[nodiscard]] Nanos last_moved_ns() const noexcept { return last_moved_ns_; }
    // When a reading without movement makes the adapter down; `never` while it is down.
    [[nodiscard]] Nanos down_at_ns() const noexcept {
        return up_ ? last_moved_ns_ + window_ns_ : never;
    }
    [[nodiscard]] Nanos window_ns() const noexcept { return window_ns_; }
    [[nodiscard]] std::uint64_t rx_packets() const noexcept { return rx_packets_; }
    [[nodiscard]] int ifindex() const noexcept { return ifindex_; }  // 0: no baseline
    [[nodiscard]] std::uint64_t resets() const noexcept { return resets_; }

private:
    Verdict judge(bool moved, Nanos now) noexcept;

    Nanos window_ns_;
    Nanos last_moved_ns_;
    Nanos last_reading_ns_;
    std::uint64_t rx_packets_ = 0;
    int ifindex_ = 0;
    bool up_ = true;
    std::uint64_t resets_ = 0;
};

// One local adapter whose interface counters are watched.
struct TrafficAdapter {
    std::uint32_t local = 0;  // index in Topology::local_adapters(), as the detector counts
    std::string ifname;
    // Read every interval_ns; down after interval_ns × multiplier without inbound packets.
    Timing timing{};
};

struct TrafficCounters {
    std::uint64_t reads = 0;           // readings of an existing interface's counters
    std::uint64_t absent = 0;          // readings that found no interface of that name
    std::uint64_t read_errors = 0;     // netlink failures: send, receive, error or bad replies
    std::uint64_t counter_resets = 0;  // a counter went back, or a new device took the name
    std::uint64_t went_down = 0;
    std::uint64_t came_up = 0;
};

// Reads rx_packets (IFLA_STATS64, IFLA_STATS on kernels without it) of each adapter's interface
// once per interval of its network with a non-dump RTM_GETLINK by name, in the process's network
// namespace, and reports InboundJudge's verdicts to the detector as evidence::inbound: its own
// transitions only, a failure with since_ns the last time it saw the counter move. A read that
// fails is counted and judges nothing; an interface that is gone is silence.
class TrafficWatch final : public Poller {
public:
    // Opens a NETLINK_ROUTE socket and a timerfd and takes the first reading of every adapter at
    // `now`. Call after the engine has started (the detector must be attached). Every adapter
    // starts up; none is reported down before one whole window has passed.
    [[nodiscard]] static std::variant<std::unique_ptr<TrafficWatch>, std::string> open(
        std::vector<TrafficAdapter> adapters, Detector& detector, Nanos now);
    ~TrafficWatch() override;
    TrafficWatch(const TrafficWatch&) = delete;
    TrafficWatch& operator=(const TrafficWatch&) = delete;

    // The timerfd: readable when a reading or a window's end is due.
    int wait_fd() const noexcept override { return timer_.fd(); }
    // Takes the readings that are due (one per adapter at most), reports transitions and re-arms
    // the timer. Allocates nothing.
    bool poll(Nanos now) noexcept override;

    [[nodiscard]] std::size_t size() const noexcept { return adapters_.size(); }
    [[nodiscard]] const TrafficAdapter& adapter(std::size_t i) const noexcept {
        return adapters_[i].config;
    }
    [[nodiscard]] const InboundJudge& judge(std::size_t i) const noexcept {
        return adapters_[i].judge;
    }
    [[nodiscard]] bool up(std::size_t i) const noexcept { return adapters_[i].judge.up(); }
    [[nodiscard]] TrafficCounters counters() const noexcept;
    // errno of the last failed read (EPROTO for a reply it could not use), 0 if none failed.
    [[nodiscard]] int last_error() const noexcept { return last_error_; }

    // Netlink datagram buffer: one link with its statistics is a few KiB.
    static constexpr std::size_t buffer_size = 32768;

private:
    struct State {
        TrafficAdapter config;
        InboundJudge judge;
        Nanos cadence_ns = 0;    // the last reading's slot in the once-per-interval cadence
        Nanos next_read_ns = 0;  // the next reading: the cadence's, or the window's end
    };
    enum class Outcome : std::uint8_t { read, absent, failed };
    struct Reading {
        Outcome outcome = Outcome::failed;
        int ifindex = 0;
        std::uint64_t rx_packets = 0;
    };

    explicit TrafficWatch(Detector& detector);
    [[nodiscard]] Reading read(const State& state) noexcept;
    [[nodiscard]] Reading parse_reply(std::size_t length, std::uint32_t seq,
                                      bool& answered) noexcept;
    void take_reading(State& state, Nanos now) noexcept;
    void arm_timer() noexcept;
    void fail(int error) noexcept;

    Detector& detector_;
    std::vector<State> adapters_;
    mnl_socket* socket_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t seq_ = 0;
    std::unique_ptr<char[]> buffer_;
    DeadlineTimer timer_;
    int last_error_ = 0;
    TrafficCounters counters_;
};

}  // namespace hb::policy
