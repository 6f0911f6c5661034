// The inbound-traffic check: rx_packets of each watched interface from a non-dump RTM_GETLINK,
// judged once per interval by InboundJudge.
#include "policy/traffic_watch.hh"

// glibc's <net/if.h> must come before the kernel's headers (see link_watch.cc).
#include <net/if.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "hb/assert.hh"

namespace hb::policy {

// ---- InboundJudge ----------------------------------------------------------------------------

InboundJudge::InboundJudge(Nanos window_ns, Nanos start_ns) noexcept
    : window_ns_(window_ns), last_moved_ns_(start_ns), last_reading_ns_(start_ns) {
    HB_ASSERT(window_ns > 0);
}

InboundJudge::Verdict InboundJudge::observe(int ifindex, std::uint64_t rx_packets,
                                            Nanos now) noexcept {
    HB_ASSERT(ifindex > 0);
    bool moved = false;
    if (ifindex == ifindex_) {
        if (rx_packets > rx_packets_) {
            moved = true;
        } else if (rx_packets < rx_packets_) {
            ++resets_;
            moved = rx_packets > 0;
        }
    } else if (ifindex_ != 0) {
        ++resets_;  // another device under the name: its counter starts from its own zero
    }
    ifindex_ = ifindex;
    rx_packets_ = rx_packets;
    return judge(moved, now);
}

InboundJudge::Verdict InboundJudge::absent(Nanos now) noexcept {
    ifindex_ = 0;
    rx_packets_ = 0;
    return judge(false, now);
}

InboundJudge::Verdict InboundJudge::judge(bool moved, Nanos now) noexcept {
    // Readings come in time order; a clock going back is a caller's bug.
    HB_ASSERT(now >= last_reading_ns_);
    last_reading_ns_ = now;
    if (moved) {
        last_moved_ns_ = now;
        if (!up_) {
            up_ = true;
            return Verdict::came_up;
        }
        return Verdict::none;
    }
    if (up_ && now - last_moved_ns_ >= window_ns_) {
        up_ = false;
        return Verdict::went_down;
    }
    return Verdict::none;
}

// ---- TrafficWatch ----------------------------------------------------------------------------

namespace {

// Stale replies (to a request whose answer came too late) are skipped; a few at most.
constexpr int datagrams_per_read = 4;

struct LinkStats {
    int error = 0;
    const nlattr* stats64 = nullptr;
    const nlattr* stats32 = nullptr;
};

int collect_stats(const nlattr* attribute, void* data) noexcept {
    auto* stats = static_cast<LinkStats*>(data);
    switch (mnl_attr_get_type(attribute)) {
        case IFLA_STATS64:
            stats->stats64 = attribute;
            break;
        case IFLA_STATS:
            stats->stats32 = attribute;
            break;
        default:
            break;
    }
    return MNL_CB_OK;
}

// rx_packets sits at the start of both layouts; payloads are only 4-byte aligned, and a short one
// (an older kernel's) lacks only newer fields, so the field is copied out.
template <typename Stats>
[[nodiscard]] bool rx_packets_of(const nlattr* attribute, std::uint64_t& rx_packets) noexcept {
    Stats stats{};
    if (mnl_attr_get_payload_len(attribute) <
        offsetof(Stats, rx_packets) + sizeof(stats.rx_packets)) {
        return false;
    }
    std::memcpy(&stats, mnl_attr_get_payload(attribute),
                std::min<std::size_t>(mnl_attr_get_payload_len(attribute), sizeof(stats)));
    rx_packets = stats.rx_packets;
    return true;
}

std::string errno_text(const char* call, int error) {
    return std::string(call) + ": " + std::strerror(error);
}

}  // namespace

TrafficWatch::TrafficWatch(Detector& detector) : detector_(detector) {}

TrafficWatch::~TrafficWatch() {
    if (socket_ != nullptr) {
        mnl_socket_close(socket_);
    }
}

std::variant<std::unique_ptr<TrafficWatch>, std::string> TrafficWatch::open(
    std::vector<TrafficAdapter> adapters, Detector& detector, Nanos now) {
    if (adapters.empty()) {
        return std::string("inbound traffic: no adapter to watch");
    }
    std::unique_ptr<TrafficWatch> watch{new TrafficWatch(detector)};
    watch->adapters_.reserve(adapters.size());
    for (TrafficAdapter& adapter : adapters) {
        if (adapter.ifname.empty() || adapter.ifname.size() >= IFNAMSIZ) {
            return "inbound traffic: '" + adapter.ifname + "' is not a valid interface name";
        }
        HB_ASSERT(adapter.timing.interval_ns > 0 && adapter.timing.multiplier > 0);
        const Nanos window_ns = adapter.timing.detection_ns();
        watch->adapters_.push_back(State{.config = std::move(adapter),
                                         .judge = InboundJudge(window_ns, now),
                                         .cadence_ns = now});
    }
    watch->buffer_ = std::make_unique<char[]>(buffer_size);
    watch->socket_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (watch->socket_ == nullptr) {
        return errno_text("inbound traffic: mnl_socket_open2(NETLINK_ROUTE)", errno);
    }
    // No multicast groups: the socket only ever holds the answers to our own requests.
    if (mnl_socket_bind(watch->socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
        return errno_text("inbound traffic: mnl_socket_bind", errno);
    }
    watch->portid_ = mnl_socket_get_portid(watch->socket_);
    if (!watch->timer_.open()) {
        return errno_text("inbound traffic: timerfd_create", errno);
    }
    // The first readings are the baselines. One that fails means netlink does not work here: an
    // operating error to report now, not a silence to discover a window later.
    for (State& state : watch->adapters_) {
        watch->take_reading(state, now);
        if (watch->counters_.read_errors != 0) {
            return "inbound traffic: reading the counters of " + state.config.ifname + ": " +
                   std::strerror(watch->last_error_);
        }
    }
    watch->arm_timer();
    return watch;
}

TrafficCounters TrafficWatch::counters() const noexcept {
    TrafficCounters counters = counters_;
    for (const State& state : adapters_) {
        counters.counter_resets += state.judge.resets();
    }
    return counters;
}

bool TrafficWatch::poll(Nanos now) noexcept {
    bool worked = timer_.consume(now);
    for (State& state : adapters_) {
        if (now >= state.next_read_ns) {
            take_reading(state, now);
            worked = true;
        }
    }
    arm_timer();
    return worked;
}

void TrafficWatch::take_reading(State& state, Nanos now) noexcept {
    const Reading reading = read(state);
    InboundJudge::Verdict verdict = InboundJudge::Verdict::none;
    switch (reading.outcome) {
        case Outcome::read:
            ++counters_.reads;
            verdict = state.judge.observe(reading.ifindex, reading.rx_packets, now);
            break;
        case Outcome::absent:
            ++counters_.absent;
            verdict = state.judge.absent(now);
            break;
        case Outcome::failed:
            break;  // counted in read(); says nothing about the traffic
    }
    switch (verdict) {
        case InboundJudge::Verdict::went_down:
            ++counters_.went_down;
            detector_.on_local_adapter(state.config.local, false, evidence::inbound,
                                       state.judge.last_moved_ns());
            break;
        case InboundJudge::Verdict::came_up:
            ++counters_.came_up;
            detector_.on_local_adapter(state.config.local, true, evidence::inbound, now);
            break;
        case InboundJudge::Verdict::none:
            break;
    }
    // Keep the cadence (a reading at a window's end is not one of its slots); after a stall,
    // start it again rather than read a burst.
    const Nanos interval_ns = state.config.timing.interval_ns;
    if (now >= state.cadence_ns) {
        state.cadence_ns += interval_ns;
        if (state.cadence_ns <= now) {
            state.cadence_ns = now + interval_ns;
        }
    }
    // The window's end gets a reading of its own, so a verdict never waits for the cadence. Only
    // a reading changes the judge, so this holds until the next one; after a failed reading the
    // window's end may be past, and the cadence alone paces the retries.
    state.next_read_ns = state.cadence_ns;
    if (state.judge.down_at_ns() > now) {
        state.next_read_ns = std::min(state.next_read_ns, state.judge.down_at_ns());
    }
}

void TrafficWatch::fail(int error) noexcept {
    ++counters_.read_errors;
    last_error_ = error;
}

TrafficWatch::Reading TrafficWatch::read(const State& state) noexcept {
    alignas(nlmsghdr) char
        request[NLMSG_SPACE(sizeof(ifinfomsg)) + MNL_ATTR_HDRLEN + MNL_ALIGN(IFNAMSIZ)] = {};
    nlmsghdr* header = mnl_nlmsg_put_header(request);
    header->nlmsg_type = RTM_GETLINK;
    header->nlmsg_flags = NLM_F_REQUEST;
    seq_ = seq_ + 1 == 0 ? 1 : seq_ + 1;
    header->nlmsg_seq = seq_;
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
    info->ifi_family = AF_UNSPEC;
    info->ifi_index = 0;  // look the interface up by name: a recreated one is found again
    mnl_attr_put_strz(header, IFLA_IFNAME, state.config.ifname.c_str());
    HB_ASSERT(header->nlmsg_len <= sizeof(request));
    if (mnl_socket_sendto(socket_, header, header->nlmsg_len) < 0) {
        fail(errno);
        return {};
    }
    // rtnetlink answers in the sender's context: the reply is queued before sendto returns.
    for (int datagram = 0; datagram < datagrams_per_read; ++datagram) {
        const ssize_t length = mnl_socket_recvfrom(socket_, buffer_.get(), buffer_size);
        if (length < 0) {
            if (errno == EINTR) {
                continue;
            }
            // EAGAIN: no answer at all; ENOSPC: libmnl's MSG_TRUNC, the answer was cut.
            fail(errno);
            return {};
        }
        bool answered = false;
        const Reading reading = parse_reply(static_cast<std::size_t>(length), seq_, answered);
        if (answered) {
            return reading;
        }
    }
    fail(EAGAIN);
    return {};
}

TrafficWatch::Reading TrafficWatch::parse_reply(std::size_t length, std::uint32_t seq,
                                                bool& answered) noexcept {
    const auto* header = reinterpret_cast<const nlmsghdr*>(buffer_.get());
    int left = static_cast<int>(length);
    for (; mnl_nlmsg_ok(header, left); header = mnl_nlmsg_next(header, &left)) {
        if (header->nlmsg_seq != seq || header->nlmsg_pid != portid_) {
            continue;  // the late answer to an earlier request
        }
        answered = true;
        if (header->nlmsg_type == NLMSG_ERROR) {
            if (mnl_nlmsg_get_payload_len(header) < sizeof(nlmsgerr)) {
                fail(EPROTO);
                return {};
            }
            const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
            if (error->error == -ENODEV) {
                return Reading{.outcome = Outcome::absent};
            }
            fail(error->error < 0 ? -error->error : EPROTO);
            return {};
        }
        if (header->nlmsg_type != RTM_NEWLINK ||
            mnl_nlmsg_get_payload_len(header) < sizeof(ifinfomsg)) {
            fail(EPROTO);
            return {};
        }
        const auto* info = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(header));
        LinkStats stats;
        Reading reading{.outcome = Outcome::read, .ifindex = info->ifi_index};
        const bool parsed =
            mnl_attr_parse(header, sizeof(ifinfomsg), collect_stats, &stats) == MNL_CB_OK;
        const bool have_counter =
            parsed && info->ifi_index > 0 &&
            (stats.stats64 != nullptr
                 ? rx_packets_of<rtnl_link_stats64>(stats.stats64, reading.rx_packets)
                 : stats.stats32 != nullptr &&
                       rx_packets_of<rtnl_link_stats>(stats.stats32, reading.rx_packets));
        if (!have_counter) {
            fail(EPROTO);
            return {};
        }
        return reading;
    }
    return {};
}

void TrafficWatch::arm_timer() noexcept {
    Nanos deadline = InboundJudge::never;
    for (const State& state : adapters_) {
        deadline = std::min(deadline, state.next_read_ns);
    }
    timer_.arm(deadline);
}

}  // namespace hb::policy
