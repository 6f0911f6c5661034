// hbd's Prometheus endpoint ([metrics] listen): GET /metrics in the text exposition format 0.0.4.
// Debian 12 packages no Prometheus client library for C++, and the format is a few lines of
// text, so this is a deliberately tiny HTTP/1.1 server on the engine thread's loop
// (StreamServer): one GET per connection, bounded buffers, no thread, never blocking
// (docs/operations.md, Metrics).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hb/model.hh"
#include "tools/hbd/status.hh"
#include "tools/hbd/stream_server.hh"

namespace hb::hbd {

// What a request head (the bytes received so far) asks for.
enum class HttpRequest : std::uint8_t {
    incomplete,   // the blank line that ends the head has not arrived
    metrics,      // GET /metrics (a query string is ignored)
    not_found,    // GET of another path
    bad_method,   // not GET
    bad_request,  // not an HTTP/1.x request line
};
HttpRequest parse_http_request(std::string_view head) noexcept;

// Every metric of the node (docs/operations.md lists them), appended to `out`.
// `path_labels` is path_labels(view.engine.topology()), computed once.
void render_metrics(const NodeView& view, const std::vector<std::string>& path_labels, Nanos now,
                    std::string& out);
// Per path: network="..",adapter="..",peer="2",peer_name="..",peer_adapter="..".
std::vector<std::string> path_labels(const Topology& topology);

class MetricsServer final : public StreamServer {
public:
    static constexpr std::size_t request_max_bytes = 4096;
    static constexpr std::size_t max_clients = 8;

    // Listens on address:port (TCP; port 0 picks a free one, see port()).
    static std::variant<std::unique_ptr<MetricsServer>, std::string> open(Ipv4 address,
                                                                          std::uint16_t port,
                                                                          const NodeView& view);
    std::uint16_t port() const noexcept { return port_; }
    std::uint64_t scrapes() const noexcept { return scrapes_; }

private:
    MetricsServer(int listen_fd, std::uint16_t port, const NodeView& view, Limits limits);
    void serve(Client& client, Nanos now) noexcept override;
    void refuse(int fd) noexcept override;
    void respond(Client& client, std::string_view status, std::string_view body,
                 std::string_view content_type, Nanos now) noexcept;

    std::uint16_t port_;
    NodeView view_;
    std::vector<std::string> path_labels_;
    std::string body_;  // scratch for one exposition, reserved at start
    std::uint64_t scrapes_ = 0;
};

}  // namespace hb::hbd
