// What hbd serves besides its event file: the record of events, the control socket (hbctl) and
// the Prometheus endpoint. One object for main(): opened after the node started, polled on the
// engine thread, told of every event as it is drained.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hb/runner.hh"
#include "tools/hbd/control.hh"
#include "tools/hbd/event_sinks.hh"
#include "tools/hbd/metrics.hh"
#include "tools/hbd/status.hh"
#include "tools/node/node.hh"

namespace hb::hbd {

class Services final : public EventConsumer {
public:
    // `started_ns`: when hbd started the node (the status's uptime counts from it).
    Services(const node::Node& node, Nanos started_ns);

    // Opens the control socket and, with [metrics], the metrics endpoint. Returns "" or why one
    // that was asked for cannot be served (a configuration problem: hbd exits 2). The default
    // control socket is best effort: when it cannot be made, `log` says why and hbd runs on
    // without it. `log` also gets one line per service opened.
    [[nodiscard]] std::string open(std::vector<std::string>& log);

    // Every event as it is drained, with its `hbd --events` line (no newline).
    void on_event(const Event& event, std::string_view line) noexcept;
    // EventConsumer: the engine thread's events go to on_event(); the deadman's DEADMAN, which
    // arrives on its thread while the engine thread is stuck, waits in a one-slot mailbox until
    // the engine thread calls deliver_from_watchdog() (the sockets are the engine thread's).
    void consume(const Event& event) noexcept override;
    void consume_from_watchdog(const Event& event) noexcept override;
    void deliver_from_watchdog() noexcept;

    std::span<Poller* const> pollers() const noexcept { return pollers_; }
    const ControlServer* control() const noexcept { return control_.get(); }
    const MetricsServer* metrics() const noexcept { return metrics_.get(); }

private:
    const node::Node& node_;
    EventRecord events_;
    NodeView view_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_;
    std::vector<Poller*> pollers_;
    Event watchdog_event_{};
    std::atomic<bool> watchdog_event_pending_{false};
};

}  // namespace hb::hbd
