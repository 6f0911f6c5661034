// hb_impair: the userspace impairment relay of the netns tests and benchmarks (DESIGN §10). It
// forwards Ethernet frames between two interfaces over AF_PACKET with seeded impairments.
//
// The kernel here has no netem, so degraded links come from this bump in the wire: every frame
// received on one interface is dropped, delayed, reordered or duplicated as the options and the
// seed decide, then sent out of the other. Each direction draws from its own generator, a fixed
// number of draws per frame, so the same seed and the same traffic replay the same run.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

// A frame is at most 64 KiB (a GSO frame from a local socket can be that big); the headroom lets
// a VLAN tag that the kernel stripped into the auxdata be put back in place.
constexpr std::size_t frame_capacity = 65536;
constexpr std::size_t vlan_tag_size = 4;
constexpr int burst_frames = 64;  // frames read per socket per loop turn: bounded work
constexpr int socket_buffer_bytes = 8 << 20;
constexpr std::uint64_t default_seed = 1;
constexpr std::size_t default_queue_limit = 16384;

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;
constexpr std::uint8_t ip_protocol_tcp = 6;
constexpr std::uint8_t ip_protocol_udp = 17;
constexpr std::uint8_t ip_protocol_icmpv6 = 58;

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "hb_impair: %s\n", message.c_str());
    std::exit(1);
}

[[noreturn]] void fail_errno(const std::string& what) {
    fail(what + ": " + std::strerror(errno));
}

std::int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// xoshiro256** seeded through splitmix64: small, fast and the same on every platform, unlike
// the std distributions, so a seed printed on one machine replays on another.
class Random {
public:
    explicit Random(std::uint64_t seed) {
        for (auto& word : state_) {
            seed += 0x9e3779b97f4a7c15;
            std::uint64_t mixed = seed;
            mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9;
            mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111eb;
            word = mixed ^ (mixed >> 31);
        }
    }

    // Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    static std::uint64_t rotl(std::uint64_t value, int bits) {
        return (value << bits) | (value >> (64 - bits));
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t shifted = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= shifted;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    std::array<std::uint64_t, 4> state_{};
};

struct Impairment {
    double loss = 0;
    double delay_ms = 0;
    double jitter_ms = 0;
    double reorder = 0;
    double reorder_extra_ms = 10;
    double duplicate = 0;
};

// One impairment option: its name without a direction prefix, and whether it is a probability.
struct OptionSpec {
    std::string_view name;
    double Impairment::*field;
    bool probability;
};

constexpr std::array<OptionSpec, 6> impairment_options{{
    {"loss", &Impairment::loss, true},
    {"delay-ms", &Impairment::delay_ms, false},
    {"jitter-ms", &Impairment::jitter_ms, false},
    {"reorder", &Impairment::reorder, true},
    {"reorder-extra-ms", &Impairment::reorder_extra_ms, false},
    {"duplicate", &Impairment::duplicate, true},
}};

enum Direction : int { a2b = 0, b2a = 1 };
constexpr std::array<std::string_view, 2> direction_names{"a2b", "b2a"};

struct Options {
    std::string interface_a;
    std::string interface_b;
    std::uint64_t seed = default_seed;
    double stats_interval_s = 0;
    std::size_t queue_limit = default_queue_limit;
    std::array<Impairment, 2> impairments{};
};

