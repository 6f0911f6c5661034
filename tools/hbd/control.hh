// hbd's control socket (DESIGN §9): a Unix stream socket that answers JSON-line requests with the
// node's status and streams its events to subscribers. Served inline on the engine thread
// (StreamServer), so it reads the node's state in place and can never block the engine: a
// subscriber that reads too slowly is told it lagged and disconnected (docs/operations.md).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "tools/hbd/status.hh"
#include "tools/hbd/stream_server.hh"

namespace hb::hbd {

// One request line: {"request":"status"} or {"request":"events","last":N,"follow":true}.
struct Request {
    enum class Kind : std::uint8_t { status, events } kind = Kind::status;
    std::size_t last = 0;  // events: how many remembered events to send first
    bool follow = false;   // events: then every new event, until the client goes
};
// The request, or why the line is not one (for the error reply).
std::variant<Request, std::string> parse_request(std::string_view line);

class ControlServer final : public StreamServer {
public:
    static constexpr std::size_t request_max_bytes = 1024;
    static constexpr std::size_t max_clients = 16;

    // Creates the socket's directory (mode 0750) if it is missing, replaces a stale socket (one
    // nobody answers on; a live one is an error: another hbd serves this node), binds (mode
    // 0660) and listens. `output_bytes` 0: sized from the topology.
    static std::variant<std::unique_ptr<ControlServer>, std::string> open(
        const std::filesystem::path& socket, const NodeView& view, std::size_t output_bytes = 0);
    // Closes every client and removes the socket, unless another process replaced it since.
    ~ControlServer() override;

    // An event as it happens, as its `hbd --events` line (no newline): queued for every
    // subscriber; one that has no room left for it is told it lagged and disconnected.
    void publish(std::string_view line) noexcept;

    bool poll(Nanos now) noexcept override;
    const ControlCounters& counters() const noexcept { return counters_; }
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    ControlServer(int listen_fd, std::filesystem::path path, ino_t inode, const NodeView& view,
                  Limits limits);
    void serve(Client& client, Nanos now) noexcept override;
    void refuse(int fd) noexcept override;
    void closed(Client& client) noexcept override;
    void answer(Client& client, const Request& request, Nanos now) noexcept;
    void reply_error(Client& client, std::string_view message) noexcept;
    void update_counters() noexcept;

    std::filesystem::path path_;
    ino_t inode_;  // of the socket this server bound: it removes only that one
    NodeView view_;
    ControlCounters counters_;
    std::string line_;  // scratch for one event line, reserved at start
};

}  // namespace hb::hbd
