// hb_flood: a hostile sender for the flood tests (docs/security.md, Hostile input). It sends UDP
// datagrams to one heartbeat port at a fixed rate with sendmmsg: random garbage, and well-formed
// beats of the right cluster with a forged MAC (claiming to be a real node and naming the real
// key id, so that every one of them costs the receiver a full MAC computation). On exit (after
// --seconds, or on SIGTERM/SIGINT) it prints one JSON line: what it sent, at what rate.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/model.hh"
#include "hb/wire.hh"

namespace {

constexpr int exit_usage = 2;
constexpr std::size_t batch_max = 1024;  // datagrams per sendmmsg
// Datagrams forged at start and sent in turn: the sending loop then only points at them, so the
// flooder's CPU goes into sending (on a small machine it shares the cores with its target).
constexpr std::size_t pool_size = 16384;
constexpr hb::Nanos tick_ns = hb::nanos_per_ms;  // the rate is kept per millisecond

std::atomic<bool> stop{false};
extern "C" void on_signal(int) {
    stop.store(true, std::memory_order_relaxed);
}

struct Options {
    std::string target;
    std::uint16_t port = hb::default_port;
    std::string source;  // bind address; empty: the kernel's choice
    double rate = 100'000;
    double seconds = 5;
    double garbage_share = 0.5;  // the rest are forged beats
    std::uint64_t cluster_id = 0;
    std::uint32_t claim_node = 1;  // src node of the forged beats
    std::uint32_t dst_node = 0;
    unsigned key_id = 0;
    std::uint64_t seed = 1;
};

// One datagram of the flood, written into `out`; returns its length.
std::size_t forge(const Options& options, std::mt19937_64& rng, std::uint64_t seq,
                  std::array<std::uint8_t, hb::wire::max_datagram>& out) {
    std::uniform_real_distribution<double> share(0.0, 1.0);
    if (share(rng) < options.garbage_share) {
        const std::size_t length = 1 + rng() % hb::wire::max_datagram;
        for (std::size_t i = 0; i < length; i += 8) {
            const std::uint64_t word = rng();
            std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, length - i));
        }
        return length;
    }
    hb::wire::Beat beat;
    beat.kind = hb::wire::Kind::beat;
    beat.cluster_id = options.cluster_id;
    beat.src_node = options.claim_node;
    beat.dst_node = options.dst_node;
    beat.dst_adapter = options.dst_node == 0 ? hb::wire::any_adapter : 0;
    beat.incarnation = static_cast<std::uint32_t>(rng()) | 1U;
    beat.seq = seq;
    beat.tx_time_ns = static_cast<std::uint64_t>(hb::monotonic_now());
    beat.multiplier = 3;
    beat.interval_us = 10'000;
    beat.adapter_states = 1;
    beat.key_id = static_cast<std::uint8_t>(options.key_id);
    hb::wire::encode(beat,
                     std::span<std::uint8_t, hb::wire::beat_size>(out.data(), hb::wire::beat_size));
    for (std::size_t i = hb::wire::mac_offset; i < hb::wire::beat_size; i += 8) {
        const std::uint64_t word = rng();
        std::memcpy(out.data() + i, &word, 8);
    }
    return hb::wire::beat_size;
}

sockaddr_in address_of(const std::string& text, std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (inet_pton(AF_INET, text.c_str(), &address.sin_addr) != 1) {
        std::fprintf(stderr, "hb_flood: bad address %s\n", text.c_str());
        std::exit(exit_usage);
    }
    return address;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hb_flood: send garbage and forged beats to a heartbeat port at a fixed rate"};
    Options options;
    app.add_option("--target", options.target, "destination address")->required();
    app.add_option("--port", options.port, "destination port (4098)");
    app.add_option("--source", options.source, "bind to this address");
    app.add_option("--rate", options.rate, "datagrams per second")->check(CLI::Range(1.0, 1e7));
    app.add_option("--seconds", options.seconds, "how long")->check(CLI::Range(0.001, 3600.0));
    app.add_option("--garbage-share", options.garbage_share, "share of random garbage (0.5)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--cluster-id", options.cluster_id, "cluster id of the forged beats");
    app.add_option("--claim-node", options.claim_node, "node id the forged beats claim (1)")
        ->check(CLI::Range(1U, 0xFFFFFFFEU));
    app.add_option("--dst-node", options.dst_node, "node the forged beats address (0: all)");
    app.add_option("--key-id", options.key_id, "key id the forged beats name (0)")
        ->check(CLI::Range(0U, 255U));
    app.add_option("--seed", options.seed, "random seed (1)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error) == 0 ? 0 : exit_usage;
    }

    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::perror("hb_flood: socket");
        return 1;
    }
    const int buffer = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    if (!options.source.empty()) {
        const sockaddr_in source = address_of(options.source, 0);
        if (bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
            std::perror("hb_flood: bind");
            return 1;
        }
    }
    sockaddr_in target = address_of(options.target, options.port);
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);

    std::mt19937_64 rng(options.seed);
    std::vector<std::array<std::uint8_t, hb::wire::max_datagram>> datagrams(pool_size);
    std::vector<std::size_t> lengths(pool_size);
    for (std::size_t i = 0; i < pool_size; ++i) {
        lengths[i] = forge(options, rng, i + 1, datagrams[i]);
    }
    std::size_t next = 0;
    std::vector<iovec> iov(batch_max);
    std::vector<mmsghdr> messages(batch_max);
    for (std::size_t i = 0; i < batch_max; ++i) {
        messages[i].msg_hdr.msg_name = &target;
        messages[i].msg_hdr.msg_namelen = sizeof target;
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }

    const hb::Nanos start = hb::monotonic_now();
    const hb::Nanos end = start + static_cast<hb::Nanos>(options.seconds * 1e9);
    std::uint64_t sent = 0;
    std::uint64_t errors = 0;
    hb::Nanos next_tick = start;
    while (!stop.load(std::memory_order_relaxed)) {
        const hb::Nanos now = hb::monotonic_now();
        if (now >= end) {
            break;
        }
        // What is due since the start, so that the rate holds on average even when the machine
        // delays this process (by at most a batch per tick).
        const double owed = options.rate * static_cast<double>(now - start) / 1e9 -
                            static_cast<double>(sent + errors);
        const auto count =
            static_cast<std::size_t>(std::clamp(owed, 0.0, static_cast<double>(batch_max)));
        for (std::size_t i = 0; i < count; ++i, next = (next + 1) % pool_size) {
            iov[i].iov_base = datagrams[next].data();
            iov[i].iov_len = lengths[next];
        }
        std::size_t done = 0;
        while (done < count) {
            const int n =
                sendmmsg(fd, messages.data() + done, static_cast<unsigned>(count - done), 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                ++errors;  // ENOBUFS, ECONNREFUSED (ICMP from an earlier datagram): skip one
                ++done;
                continue;
            }
            done += static_cast<std::size_t>(n);
            sent += static_cast<std::size_t>(n);
        }
        next_tick += tick_ns;
        if (next_tick > hb::monotonic_now()) {
            const timespec wake{.tv_sec = next_tick / hb::nanos_per_s,
                                .tv_nsec = next_tick % hb::nanos_per_s};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr);
        } else {
            next_tick = hb::monotonic_now();
        }
    }
    const double elapsed = static_cast<double>(hb::monotonic_now() - start) / 1e9;
    std::printf(
        "{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rate\":%.0f,\"asked_rate\":%.0f}\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(errors), elapsed,
        static_cast<double>(sent) / elapsed, options.rate);
    close(fd);
    return 0;
}
