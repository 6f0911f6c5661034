// Raw-socket ICMP echo for netmon.cf targets: one socket per adapter, one timer for all of them.
#include "policy/netmon_prober.hh"

#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include "hb/assert.hh"

namespace hb::policy {
namespace {

// A round of replies is at most one per target; more than this per poll waits for the next.
constexpr int replies_per_poll = 64;
constexpr std::size_t echo_payload_bytes = 8;  // the send time, for whoever reads a capture
constexpr std::size_t echo_bytes = sizeof(icmphdr) + echo_payload_bytes;
constexpr std::size_t ipv4_header_min_bytes = 20;
constexpr Nanos never = std::numeric_limits<Nanos>::max();

// Identifiers of every prober in this process differ, so two probers (or two adapters) sharing a
// namespace never take each other's replies; the pid keeps hbd processes of one host apart.
std::atomic<std::uint32_t> identifiers_taken{0};

// RFC 1071 one's-complement sum.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) noexcept {
    std::uint32_t sum = 0;
    std::size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2) {
        sum += static_cast<std::uint32_t>(bytes[i]) << 8 | bytes[i + 1];
    }
    if (i < bytes.size()) {
        sum += static_cast<std::uint32_t>(bytes[i]) << 8;
    }
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

std::string errno_text(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

}  // namespace

std::vector<NetmonAdapter> netmon_adapters(const Topology& topology,
                                           std::span<const std::vector<Ipv4>> targets) {
    std::vector<NetmonAdapter> adapters;
    const NodeConfig* local_node = topology.config().find_node(topology.local_node());
    HB_ASSERT(local_node != nullptr);
    for (std::uint32_t l = 0; l < topology.local_adapters().size(); ++l) {
        const LocalAdapter& local = topology.local_adapters()[l];
        if (local.adapter >= targets.size() || targets[local.adapter].empty()) {
            continue;
        }
        const AdapterConfig& config = local_node->adapters[local.adapter];
        adapters.push_back(NetmonAdapter{.local = l,
                                         .ifname = config.ifname,
                                         .address = config.address,
                                         .timing = topology.timing(local.network),
                                         .targets = targets[local.adapter]});
    }
    return adapters;
}

NetmonProber::NetmonProber(Detector& detector, std::size_t adapter_count) : detector_(detector) {
    adapters_.reserve(adapter_count);
}

NetmonProber::~NetmonProber() {
    for (State& state : adapters_) {
        close_fd(state.fd);
    }
    close_fd(epoll_fd_);
}

std::variant<std::unique_ptr<NetmonProber>, std::string> NetmonProber::open(
    std::vector<NetmonAdapter> adapters, Detector& detector, Nanos now) {
    if (adapters.empty()) {
        return std::string("netmon: no adapter has targets");
    }
    std::unique_ptr<NetmonProber> prober{new NetmonProber(detector, adapters.size())};
    prober->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (prober->epoll_fd_ < 0) {
        return errno_text("netmon: epoll_create1");
    }
    if (!prober->timer_.open()) {
        return errno_text("netmon: timerfd_create");
    }
    epoll_event timer_event{};
    timer_event.events = EPOLLIN;
    timer_event.data.fd = prober->timer_.fd();
    if (epoll_ctl(prober->epoll_fd_, EPOLL_CTL_ADD, prober->timer_.fd(), &timer_event) != 0) {
        return errno_text("netmon: epoll_ctl timerfd");
    }

    const std::uint32_t first = identifiers_taken.fetch_add(
        static_cast<std::uint32_t>(adapters.size()), std::memory_order_relaxed);
    const auto pid = static_cast<std::uint32_t>(getpid());
    for (std::size_t i = 0; i < adapters.size(); ++i) {
        NetmonAdapter& config = adapters[i];
        const std::string where =
            "netmon: adapter " + config.ifname + " (" + config.address.to_string() + "): ";
        HB_ASSERT(config.timing.interval_ns > 0 && config.timing.multiplier > 0);
        if (config.targets.empty()) {
            return where + "no targets";
        }
        if (config.ifname.empty() || config.ifname.size() >= IFNAMSIZ) {
            return where + "bad interface name";
        }
        State& state = prober->adapters_.emplace_back();
        state.identifier = static_cast<std::uint16_t>((pid * 2654435761U >> 16) + first +
                                                      static_cast<std::uint32_t>(i));
        state.fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (state.fd < 0) {
            return where + errno_text("raw ICMP socket (needs CAP_NET_RAW)");
        }
        // Raw ICMP sockets see every ICMP message; let the kernel drop all but echo replies.
        icmp_filter filter{};
        filter.data = ~(std::uint32_t{1} << ICMP_ECHOREPLY);
        if (setsockopt(state.fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter)) != 0) {
            return where + errno_text("setsockopt ICMP_FILTER");
        }
        if (setsockopt(state.fd, SOL_SOCKET, SO_BINDTODEVICE, config.ifname.c_str(),
                       static_cast<socklen_t>(config.ifname.size() + 1)) != 0) {
            return where + errno_text("setsockopt SO_BINDTODEVICE");
        }
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(config.address.value);
        if (bind(state.fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
            return where + errno_text("bind");
        }
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = state.fd;
        if (epoll_ctl(prober->epoll_fd_, EPOLL_CTL_ADD, state.fd, &event) != 0) {
            return where + errno_text("epoll_ctl");
        }
        state.config = std::move(config);
        state.next_probe_ns = now;
        state.last_reply_ns = now;
    }
    // The first round goes out now; it opens the first window.
    for (State& state : prober->adapters_) {
        prober->send_probes(state, now);
    }
    prober->arm_timer();
    return prober;
}

bool NetmonProber::poll(Nanos now) noexcept {
    bool worked = false;
    worked |= timer_.consume(now);
    for (State& state : adapters_) {
        // Replies first: whatever arrived while this thread was busy proves the adapter works.
        worked |= receive(state, now);
        if (now >= state.next_probe_ns) {
            send_probes(state, now);
            worked = true;
        }
        judge(state, now);
    }
    arm_timer();
    return worked;
}

bool NetmonProber::receive(State& state, Nanos now) noexcept {
    // An IP header with options (up to 60 bytes) plus more than an echo reply's worth.
    std::array<std::uint8_t, 256> buffer{};
    bool received = false;
    for (int i = 0; i < replies_per_poll; ++i) {
        sockaddr_in from{};
        socklen_t from_size = sizeof(from);
        const ssize_t got = recvfrom(state.fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&from), &from_size);
        if (got < 0) {
            // EAGAIN: drained. Anything else (an ICMP error queued on the socket) says nothing
            // about the targets' answers; the next read goes on.
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            continue;
        }
        received = true;
        const auto size = static_cast<std::size_t>(got);
        if (size < ipv4_header_min_bytes) {
            ++counters_.malformed;
            continue;
        }
        const std::size_t header_bytes = static_cast<std::size_t>(buffer[0] & 0x0f) * 4;
        if (header_bytes < ipv4_header_min_bytes || size < header_bytes + sizeof(icmphdr) ||
            size > buffer.size()) {
            ++counters_.malformed;
            continue;
        }
        const std::span<const std::uint8_t> icmp(buffer.data() + header_bytes, size - header_bytes);
        if (internet_checksum(icmp) != 0) {
            ++counters_.malformed;
            continue;
        }
        icmphdr header{};
        std::memcpy(&header, icmp.data(), sizeof(header));
        const Ipv4 source{ntohl(from.sin_addr.s_addr)};
        const auto& targets = state.config.targets;
        // Raw sockets see replies meant for any prober on the host: ours carry our identifier.
        if (header.type != ICMP_ECHOREPLY || header.code != 0 ||
            ntohs(header.un.echo.id) != state.identifier ||
            std::find(targets.begin(), targets.end(), source) == targets.end()) {
            ++counters_.rejected;
            continue;
        }
        ++counters_.replies;
        state.last_reply_ns = now;
        state.unanswered = false;
        if (!state.up) {
            state.up = true;
            ++counters_.came_up;
            detector_.on_local_adapter(state.config.local, true, evidence::netmon, now);
        }
    }
    return received;
}