constexpr std::string_view usage_text =
    "usage: hb_impair [OPTIONS] IFACE_A IFACE_B\n"
    "Forwards frames between IFACE_A and IFACE_B (AF_PACKET) with seeded impairments.\n"
    "\n"
    "Impairments; unprefixed apply to both directions, --a2b-X / --b2a-X to one (and win):\n"
    "  --loss P               probability a frame is dropped (0..1)\n"
    "  --delay-ms D           delay added to every frame\n"
    "  --jitter-ms J          delay drawn uniformly from [D-J, D+J], never below 0\n"
    "  --reorder P            probability a frame is held back so that later ones overtake it\n"
    "  --reorder-extra-ms E   how long such a frame is held back (default 10)\n"
    "  --duplicate P          probability a frame is sent twice\n"
    "Other:\n"
    "  --seed N               seed of the impairment draws (default 1)\n"
    "  --stats-interval-s S   print counters to stderr every S seconds (default 0: never)\n"
    "  --queue-limit N        frames held for delay at most; more are dropped (default 16384)\n"
    "  -h, --help             this text\n"
    "SIGTERM/SIGINT print the final counters as one JSON line on stdout, then exit 0.\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "hb_impair: %s\n%.*s", message.c_str(),
                 static_cast<int>(usage_text.size()), usage_text.data());
    std::exit(2);
}

double parse_double(std::string_view option, std::string_view text) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
        usage_error("--" + std::string(option) + ": not a number: '" + std::string(text) + "'");
    }
    return value;
}

std::uint64_t parse_unsigned(std::string_view option, std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
        usage_error("--" + std::string(option) + ": not an unsigned integer: '" +
                    std::string(text) + "'");
    }
    return value;
}

Options parse_options(int argc, char** argv) {
    Options options;
    // Per option: [both, a2b, b2a]; a direction's own value wins whatever the order on the line.
    std::array<std::array<std::optional<double>, 3>, impairment_options.size()> given{};
    std::vector<std::string_view> positional;
    for (int index = 1; index < argc; ++index) {
        const std::string_view argument = argv[index];
        if (argument == "-h" || argument == "--help") {
            std::fwrite(usage_text.data(), 1, usage_text.size(), stdout);
            std::exit(0);
        }
        if (!argument.starts_with("--")) {
            positional.push_back(argument);
            continue;
        }
        std::string_view name = argument.substr(2);
        std::string_view value;
        if (const auto equals = name.find('='); equals != std::string_view::npos) {
            value = name.substr(equals + 1);
            name = name.substr(0, equals);
        } else if (index + 1 < argc) {
            value = argv[++index];
        } else {
            usage_error("--" + std::string(name) + " needs a value");
        }
        if (name == "seed") {
            options.seed = parse_unsigned(name, value);
            continue;
        }
        if (name == "stats-interval-s") {
            options.stats_interval_s = parse_double(name, value);
            if (options.stats_interval_s < 0) {
                usage_error("--stats-interval-s must be >= 0");
            }
            continue;
        }
        if (name == "queue-limit") {
            options.queue_limit = parse_unsigned(name, value);
            continue;
        }
        int slot = 0;
        std::string_view base = name;
        if (name.starts_with("a2b-")) {
            slot = 1;
            base = name.substr(4);
        } else if (name.starts_with("b2a-")) {
            slot = 2;
            base = name.substr(4);
        }
        const auto spec = std::find_if(impairment_options.begin(), impairment_options.end(),
                                       [&](const OptionSpec& each) { return each.name == base; });
        if (spec == impairment_options.end()) {
            usage_error("unknown option --" + std::string(name));
        }
        const double number = parse_double(name, value);
        if (spec->probability && (number < 0 || number > 1)) {
            usage_error("--" + std::string(name) + " is a probability: 0..1");
        }
        if (!spec->probability && number < 0) {
            usage_error("--" + std::string(name) + " must be >= 0");
        }
        given[static_cast<std::size_t>(spec - impairment_options.begin())][slot] = number;
    }
    if (positional.size() != 2) {
        usage_error("give exactly two interfaces, IFACE_A and IFACE_B");
    }
    options.interface_a = positional[0];
    options.interface_b = positional[1];
    if (options.interface_a == options.interface_b) {
        usage_error("IFACE_A and IFACE_B must differ");
    }
    for (std::size_t option = 0; option < impairment_options.size(); ++option) {
        for (const int direction : {a2b, b2a}) {
            const auto& own = given[option][direction + 1];
            const auto& both = given[option][0];
            if (own || both) {
                options.impairments[direction].*impairment_options[option].field =
                    own ? *own : *both;
            }
        }
    }
    return options;
}

