// Opens and feeds hbd's control socket and metrics endpoint.
#include "tools/hbd/services.hh"

#include <fmt/format.h>

namespace hb::hbd {

Services::Services(const node::Node& node, Nanos started_ns)
    : node_(node),
      view_{.engine = node.engine(),
            .detector = node.detector(),
            .health = node.adapter_health(),
            .disk = node.disk(),
            .events = events_,
            .started_ns = started_ns} {}

std::string Services::open(std::vector<std::string>& log) {
    const node::NodeSettings& settings = node_.settings();
    const std::filesystem::path socket = node::control_socket(settings);
    auto control = ControlServer::open(socket, view_);
    if (auto* error = std::get_if<std::string>(&control)) {
        if (!settings.control.socket.empty()) {
            return *error + " ([control] socket)";
        }
        log.push_back("warning: " + *error + "; running without a control socket (hbctl cannot " +
                      "reach this node; set [control] socket to a path hbd may create)");
    } else {
        control_ = std::move(std::get<std::unique_ptr<ControlServer>>(control));
        pollers_.push_back(control_.get());
        view_.control = &control_->counters();
        log.push_back("control socket " + socket.native());
    }
    if (settings.metrics.enabled) {
        auto metrics = MetricsServer::open(settings.metrics.address, settings.metrics.port, view_);
        if (auto* error = std::get_if<std::string>(&metrics)) {
            return *error + " ([metrics] listen)";
        }
        metrics_ = std::move(std::get<std::unique_ptr<MetricsServer>>(metrics));
        pollers_.push_back(metrics_.get());
        log.push_back(fmt::format("metrics on http://{}:{}/metrics",
                                  settings.metrics.address.to_string(), metrics_->port()));
    }
    return {};
}

void Services::on_event(const Event& event, std::string_view line) noexcept {
    events_.record(event);
    if (control_) {
        control_->publish(line);
    }
}

void Services::consume(const Event& event) noexcept {
    on_event(event, event_to_json(event, node_.settings().cluster));
}

void Services::consume_from_watchdog(const Event& event) noexcept {
    watchdog_event_ = event;
    watchdog_event_pending_.store(true, std::memory_order_release);
}

void Services::deliver_from_watchdog() noexcept {
    if (watchdog_event_pending_.exchange(false, std::memory_order_acquire)) {
        consume(watchdog_event_);
    }
}

}  // namespace hb::hbd
