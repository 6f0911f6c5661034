// udp_rtt: round-trip latency through hb's UDP transport (the beat path's sockets, batching and
// kernel stamps), for side-by-side runs with sockperf ping-pong. `serve` echoes every datagram;
// `ping` sends beat-sized datagrams one at a time and reports the distribution as JSON: measured
// when receive() returned (user space, as sockperf measures) and by the kernel's receive stamp
// (what the engine uses for beats).
#include <sys/epoll.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstring>
#include <vector>

#include "bench/rtt_samples.hh"
#include "transport/udp/udp_transport.hh"

namespace {

std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) {
    stop_requested.store(true);
}

std::unique_ptr<hb::transport::UdpTransport> open_or_exit(const std::string& ifname,
                                                          const std::string& address,
                                                          std::uint16_t port) {
    const auto parsed = hb::Ipv4::parse(address);
    if (!parsed) {
        fmt::print(stderr, "udp_rtt: \"{}\" is not an IPv4 address\n", address);
        std::exit(2);
    }
    auto opened =
        hb::transport::UdpTransport::open({.ifname = ifname, .address = *parsed, .port = port});
    if (auto* error = std::get_if<std::string>(&opened)) {
        fmt::print(stderr, "udp_rtt: {}\n", *error);
        std::exit(2);
    }
    return std::move(std::get<std::unique_ptr<hb::transport::UdpTransport>>(opened));
}

// Waits until the transport may have data, at most timeout_ns.
void wait_readable(int epoll_fd, hb::Nanos timeout_ns) {
    epoll_event event{};
    const timespec timeout{.tv_sec = timeout_ns / hb::nanos_per_s,
                           .tv_nsec = timeout_ns % hb::nanos_per_s};
    epoll_pwait2(epoll_fd, &event, 1, &timeout, nullptr);
}

int epoll_for(const hb::Transport& transport) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    epoll_ctl(fd, EPOLL_CTL_ADD, transport.wait_fd(), &event);
    return fd;
}

int serve(hb::transport::UdpTransport& transport) {
    const int epoll_fd = epoll_for(transport);
    std::vector<hb::RxRecord> received(32);
    std::vector<hb::TxRecord> replies(32);
    while (!stop_requested.load()) {
        const std::size_t count = transport.receive(received);
        for (std::size_t i = 0; i < count; ++i) {
            replies[i].dst_address = received[i].src_address;
            replies[i].dst_port = received[i].src_port;
            replies[i].length = std::min<std::uint16_t>(received[i].length, hb::wire::max_datagram);
            replies[i].bytes = received[i].bytes;
        }
        if (count != 0) {
            transport.send({replies.data(), count});
            continue;
        }
        wait_readable(epoll_fd, 100 * hb::nanos_per_ms);
    }
    return 0;
}

double percentile(const std::vector<hb::Nanos>& sorted, double p) {
    if (sorted.empty()) {
        return std::nan("");
    }
    // Nearest rank: the smallest sample with at least p% of samples at or below it.
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    return static_cast<double>(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]) / 1e3;
}

