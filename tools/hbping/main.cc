// hbping: proves that hb's heartbeats can flow, as AIX's mping does for CAA. `-r` answers PINGs,
// `-s` sends them and reports loss, duplicates, reordering and round-trip statistics per
// responder. docs/hbping.md is the manual.
#include <sys/random.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "build_config.hh"
#include "tools/hbping/endpoint.hh"
#include "tools/hbping/messages.hh"
#include "tools/hbping/options.hh"
#include "tools/hbping/ping_socket.hh"
#include "tools/hbping/stats.hh"
#if HB_HAVE_DPDK
#include "tools/hbping/dpdk_endpoint.hh"
#endif

namespace {

using hb::Ipv4;
using hb::Nanos;
using hb::nanos_per_ms;
using hb::nanos_per_s;
namespace ping = hb::ping;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
// After the last ping: how long replies are awaited, as a multiple of the interval, within bounds.
constexpr Nanos linger_min_ns = nanos_per_s;
constexpr Nanos linger_max_ns = 5 * nanos_per_s;
constexpr std::size_t receive_buffer_bytes = ping::max_size_bytes + 1;

constexpr const char* help_text = R"(NAME
    hbping - prove that hb heartbeats flow between nodes (unicast or multicast)

SYNOPSIS
    hbping -r [-v] [-a ADDR | --caa-group[=ADDR]] [-I IFACE] [-p PORT] [-t TTL] [-c COUNT]
              [-w DEADLINE] [--key-file FILE] [--cluster-id ID] [--json]
    hbping -s [-v] [-a ADDR | --caa-group[=ADDR]] [-I IFACE] [-p PORT] [-t TTL] [-c COUNT]
              [-i INTERVAL] [-w DEADLINE] [--size BYTES] [--max-loss PCT]
              [--key-file FILE] [--cluster-id ID] [--json]
    hbping -r|-s --transport dpdk --port DEVARGS --source ADDR [--eal-args="ARGS"] [...]

DESCRIPTION
    hbping is hb's mping. Start "hbping -r" on one or more nodes, then "hbping -s" on another:
    the sender sends PING messages of hb's wire format (docs/PROTOCOL.md) to a multicast group
    or a unicast peer, every receiver answers each with a PONG, and the sender prints one line
    per reply and, at the end, statistics per responder: packets transmitted and received, loss,
    duplicates, reordering, and the round trip (min/avg/max/mdev, p50/p99/p99.9; NA when nothing
    came back). With the cluster's key file both sides sign and check every message, so the test
    covers authentication too; a key mismatch is reported as such on both sides.