struct Counters {
    std::uint64_t received = 0;            // frames read from the ingress interface
    std::uint64_t forwarded = 0;           // frames sent out, duplicates included
    std::uint64_t dropped = 0;             // frames lost on purpose (--loss)
    std::uint64_t duplicated = 0;          // extra copies made (--duplicate)
    std::uint64_t delayed = 0;             // frames held in the queue for a while
    std::uint64_t reordered = 0;           // frames held back by --reorder
    std::uint64_t checksums_filled = 0;    // unfinished L4 checksums completed
    std::uint64_t checksums_unfilled = 0;  // unfinished checksums of a kind not handled
    std::uint64_t vlan_tags_restored = 0;  // tags the kernel had moved into the auxdata
    std::uint64_t truncated = 0;           // frames longer than the buffer, dropped
    std::uint64_t queue_full = 0;          // frames dropped because --queue-limit was reached
    std::uint64_t send_errors = 0;         // frames the egress socket refused (e.g. above the MTU)
    std::uint64_t kernel_drops = 0;        // frames the kernel dropped before the relay read them
};

void append_counters(std::string& out, const Counters& counters) {
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"received", counters.received},
        {"forwarded", counters.forwarded},
        {"dropped", counters.dropped},
        {"duplicated", counters.duplicated},
        {"delayed", counters.delayed},
        {"reordered", counters.reordered},
        {"checksums_filled", counters.checksums_filled},
        {"checksums_unfilled", counters.checksums_unfilled},
        {"vlan_tags_restored", counters.vlan_tags_restored},
        {"truncated", counters.truncated},
        {"queue_full", counters.queue_full},
        {"send_errors", counters.send_errors},
        {"kernel_drops", counters.kernel_drops},
    };
    out += '{';
    bool first = true;
    for (const auto& [name, value] : fields) {
        if (!first) {
            out += ',';
        }
        first = false;
        out += '"';
        out += name;
        out += "\":";
        out += std::to_string(value);
    }
    out += '}';
}

// ---------------------------------------------------------------------------------------------
// Checksums

std::uint16_t load16(const std::uint8_t* bytes) {
    return static_cast<std::uint16_t>((bytes[0] << 8) | bytes[1]);
}

void store16(std::uint8_t* bytes, std::uint16_t value) {
    bytes[0] = static_cast<std::uint8_t>(value >> 8);
    bytes[1] = static_cast<std::uint8_t>(value & 0xff);
}

std::uint64_t add_bytes(std::uint64_t sum, const std::uint8_t* bytes, std::size_t length) {
    std::size_t index = 0;
    for (; index + 1 < length; index += 2) {
        sum += load16(bytes + index);
    }
    if (index < length) {
        sum += std::uint64_t{bytes[index]} << 8;
    }
    return sum;
}

std::uint16_t fold(std::uint64_t sum) {
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(sum);
}

enum class ChecksumResult { filled, unhandled };

