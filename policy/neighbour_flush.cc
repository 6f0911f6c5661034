#include "policy/neighbour_flush.hh"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace hb::policy {

namespace {

constexpr std::size_t buffer_size = 8192;  // MNL_SOCKET_BUFFER_SIZE, and a batch of requests

}  // namespace

std::variant<std::unique_ptr<NeighbourFlush>, std::string> NeighbourFlush::open() {
    std::unique_ptr<NeighbourFlush> flush{new NeighbourFlush};
    flush->buffer_ = std::make_unique<char[]>(buffer_size);
    flush->socket_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (flush->socket_ == nullptr) {
        return std::string("neighbour flush: mnl_socket_open2(NETLINK_ROUTE): ") +
               std::strerror(errno);
    }
    if (mnl_socket_bind(flush->socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
        return std::string("neighbour flush: mnl_socket_bind: ") + std::strerror(errno);
    }
    flush->portid_ = mnl_socket_get_portid(flush->socket_);
    return flush;
}

NeighbourFlush::~NeighbourFlush() {
    if (socket_ != nullptr) {
        mnl_socket_close(socket_);
    }
}

void NeighbourFlush::forget(int ifindex, std::span<const Ipv4> addresses) noexcept {
    // One request per address, each acknowledged, in batches that fit the buffer.
    constexpr std::size_t request_size =
        MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(sizeof(ndmsg)) + MNL_ATTR_HDRLEN + 4;
    std::size_t next = 0;
    while (next < addresses.size()) {
        std::size_t used = 0;
        for (; next < addresses.size() && used + request_size <= buffer_size; ++next) {
            nlmsghdr* header = mnl_nlmsg_put_header(buffer_.get() + used);
            header->nlmsg_type = RTM_DELNEIGH;
            header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
            header->nlmsg_seq = ++sequence_;
            auto* neighbour =
                static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ndmsg)));
            neighbour->ndm_family = AF_INET;
            neighbour->ndm_ifindex = ifindex;
            mnl_attr_put_u32(header, NDA_DST, htonl(addresses[next].value));
            used += header->nlmsg_len;
            ++counters_.requests;
        }
        if (mnl_socket_sendto(socket_, buffer_.get(), used) < 0) {
            ++counters_.errors;
            return;
        }
        read_answers();
    }
}

void NeighbourFlush::read_answers() noexcept {
    for (;;) {
        const ssize_t length = mnl_socket_recvfrom(socket_, buffer_.get(), buffer_size);
        if (length <= 0) {
            if (length < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                ++counters_.errors;
            }
            return;
        }
        auto left = static_cast<int>(length);
        for (const nlmsghdr* header = reinterpret_cast<const nlmsghdr*>(buffer_.get());
             mnl_nlmsg_ok(header, left); header = mnl_nlmsg_next(header, &left)) {
            if (header->nlmsg_type != NLMSG_ERROR ||
                mnl_nlmsg_get_payload_len(header) < sizeof(nlmsgerr)) {
                continue;
            }
            const auto* answer = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
            if (answer->error == 0) {
                ++counters_.forgotten;
            } else if (answer->error == -ENOENT) {
                ++counters_.absent;
            } else {
                ++counters_.errors;
            }
        }
    }
}

}  // namespace hb::policy
