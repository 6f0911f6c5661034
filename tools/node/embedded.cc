// hb::Node (hb/node.hh): the embedding API over the composition root, so that an application's
// node is assembled, started and stopped exactly as hbd's.
#include <utility>

#include "hb/assert.hh"
#include "hb/node.hh"
#include "hb/runner.hh"
#include "tools/node/node.hh"
#include "tools/node/stats_board.hh"

namespace hb {

struct Node::Loop {
    explicit Loop(node::Node& node) : runner(node.engine(), node.pollers()) {}
    SingleThreadRunner runner;
};

Node::Created Node::from_config(node::ConfigResult result, const std::filesystem::path& source,
                                NodeOptions options) {
    if (!result.errors.empty()) {
        std::string message = node::format_errors(source, result.errors);
        while (!message.empty() && message.back() == '\n') {
            message.pop_back();
        }
        return message;
    }
    HB_ASSERT(result.settings.has_value());
    auto created = node::Node::create(std::move(*result.settings));
    if (auto* error = std::get_if<std::string>(&created)) {
        return std::move(*error);
    }
    return std::unique_ptr<Node>(new Node(std::move(std::get<std::unique_ptr<node::Node>>(created)),
                                          std::move(result.warnings), options));
}

Node::Created Node::from_file(const std::filesystem::path& file, NodeOptions options) {
    return from_config(node::load_config(file), file, options);
}

Node::Created Node::from_string(std::string_view toml, const std::filesystem::path& base_dir,
                                NodeOptions options) {
    // Errors name the text as "<config>": it has no file.
    return from_config(node::parse_config(toml, base_dir), "<config>", options);
}

Node::Created Node::create(node::NodeSettings settings, NodeOptions options) {
    return from_config(node::ConfigResult{.settings = std::move(settings)}, {}, options);
}

Node::Node(std::unique_ptr<node::Node> node, std::vector<std::string> warnings, NodeOptions options)
    : node_(std::move(node)),
      stats_(std::make_unique<node::StatsBoard>(node_->engine().topology())),
      warnings_(std::move(warnings)),
      options_(options) {
    HB_ASSERT(options_.stats_period_ns >= 0);
}

Node::~Node() {
    loop_.reset();  // the runner refers to the node's engine and pollers
}

const ClusterConfig& Node::cluster() const noexcept {
    return node_->settings().cluster;
}

std::uint32_t Node::incarnation() const noexcept {
    return node_->engine().incarnation();
}

std::string_view Node::node_name(NodeId node) const noexcept {
    const NodeConfig* config = cluster().find_node(node);
    return config == nullptr ? std::string_view{} : std::string_view{config->name};
}

std::string_view Node::network_name(std::int32_t network) const noexcept {
    const auto& networks = cluster().networks;
    if (network < 0 || static_cast<std::size_t>(network) >= networks.size()) {
        return {};
    }
    return networks[static_cast<std::size_t>(network)].name;
}

std::string_view Node::adapter_name(NodeId node, std::int32_t adapter) const noexcept {
    const NodeConfig* config = cluster().find_node(node == 0 ? cluster().local_node : node);
    if (config == nullptr || adapter < 0 ||
        static_cast<std::size_t>(adapter) >= config->adapters.size()) {
        return {};
    }
    return config->adapters[static_cast<std::size_t>(adapter)].ifname;
}

std::string Node::event_json(const Event& event) const {
    return event_to_json(event, cluster());
}

std::vector<std::string> Node::apply_process_settings() const {
    return node::apply_process_settings(node_->settings().process);
}

std::string Node::start() {
    if (started_) {
        return "the node was already started";
    }
    if (!start_error_.empty()) {
        // Its engine may have started before the part that failed: create the node again.
        return "the node failed to start before (" + start_error_ + ")";
    }
    const Nanos now = monotonic_now();
    if (std::string error = node_->start(now); !error.empty()) {
        start_error_ = error;
        return error;
    }
    started_ = true;
    loop_ = std::make_unique<Loop>(*node_);
    stats_->publish(node_->engine(), node_->detector(), now);
    next_publish_ns_ = now + options_.stats_period_ns;
    return {};
}

void Node::publish_stats_if_due(Nanos now) {
    if (now < next_publish_ns_) {
        return;
    }
    stats_->publish(node_->engine(), node_->detector(), now);
    // From now, not from the missed due time: a late poll publishes once, not in a burst.
    next_publish_ns_ = now + options_.stats_period_ns;
}

bool Node::poll(Nanos max_sleep_ns) {
    HB_ASSERT(started_ && !stopped_);
    const bool did_work = loop_->runner.step(max_sleep_ns);
    publish_stats_if_due(monotonic_now());
    return did_work;
}

bool Node::next_event(Event& out) noexcept {
    return node_->engine().next_event(out);
}

void Node::run(const std::function<void(const Event&)>& on_event) {
    HB_ASSERT(started_ && !stopped_);
    Engine& engine = node_->engine();
    node_->run(stop_requested_, [&] {
        if (on_event) {
            Event event;
            while (engine.next_event(event)) {
                on_event(event);
            }
        }
        publish_stats_if_due(monotonic_now());
    });
    stop_requested_.store(false, std::memory_order_relaxed);  // run() may be called again
}

void Node::request_stop() noexcept {
    stop_requested_.store(true, std::memory_order_relaxed);
}

void Node::stop() {
    HB_ASSERT(started_);
    if (stopped_) {
        return;
    }
    const Nanos now = monotonic_now();
    node_->leave(now);
    stopped_ = true;
    stats_->publish(node_->engine(), node_->detector(), monotonic_now());
}

std::size_t Node::path_count() const noexcept {
    return stats_->path_count();
}

bool Node::read_stats(NodeStats& out) const {
    return stats_->read(out);
}

}  // namespace hb
