// The poll_uplink-style check wired to the detector: link state changes of the local adapters'
// interfaces, from rtnetlink, become on_local_adapter() calls on the engine thread.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "hb/detector.hh"
#include "hb/runner.hh"
#include "policy/link_watch.hh"

namespace hb::policy {

class LinkPoller final : public Poller {
public:
    // Watches every local adapter's interface and reports the ones not up right away. Call after
    // the engine has started (the detector must be attached).
    static std::variant<std::unique_ptr<LinkPoller>, std::string> open(const Topology& topology,
                                                                       Detector& detector,
                                                                       Nanos now);

    int wait_fd() const noexcept override { return watch_->fd(); }
    bool poll(Nanos now) noexcept override;
    const LinkWatch& watch() const noexcept { return *watch_; }

private:
    LinkPoller(std::unique_ptr<LinkWatch> watch, Detector& detector,
               std::vector<std::vector<std::uint32_t>> locals_by_name);
    void report(std::uint32_t name, LinkState state, Nanos now) noexcept;

    std::unique_ptr<LinkWatch> watch_;
    Detector& detector_;
    std::vector<std::vector<std::uint32_t>> locals_by_name_;  // watched name -> local adapters
    std::array<LinkChange, 32> changes_{};
};

}  // namespace hb::policy