// Completes the TCP/UDP/ICMPv6 checksum of a frame whose sender left it to the device
// (CHECKSUM_PARTIAL): a frame re-sent over AF_PACKET reaches the receiver as if checksummed, and
// it would be dropped there. The sum is computed from scratch, whatever the field held.
ChecksumResult fill_checksum(std::uint8_t* frame, std::size_t length) {
    std::size_t offset = 12;
    if (length < offset + 2) {
        return ChecksumResult::unhandled;
    }
    std::uint16_t ethertype = load16(frame + offset);
    while ((ethertype == ethertype_vlan || ethertype == ethertype_qinq) && length >= offset + 6) {
        offset += 4;
        ethertype = load16(frame + offset);
    }
    offset += 2;
    const std::uint8_t* ip = frame + offset;
    const std::size_t ip_room = length - offset;
    std::uint64_t sum = 0;
    std::uint8_t protocol = 0;
    std::size_t l4_offset = 0;
    std::size_t l4_length = 0;
    if (ethertype == ethertype_ipv4) {
        if (ip_room < 20 || (ip[0] >> 4) != 4) {
            return ChecksumResult::unhandled;
        }
        const std::size_t header_length = std::size_t{ip[0] & 0x0fu} * 4;
        const std::size_t total_length = load16(ip + 2);
        const bool fragment = (load16(ip + 6) & 0x3fff) != 0;  // MF set or an offset
        if (header_length < 20 || total_length < header_length || total_length > ip_room ||
            fragment) {
            return ChecksumResult::unhandled;
        }
        protocol = ip[9];
        l4_offset = offset + header_length;
        l4_length = total_length - header_length;
        sum = add_bytes(sum, ip + 12, 8);  // source and destination
    } else if (ethertype == ethertype_ipv6) {
        if (ip_room < 40 || (ip[0] >> 4) != 6) {
            return ChecksumResult::unhandled;
        }
        // Extension headers are not walked: a local sender offloads only plain TCP/UDP.
        protocol = ip[6];
        l4_offset = offset + 40;
        l4_length = load16(ip + 4);
        if (l4_length > ip_room - 40) {
            return ChecksumResult::unhandled;
        }
        sum = add_bytes(sum, ip + 8, 32);
    } else {
        return ChecksumResult::unhandled;
    }
    std::size_t field = 0;
    if (protocol == ip_protocol_udp) {
        field = 6;
    } else if (protocol == ip_protocol_tcp) {
        field = 16;
    } else if (protocol == ip_protocol_icmpv6 && ethertype == ethertype_ipv6) {
        field = 2;
    } else {
        return ChecksumResult::unhandled;
    }
    if (l4_length < field + 2) {
        return ChecksumResult::unhandled;
    }
    std::uint8_t* l4 = frame + l4_offset;
    sum += protocol;
    sum += l4_length;
    store16(l4 + field, 0);
    sum = add_bytes(sum, l4, l4_length);
    std::uint16_t checksum = static_cast<std::uint16_t>(~fold(sum));
    if (checksum == 0 && protocol == ip_protocol_udp) {
        checksum = 0xffff;  // 0 means "no checksum" in UDP
    }
    store16(l4 + field, checksum);
    return ChecksumResult::filled;
}

// ---------------------------------------------------------------------------------------------
// Sockets

struct Port {
    std::string name;
    int fd = -1;
};

Port open_port(const std::string& name) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) {
        fail_errno("interface " + name);
    }
    Port port{name, socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL))};
    if (port.fd < 0) {
        fail_errno("socket(AF_PACKET) for " + name + " (needs CAP_NET_RAW)");
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(index);
    if (bind(port.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        fail_errno("bind to " + name);
    }
    // Frames between the hosts are addressed to their MACs, not to this interface's.
    packet_mreq membership{};
    membership.mr_ifindex = static_cast<int>(index);
    membership.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(port.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) !=
        0) {
        fail_errno("promiscuous mode on " + name);
    }
    // The auxdata says whether the checksum is unfinished and holds a stripped VLAN tag.
    const int on = 1;
    if (setsockopt(port.fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) != 0) {
        fail_errno("PACKET_AUXDATA on " + name);
    }
    // Best effort: the relay's own sends are also recognised by sll_pkttype below.
    setsockopt(port.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);
    // A burst at line rate must not overflow the socket while the relay sleeps; FORCE needs
    // CAP_NET_ADMIN, the plain option is the fallback.
    if (setsockopt(port.fd, SOL_SOCKET, SO_RCVBUFFORCE, &socket_buffer_bytes,
                   sizeof socket_buffer_bytes) != 0) {
        setsockopt(port.fd, SOL_SOCKET, SO_RCVBUF, &socket_buffer_bytes,
                   sizeof socket_buffer_bytes);
    }
    // Frames that arrived before the bind completed belong to no test; read statistics reset.
    tpacket_stats stats{};
    socklen_t stats_length = sizeof stats;
    getsockopt(port.fd, SOL_PACKET, PACKET_STATISTICS, &stats, &stats_length);
    return port;
}

