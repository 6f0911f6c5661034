// The Prometheus exposition of a running node and the tiny HTTP server that serves it.
#include "tools/hbd/metrics.hh"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <optional>

#include "build_config.hh"
#include "hb/assert.hh"
#if HB_HAVE_LIBURING
#include "diskhb/disk_heartbeat.hh"
#endif

namespace hb::hbd {

namespace {

using Out = std::back_insert_iterator<std::string>;

constexpr Nanos metrics_idle_timeout_ns = 10 * nanos_per_s;
constexpr std::size_t min_output_bytes = 64 * 1024;
constexpr int listen_backlog = 16;

// A label value with the exposition format's escapes (backslash, quote, newline).
void append_label_value(std::string& out, std::string_view value) {
    out += '"';
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += '"';
}

class Exposition {
public:
    explicit Exposition(std::string& out) : out_(out) {}

    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(Out(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    // `labels` is "" or the inside of the braces: a="x",b="y".
    void sample(std::string_view name, std::string_view labels, double value) {
        if (labels.empty()) {
            fmt::format_to(Out(out_), "{} {}\n", name, value);
        } else {
            fmt::format_to(Out(out_), "{}{{{}}} {}\n", name, labels, value);
        }
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        if (labels.empty()) {
            fmt::format_to(Out(out_), "{} {}\n", name, value);
        } else {
            fmt::format_to(Out(out_), "{}{{{}}} {}\n", name, labels, value);
        }
    }
    // A family with one unlabelled sample.
    void single(std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t value) {
        family(name, type, help);
        sample(name, "", value);
    }

private:
    std::string& out_;
};

double seconds(Nanos ns) {
    return static_cast<double>(ns) / 1e9;
}

std::string one_label(std::string_view name, std::string_view value) {
    std::string out(name);
    out += '=';
    append_label_value(out, value);
    return out;
}

void render_paths(Exposition& x, const NodeView& view, const std::vector<std::string>& labels,
                  Nanos now) {
    const std::size_t count = view.engine.topology().paths().size();
    HB_ASSERT(labels.size() == count);
    // One family: a sample per path, from its figures (recomputed per family, a few loads
    // each, rather than kept: a scrape allocates no per-path state). `value` returns nullopt
    // for a path that has nothing to show (no RTT measured, never heard).
    const auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                            const auto& value) {
        x.family(name, type, help);
        for (PathIndex p = 0; p < count; ++p) {
            if (const auto sample = value(path_figures(view, p, now))) {
                x.sample(name, labels[p], *sample);
            }
        }
    };
    using Count = std::optional<std::uint64_t>;
    using Real = std::optional<double>;
    family("hb_path_state", "gauge", "Path state (BFD-like): 0 down, 1 init, 2 up.",
           [](const PathFigures& f) { return Count(static_cast<std::uint64_t>(f.state)); });
    family("hb_path_beats_sent_total", "counter",
           "Beats this node sent on the path (multicast: the adapter's group beats).",
           [](const PathFigures& f) { return Count(f.sent); });
    family("hb_path_beats_received_total", "counter", "Beats received from the peer's adapter.",
           [](const PathFigures& f) { return Count(f.received); });
    family("hb_path_beats_missed_total", "counter",
           "Sequence numbers of the peer's beats that never arrived.",
           [](const PathFigures& f) { return Count(f.missed); });
    family("hb_path_loss_ratio", "gauge", "Measured beat loss on the path, 0..1.",
           [](const PathFigures& f) { return Real(f.loss_ratio); });
    family("hb_path_rtt_seconds", "gauge", "Last round-trip time measured on the path.",
           [](const PathFigures& f) {
               return f.rtt_measured ? Real(seconds(f.rtt_last_ns)) : std::nullopt;
           });
    family("hb_path_rtt_smoothed_seconds", "gauge",
           "Smoothed round-trip time of the path (gain 1/8, as TCP's SRTT).",
           [](const PathFigures& f) {
               return f.rtt_measured ? Real(seconds(f.rtt_avg_ns)) : std::nullopt;
           });
    family("hb_path_last_heard_seconds", "gauge",
           "Time since the last beat heard on the path (absent: never heard).",
           [](const PathFigures& f) {
               return f.last_heard_ago_ns >= 0 ? Real(seconds(f.last_heard_ago_ns)) : std::nullopt;
           });
    family("hb_path_multiplier", "gauge",
           "Beats that may be missed before the path expires, as in effect now.",
           [](const PathFigures& f) { return Count(f.multiplier); });
}

void render_topology_states(Exposition& x, const NodeView& view) {
    const Topology& topology = view.engine.topology();
    const ClusterConfig& config = topology.config();
    const NodeConfig* local_node = config.find_node(topology.local_node());
    HB_ASSERT(local_node != nullptr);
    x.family("hb_adapter_up", "gauge", "Local adapter health: 1 up, 0 down (ADAPTER_DOWN).");
    const std::uint32_t up_bits = view.detector.local_adapter_states();
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const LocalAdapter& local = topology.local_adapters()[l];
        std::string labels = one_label("network", config.networks[local.network].name) + ',' +
                             one_label("adapter", local_node->adapters[local.adapter].ifname);
        x.sample("hb_adapter_up", labels, std::uint64_t{(up_bits >> l) & 1U});
    }
    x.family("hb_network_up", "gauge", "0 while NETWORK_DOWN stands for the network, else 1.");
    for (NetworkIndex n = 0; n < config.networks.size(); ++n) {
        x.sample("hb_network_up", one_label("network", config.networks[n].name),
                 std::uint64_t{view.detector.network_down(n) ? 0U : 1U});
    }
    x.family("hb_peer_state", "gauge",
             "Peer node state: 0 unknown, 1 up, 2 down, 3 left, 4 unreachable, 5 partitioned.");
    for (PeerIndex p = 0; p < topology.peers().size(); ++p) {
        const NodeId node = topology.peers()[p].node;
        const std::string labels = one_label("peer", std::to_string(node)) + ',' +
                                   one_label("peer_name", topology.node_name(node));
        x.sample("hb_peer_state", labels, static_cast<std::uint64_t>(view.detector.node_state(p)));
    }
    x.single("hb_isolated", "gauge", "1 while this node is ISOLATED.",
             view.detector.isolated() ? 1 : 0);
}

void render_counters(Exposition& x, const NodeView& view) {
    x.family("hb_events_total", "counter", "Events (verdicts) reported, by kind.");
    for (std::size_t k = 0; k < event_kind_count; ++k) {
        const auto kind = static_cast<EventKind>(k);
        x.sample("hb_events_total", one_label("event", event_name(kind)), view.events.count(kind));
    }
    const EngineCounters& engine = view.engine.counters();
    x.family("hb_dropped_total", "counter", "Received datagrams dropped, by reason.");
    for (std::size_t r = 0; r < drop_reason_count; ++r) {
        x.sample("hb_dropped_total",
                 one_label("reason", drop_reason_name(static_cast<DropReason>(r))),
                 engine.dropped[r]);
    }
    x.single("hb_beats_sent_total", "counter", "Beats sent on every adapter.", engine.beats_sent);
    x.single("hb_beats_accepted_total", "counter", "Valid beats received.", engine.beats_accepted);
    x.single("hb_send_failures_total", "counter", "Beats and PONGs a transport did not take.",
             engine.send_failures);
    x.single("hb_pings_answered_total", "counter", "hbping PINGs answered with a PONG.",
             engine.pings_answered);
    x.single("hb_peer_restarts_seen_total", "counter", "New incarnations of peers seen.",
             engine.restarts_seen);
    x.single("hb_local_stalls_total", "counter",
             "Ticks so late that this node itself must have been stalled.", engine.local_stalls);
    x.single("hb_events_lost_total", "counter", "Events dropped because the event queue was full.",
             engine.events_lost);
    const policy::DetectorCounters& detector = view.detector.counters();
    x.single("hb_detector_path_up_total", "counter", "Path transitions to up.", detector.path_up);
    x.single("hb_detector_path_down_total", "counter", "Path expiries (transitions to down).",
             detector.path_down);
    x.single("hb_detector_local_stalls_total", "counter", "Local stalls the detector discounted.",
             detector.local_stalls);
    x.single("hb_detector_adaptive_raises_total", "counter",
             "Path multipliers raised by adaptive timing for measured loss.",
             detector.adaptive_raises);
    x.single("hb_detector_adaptive_lowers_total", "counter",
             "Path multipliers lowered again by adaptive timing.", detector.adaptive_lowers);
    if (view.control != nullptr) {
        x.single("hb_control_clients", "gauge", "Clients connected to the control socket.",
                 view.control->clients);
        x.single("hb_control_subscribers", "gauge", "Event subscribers on the control socket.",
                 view.control->subscribers);
        x.single("hb_control_lagged_total", "counter",
                 "Event subscribers disconnected for reading too slowly.", view.control->lagged);
    }
}

void render_disk(Exposition& x, const NodeView& view) {
#if HB_HAVE_LIBURING
    if (view.disk == nullptr) {
        return;
    }
    const diskhb::DiskHeartbeat& disk = *view.disk;
    const diskhb::DiskCounters& c = disk.counters();
    x.single("hb_disk_up", "gauge", "1 while the disk heartbeat completes its cycles.",
             disk.disk_up() ? 1 : 0);
    x.single("hb_disk_cycles_total", "counter",
             "Disk cycles completed (own slot written, all read).", c.cycles);
    x.single("hb_disk_io_errors_total", "counter", "Disk I/O that failed or moved too few bytes.",
             c.io_errors + c.short_io);
    x.single("hb_disk_stalls_total", "counter",
             "Disk cycles with no completion within the timeout.", c.stalls);
    x.single("hb_disk_corrupt_total", "counter", "Slots read with a bad CRC, magic or field.",
             c.corrupt);
    x.single("hb_disk_torn_total", "counter", "Slots read torn.", c.torn);
    x.single("hb_disk_conflicts_total", "counter", "Slots written by two writers.", c.conflicts);
#else
    static_cast<void>(x);
    static_cast<void>(view);
#endif
}

}  // namespace

std::vector<std::string> path_labels(const Topology& topology) {
    const ClusterConfig& config = topology.config();
    const NodeConfig* local_node = config.find_node(topology.local_node());
    HB_ASSERT(local_node != nullptr);
    std::vector<std::string> labels;
    for (const Path& path : topology.paths()) {
        const LocalAdapter& local = topology.local_adapters()[path.local];
        const NodeConfig* peer = config.find_node(path.peer_node);
        HB_ASSERT(peer != nullptr && path.peer_adapter < peer->adapters.size());
        labels.push_back(one_label("network", config.networks[path.network].name) + ',' +
                         one_label("adapter", local_node->adapters[local.adapter].ifname) + ',' +
                         one_label("peer", std::to_string(path.peer_node)) + ',' +
                         one_label("peer_name", peer->name) + ',' +
                         one_label("peer_adapter", peer->adapters[path.peer_adapter].ifname));
    }
    return labels;
}

void render_metrics(const NodeView& view, const std::vector<std::string>& labels, Nanos now,
                    std::string& out) {
    Exposition x(out);
    const Topology& topology = view.engine.topology();
    x.family("hb_build_info", "gauge", "hb's version and optional modules; always 1.");
    x.sample("hb_build_info",
             fmt::format(R"(version="{}",dpdk="{}",liburing="{}")", HB_VERSION,
                         HB_HAVE_DPDK ? "yes" : "no", HB_HAVE_LIBURING ? "yes" : "no"),
             std::uint64_t{1});
    x.family("hb_node_info", "gauge", "The node this hbd runs as; always 1.");
    x.sample("hb_node_info",
             one_label("cluster", std::to_string(topology.config().cluster_id)) + ',' +
                 one_label("node", std::to_string(topology.local_node())) + ',' +
                 one_label("name", topology.node_name(topology.local_node())) + ',' +
                 one_label("incarnation", fmt::format("{:#010x}", view.engine.incarnation())),
             std::uint64_t{1});
    x.family("hb_uptime_seconds", "gauge", "Time since hbd started its node.");
    x.sample("hb_uptime_seconds", "", seconds(std::max<Nanos>(0, now - view.started_ns)));
    render_paths(x, view, labels, now);
    render_topology_states(x, view);
    render_counters(x, view);
    render_disk(x, view);
}

HttpRequest parse_http_request(std::string_view head) noexcept {
    const std::size_t line_end = head.find("\r\n");
    if (line_end == std::string_view::npos) {
        // A request line without its end yet; anything that is not "G", "GE", "GET ..." so far
        // could still be another method, which is answered once the line is complete.
        return HttpRequest::incomplete;
    }
    const std::string_view line = head.substr(0, line_end);
    const std::size_t first_space = line.find(' ');
    const std::size_t last_space = line.rfind(' ');
    if (first_space == std::string_view::npos || last_space == first_space ||
        !line.substr(last_space + 1).starts_with("HTTP/1.")) {
        return HttpRequest::bad_request;
    }
    if (head.find("\r\n\r\n") == std::string_view::npos) {
        return HttpRequest::incomplete;
    }
    if (line.substr(0, first_space) != "GET") {
        return HttpRequest::bad_method;
    }
    std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
    target = target.substr(0, target.find('?'));
    return target == "/metrics" ? HttpRequest::metrics : HttpRequest::not_found;
}

std::variant<std::unique_ptr<MetricsServer>, std::string> MetricsServer::open(
    Ipv4 address, std::uint16_t port, const NodeView& view) {
    const std::string where = fmt::format("{}:{}", address.to_string(), port);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fmt::format("metrics: socket: {}", std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_port = htons(port);
    bound.sin_addr.s_addr = htonl(address.value);
    socklen_t length = sizeof bound;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&bound), sizeof bound) != 0 ||
        ::listen(fd, listen_backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
        const int error = errno;
        ::close(fd);
        return fmt::format("metrics: cannot listen on {}: {}", where, std::strerror(error));
    }
    // Sized from a render of the node as it is at start; counters only grow by digits.
    std::string sample;
    const std::vector<std::string> labels = path_labels(view.engine.topology());
    render_metrics(view, labels, view.started_ns, sample);
    const Limits limits{
        .max_clients = max_clients,
        .input_bytes = request_max_bytes,
        .output_bytes = std::max(min_output_bytes, 4 * sample.size()),
        .idle_timeout_ns = metrics_idle_timeout_ns,
    };
    return std::unique_ptr<MetricsServer>(
        new MetricsServer(fd, ntohs(bound.sin_port), view, limits));
}