int ping(hb::transport::UdpTransport& transport, const std::string& peer, std::uint16_t port,
         std::uint32_t count, std::uint32_t interval_us, std::uint16_t size,
         const std::string& samples_path) {
    const auto peer_address = hb::Ipv4::parse(peer);
    if (!peer_address) {
        fmt::print(stderr, "udp_rtt: \"{}\" is not an IPv4 address\n", peer);
        return 2;
    }
    const int epoll_fd = epoll_for(transport);
    std::vector<hb::Nanos> samples;         // sent -> receive() returned it
    std::vector<hb::Nanos> kernel_samples;  // sent -> the kernel stamped its arrival
    samples.reserve(count);
    kernel_samples.reserve(count);
    std::vector<hb::RxRecord> received(8);
    hb::TxRecord request;
    request.dst_address = *peer_address;
    request.dst_port = port;
    request.length = size;
    std::uint32_t lost = 0;
    for (std::uint64_t seq = 1; seq <= count && !stop_requested.load(); ++seq) {
        const hb::Nanos sent_at = hb::monotonic_now();
        std::memcpy(request.bytes.data(), &seq, sizeof seq);
        transport.send({&request, 1});
        bool answered = false;
        const hb::Nanos give_up = sent_at + hb::nanos_per_s;
        while (!answered && hb::monotonic_now() < give_up) {
            const std::size_t n = transport.receive(received);
            const hb::Nanos returned_at = hb::monotonic_now();
            for (std::size_t i = 0; i < n; ++i) {
                std::uint64_t echoed = 0;
                std::memcpy(&echoed, received[i].bytes.data(), sizeof echoed);
                if (echoed == seq) {
                    samples.push_back(returned_at - sent_at);
                    kernel_samples.push_back(received[i].rx_ns - sent_at);
                    answered = true;
                }
            }
            if (!answered && n == 0) {
                wait_readable(epoll_fd, give_up - hb::monotonic_now());
            }
        }
        lost += answered ? 0 : 1;
        const hb::Nanos next = sent_at + static_cast<hb::Nanos>(interval_us) * hb::nanos_per_us;
        while (hb::monotonic_now() < next) {
            wait_readable(epoll_fd, next - hb::monotonic_now());
            transport.receive(received);  // late replies are discarded
        }
    }
    if (!samples_path.empty() && !hb::bench::write_samples_us(samples_path, samples)) {
        return 2;
    }
    const auto sorted_copy = [](std::vector<hb::Nanos> values) {
        std::sort(values.begin(), values.end());
        return values;
    };
    const std::vector<hb::Nanos> sorted = sorted_copy(samples);
    const std::vector<hb::Nanos> kernel = sorted_copy(kernel_samples);
    double mean = 0;
    for (const hb::Nanos s : sorted) {
        mean += static_cast<double>(s) / 1e3;
    }
    mean = sorted.empty() ? std::nan("") : mean / static_cast<double>(sorted.size());
    fmt::print(R"({{"tool":"hb-udp","size":{},"sent":{},"received":{},"lost":{},"unit":"us",)"
               R"("min":{:.2f},"p50":{:.2f},"p90":{:.2f},"p99":{:.2f},"p99_9":{:.2f},"max":{:.2f},)"
               R"("mean":{:.2f},"kernel_stamp":{{"min":{:.2f},"p50":{:.2f},"p99":{:.2f},)"
               R"("max":{:.2f}}}}})"
               "\n",
               size, count, sorted.size(), lost, percentile(sorted, 0), percentile(sorted, 50),
               percentile(sorted, 90), percentile(sorted, 99), percentile(sorted, 99.9),
               percentile(sorted, 100), mean, percentile(kernel, 0), percentile(kernel, 50),
               percentile(kernel, 99), percentile(kernel, 100));
    return lost == count ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"udp_rtt: round-trip latency through hb's UDP transport"};
    app.require_subcommand(1);
    std::string ifname;
    std::string address;
    std::string peer;
    std::uint16_t port = 4099;
    std::uint32_t count = 10'000;
    std::uint32_t interval_us = 1'000;
    std::uint16_t size = hb::wire::beat_size;
    std::string samples_path;
    auto* serve_cmd = app.add_subcommand("serve", "echo every datagram back to its sender");
    auto* ping_cmd = app.add_subcommand("ping", "measure round trips to a server");
    for (auto* cmd : {serve_cmd, ping_cmd}) {
        cmd->add_option("-I,--ifname", ifname, "interface to bind to")->required();
        cmd->add_option("-a,--address", address, "local address to bind to")->required();
        cmd->add_option("-p,--port", port, "UDP port (both sides)");
    }
    ping_cmd->add_option("--peer", peer, "server address")->required();
    ping_cmd->add_option("-c,--count", count, "round trips")->check(CLI::Range(1U, 10'000'000U));
    ping_cmd->add_option("-i,--interval-us", interval_us, "time between requests (us)");
    ping_cmd->add_option("--size", size, "datagram size (bytes)")
        ->check(CLI::Range(8, static_cast<int>(hb::wire::max_datagram)));
    ping_cmd->add_option("--samples", samples_path,
                         "also write every round trip (us, user space), one per line, here");
    CLI11_PARSE(app, argc, argv);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    auto transport = open_or_exit(ifname, address, port);
    if (*serve_cmd) {
        return serve(*transport);
    }
    return ping(*transport, peer, port, count, interval_us, size, samples_path);
}