    A receiver listens on the interface's address and, for a group, on the group; it runs until
    interrupted, until it answered COUNT pings, or until DEADLINE. A sender stops after COUNT
    pings (then waits up to twice the interval, 1 to 5 s, for the last replies), at DEADLINE,
    or when interrupted.

OPTIONS
    -r              receiver: answer pings
    -s              sender: send pings and report
    -v              verbose: also show ignored datagrams and their reason
    -a ADDR         multicast group (default 227.1.1.1, mping's), or for -s a unicast peer,
                    for -r a local unicast address to listen on
    --caa-group[=ADDR]
                    the group CAA derives from a node address: 228 and the low 24 bits of ADDR
                    (default: of the interface's address; give the same ADDR on every node)
    -I IFACE        interface to use (default: the interface of the route toward ADDR)
    -p PORT         UDP port (default 4098, CAA's and hb's)
    -t TTL          TTL of the pings (default 1, as hb's beats); for -r, of the replies
                    (default 64, so that a TTL test through routers measures the pings alone)
    -c COUNT        sender: pings to send; receiver: pings to answer before exiting
    -i INTERVAL     seconds between pings, a decimal number (default 1; minimum 0.001, hb's
                    fastest beat interval: below it hbping would measure its own scheduling)
    -w DEADLINE     seconds after which hbping exits whatever else happens
    --size BYTES    datagram size, 112 to 65507 (default 112, the size of every hb message).
                    Above 112 the 112-byte header is followed by zero padding; such datagrams
                    are not v1 messages, so only hbping -r answers them (not hbd)
    --max-loss PCT  sender: the loss (percent, per responder) above which the check fails
                    (default 0 with -c, otherwise 100: only silence fails)
    --key-file FILE the cluster key file (as hbd's [cluster] key_file); without it messages
                    are unauthenticated, and a signed reply counts as a key mismatch
    --cluster-id ID cluster id carried by the messages (default 0); others are ignored
    --json          print one JSON document at the end instead of the text report
    --transport T   udp (default, the kernel's) or dpdk: a DPDK port instead of a socket
                    (only in builds with libdpdk; root). With dpdk:
    --port DEVARGS  the DPDK port: devargs such as net_af_packet0,iface=eth1 (probed), an
                    ethdev name, or a PCI address the EAL probed (see --eal-args)
    --source ADDR   the port's own IPv4 address (required: DPDK cannot read a kernel
                    interface's; leave the kernel interface under the port without it)
    --eal-args="ARGS"
                    the EAL's arguments, space separated (default: --no-huge -m 64 --no-pci
                    --no-telemetry --log-level=lib.eal:error --file-prefix=hbping_PID)
                    The DPDK path sends at most 128-byte datagrams (--size 112..128), and
                    shows ttl=? (its records do not carry the received TTL); -I does not apply
    -h, --help      this text

EXIT STATUS
    0   every responder answered within --max-loss, and every MAC verified
    1   the check failed: no reply at all, loss above --max-loss, or replies (or, for -r,
        pings) with a bad MAC; for -r with -c, fewer than COUNT pings answered
    2   usage or set-up error (bad option value, no such interface, unreadable key file,
        port in use); the message names the bad value

EXAMPLES
    hbping -v -r -c 5                       on one node: answer 5 pings on 227.1.1.1
    hbping -v -s -c 5                       on another: ping the group 5 times
    hbping -s -a 198.18.1.2 -c 100 -i 0.01  unicast, 100 pings 10 ms apart
    hbping -s -I eth1 --caa-group=198.18.1.1 --key-file /etc/hb/cluster.key -w 10
    hbping -s -a 198.18.2.2 -t 2 -c 3       cross one router
    hbping -s -a 198.18.1.2 -c 1000 -i 0.001 --json | jq .responders
    hbping -s -a 198.18.1.2 -c 5 --transport dpdk --port net_af_packet0,iface=eth1 \
           --source 198.18.1.1                        the same from a DPDK port (root)
)";

// The signal that asked hbping to stop, 0 until then. SIGINT and SIGTERM stay blocked except
// inside ppoll, so one can never land between the check of this flag and the wait that follows
// (which would then sleep through it).
volatile std::sig_atomic_t stop_signal = 0;
sigset_t wait_mask;  // the mask ppoll waits with: the stop signals unblocked

extern "C" void on_stop_signal(int signum) {
    stop_signal = signum;
}

bool stop_requested() {
    return stop_signal != 0;
}

void install_signal_handlers() {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigfillset(&action.sa_mask);
    for (const int signum : {SIGINT, SIGTERM}) {
        sigaction(signum, &action, nullptr);
    }
    std::signal(SIGPIPE, SIG_IGN);  // a closed output pipe is reported by the write, not fatal
}

int usage_error(const std::string& message) {
    fmt::print(stderr, "hbping: {}\nTry 'hbping --help' for the options.\n", message);
    return exit_usage;
}

// Where per-message lines go: stdout for the text report; with --json, stderr when -v (so that
// stdout holds the document alone), else nowhere.
struct Output {
    std::FILE* lines = stdout;
    bool verbose = false;

    template <typename... Args>
    void line(fmt::format_string<Args...> format, Args&&... args) const {
        if (lines != nullptr) {
            fmt::print(lines, format, std::forward<Args>(args)...);
            std::fputc('\n', lines);
        }
    }
};

std::uint32_t random_incarnation() {
    std::uint32_t value = 0;
    while (value == 0) {
        if (getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
            value = static_cast<std::uint32_t>(hb::monotonic_now());
        }
    }
    return value;
}

std::string ttl_text(int ttl) {
    return ttl < 0 ? std::string("?") : std::to_string(ttl);
}

// The group or peer and the interface, from -a/--caa-group and -I.
struct Resolved {
    ping::Interface interface;
    Ipv4 address;
};

std::variant<Resolved, std::string> resolve(const ping::Options& options) {
    std::variant<ping::Interface, std::string> found;
    if (options.path == ping::Path::dpdk) {
        // The port and its --source address stand for the interface.
        found = ping::Interface{options.dpdk_port, *options.source};
    } else if (!options.interface.empty()) {
        found = ping::interface_named(options.interface);
    } else if (options.caa_group && !options.caa_base) {
        found = ping::interface_toward(ping::caa_group_of(Ipv4{0}));
    } else {
        const Ipv4 toward =
            options.caa_group ? ping::caa_group_of(*options.caa_base) : *options.address;
        found = options.role == ping::Role::receiver && !toward.is_multicast()
                    ? ping::interface_holding(toward)
                    : ping::interface_toward(toward);
    }
    if (auto* error = std::get_if<std::string>(&found)) {
        return *error;
    }
    Resolved resolved{std::get<ping::Interface>(found), Ipv4{}};
    if (options.caa_group) {
        resolved.address =
            ping::caa_group_of(options.caa_base ? *options.caa_base : resolved.interface.address);
    } else {
        resolved.address = *options.address;
    }
    return resolved;
}

std::string banner(const ping::Options& options) {
    return fmt::format("hbping version {} (hb wire v{}, {})", HB_VERSION,
                       static_cast<unsigned>(hb::wire::version),
                       options.path == ping::Path::dpdk ? "DPDK port " + options.dpdk_port
                                                        : std::string("kernel UDP"));
}

// The sockets, or the DPDK port, for a role: a receiver listens on the interface's address and
// port and, for a group, on the group; a sender uses an ephemeral port (the DPDK port has one
// UDP port only: -p's, from which the sender's pings go and to which the replies come).
std::variant<std::unique_ptr<ping::Endpoint>, std::string> open_endpoint(
    const ping::Options& options, const Resolved& where) {
    const bool receiver = options.role == ping::Role::receiver;
    const bool join = receiver && where.address.is_multicast();
    if (options.path == ping::Path::dpdk) {
#if HB_HAVE_DPDK
        auto opened = ping::DpdkEndpoint::open(
            ping::DpdkSpec{.eal_args = options.eal_args.empty() ? ping::default_eal_args(getpid())
                                                                : options.eal_args,
                           .port = options.dpdk_port,
                           .address = where.interface.address,
                           .udp_port = options.port,
                           .ttl = options.ttl,
                           .group = join ? std::optional<Ipv4>(where.address) : std::nullopt});
        if (auto* error = std::get_if<std::string>(&opened)) {
            return *error;
        }
        return std::unique_ptr<ping::Endpoint>(
            std::move(std::get<std::unique_ptr<ping::DpdkEndpoint>>(opened)));
#else
        return std::string("--transport dpdk: this build has no DPDK transport");  // unreachable
#endif
    }
    std::vector<ping::Socket> sockets;
    ping::SocketSpec spec{.interface = where.interface,
                          .bind_address = where.interface.address,
                          .port = receiver ? options.port : std::uint16_t{0},
                          .ttl = options.ttl};
    auto opened = ping::open_socket(spec);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return *error;
    }
    sockets.push_back(std::move(std::get<ping::Socket>(opened)));
    if (join) {
        spec.bind_address = where.address;
        spec.share_port = true;  // several receivers of one group may share a host
        spec.join_group = where.address;
        opened = ping::open_socket(spec);
        if (auto* error = std::get_if<std::string>(&opened)) {
            return *error;
        }
        sockets.push_back(std::move(std::get<ping::Socket>(opened)));
    }
    return std::unique_ptr<ping::Endpoint>(
        std::make_unique<ping::SocketEndpoint>(std::move(sockets)));
}

// ---------------------------------------------------------------------------------------------
// Receiver

// What a receiver did with the datagrams it got.
struct ReceiverCounts {
    std::uint64_t answered = 0;       // pings that passed every check
    std::uint64_t bad_mac = 0;        // pings answered all the same, so the sender learns
    std::uint64_t other_cluster = 0;  // pings of another --cluster-id, not answered
    std::uint64_t ignored = 0;        // not a v1 PING
    std::uint64_t send_errors = 0;    // replies the kernel refused
};

int run_receiver(const ping::Options& options, const Resolved& where, const ping::Identity& self) {
    const bool group = where.address.is_multicast();
    if (!group && where.address != where.interface.address) {
        return usage_error(fmt::format("-a {}: not the address of {} ({})",
                                       where.address.to_string(), where.interface.name,
                                       where.interface.address.to_string()));
    }
    auto opened = open_endpoint(options, where);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return usage_error(*error);
    }
    ping::Endpoint& endpoint = *std::get<std::unique_ptr<ping::Endpoint>>(opened);

    const Output out{options.json ? (options.verbose ? stderr : nullptr) : stdout, options.verbose};
    out.line("{}", banner(options));
    const std::string group_part =
        group ? fmt::format("{}/{} and ", where.address.to_string(), options.port) : "";
    out.line("Listening on {}{}/{} ({}), {}:", group_part, where.interface.address.to_string(),
             options.port, where.interface.name, self.key ? "authenticated" : "unauthenticated");
    if (out.lines == nullptr) {
        // --json without -v: one line on stderr still tells scripts when pings can start.
        fmt::print(stderr, "hbping: listening on {}/{}\n", where.address.to_string(), options.port);
    }

    std::vector<std::uint8_t> rx(receive_buffer_bytes);
    std::vector<std::uint8_t> tx(ping::max_size_bytes);
    ReceiverCounts counts;
    std::uint64_t pong_seq = 0;
    const Nanos start = hb::monotonic_now();
    const Nanos end =
        options.deadline_ns ? start + *options.deadline_ns : std::numeric_limits<Nanos>::max();
    const auto done = [&] {
        return stop_requested() || (options.count && counts.answered >= *options.count) ||
               hb::monotonic_now() >= end;
    };
    while (!done()) {
        if (!endpoint.wait(std::min(end, hb::monotonic_now() + nanos_per_s), wait_mask)) {
            continue;
        }
        while (!done()) {
            const std::optional<ping::Datagram> datagram = endpoint.receive(rx);
            if (!datagram) {
                break;
            }
            const Nanos rx_ns = hb::monotonic_now();
            const std::string from = datagram->src_address.to_string();
            if (datagram->length > rx.size()) {
                ++counts.ignored;
                if (options.verbose) {
                    out.line("ignored a datagram from {}: longer than {} bytes", from,
                             endpoint.max_datagram());
                }
                continue;
            }
            const std::span<const std::uint8_t> bytes(rx.data(), datagram->length);
            const ping::Checked checked = ping::check_message(self, bytes, hb::wire::Kind::ping);
            const std::uint64_t seq = checked.beat.seq;
            switch (checked.check) {
                case ping::Check::malformed:
                    ++counts.ignored;
                    if (options.verbose) {
                        out.line("ignored {} bytes from {}: {}", datagram->length, from,
                                 hb::wire::to_string(checked.decode_error));
                    }
                    continue;
                case ping::Check::other_kind:
                    ++counts.ignored;
                    if (options.verbose) {
                        out.line("ignored a message of kind {} from {}: not a ping",
                                 static_cast<unsigned>(checked.beat.kind), from);
                    }
                    continue;
                case ping::Check::other_cluster:
                    ++counts.other_cluster;
                    if (options.verbose) {
                        out.line("ignored mping from {} of cluster {} (--cluster-id is {})", from,
                                 checked.beat.cluster_id, self.cluster_id);
                    }
                    continue;
                case ping::Check::bad_mac:
                    // Answered all the same (signed with our key, or not at all), so that
                    // the sender learns of the mismatch instead of seeing plain loss.
                    ++counts.bad_mac;
                    out.line("Bad MAC on mping from {} bytes={} seqno={}: {}", from,
                             datagram->length, seq,
                             self.key ? "its cluster key differs from --key-file"
                                      : "it is signed, and no --key-file was given");
                    break;
                case ping::Check::ok:
                    ++counts.answered;
                    break;
            }
            const std::span<std::uint8_t> reply(tx.data(), datagram->length);
            ping::build_pong(self, ++pong_seq, checked.beat, hb::monotonic_now() - rx_ns, reply);
            if (!endpoint.send_to(datagram->src_address, datagram->src_port, reply)) {
                ++counts.send_errors;
                out.line("cannot reply to {}: {}", from, std::strerror(errno));
            }
            if (checked.check == ping::Check::ok) {
                out.line("Replying to mping from {} bytes={} seqno={} ttl={}", from,
                         datagram->length, seq, ttl_text(datagram->ttl));
            }
        }
    }

    const bool short_count = options.count && counts.answered < *options.count;
    const int status = counts.bad_mac != 0 || short_count ? exit_failed : exit_ok;
    if (options.json) {
        fmt::print(
            R"({{"tool":"hbping","role":"receiver","address":{},"port":{},"interface":{},)"
            R"("authenticated":{},"answered":{},"bad_mac":{},"other_cluster":{},"ignored":{},)"
            R"("send_errors":{},"exit_status":{}}})"
            "\n",
            ping::json_string(where.address.to_string()), options.port,
            ping::json_string(where.interface.name), self.key.has_value(), counts.answered,
            counts.bad_mac, counts.other_cluster, counts.ignored, counts.send_errors, status);
    } else {
        fmt::print("\n--- {} receiver statistics ---\n", where.address.to_string());
        fmt::print("{} mpings answered, {} with a bad MAC, {} of another cluster, {} ignored\n",
                   counts.answered, counts.bad_mac, counts.other_cluster, counts.ignored);
        if (short_count) {
            fmt::print("fewer than the {} pings asked for with -c\n", *options.count);
        }
    }
    return status;
}

// ---------------------------------------------------------------------------------------------
// Sender

class Sender {
public:
    Sender(const ping::Options& options, const Resolved& where, const ping::Identity& self,
           std::unique_ptr<ping::Endpoint> endpoint)
        : options_(options),
          where_(where),
          self_(self),
          endpoint_(std::move(endpoint)),
          out_{options.json ? (options.verbose ? stderr : nullptr) : stdout, options.verbose},
          rx_(receive_buffer_bytes),
          tx_(options.size_bytes) {
        const std::size_t expected = options.count ? *options.count : 0;
        tx_times_.reserve(expected + 1);
        tx_times_.push_back(0);  // index 0: seq 0 is never sent
        report_.target = where.address.to_string();
        report_.multicast = where.address.is_multicast();
        report_.port = options.port;
        report_.interface = where.interface.name;
        report_.source = where.interface.address.to_string();
        report_.ttl = options.ttl;
        report_.size_bytes = options.size_bytes;
        report_.interval_s =
            static_cast<double>(options.interval_ns) / static_cast<double>(nanos_per_s);
        report_.authenticated = self.key.has_value();
        report_.max_loss_percent = options.max_loss_percent;
    }

    int run() {
        out_.line("{}", banner(options_));
        out_.line(
            "mpinging {}/{} from {} ({}) with ttl={}, {} bytes, every {} s, {}:", report_.target,
            options_.port, report_.source, report_.interface, options_.ttl, options_.size_bytes,
            report_.interval_s, self_.key ? "authenticated" : "unauthenticated");
        out_.line("");
        endpoint_->prepare(where_.address, hb::monotonic_now() + linger_min_ns);
        const Nanos start = hb::monotonic_now();
        const Nanos end = options_.deadline_ns ? start + *options_.deadline_ns
                                               : std::numeric_limits<Nanos>::max();
        const Nanos linger =
            std::clamp<Nanos>(2 * options_.interval_ns, linger_min_ns, linger_max_ns);
        Nanos next_send = start;
        Nanos linger_end = end;
        bool sending = true;
        while (!stop_requested()) {
            const Nanos now = hb::monotonic_now();
            if (now >= end || (!sending && (now >= linger_end || all_answered()))) {
                break;
            }
            if (sending && now >= next_send) {
                send_ping();
                // A late wake-up (a stalled vCPU) does not make a burst: the schedule moves on.
                next_send = std::max(next_send + options_.interval_ns, now);
                if (options_.count && report_.transmitted >= *options_.count) {
                    sending = false;
                    linger_end = std::min(end, now + linger);
                }
            }
            if (endpoint_->wait(std::min(sending ? next_send : linger_end, end), wait_mask)) {
                drain();
            }
        }
        drain();
        std::sort(report_.responders.begin(), report_.responders.end(),
                  [](const ping::ResponderStats& a, const ping::ResponderStats& b) {
                      return a.address().value < b.address().value;
                  });
        const ping::Verdict verdict = ping::judge(report_);
        if (options_.json) {
            fmt::print("{}\n", ping::format_json(report_, verdict));
        } else {
            fmt::print("{}", ping::format_statistics(report_));
            if (verdict.exit_status != exit_ok) {
                fmt::print("hbping: check failed: {}\n", verdict.reason);
            }
        }
        return verdict.exit_status;
    }

private:
    bool all_answered() const {
        // Only a unicast peer is known to be the single responder; a group may have more.
        return !report_.multicast && report_.responders.size() == 1 &&
               report_.responders.front().received() >= report_.transmitted;
    }

    void send_ping() {
        const std::uint64_t seq = report_.transmitted + 1;
        const Nanos tx_ns = hb::monotonic_now();
        ping::build_ping(self_, seq, tx_ns, options_.interval_ns, tx_);
        tx_times_.push_back(tx_ns);
        ++report_.transmitted;
        if (!endpoint_->send_to(where_.address, options_.port, tx_)) {
            ++report_.send_errors;
            if (options_.verbose) {
                out_.line("cannot send seqno={}: {}", seq, std::strerror(errno));
            }
        }
    }

    void drain() {
        while (const std::optional<ping::Datagram> datagram = endpoint_->receive(rx_)) {
            handle(*datagram, hb::monotonic_now());
        }
    }

    ping::ResponderStats& responder(Ipv4 address) {
        for (ping::ResponderStats& stats : report_.responders) {
            if (stats.address() == address) {
                return stats;
            }
        }
        const std::size_t expected = options_.count ? *options_.count : 0;
        return report_.responders.emplace_back(address, expected);
    }

    void handle(const ping::Datagram& datagram, Nanos rx_ns) {
        const std::string from = datagram.src_address.to_string();
        if (datagram.length > rx_.size()) {
            ++report_.malformed;
            return;
        }
        const ping::Checked checked =
            ping::check_message(self_, std::span<const std::uint8_t>(rx_.data(), datagram.length),
                                hb::wire::Kind::pong);
        if (checked.check == ping::Check::malformed || checked.check == ping::Check::other_kind ||
            checked.check == ping::Check::other_cluster) {
            ++report_.malformed;
            if (options_.verbose) {
                out_.line("ignored {} bytes from {}: {}", datagram.length, from,
                          checked.check == ping::Check::malformed
                              ? std::string(hb::wire::to_string(checked.decode_error))
                              : std::string("not a PONG of this cluster"));
            }
            return;
        }
        const hb::wire::Beat& pong = checked.beat;
        // The echo must be one of this run's pings, sent at the time it says.
        if (!ping::echoes_own_ping(pong, tx_times_)) {
            ++report_.foreign;
            if (options_.verbose) {
                out_.line("ignored a reply from {} to a ping of another run", from);
            }
            return;
        }
        if (checked.check == ping::Check::bad_mac) {
            auto found = std::find_if(
                report_.bad_mac.begin(), report_.bad_mac.end(),
                [&](const ping::BadMac& bad) { return bad.address == datagram.src_address; });
            if (found == report_.bad_mac.end()) {
                found = report_.bad_mac.insert(report_.bad_mac.end(),
                                               ping::BadMac{datagram.src_address, 0});
            }
            ++found->replies;
            out_.line("{} bytes from {}: seqno={} bad MAC (the cluster keys differ)",
                      datagram.length, from, pong.echo_seq);
            return;
        }
        const Nanos rtt_ns = ping::round_trip_ns(pong, rx_ns);
        const ping::Arrival arrival =
            responder(datagram.src_address).record(pong.echo_seq, rtt_ns, pong.echo_hold_ns);
        out_.line("{} bytes from {}: seqno={} ttl={} time={:.3f} ms{}", datagram.length, from,
                  pong.echo_seq, ttl_text(datagram.ttl),
                  static_cast<double>(rtt_ns) / static_cast<double>(nanos_per_ms),
                  arrival == ping::Arrival::duplicate   ? " (DUP!)"
                  : arrival == ping::Arrival::reordered ? " (reordered)"
                                                        : "");
    }

    const ping::Options& options_;
    const Resolved& where_;
    const ping::Identity& self_;
    std::unique_ptr<ping::Endpoint> endpoint_;
    Output out_;
    std::vector<std::uint8_t> rx_;
    std::vector<std::uint8_t> tx_;
    std::vector<Nanos> tx_times_;  // index seq
    ping::SenderReport report_;
};

int run_sender(const ping::Options& options, const Resolved& where, const ping::Identity& self) {
    auto opened = open_endpoint(options, where);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return usage_error(*error);
    }
    Sender sender(options, where, self,
                  std::move(std::get<std::unique_ptr<ping::Endpoint>>(opened)));
    return sender.run();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hbping"};
    app.set_help_flag();  // hbping prints its own manual
    bool help = false;
    ping::RawArguments raw;
    app.add_flag("-h,--help", help);
    app.add_flag("-r", raw.receiver);
    app.add_flag("-s", raw.sender);
    app.add_flag("-v", raw.verbose);
    app.add_flag("--json", raw.json);
    struct Valued {
        const char* name;
        std::optional<std::string>* target;
        std::string text;
        CLI::Option* option = nullptr;
    };
    std::array<Valued, 16> valued{{
        {"-a", &raw.address, {}},
        {"--caa-group", &raw.caa_group, {}},
        {"-c", &raw.count, {}},
        {"-p", &raw.port, {}},
        {"-t", &raw.ttl, {}},
        {"-i", &raw.interval, {}},
        {"-I", &raw.interface, {}},
        {"--size", &raw.size, {}},
        {"-w", &raw.deadline, {}},
        {"--transport", &raw.transport, {}},
        {"--key-file", &raw.key_file, {}},
        {"--max-loss", &raw.max_loss, {}},
        {"--cluster-id", &raw.cluster_id, {}},
        {"--port", &raw.dpdk_port, {}},
        {"--source", &raw.source, {}},
        {"--eal-args", &raw.eal_args, {}},
    }};
    for (Valued& entry : valued) {
        entry.option = app.add_option(entry.name, entry.text);
    }
    valued[1].option->expected(0, 1);  // --caa-group takes its address optionally
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return usage_error(error.what());
    }
    if (help) {
        std::fputs(help_text, stdout);
        return exit_ok;
    }
    for (const Valued& entry : valued) {
        if (entry.option->count() != 0) {
            *entry.target = entry.text;
        }
    }
    auto validated = ping::validate(raw);
    if (auto* error = std::get_if<std::string>(&validated)) {
        return usage_error(*error);
    }
    const ping::Options& options = std::get<ping::Options>(validated);

    ping::Identity self{
        .cluster_id = options.cluster_id, .incarnation = random_incarnation(), .key = std::nullopt};
    if (!options.key_file.empty()) {
        auto key = ping::load_key(options.key_file);
        if (auto* error = std::get_if<std::string>(&key)) {
            return usage_error(*error);
        }
        self.key = std::get<hb::MacKey>(key);
    }
    const auto resolved = resolve(options);
    if (const auto* error = std::get_if<std::string>(&resolved)) {
        return usage_error(*error);
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each reply line as it happens, even in a pipe
    install_signal_handlers();
    const Resolved& where = std::get<Resolved>(resolved);
    return options.role == ping::Role::receiver ? run_receiver(options, where, self)
                                                : run_sender(options, where, self);
}