void NetmonProber::send_probes(State& state, Nanos now) noexcept {
    std::array<std::uint8_t, echo_bytes> packet{};
    for (const Ipv4 target : state.config.targets) {
        icmphdr header{};
        header.type = ICMP_ECHO;
        header.code = 0;
        header.un.echo.id = htons(state.identifier);
        header.un.echo.sequence = htons(state.sequence++);
        std::memcpy(packet.data(), &header, sizeof(header));
        std::memcpy(packet.data() + sizeof(header), &now, sizeof(now));
        const std::uint16_t checksum = internet_checksum(packet);
        // The checksum is stored as computed over network-order words.
        packet[2] = static_cast<std::uint8_t>(checksum >> 8);
        packet[3] = static_cast<std::uint8_t>(checksum & 0xff);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(target.value);
        const ssize_t sent = sendto(state.fd, packet.data(), packet.size(), MSG_DONTWAIT,
                                    reinterpret_cast<const sockaddr*>(&to), sizeof(to));
        if (sent == static_cast<ssize_t>(packet.size())) {
            ++counters_.probes_sent;
        } else {
            ++counters_.send_errors;
        }
    }
    if (!state.unanswered) {
        state.unanswered = true;
        state.first_unanswered_ns = now;
    }
    // Keep the cadence; after a stall, start it again rather than send a burst of rounds.
    state.next_probe_ns += state.config.timing.interval_ns;
    if (state.next_probe_ns <= now) {
        state.next_probe_ns = now + state.config.timing.interval_ns;
    }
}

void NetmonProber::judge(State& state, Nanos now) noexcept {
    if (!state.up || !state.unanswered) {
        return;
    }
    if (now - state.first_unanswered_ns < state.config.timing.detection_ns()) {
        return;
    }
    state.up = false;
    ++counters_.went_down;
    detector_.on_local_adapter(state.config.local, false, evidence::netmon, state.last_reply_ns);
}

void NetmonProber::arm_timer() noexcept {
    Nanos deadline = never;
    for (const State& state : adapters_) {
        deadline = std::min(deadline, state.next_probe_ns);
        if (state.up && state.unanswered) {
            deadline =
                std::min(deadline, state.first_unanswered_ns + state.config.timing.detection_ns());
        }
    }
    timer_.arm(deadline);
}

}  // namespace hb::policy