std::uint64_t take_kernel_drops(int fd) {
    tpacket_stats stats{};
    socklen_t length = sizeof stats;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) != 0) {
        return 0;
    }
    return stats.tp_drops;
}

// ---------------------------------------------------------------------------------------------
// The relay

struct Pending {
    std::int64_t due_ns;
    std::uint64_t sequence;  // keeps frames due at the same time in arrival order
    Direction direction;
    std::vector<std::uint8_t> frame;
};

bool due_later(const Pending& left, const Pending& right) {
    return left.due_ns != right.due_ns ? left.due_ns > right.due_ns
                                       : left.sequence > right.sequence;
}

class Relay {
public:
    Relay(const Options& options, Port a, Port b)
        : options_(options),
          ports_{std::move(a), std::move(b)},
          random_{Random(options.seed ^ 0xa2b0a2b0a2b0a2b0),
                  Random(options.seed ^ 0xb2a0b2a0b2a0)} {
        queue_.reserve(std::min<std::size_t>(options.queue_limit, 4096));
    }

    // Reads at most one burst from the port that feeds `direction`; true if it read anything.
    bool receive_burst(Direction direction, std::int64_t now_ns) {
        bool worked = false;
        for (int count = 0; count < burst_frames; ++count) {
            const std::optional<std::size_t> length = receive(direction);
            if (!length) {
                break;
            }
            worked = true;
            if (*length > 0) {
                impair(direction, *length, now_ns);
            }
        }
        return worked;
    }

    // Sends every queued frame that is due; returns the time the next one is due, if any.
    std::optional<std::int64_t> send_due(std::int64_t now_ns) {
        while (!queue_.empty() && queue_.front().due_ns <= now_ns) {
            std::pop_heap(queue_.begin(), queue_.end(), due_later);
            Pending pending = std::move(queue_.back());
            queue_.pop_back();
            send(pending.direction, pending.frame.data(), pending.frame.size());
            pending.frame.clear();
            spare_frames_.push_back(std::move(pending.frame));  // keeps its capacity for reuse
        }
        if (queue_.empty()) {
            return std::nullopt;
        }
        return queue_.front().due_ns;
    }

    int fd(Direction direction) const { return ports_[direction].fd; }

