// The poll_uplink-style check wired to the detector: link state changes of the local adapters'
// interfaces, from rtnetlink, become on_local_adapter() calls on the engine thread. When an
// interface comes back up, its peers' neighbour entries are forgotten so that beats to them
// resolve at once (docs/linkwatch.md).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "hb/detector.hh"
#include "hb/runner.hh"
#include "policy/link_watch.hh"
#include "policy/neighbour_flush.hh"

namespace hb::policy {

class LinkPoller final : public Poller {
public:
    // Watches every local adapter's interface and reports the ones not up right away. Adapters on
    // a network with link_state = "ignore" are watched but never reported: their carrier says
    // nothing there; nor are DPDK adapters (their port reports its link: PortLinkPoller). Call
    // after the engine has started (the detector must be attached).
    static std::variant<std::unique_ptr<LinkPoller>, std::string> open(const Topology& topology,
                                                                       Detector& detector,
                                                                       Nanos now);

    int wait_fd() const noexcept override { return watch_->fd(); }
    bool poll(Nanos now) noexcept override;
    const LinkWatch& watch() const noexcept { return *watch_; }
    // The interface of local adapter `local` as the kernel last described it.
    const LinkStatus& status_of(std::uint32_t local) const noexcept {
        return watch_->status(name_of_local_[local]);
    }
    // Whether this poller passes local adapter `local`'s link state to the detector.
    bool reports(std::uint32_t local) const noexcept { return reported_[local]; }
    const NeighbourFlushCounters& neighbour_counters() const noexcept {
        return neighbours_->counters();
    }

private:
    LinkPoller(std::unique_ptr<LinkWatch> watch, std::unique_ptr<NeighbourFlush> neighbours,
               Detector& detector, std::vector<std::vector<std::uint32_t>> locals_by_name,
               std::vector<std::uint32_t> name_of_local, std::vector<bool> reported,
               std::vector<std::vector<Ipv4>> peers_by_name);
    void report(std::uint32_t name, LinkState state, Nanos now) noexcept;

    std::unique_ptr<LinkWatch> watch_;
    Detector& detector_;
    std::vector<std::vector<std::uint32_t>> locals_by_name_;  // watched name -> reported locals
    std::vector<std::uint32_t> name_of_local_;                // local adapter -> watched name
    std::vector<bool> reported_;                              // per local adapter
    std::unique_ptr<NeighbourFlush> neighbours_;
    std::vector<std::vector<Ipv4>> peers_by_name_;  // watched name -> peer addresses behind it
    std::array<LinkChange, 32> changes_{};
};

}  // namespace hb::policy
