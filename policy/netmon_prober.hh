// netmon.cf probing (DESIGN §6, local adapter health rule 2): ICMP echo to each adapter's targets
// over raw sockets, and on_local_adapter() calls when an adapter's targets all fall silent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "hb/deadline_timer.hh"
#include "hb/detector.hh"
#include "hb/model.hh"
#include "hb/runner.hh"

namespace hb::policy {

// One local adapter to probe from.
struct NetmonAdapter {
    std::uint32_t local = 0;  // index in Topology::local_adapters(), as the detector counts
    std::string ifname;
    Ipv4 address{};
    // Probes go out every interval_ns; the adapter is netmon-down when no target answered a probe
    // for interval_ns × multiplier (the netmon window: the same bound as a path's expiry).
    Timing timing{};
    std::vector<Ipv4> targets;  // 1..netmon_max_targets_per_owner
};

// The adapters of the local node that have targets, with their network's timing. `targets` is
// indexed like the local node's adapter list (what config and targets_per_adapter give).
[[nodiscard]] std::vector<NetmonAdapter> netmon_adapters(
    const Topology& topology, std::span<const std::vector<Ipv4>> targets);

struct NetmonCounters {
    std::uint64_t probes_sent = 0;
    std::uint64_t send_errors = 0;  // sendto failed (link down, no route, buffer full)
    std::uint64_t replies = 0;      // echo replies from a target with our identifier
    std::uint64_t rejected = 0;     // ICMP that was not ours: other identifier, source, type
    std::uint64_t malformed = 0;    // too short or a bad checksum
    std::uint64_t went_down = 0;
    std::uint64_t came_up = 0;
};

class NetmonProber final : public Poller {
public:
    // Opens one raw ICMP socket per adapter (bound to its device and address), a timerfd and an
    // epoll set over them, and sends the first probes at `now`. Needs CAP_NET_RAW. Call after the
    // engine has started (the detector must be attached). Every adapter starts as netmon-up; none
    // is reported down before one whole window has passed.
    static std::variant<std::unique_ptr<NetmonProber>, std::string> open(
        std::vector<NetmonAdapter> adapters, Detector& detector, Nanos now);
    ~NetmonProber() override;
    NetmonProber(const NetmonProber&) = delete;
    NetmonProber& operator=(const NetmonProber&) = delete;

    // Readable when a reply arrived or a probe or window deadline is due.
    int wait_fd() const noexcept override { return epoll_fd_; }
    // Reads at most one burst of replies per adapter, sends the probes that are due, reports
    // adapters whose window ran out, and re-arms the timer. Allocates nothing.
    bool poll(Nanos now) noexcept override;

    std::size_t size() const noexcept { return adapters_.size(); }
    const NetmonAdapter& adapter(std::size_t i) const noexcept { return adapters_[i].config; }
    // What this prober last reported (or assumed at start) for adapter i.
    bool up(std::size_t i) const noexcept { return adapters_[i].up; }
    std::uint16_t identifier(std::size_t i) const noexcept { return adapters_[i].identifier; }
    Nanos last_reply_ns(std::size_t i) const noexcept { return adapters_[i].last_reply_ns; }
    const NetmonCounters& counters() const noexcept { return counters_; }

private:
    struct State {
        NetmonAdapter config;
        int fd = -1;
        std::uint16_t identifier = 0;
        std::uint16_t sequence = 0;
        Nanos next_probe_ns = 0;
        Nanos last_reply_ns = 0;  // open() time until the first reply
        // First probe round sent after the last reply; the window is counted from it, so a node
        // that did not run (and so sent nothing) never blames its targets for the gap.
        Nanos first_unanswered_ns = 0;
        bool unanswered = false;
        bool up = true;
    };

    NetmonProber(Detector& detector, std::size_t adapter_count);
    bool receive(State& state, Nanos now) noexcept;
    void send_probes(State& state, Nanos now) noexcept;
    void judge(State& state, Nanos now) noexcept;
    void arm_timer() noexcept;

    Detector& detector_;
    std::vector<State> adapters_;
    int epoll_fd_ = -1;
    DeadlineTimer timer_;
    NetmonCounters counters_;
};

}  // namespace hb::policy
