// The kernel UDP transport: one socket per adapter bound to the adapter's address and device (so
// no alias order can choose the source address), batched sendmmsg/recvmmsg, kernel receive
// timestamps, and for multicast networks a second socket joined to the group on that device.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <variant>

#include "hb/transport.hh"

namespace hb::transport {

// The kernel's form of an IPv4 address and port (network byte order); hbping uses it too.
sockaddr_in socket_address(Ipv4 address, std::uint16_t port) noexcept;

struct UdpOptions {
    std::string ifname;
    Ipv4 address{};
    std::uint16_t port = default_port;
    NetworkMode mode = NetworkMode::unicast;
    Ipv4 group{};  // multicast only
    std::uint8_t ttl = 1;
    std::uint8_t tos = 0xC0;  // CS6, network control: heartbeats are control traffic
};

class UdpTransport final : public Transport {
public:
    static constexpr std::size_t max_burst = 64;

    // Opens and configures the sockets; on failure the message names the adapter and the call.
    static std::variant<std::unique_ptr<UdpTransport>, std::string> open(const UdpOptions& options);

    ~UdpTransport() override;
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    std::size_t receive(std::span<RxRecord> out) noexcept override;
    std::size_t send(std::span<const TxRecord> batch) noexcept override;
    int wait_fd() const noexcept override { return wait_fd_; }
    TransportCounters counters() const noexcept override;

    const UdpOptions& options() const noexcept { return options_; }

private:
    explicit UdpTransport(UdpOptions options);
    std::size_t receive_from(int fd, std::span<RxRecord> out) noexcept;

    UdpOptions options_;
    int unicast_fd_ = -1;
    int multicast_fd_ = -1;
    int epoll_fd_ = -1;  // both sockets, when there are two
    int wait_fd_ = -1;

    // Receive and send scratch, sized once: the data path never allocates.
    static constexpr std::size_t control_size = CMSG_SPACE(sizeof(timespec));
    std::array<mmsghdr, max_burst> rx_headers_{};
    std::array<iovec, max_burst> rx_iovecs_{};
    std::array<sockaddr_in, max_burst> rx_sources_{};
    std::array<std::array<char, control_size>, max_burst> rx_control_{};
    std::array<mmsghdr, max_burst> tx_headers_{};
    std::array<iovec, max_burst> tx_iovecs_{};
    std::array<sockaddr_in, max_burst> tx_destinations_{};

    // Receive and send may run on different threads: each side writes only its own counters.
    std::atomic<std::uint64_t> rx_datagrams_{0};
    std::atomic<std::uint64_t> rx_errors_{0};
    std::atomic<std::uint64_t> rx_truncated_{0};
    std::atomic<std::uint64_t> tx_datagrams_{0};
    std::atomic<std::uint64_t> tx_errors_{0};
};

}  // namespace hb::transport
