// hbping's kernel UDP sockets. Set up like the UDP transport's (bound to the adapter's address
// and device, CS6, multicast interface, loopback off, the TTL asked for), plus what a diagnostic
// needs and the transport's fixed 128-byte records do not carry: the TTL each datagram arrived
// with (IP_RECVTTL) and datagrams up to 64 KiB for --size.
#pragma once

#include <poll.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "hb/model.hh"
#include "tools/hbping/endpoint.hh"

namespace hb::ping {

// A file descriptor that closes itself.
class Socket {
public:
    Socket() = default;
    explicit Socket(int fd) noexcept : fd_(fd) {}
    ~Socket();
    Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    int fd() const noexcept { return fd_; }

private:
    int fd_ = -1;
};

struct Interface {
    std::string name;
    Ipv4 address;
};

// The interface named `name` and its first IPv4 address.
[[nodiscard]] std::variant<Interface, std::string> interface_named(const std::string& name);
// The interface that holds `address`.
[[nodiscard]] std::variant<Interface, std::string> interface_holding(Ipv4 address);
// The interface and source address the routing table picks toward `destination` (mping's
// default: the default-route interface for a group without a route of its own).
[[nodiscard]] std::variant<Interface, std::string> interface_toward(Ipv4 destination);

struct SocketSpec {
    Interface interface;
    Ipv4 bind_address;        // the interface's address, or a group to receive it
    std::uint16_t port = 0;   // 0: an ephemeral port
    std::uint8_t ttl = 1;     // unicast and multicast TTL of what it sends
    bool share_port = false;  // SO_REUSEADDR, for group sockets that several receivers share
    std::optional<Ipv4> join_group;
};

// A blocking socket, set up as described above; the error names the call and the interface.
[[nodiscard]] std::variant<Socket, std::string> open_socket(const SocketSpec& spec);

// Receives one datagram into `buffer` without blocking; nullopt when none is waiting.
[[nodiscard]] std::optional<Datagram> receive(const Socket& socket,
                                              std::span<std::uint8_t> buffer) noexcept;

// Sends one datagram; false (errno set) when the kernel refused it.
[[nodiscard]] bool send_to(const Socket& socket, Ipv4 address, std::uint16_t port,
                           std::span<const std::uint8_t> bytes) noexcept;

// Kernel UDP sockets as an Endpoint: sends from the first, receives from each in turn.
class SocketEndpoint final : public Endpoint {
public:
    explicit SocketEndpoint(std::vector<Socket> sockets);

    std::optional<Datagram> receive(std::span<std::uint8_t> buffer) noexcept override;
    bool send_to(Ipv4 address, std::uint16_t port,
                 std::span<const std::uint8_t> bytes) noexcept override;
    bool wait(Nanos until, const sigset_t& wait_mask) override;
    std::size_t max_datagram() const noexcept override;

private:
    std::vector<Socket> sockets_;
    std::vector<pollfd> fds_;
    std::size_t next_ = 0;  // the socket receive() reads first
};

}  // namespace hb::ping