    std::string counters_json() {
        for (const Direction direction : {a2b, b2a}) {
            counters_[direction].kernel_drops += take_kernel_drops(ports_[direction].fd);
        }
        std::string out = "{\"seed\":" + std::to_string(options_.seed) + ",\"a\":\"" +
                          ports_[a2b].name + "\",\"b\":\"" + ports_[b2a].name + "\"";
        for (const Direction direction : {a2b, b2a}) {
            out += ",\"";
            out += direction_names[direction];
            out += "\":";
            append_counters(out, counters_[direction]);
        }
        out += ",\"queued\":" + std::to_string(queue_.size()) + "}";
        return out;
    }

private:
    // Reads one frame into buffer_ (after the VLAN headroom). nullopt: nothing to read;
    // 0: a frame not to forward (sent by this host, or too big).
    std::optional<std::size_t> receive(Direction direction) {
        Counters& counters = counters_[direction];
        sockaddr_ll from{};
        iovec data{buffer_.data() + vlan_tag_size, frame_capacity};
        alignas(cmsghdr) std::array<std::uint8_t, CMSG_SPACE(sizeof(tpacket_auxdata))> control{};
        msghdr message{};
        message.msg_name = &from;
        message.msg_namelen = sizeof from;
        message.msg_iov = &data;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        const ssize_t result = recvmsg(ports_[direction].fd, &message, MSG_TRUNC);
        if (result < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fail_errno("receive on " + ports_[direction].name);
            }
            return std::nullopt;
        }
        if (from.sll_pkttype == PACKET_OUTGOING) {
            return 0;  // leaving this interface: the relay's own send, or a local one
        }
        counters.received++;
        auto length = static_cast<std::size_t>(result);
        if (length > frame_capacity || (message.msg_flags & MSG_TRUNC) != 0) {
            counters.truncated++;
            return 0;
        }
        std::optional<tpacket_auxdata> auxdata;
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
             header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level == SOL_PACKET && header->cmsg_type == PACKET_AUXDATA) {
                tpacket_auxdata value{};
                std::memcpy(&value, CMSG_DATA(header), sizeof value);
                auxdata = value;
            }
        }
        frame_offset_ = vlan_tag_size;
        if (auxdata && (auxdata->tp_status & TP_STATUS_VLAN_VALID) != 0 && length >= 12) {
            // The kernel took the tag off into the auxdata; the far side must see it again.
            std::uint8_t* frame = buffer_.data();
            std::memmove(frame, frame + vlan_tag_size, 12);
            const std::uint16_t tpid = (auxdata->tp_status & TP_STATUS_VLAN_TPID_VALID) != 0
                                           ? auxdata->tp_vlan_tpid
                                           : ethertype_vlan;
            store16(frame + 12, tpid);
            store16(frame + 14, auxdata->tp_vlan_tci);
            frame_offset_ = 0;
            length += vlan_tag_size;
            counters.vlan_tags_restored++;
        }
        if (auxdata && (auxdata->tp_status & TP_STATUS_CSUMNOTREADY) != 0) {
            if (fill_checksum(buffer_.data() + frame_offset_, length) == ChecksumResult::filled) {
                counters.checksums_filled++;
            } else {
                counters.checksums_unfilled++;
            }
        }
        return length;
    }

    void impair(Direction direction, std::size_t length, std::int64_t now_ns) {
        const Impairment& impairment = options_.impairments[direction];
        Counters& counters = counters_[direction];
        Random& random = random_[direction];
        // Always four draws per frame, so that changing one impairment leaves the others'
        // decisions for the same seed and traffic unchanged.
        const bool lost = random.uniform() < impairment.loss;
        const bool duplicate = random.uniform() < impairment.duplicate;
        const double jitter_draw = random.uniform();
        const bool held_back = random.uniform() < impairment.reorder;
        if (lost) {
            counters.dropped++;
            return;
        }
        double delay_ms = impairment.delay_ms + (2 * jitter_draw - 1) * impairment.jitter_ms;
        delay_ms = std::max(0.0, delay_ms);
        if (held_back) {
            delay_ms += impairment.reorder_extra_ms;
            counters.reordered++;
        }
        const std::uint8_t* frame = buffer_.data() + frame_offset_;
        const int copies = duplicate ? 2 : 1;
        if (duplicate) {
            counters.duplicated++;
        }
        const auto delay_ns = static_cast<std::int64_t>(std::llround(delay_ms * 1e6));
        if (delay_ns <= 0) {
            for (int copy = 0; copy < copies; ++copy) {
                send(direction, frame, length);
            }
            return;
        }
        counters.delayed++;
        for (int copy = 0; copy < copies; ++copy) {
            if (queue_.size() >= options_.queue_limit) {
                counters.queue_full++;
                continue;
            }
            std::vector<std::uint8_t> stored;
            if (!spare_frames_.empty()) {
                stored = std::move(spare_frames_.back());
                spare_frames_.pop_back();
            }
            stored.assign(frame, frame + length);
            queue_.push_back({now_ns + delay_ns, next_sequence_++, direction, std::move(stored)});
            std::push_heap(queue_.begin(), queue_.end(), due_later);
        }
    }

    // a2b frames leave through B's socket, b2a frames through A's.
    void send(Direction direction, const std::uint8_t* frame, std::size_t length) {
        const Port& egress = ports_[direction == a2b ? b2a : a2b];
        if (::send(egress.fd, frame, length, MSG_DONTWAIT) == static_cast<ssize_t>(length)) {
            counters_[direction].forwarded++;
        } else {
            counters_[direction].send_errors++;
        }
    }

    const Options& options_;
    std::array<Port, 2> ports_;  // indexed by the direction they feed: A feeds a2b
    std::array<Random, 2> random_;
    std::array<Counters, 2> counters_{};
    std::vector<Pending> queue_;  // a min-heap on (due_ns, sequence)
    std::vector<std::vector<std::uint8_t>> spare_frames_;
    std::uint64_t next_sequence_ = 0;
    std::array<std::uint8_t, frame_capacity + vlan_tag_size> buffer_{};
    std::size_t frame_offset_ = vlan_tag_size;
};

