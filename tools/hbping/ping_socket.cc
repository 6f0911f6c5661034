// hbping's sockets and interface lookups.
#include "tools/hbping/ping_socket.hh"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "tools/hbping/options.hh"
#include "transport/udp/udp_transport.hh"

namespace hb::ping {

namespace {

using transport::socket_address;

std::string failed(std::string_view call, const std::string& where) {
    return std::string(call) + " on " + where + ": " + std::strerror(errno);
}

// The first IPv4 address of the machine's interfaces, in the kernel's order, that `match` takes.
template <typename Match>
std::optional<Interface> find_interface(Match match, std::string& error) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        error = std::string("getifaddrs: ") + std::strerror(errno);
        return std::nullopt;
    }
    std::optional<Interface> found;
    for (const ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) {
            continue;
        }
        sockaddr_in address{};
        std::memcpy(&address, entry->ifa_addr, sizeof address);
        const Interface candidate{entry->ifa_name, Ipv4{ntohl(address.sin_addr.s_addr)}};
        if (match(candidate)) {
            found = candidate;
        }
    }
    freeifaddrs(list);
    return found;
}

template <typename T>
bool set_option(int fd, int level, int name, const T& value) {
    return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

}  // namespace

Socket::~Socket() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

std::variant<Interface, std::string> interface_named(const std::string& name) {
    if (if_nametoindex(name.c_str()) == 0) {
        return "-I: no interface \"" + name + "\" here";
    }
    std::string error;
    const auto found =
        find_interface([&](const Interface& candidate) { return candidate.name == name; }, error);
    if (!error.empty()) {
        return error;
    }
    if (!found) {
        return "-I: interface \"" + name + "\" has no IPv4 address";
    }
    return *found;
}

std::variant<Interface, std::string> interface_holding(Ipv4 address) {
    std::string error;
    const auto found = find_interface(
        [&](const Interface& candidate) { return candidate.address == address; }, error);
    if (!error.empty()) {
        return error;
    }
    if (!found) {
        return "no interface here has the address " + address.to_string();
    }
    return *found;
}

std::variant<Interface, std::string> interface_toward(Ipv4 destination) {
    // connect() on a datagram socket only asks the routing table: nothing is sent.
    const Socket probe{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (probe.fd() < 0) {
        return std::string("socket: ") + std::strerror(errno);
    }
    const sockaddr_in remote = socket_address(destination, default_port);
    if (connect(probe.fd(), reinterpret_cast<const sockaddr*>(&remote), sizeof remote) != 0) {
        return "no route toward " + destination.to_string() + " (" + std::strerror(errno) +
               "): give the interface with -I";
    }
    sockaddr_in local{};
    socklen_t length = sizeof local;
    if (getsockname(probe.fd(), reinterpret_cast<sockaddr*>(&local), &length) != 0) {
        return std::string("getsockname: ") + std::strerror(errno);
    }
    return interface_holding(Ipv4{ntohl(local.sin_addr.s_addr)});
}

std::variant<Socket, std::string> open_socket(const SocketSpec& spec) {
    const std::string where = spec.interface.name + " (" + spec.interface.address.to_string() + ")";
    Socket socket_fd{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    const int fd = socket_fd.fd();
    if (fd < 0) {
        return failed("socket", where);
    }
    const int one = 1;
    const int zero = 0;
    const int ttl = spec.ttl;
    const int tos = 0xC0;  // CS6 as hb's beats: the diagnostic takes the same queue
    const in_addr interface_address{htonl(spec.interface.address.value)};
    const bool ok = (!spec.share_port || set_option(fd, SOL_SOCKET, SO_REUSEADDR, one)) &&
                    set_option(fd, IPPROTO_IP, IP_RECVTTL, one) &&
                    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, spec.interface.name.c_str(),
                               static_cast<socklen_t>(spec.interface.name.size())) == 0 &&
                    set_option(fd, IPPROTO_IP, IP_TTL, ttl) &&
                    set_option(fd, IPPROTO_IP, IP_TOS, tos) &&
                    set_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl) &&
                    set_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, zero) &&
                    set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, interface_address);
    if (!ok) {
        return failed("setsockopt", where);
    }
    const sockaddr_in local = socket_address(spec.bind_address, spec.port);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        std::string message = failed(
            "bind to " + spec.bind_address.to_string() + ":" + std::to_string(spec.port), where);
        if (errno == EADDRINUSE) {
            message += " (is hbd or another hbping -r running here?)";
        }
        return message;
    }
    if (spec.join_group) {
        ip_mreqn membership{};
        membership.imr_multiaddr.s_addr = htonl(spec.join_group->value);
        membership.imr_address = interface_address;
        membership.imr_ifindex = static_cast<int>(if_nametoindex(spec.interface.name.c_str()));
        if (!set_option(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, membership)) {
            return failed("IP_ADD_MEMBERSHIP " + spec.join_group->to_string(), where);
        }
    }
    return socket_fd;
}

