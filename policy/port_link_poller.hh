// Link state read from the transports themselves (DESIGN §6 rule 1 for ports the kernel does not
// drive: a DPDK port's rte_eth_link_get_nowait), polled on a schedule and passed to the detector
// as evidence::link, like the rtnetlink link poller does for kernel interfaces.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hb/detector.hh"
#include "hb/runner.hh"
#include "hb/transport.hh"

namespace hb::policy {

// A local adapter whose transport reports its link (Transport::link_state()).
struct PortLinkAdapter {
    std::uint32_t local = 0;  // index in Topology::local_adapters()
    const Transport* transport = nullptr;
};

struct PortLinkCounters {
    std::uint64_t reads = 0;    // link_state() calls
    std::uint64_t changes = 0;  // up <-> down transitions reported
    std::uint64_t unknown = 0;  // reads that could not tell (the last known state is kept)
};

class PortLinkPoller final : public Poller {
public:
    // Reads every adapter's link now and reports the state of those that can tell (up or down),
    // then polls every `period_ns`. Call after the engine has started (the detector is attached).
    static std::unique_ptr<PortLinkPoller> open(std::vector<PortLinkAdapter> adapters,
                                                Detector& detector, Nanos period_ns, Nanos now);

    // Nothing to wait on: the run loop polls, and poll() reads only when the period is due.
    int wait_fd() const noexcept override { return -1; }
    bool poll(Nanos now) noexcept override;

    // The last state read that could tell, per adapter in open()'s order (unknown until one).
    LinkState state(std::size_t index) const noexcept { return states_[index].state; }
    Nanos period_ns() const noexcept { return period_ns_; }
    const PortLinkCounters& counters() const noexcept { return counters_; }

private:
    struct AdapterState {
        PortLinkAdapter adapter;
        LinkState state = LinkState::unknown;
        Nanos last_up_ns = 0;  // the last read that found the link up
    };
    PortLinkPoller(std::vector<PortLinkAdapter> adapters, Detector& detector, Nanos period_ns);
    bool read(AdapterState& adapter, Nanos now) noexcept;

    std::vector<AdapterState> states_;
    Detector& detector_;
    Nanos period_ns_;
    Nanos next_read_ns_ = 0;
    PortLinkCounters counters_;
};

}  // namespace hb::policy