std::string describe(const Impairment& impairment) {
    std::string out;
    for (const auto& spec : impairment_options) {
        char value[64];
        std::snprintf(value, sizeof value, "%g", impairment.*spec.field);
        out += (out.empty() ? "" : " ") + std::string(spec.name) + "=" + value;
    }
    return out;
}

timespec timeout_until(std::int64_t deadline_ns, std::int64_t now_ns) {
    const std::int64_t wait_ns = std::max<std::int64_t>(0, deadline_ns - now_ns);
    return {static_cast<time_t>(wait_ns / 1'000'000'000),
            static_cast<long>(wait_ns % 1'000'000'000)};
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);

    // Signals arrive as readable data in the poll set, so a stop never cuts a send in half.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
        fail_errno("sigprocmask");
    }
    const int signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) {
        fail_errno("signalfd");
    }

    Port port_a = open_port(options.interface_a);
    Port port_b = open_port(options.interface_b);
    // On the heap: the relay holds a 64 KiB frame buffer.
    auto relay = std::make_unique<Relay>(options, std::move(port_a), std::move(port_b));
    std::fprintf(stderr, "hb_impair: seed=%llu a=%s b=%s\n",
                 static_cast<unsigned long long>(options.seed), options.interface_a.c_str(),
                 options.interface_b.c_str());
    std::fprintf(stderr, "hb_impair: a2b %s\nhb_impair: b2a %s\nhb_impair: ready\n",
                 describe(options.impairments[a2b]).c_str(),
                 describe(options.impairments[b2a]).c_str());

    const auto stats_interval_ns =
        static_cast<std::int64_t>(std::llround(options.stats_interval_s * 1e9));
    std::int64_t next_stats_ns = monotonic_ns() + stats_interval_ns;
    std::array<pollfd, 3> watched{
        {{relay->fd(a2b), POLLIN, 0}, {relay->fd(b2a), POLLIN, 0}, {signal_fd, POLLIN, 0}}};
    std::optional<std::int64_t> next_due_ns;
    while (true) {
        std::int64_t now_ns = monotonic_ns();
        std::optional<std::int64_t> deadline_ns = next_due_ns;
        if (stats_interval_ns > 0) {
            deadline_ns = std::min(deadline_ns.value_or(next_stats_ns), next_stats_ns);
        }
        timespec timeout{};
        if (deadline_ns) {
            timeout = timeout_until(*deadline_ns, now_ns);
        }
        const int ready =
            ppoll(watched.data(), watched.size(), deadline_ns ? &timeout : nullptr, nullptr);
        if (ready < 0 && errno != EINTR) {
            fail_errno("ppoll");
        }
        if ((watched[2].revents & POLLIN) != 0) {
            break;
        }
        now_ns = monotonic_ns();
        for (const Direction direction : {a2b, b2a}) {
            if ((watched[direction].revents & (POLLIN | POLLERR)) != 0) {
                relay->receive_burst(direction, now_ns);
            }
        }
        next_due_ns = relay->send_due(monotonic_ns());
        if (stats_interval_ns > 0 && now_ns >= next_stats_ns) {
            std::fprintf(stderr, "%s\n", relay->counters_json().c_str());
            next_stats_ns = now_ns + stats_interval_ns;
        }
    }
    // Frames still queued are not sent: a stopped link delivers nothing more.
    std::printf("%s\n", relay->counters_json().c_str());
    std::fflush(stdout);
    return 0;
}