std::optional<Datagram> receive(const Socket& socket, std::span<std::uint8_t> buffer) noexcept {
    sockaddr_in source{};
    iovec vector{buffer.data(), buffer.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr header{.msg_name = &source,
                  .msg_namelen = sizeof source,
                  .msg_iov = &vector,
                  .msg_iovlen = 1,
                  .msg_control = control.data(),
                  .msg_controllen = control.size(),
                  .msg_flags = 0};
    // MSG_TRUNC: the return value is the datagram's real length, so oversize input is visible.
    const ssize_t length = recvmsg(socket.fd(), &header, MSG_DONTWAIT | MSG_TRUNC);
    if (length < 0) {
        return std::nullopt;
    }
    Datagram datagram;
    datagram.src_address = Ipv4{ntohl(source.sin_addr.s_addr)};
    datagram.src_port = ntohs(source.sin_port);
    datagram.length = static_cast<std::size_t>(length);
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
            int ttl = 0;
            std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
            datagram.ttl = ttl;
        }
    }
    return datagram;
}

bool send_to(const Socket& socket, Ipv4 address, std::uint16_t port,
             std::span<const std::uint8_t> bytes) noexcept {
    const sockaddr_in remote = socket_address(address, port);
    const ssize_t sent = sendto(socket.fd(), bytes.data(), bytes.size(), 0,
                                reinterpret_cast<const sockaddr*>(&remote), sizeof remote);
    return sent == static_cast<ssize_t>(bytes.size());
}

SocketEndpoint::SocketEndpoint(std::vector<Socket> sockets) : sockets_(std::move(sockets)) {
    for (const Socket& socket : sockets_) {
        fds_.push_back(pollfd{socket.fd(), POLLIN, 0});
    }
}

std::optional<Datagram> SocketEndpoint::receive(std::span<std::uint8_t> buffer) noexcept {
    for (std::size_t tried = 0; tried < sockets_.size(); ++tried) {
        const Socket& socket = sockets_[next_];
        next_ = (next_ + 1) % sockets_.size();  // no socket can starve the others
        if (std::optional<Datagram> datagram = ping::receive(socket, buffer)) {
            return datagram;
        }
    }
    return std::nullopt;
}

bool SocketEndpoint::send_to(Ipv4 address, std::uint16_t port,
                             std::span<const std::uint8_t> bytes) noexcept {
    return ping::send_to(sockets_.front(), address, port, bytes);
}

bool SocketEndpoint::wait(Nanos until, const sigset_t& wait_mask) {
    const Nanos left = std::max<Nanos>(until - monotonic_now(), 0);
    const timespec timeout{static_cast<time_t>(left / nanos_per_s),
                           static_cast<long>(left % nanos_per_s)};
    for (pollfd& fd : fds_) {
        fd.revents = 0;
    }
    return ppoll(fds_.data(), fds_.size(), &timeout, &wait_mask) > 0;
}

std::size_t SocketEndpoint::max_datagram() const noexcept {
    return max_size_bytes;
}

}  // namespace hb::ping
