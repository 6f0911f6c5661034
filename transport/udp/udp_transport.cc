#include "transport/udp/udp_transport.hh"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hb/assert.hh"

namespace hb::transport {

namespace {

std::string errno_message(std::string_view what, const UdpOptions& options) {
    return std::string(what) + " on " + options.ifname + " (" + options.address.to_string() +
           "): " + std::strerror(errno);
}

template <typename T>
bool set_option(int fd, int level, int name, const T& value) {
    return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

// Room for this many bytes of queued datagrams (each costs about 1 KiB of buffer accounting): a
// flood of garbage at the link's rate fills the kernel's default 208 KiB (a few hundred datagrams)
// within a few milliseconds of the engine thread not running, and the kernel then drops valid
// beats with the garbage. 8 MiB rides out a scheduling gap of tens of milliseconds at 100 000
// datagrams/s, while the engine drains it in a few milliseconds (docs/security.md, Floods).
constexpr int receive_buffer_bytes = 8 << 20;

// Asks for receive_buffer_bytes: SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN
// (hbd has it at start); without, SO_RCVBUF gets what rmem_max allows. Never an error.
void enlarge_receive_buffer(int fd) noexcept {
    if (!set_option(fd, SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer_bytes)) {
        static_cast<void>(set_option(fd, SOL_SOCKET, SO_RCVBUF, receive_buffer_bytes));
    }
}

// A non-blocking, timestamping datagram socket bound to `bind_address` on the adapter's device.
int open_socket(const UdpOptions& options, Ipv4 bind_address, std::string& error) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno_message("socket", options);
        return -1;
    }
    const int one = 1;
    const bool ok = set_option(fd, SOL_SOCKET, SO_REUSEADDR, one) &&
                    // The address may not be configured yet (adapter down at start): bind anyway.
                    set_option(fd, IPPROTO_IP, IP_FREEBIND, one) &&
                    set_option(fd, SOL_SOCKET, SO_TIMESTAMPNS, one) &&
                    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, options.ifname.c_str(),
                               static_cast<socklen_t>(options.ifname.size())) == 0;
    if (!ok) {
        error = errno_message("setsockopt", options);
        close(fd);
        return -1;
    }
    enlarge_receive_buffer(fd);
    const sockaddr_in local = socket_address(bind_address, options.port);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        error = errno_message(
            "bind to " + bind_address.to_string() + ":" + std::to_string(options.port), options);
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

sockaddr_in socket_address(Ipv4 address, std::uint16_t port) noexcept {
    sockaddr_in out{};
    out.sin_family = AF_INET;
    out.sin_port = htons(port);
    out.sin_addr.s_addr = htonl(address.value);
    return out;
}

UdpTransport::UdpTransport(UdpOptions options) : options_(std::move(options)) {
    for (std::size_t i = 0; i < max_burst; ++i) {
        rx_headers_[i].msg_hdr.msg_iov = &rx_iovecs_[i];
        rx_headers_[i].msg_hdr.msg_iovlen = 1;
        tx_headers_[i].msg_hdr.msg_iov = &tx_iovecs_[i];
        tx_headers_[i].msg_hdr.msg_iovlen = 1;
        tx_headers_[i].msg_hdr.msg_name = &tx_destinations_[i];
        tx_headers_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
}

UdpTransport::~UdpTransport() {
    for (const int fd : {unicast_fd_, multicast_fd_, epoll_fd_}) {
        if (fd >= 0) {
            close(fd);
        }
    }
}

std::variant<std::unique_ptr<UdpTransport>, std::string> UdpTransport::open(
    const UdpOptions& options) {
    if (options.ifname.empty() || options.ifname.size() >= IFNAMSIZ) {
        return "adapter interface name \"" + options.ifname + "\" is not valid";
    }
    std::unique_ptr<UdpTransport> transport{new UdpTransport(options)};
    std::string error;
    const int fd = open_socket(options, options.address, error);
    if (fd < 0) {
        return error;
    }
    transport->unicast_fd_ = fd;
    transport->wait_fd_ = fd;
    const int ttl = options.ttl;
    const int tos = options.tos;
    const int zero = 0;
    const in_addr interface_address{htonl(options.address.value)};
    if (!set_option(fd, IPPROTO_IP, IP_TTL, ttl) || !set_option(fd, IPPROTO_IP, IP_TOS, tos) ||
        !set_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl) ||
        !set_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, zero) ||
        !set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, interface_address)) {
        return errno_message("setsockopt (ttl, tos, multicast)", options);
    }
    if (options.mode != NetworkMode::multicast) {
        return transport;
    }

    // Group traffic arrives on a socket bound to the group address: a socket bound to the
    // adapter's unicast address never sees it.
    if (!options.group.is_multicast()) {
        return "multicast group " + options.group.to_string() + " is not a multicast address";
    }
    const int group_fd = open_socket(options, options.group, error);
    if (group_fd < 0) {
        return error;
    }
    transport->multicast_fd_ = group_fd;
    ip_mreqn membership{};
    membership.imr_multiaddr.s_addr = htonl(options.group.value);
    membership.imr_address = interface_address;
    membership.imr_ifindex = static_cast<int>(if_nametoindex(options.ifname.c_str()));
    if (membership.imr_ifindex == 0) {
        return errno_message("if_nametoindex", options);
    }
    if (!set_option(group_fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, membership)) {
        return errno_message("IP_ADD_MEMBERSHIP " + options.group.to_string(), options);
    }
    transport->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (transport->epoll_fd_ < 0) {
        return errno_message("epoll_create1", options);
    }
    for (const int member : {transport->unicast_fd_, transport->multicast_fd_}) {
        epoll_event event{};
        event.events = EPOLLIN;
        if (epoll_ctl(transport->epoll_fd_, EPOLL_CTL_ADD, member, &event) != 0) {
            return errno_message("epoll_ctl", options);
        }
    }
    transport->wait_fd_ = transport->epoll_fd_;
    return transport;
}

