// The link watch: an rtnetlink (RTMGRP_LINK) listener that keeps carrier, operstate and rx
// counters of a fixed set of interface names, resynchronising with a dump when events are lost.
#include "policy/link_watch.hh"

// glibc's <net/if.h> must come before <linux/if.h>: the kernel header then defines only what
// glibc lacks (IFF_LOWER_UP).
#include <net/if.h>

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "hb/assert.hh"

namespace hb::policy {

namespace {

static_assert(IFNAMSIZ == 16);

constexpr int open_dump_timeout_ms = 2000;

[[nodiscard]] std::string errno_text(const char* call, int error) {
    return std::string(call) + ": " + std::strerror(error);
}

// Attributes of one RTM_NEWLINK/RTM_DELLINK, pointing into the receive buffer.
struct LinkAttributes {
    const char* name = nullptr;
    const nlattr* operstate = nullptr;
    const nlattr* stats64 = nullptr;
    const nlattr* stats32 = nullptr;
};

int collect_attribute(const nlattr* attribute, void* data) noexcept {
    auto* attributes = static_cast<LinkAttributes*>(data);
    switch (mnl_attr_get_type(attribute)) {
        case IFLA_IFNAME:
            if (mnl_attr_validate(attribute, MNL_TYPE_NUL_STRING) < 0 ||
                mnl_attr_get_payload_len(attribute) > IFNAMSIZ) {
                return MNL_CB_ERROR;
            }
            attributes->name = mnl_attr_get_str(attribute);
            break;
        case IFLA_OPERSTATE:
            if (mnl_attr_validate(attribute, MNL_TYPE_U8) < 0) {
                return MNL_CB_ERROR;
            }
            attributes->operstate = attribute;
            break;
        case IFLA_STATS64:
            attributes->stats64 = attribute;
            break;
        case IFLA_STATS:
            attributes->stats32 = attribute;
            break;
        default:
            break;
    }
    return MNL_CB_OK;
}

// Attribute payloads are only 4-byte aligned and their size depends on the kernel version, so
// the structure is copied, short payloads leaving the missing (newer) fields zero.
template <typename Stats>
[[nodiscard]] Stats read_stats(const nlattr* attribute) noexcept {
    Stats stats{};
    const std::size_t length =
        std::min<std::size_t>(mnl_attr_get_payload_len(attribute), sizeof(stats));
    std::memcpy(&stats, mnl_attr_get_payload(attribute), length);
    return stats;
}

[[nodiscard]] LinkState state_of(const LinkStatus& status) noexcept {
    const bool operstate_passes =
        status.operstate == IF_OPER_UP || status.operstate == IF_OPER_UNKNOWN;
    return status.admin_up && status.carrier && operstate_passes ? LinkState::up : LinkState::down;
}

}  // namespace

const char* to_string(LinkState state) noexcept {
    switch (state) {
        case LinkState::unknown:
            return "unknown";
        case LinkState::up:
            return "up";
        case LinkState::down:
            return "down";
        case LinkState::missing:
            return "missing";
    }
    return "invalid";
}

bool has_no_carrier_state(const LinkStatus& status) noexcept {
    return status.state != LinkState::missing && status.ifindex != 0 &&
           status.operstate == IF_OPER_UNKNOWN;
}

std::variant<std::unique_ptr<LinkWatch>, std::string> LinkWatch::open(
    std::span<const std::string> ifnames) {
    if (ifnames.empty()) {
        return std::string("link watch: no interface names given");
    }
    std::unique_ptr<LinkWatch> watch(new LinkWatch());
    watch->entries_.resize(ifnames.size());
    for (std::size_t i = 0; i < ifnames.size(); ++i) {
        const std::string& name = ifnames[i];
        if (name.empty() || name.size() >= name_capacity ||
            name.find_first_of("/: \t\n") != std::string::npos) {
            return "link watch: '" + name + "' is not a valid interface name (1 to " +
                   std::to_string(name_capacity - 1) + " characters, no '/', ':' or spaces)";
        }
        if (std::find(ifnames.begin(), ifnames.begin() + static_cast<std::ptrdiff_t>(i), name) !=
            ifnames.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "link watch: interface '" + name + "' is listed twice";
        }
        std::memcpy(watch->entries_[i].name, name.data(), name.size());
    }
    watch->buffer_ = std::make_unique<char[]>(buffer_size);

    watch->socket_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (watch->socket_ == nullptr) {
        return errno_text("link watch: mnl_socket_open2(NETLINK_ROUTE)", errno);
    }
    // Subscribe before the dump: an event racing with the dump is then read after it, never lost.
    if (mnl_socket_bind(watch->socket_, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
        return errno_text("link watch: mnl_socket_bind(RTMGRP_LINK)", errno);
    }
    watch->portid_ = mnl_socket_get_portid(watch->socket_);

    watch->resync_wanted_ = true;
    if (!watch->start_dump()) {
        return errno_text("link watch: sendto(RTM_GETLINK dump)", watch->last_errno_);
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(open_dump_timeout_ms);
    // A resync requested during open (ENOBUFS, interrupted dump) is served here too.
    while (watch->dump_in_flight_ || watch->dump_pending()) {
        if (!watch->dump_in_flight_ && !watch->start_dump()) {
            return errno_text("link watch: sendto(RTM_GETLINK dump)", watch->last_errno_);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return std::string("link watch: no complete RTM_GETLINK dump within ") +
                   std::to_string(open_dump_timeout_ms) + " ms";
        }
        pollfd pfd{.fd = watch->fd(), .events = POLLIN, .revents = 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) {
            return errno_text("link watch: poll(netlink socket)", errno);
        }
        const std::uint64_t io_errors = watch->counters_.io_errors;
        watch->read_burst();
        if (watch->counters_.io_errors != io_errors) {
            return errno_text("link watch: recvfrom(netlink socket)", watch->last_errno_);
        }
    }
    // The state found at open is the baseline, not a change.
    for (Entry& entry : watch->entries_) {
        HB_ASSERT(entry.status.state != LinkState::unknown);
        entry.reported = entry.status.state;
    }
    return watch;
}

LinkWatch::~LinkWatch() {
    if (socket_ != nullptr) {
        mnl_socket_close(socket_);
    }
}

int LinkWatch::fd() const noexcept {
    return mnl_socket_get_fd(socket_);
}

std::uint32_t LinkWatch::size() const noexcept {
    return static_cast<std::uint32_t>(entries_.size());
}

const LinkStatus& LinkWatch::status(std::uint32_t index) const noexcept {
    HB_ASSERT(index < entries_.size());
    return entries_[index].status;
}

std::size_t LinkWatch::poll(std::span<LinkChange> out) noexcept {
    out_ = out;
    out_count_ = 0;
    flush_pending();
    if (out_count_ < out_.size()) {
        read_burst();
    }
    // A dump whose request could not be sent (or that waits for the running one) starts here.
    if (!dump_in_flight_ && dump_pending()) {
        (void)start_dump();
    }
    const std::size_t written = out_count_;
    out_ = {};
    out_count_ = 0;
    return written;
}

void LinkWatch::request_stats() noexcept {
    stats_wanted_ = true;
    if (!dump_in_flight_) {
        (void)start_dump();
    }
}

void LinkWatch::read_burst() noexcept {
    for (std::size_t datagram = 0; datagram < burst_datagrams; ++datagram) {
        // Stop while changes are still pending: they are returned first by the next poll().
        if (out_count_ == out_.size() && !out_.empty()) {
            return;
        }
        const ssize_t length = mnl_socket_recvfrom(socket_, buffer_.get(), buffer_size);
        if (length >= 0) {
            handle_datagram(buffer_.get(), static_cast<std::size_t>(length));
            continue;
        }
        switch (errno) {
            case EAGAIN:
                return;
            case EINTR:
                continue;
            case ENOBUFS:
                // The kernel dropped notifications: only a full dump tells us the truth again.
                ++counters_.resyncs;
                resync_wanted_ = true;
                if (!dump_in_flight_) {
                    (void)start_dump();
                }
                continue;
            case ENOSPC:
                // libmnl's answer to MSG_TRUNC: a message was cut, so it is lost like an ENOBUFS.
                ++counters_.parse_errors;
                ++counters_.resyncs;
                resync_wanted_ = true;
                if (!dump_in_flight_) {
                    (void)start_dump();
                }
                continue;
            default:
                last_errno_ = errno;
                ++counters_.io_errors;
                return;
        }
    }
}

bool LinkWatch::start_dump() noexcept {
    HB_ASSERT(!dump_in_flight_);
    alignas(nlmsghdr) char request[NLMSG_SPACE(sizeof(ifinfomsg))] = {};
    nlmsghdr* header = mnl_nlmsg_put_header(request);
    header->nlmsg_type = RTM_GETLINK;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    // Sequence 0 is what notifications commonly carry; never use it for our dumps.
    dump_seq_ = dump_seq_ + 1 == 0 ? 1 : dump_seq_ + 1;
    header->nlmsg_seq = dump_seq_;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    if (mnl_socket_sendto(socket_, header, header->nlmsg_len) < 0) {
        last_errno_ = errno;
        ++counters_.io_errors;
        return false;  // the wanted flags stay set: poll() tries again
    }
    dump_in_flight_ = true;
    dump_interrupted_ = false;
    resync_wanted_ = false;
    stats_wanted_ = false;
    for (Entry& entry : entries_) {
        entry.seen_in_dump = false;
    }
    return true;
}

void LinkWatch::after_dump_done() noexcept {
    HB_ASSERT(dump_in_flight_);
    dump_in_flight_ = false;
    ++counters_.dumps;
    if (dump_interrupted_) {
        // The link list changed while the kernel walked it: the dump may have skipped a link.
        ++counters_.resyncs;
        resync_wanted_ = true;
        return;
    }
    // A name neither in the dump nor in a notification during it does not exist any more.
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
        if (!entries_[i].seen_in_dump) {
            mark_missing(i);
        }
    }
    if (dump_pending()) {
        (void)start_dump();
    }
}

void LinkWatch::handle_datagram(const void* data, std::size_t length) noexcept {
    const auto* header = static_cast<const nlmsghdr*>(data);
    int left = static_cast<int>(length);
    while (mnl_nlmsg_ok(header, left)) {
        const bool from_dump =
            dump_in_flight_ && header->nlmsg_pid == portid_ && header->nlmsg_seq == dump_seq_;
        if (from_dump && (header->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
            dump_interrupted_ = true;
        }
        switch (header->nlmsg_type) {
            case NLMSG_DONE:
                if (from_dump) {
                    after_dump_done();
                }
                break;
            case NLMSG_ERROR:
                if (from_dump) {
                    // The kernel refused the dump; ask again on the next poll().
                    ++counters_.parse_errors;
                    dump_in_flight_ = false;
                    resync_wanted_ = true;
                }
                break;
            case RTM_NEWLINK:
            case RTM_DELLINK:
                if (from_dump) {
                    ++counters_.dump_messages;
                } else {
                    ++counters_.events;
                }
                handle_link(header);
                break;
            default:
                break;
        }
        header = mnl_nlmsg_next(header, &left);
    }
    if (left != 0) {
        ++counters_.parse_errors;
    }
}

void LinkWatch::handle_link(const nlmsghdr* header) noexcept {
    if (mnl_nlmsg_get_payload_len(header) < sizeof(ifinfomsg)) {
        ++counters_.parse_errors;
        return;
    }
    const auto* info = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(header));
    // AF_BRIDGE messages describe bridge ports: an RTM_DELLINK there means "left the bridge".
    if (info->ifi_family != AF_UNSPEC) {
        return;
    }
    LinkAttributes attributes;
    if (mnl_attr_parse(header, sizeof(ifinfomsg), collect_attribute, &attributes) != MNL_CB_OK) {
        ++counters_.parse_errors;
        return;
    }
    const int ifindex = info->ifi_index;
    std::uint32_t by_index = size();
    std::uint32_t by_name = size();
    for (std::uint32_t i = 0; i < size(); ++i) {
        if (ifindex != 0 && entries_[i].status.ifindex == ifindex) {
            by_index = i;
        }
        if (attributes.name != nullptr &&
            std::strncmp(entries_[i].name, attributes.name, name_capacity) == 0) {
            by_name = i;
        }
    }

    // The kernel always names the link; should a message not, it cannot be a rename.
    if (attributes.name == nullptr) {
        by_name = by_index;
    }
    if (header->nlmsg_type == RTM_DELLINK) {
        if (by_index != size()) {
            mark_missing(by_index);
            entries_[by_index].seen_in_dump = true;
        }
        return;
    }
    // The interface we knew under this index now has another name: the watched name is gone.
    if (by_index != size() && by_index != by_name) {
        mark_missing(by_index);
    }
    if (by_name == size()) {
        return;
    }
    Entry& entry = entries_[by_name];
    LinkStatus& status = entry.status;
    if (status.ifindex != ifindex) {
        // Another device took the name: its counters start from its own zero.
        status.rx_packets = 0;
        status.rx_bytes = 0;
    }
    status.ifindex = ifindex;
    status.admin_up = (info->ifi_flags & IFF_UP) != 0;
    status.carrier = (info->ifi_flags & IFF_LOWER_UP) != 0;
    status.operstate = attributes.operstate != nullptr ? mnl_attr_get_u8(attributes.operstate)
                                                       : static_cast<std::uint8_t>(IF_OPER_UNKNOWN);
    if (attributes.stats64 != nullptr) {
        const auto stats = read_stats<rtnl_link_stats64>(attributes.stats64);
        status.rx_packets = stats.rx_packets;
        status.rx_bytes = stats.rx_bytes;
    } else if (attributes.stats32 != nullptr) {
        const auto stats = read_stats<rtnl_link_stats>(attributes.stats32);
        status.rx_packets = stats.rx_packets;
        status.rx_bytes = stats.rx_bytes;
    }
    // Seen by a notification during a dump counts too: the dump may have walked past it already.
    entry.seen_in_dump = true;
    set_state(by_name, state_of(status));
}

void LinkWatch::mark_missing(std::uint32_t index) noexcept {
    LinkStatus& status = entries_[index].status;
    const LinkState previous = status.state;
    status = LinkStatus{};
    status.operstate = IF_OPER_NOTPRESENT;
    status.state = previous;
    set_state(index, LinkState::missing);
}

void LinkWatch::set_state(std::uint32_t index, LinkState state) noexcept {
    Entry& entry = entries_[index];
    if (entry.status.state == state) {
        return;
    }
    entry.status.state = state;
    if (state == entry.reported) {
        return;  // back where the caller last saw it before the change could be returned
    }
    if (out_count_ < out_.size()) {
        out_[out_count_++] = LinkChange{index, entry.reported, state};
        entry.reported = state;
    }
}

void LinkWatch::flush_pending() noexcept {
    for (std::uint32_t i = 0; i < size() && out_count_ < out_.size(); ++i) {
        Entry& entry = entries_[i];
        if (entry.status.state != entry.reported) {
            out_[out_count_++] = LinkChange{i, entry.reported, entry.status.state};
            entry.reported = entry.status.state;
        }
    }
}

}  // namespace hb::policy