MetricsServer::MetricsServer(int listen_fd, std::uint16_t port, const NodeView& view, Limits limits)
    : StreamServer(listen_fd, limits),
      port_(port),
      view_(view),
      path_labels_(path_labels(view.engine.topology())) {
    body_.reserve(limits.output_bytes);
}

void MetricsServer::serve(Client& client, Nanos now) noexcept {
    switch (parse_http_request(client.input)) {
        case HttpRequest::incomplete:
            if (client.input.size() >= limits().input_bytes) {
                respond(client, "431 Request Header Fields Too Large", "request head too large\n",
                        "text/plain", now);
            }
            return;
        case HttpRequest::metrics:
            ++scrapes_;
            body_.clear();
            render_metrics(view_, path_labels_, now, body_);
            respond(client, "200 OK", body_, "text/plain; version=0.0.4; charset=utf-8", now);
            return;
        case HttpRequest::not_found:
            respond(client, "404 Not Found", "only /metrics is served here\n", "text/plain", now);
            return;
        case HttpRequest::bad_method:
            respond(client, "405 Method Not Allowed", "only GET is served here\n", "text/plain",
                    now);
            return;
        case HttpRequest::bad_request:
            respond(client, "400 Bad Request", "not an HTTP/1.x request\n", "text/plain", now);
            return;
    }
}

void MetricsServer::respond(Client& client, std::string_view status, std::string_view body,
                            std::string_view content_type, Nanos now) noexcept {
    client.output.clear();
    client.sent = 0;
    fmt::format_to(Out(client.output),
                   "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                   "Connection: close\r\n\r\n",
                   status, content_type, body.size());
    client.output.append(body);
    close_after_output(client, now);
    output_changed(client);
}

void MetricsServer::refuse(int fd) noexcept {
    constexpr std::string_view busy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace hb::hbd