std::size_t UdpTransport::receive(std::span<RxRecord> out) noexcept {
    std::size_t count = receive_from(unicast_fd_, out);
    if (multicast_fd_ >= 0 && count < out.size()) {
        count += receive_from(multicast_fd_, out.subspan(count));
    }
    return count;
}

std::size_t UdpTransport::receive_from(int fd, std::span<RxRecord> out) noexcept {
    const std::size_t want = std::min(out.size(), max_burst);
    if (want == 0) {
        return 0;
    }
    for (std::size_t i = 0; i < want; ++i) {
        rx_iovecs_[i] = iovec{out[i].bytes.data(), out[i].bytes.size()};
        msghdr& header = rx_headers_[i].msg_hdr;
        header.msg_name = &rx_sources_[i];
        header.msg_namelen = sizeof(sockaddr_in);
        header.msg_control = rx_control_[i].data();
        header.msg_controllen = control_size;
        header.msg_flags = 0;
    }
    const int received =
        recvmmsg(fd, rx_headers_.data(), static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    if (received <= 0) {
        if (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            rx_errors_.fetch_add(1, std::memory_order_relaxed);
        }
        return 0;
    }
    // Kernel stamps are CLOCK_REALTIME; one offset per burst maps them onto the monotonic clock.
    // A stamp outside [now - 1 s, now] (the wall clock stepped) is replaced by now: wall-clock
    // time never decides liveness.
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    const Nanos mono_now = monotonic_now();
    const Nanos offset = mono_now - (static_cast<Nanos>(real.tv_sec) * nanos_per_s + real.tv_nsec);
    std::uint64_t truncated = 0;
    for (int i = 0; i < received; ++i) {
        RxRecord& record = out[static_cast<std::size_t>(i)];
        const msghdr& header = rx_headers_[static_cast<std::size_t>(i)].msg_hdr;
        const sockaddr_in& source = rx_sources_[static_cast<std::size_t>(i)];
        record.src_address = Ipv4{ntohl(source.sin_addr.s_addr)};
        record.src_port = ntohs(source.sin_port);
        if ((header.msg_flags & MSG_TRUNC) != 0) {
            record.length = static_cast<std::uint16_t>(wire::max_datagram + 1);
            ++truncated;
        } else {
            record.length =
                static_cast<std::uint16_t>(rx_headers_[static_cast<std::size_t>(i)].msg_len);
        }
        record.rx_ns = mono_now;
        for (const cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr;
             c = CMSG_NXTHDR(const_cast<msghdr*>(&header), const_cast<cmsghdr*>(c))) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                timespec stamp{};
                std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                const Nanos mono =
                    static_cast<Nanos>(stamp.tv_sec) * nanos_per_s + stamp.tv_nsec + offset;
                if (mono <= mono_now && mono >= mono_now - nanos_per_s) {
                    record.rx_ns = mono;
                }
            }
        }
    }
    rx_datagrams_.fetch_add(static_cast<std::uint64_t>(received), std::memory_order_relaxed);
    if (truncated != 0) {
        rx_truncated_.fetch_add(truncated, std::memory_order_relaxed);
    }
    return static_cast<std::size_t>(received);
}

std::size_t UdpTransport::send(std::span<const TxRecord> batch) noexcept {
    std::size_t next = 0;
    std::size_t sent = 0;
    while (next < batch.size()) {
        const std::size_t chunk = std::min(batch.size() - next, max_burst);
        for (std::size_t i = 0; i < chunk; ++i) {
            const TxRecord& record = batch[next + i];
            HB_ASSERT(record.length <= record.bytes.size());
            // sendmmsg does not write through the iovec: the const_cast only satisfies its type.
            tx_iovecs_[i] = iovec{const_cast<std::uint8_t*>(record.bytes.data()), record.length};
            tx_destinations_[i] = socket_address(record.dst_address, record.dst_port);
        }
        const int result =
            sendmmsg(unicast_fd_, tx_headers_.data(), static_cast<unsigned>(chunk), MSG_DONTWAIT);
        if (result <= 0) {
            // The first datagram of the chunk failed (no route, link down, buffer full):
            // count it and go on with the rest, so one bad destination does not silence others.
            tx_errors_.fetch_add(1, std::memory_order_relaxed);
            ++next;
            continue;
        }
        sent += static_cast<std::size_t>(result);
        next += static_cast<std::size_t>(result);
    }
    tx_datagrams_.fetch_add(sent, std::memory_order_relaxed);
    return sent;
}

TransportCounters UdpTransport::counters() const noexcept {
    return TransportCounters{
        .rx_datagrams = rx_datagrams_.load(std::memory_order_relaxed),
        .tx_datagrams = tx_datagrams_.load(std::memory_order_relaxed),
        .tx_errors = tx_errors_.load(std::memory_order_relaxed),
        .rx_errors = rx_errors_.load(std::memory_order_relaxed),
        .rx_truncated = rx_truncated_.load(std::memory_order_relaxed),
    };
}

}  // namespace hb::transport
