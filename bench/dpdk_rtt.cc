// dpdk_rtt: round trip through the DPDK transport over net_memif against the UDP transport over
// loopback, between the same two processes in one run. The process forks an echo server (before
// either starts its EAL), then pings through both transports alternately, one ping in flight,
// and prints the two distributions and their ratio as JSON. Both ends busy-poll both transports
// (the DPDK port has no file descriptor; the kernel socket is polled the same way, so the
// difference is the path, not the wake-up). Server on CPU 1, client on CPU 0 (EAL -l).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/rtt_samples.hh"
#include "transport/dpdk/dpdk_transport.hh"
#include "transport/dpdk/eal.hh"
#include "transport/udp/udp_transport.hh"

namespace {

using hb::Ipv4;
using hb::Nanos;

constexpr Ipv4 loopback{0x7F000001};
constexpr Ipv4 server_dpdk_address{0xC6120901};  // 198.18.9.1
constexpr Ipv4 client_dpdk_address{0xC6120902};
constexpr std::uint16_t server_udp_port = 4290;
constexpr std::uint16_t client_udp_port = 4291;
constexpr std::uint16_t dpdk_udp_port = 4098;

std::atomic<bool> server_stop{false};
extern "C" void on_term(int) {
    server_stop.store(true);
}

struct Ends {
    std::unique_ptr<hb::transport::DpdkTransport> dpdk;
    std::unique_ptr<hb::transport::UdpTransport> udp;
};

// Starts this process's EAL on one CPU and opens both transports; an error message on failure.
std::string open_ends(bool server, const std::string& socket_name, Ends& ends) {
    const std::string role = server ? "server" : "client";
    const std::vector<std::string> args{
        "-l",
        server ? "1" : "0",
        "--no-huge",
        "-m",
        "64",
        "--no-pci",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--file-prefix=hb_rtt_" + role + "_" + std::to_string(getpid())};
    if (std::string error = hb::transport::eal::start(args); !error.empty()) {
        return "EAL: " + error;
    }
    auto dpdk = hb::transport::DpdkTransport::open(
        {.port = "net_memif0,role=" + role + ",socket=" + socket_name,
         .address = server ? server_dpdk_address : client_dpdk_address,
         .udp_port = dpdk_udp_port});
    if (auto* error = std::get_if<std::string>(&dpdk)) {
        return *error;
    }
    ends.dpdk = std::move(std::get<0>(dpdk));
    auto udp = hb::transport::UdpTransport::open(
        {.ifname = "lo", .address = loopback, .port = server ? server_udp_port : client_udp_port});
    if (auto* error = std::get_if<std::string>(&udp)) {
        return *error;
    }
    ends.udp = std::move(std::get<0>(udp));
    return {};
}

void close_ends(Ends& ends) {
    ends.dpdk.reset();
    ends.udp.reset();
    const std::string directory = hb::transport::eal::runtime_directory();
    hb::transport::eal::stop();
    std::error_code ignored;  // this process's own file prefix
    std::filesystem::remove_all(directory, ignored);
}

// Echoes every datagram back to where it came from, on the transport it came by.
int serve(int ready_fd, const std::string& socket_name) {
    signal(SIGTERM, on_term);
    Ends ends;
    const std::string error = open_ends(true, socket_name, ends);
    const char status = error.empty() ? '1' : '0';
    [[maybe_unused]] const ssize_t written = write(ready_fd, &status, 1);
    close(ready_fd);
    if (!error.empty()) {
        fmt::print(stderr, "dpdk_rtt server: {}\n", error);
        close_ends(ends);
        return 2;
    }
    std::array<hb::RxRecord, 32> received{};
    std::array<hb::TxRecord, 32> replies{};
    std::array<hb::Transport*, 2> transports{ends.udp.get(), ends.dpdk.get()};
    while (!server_stop.load(std::memory_order_relaxed)) {
        for (hb::Transport* transport : transports) {
            const std::size_t count = transport->receive(received);
            for (std::size_t i = 0; i < count; ++i) {
                hb::TxRecord& reply = replies[i];
                reply.dst_address = received[i].src_address;
                reply.dst_port = received[i].src_port;
                reply.length = std::min<std::uint16_t>(received[i].length, hb::wire::max_datagram);
                std::copy_n(received[i].bytes.begin(), reply.length, reply.bytes.begin());
            }
            if (count != 0) {
                transport->send({replies.data(), count});
            }
        }
    }
    close_ends(ends);
    return 0;
}

// One ping on `transport` to `to`: sends the sequence number and spins until it comes back;
// the round trip in ns, or -1 after timeout_ns.
Nanos ping(hb::Transport& transport, Ipv4 to, std::uint16_t port, std::uint64_t seq,
           Nanos timeout_ns) {
    hb::TxRecord record{
        .dst_address = to, .dst_port = port, .length = hb::wire::beat_size, .bytes = {}};
    std::memcpy(record.bytes.data(), &seq, sizeof seq);
    std::array<hb::RxRecord, 8> received{};
    const Nanos start = hb::monotonic_now();
    // Not sent (the neighbour unresolved): keep receiving anyway, the ARP reply comes that way.
    const bool sent = transport.send({&record, 1}) == 1;
    for (;;) {
        const std::size_t count = transport.receive(received);
        const Nanos now = hb::monotonic_now();
        for (std::size_t i = 0; i < count; ++i) {
            std::uint64_t echoed = 0;
            std::memcpy(&echoed, received[i].bytes.data(), sizeof echoed);
            if (sent && echoed == seq) {
                return now - start;
            }
        }
        if (now - start > timeout_ns) {
            return -1;
        }
    }
}

struct Summary {
    std::size_t count = 0;
    std::size_t lost = 0;
    double min_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

Summary summarize(std::vector<Nanos> samples, std::size_t lost) {
    Summary summary{.count = samples.size(), .lost = lost};
    if (samples.empty()) {
        return summary;
    }
    std::sort(samples.begin(), samples.end());
    const auto rank = [&](double q) {  // nearest rank
        const auto index = static_cast<std::size_t>(q * static_cast<double>(samples.size()));
        return static_cast<double>(samples[std::min(index, samples.size() - 1)]) / 1000.0;
    };
    summary.min_us = rank(0.0);
    summary.p50_us = rank(0.50);
    summary.p90_us = rank(0.90);
    summary.p99_us = rank(0.99);
    summary.p999_us = rank(0.999);
    summary.max_us = static_cast<double>(samples.back()) / 1000.0;
    return summary;
}

std::string to_json(const Summary& s) {
    return fmt::format(
        "{{\"count\": {}, \"lost\": {}, \"min_us\": {:.2f}, \"p50_us\": {:.2f}, \"p90_us\": "
        "{:.2f}, \"p99_us\": {:.2f}, \"p999_us\": {:.2f}, \"max_us\": {:.2f}}}",
        s.count, s.lost, s.min_us, s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us);
}

int run_client(const std::string& socket_name, std::size_t pings, Nanos interval_ns,
               const std::string& samples_prefix) {
    Ends ends;
    if (const std::string error = open_ends(false, socket_name, ends); !error.empty()) {
        fmt::print(stderr, "dpdk_rtt client: {}\n", error);
        close_ends(ends);
        return 2;
    }
    const Nanos timeout_ns = 100 * hb::nanos_per_ms;
    // Warm-up: the memif link comes up, ARP resolves both ways, caches fill.
    std::uint64_t seq = 1;
    bool dpdk_ready = false;
    for (int attempt = 0; attempt < 500 && !dpdk_ready; ++attempt) {
        dpdk_ready =
            ping(*ends.dpdk, server_dpdk_address, dpdk_udp_port, seq++, 10 * hb::nanos_per_ms) >= 0;
        if (!dpdk_ready) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // link up, ARP
        }
    }
    const bool udp_ready = ping(*ends.udp, loopback, server_udp_port, seq++, timeout_ns) >= 0;
    if (!dpdk_ready || !udp_ready) {
        fmt::print(stderr, "dpdk_rtt client: no echo over {}\n", dpdk_ready ? "UDP" : "memif");
        close_ends(ends);
        return 1;
    }
    for (int i = 0; i < 1000; ++i) {
        ping(*ends.dpdk, server_dpdk_address, dpdk_udp_port, seq++, timeout_ns);
        ping(*ends.udp, loopback, server_udp_port, seq++, timeout_ns);
    }
    std::vector<Nanos> dpdk_samples;
    std::vector<Nanos> udp_samples;
    dpdk_samples.reserve(pings);
    udp_samples.reserve(pings);
    std::size_t dpdk_lost = 0;
    std::size_t udp_lost = 0;
    for (std::size_t i = 0; i < pings; ++i) {
        // Alternate which goes first, so neither always follows the other's cache traffic.
        for (int leg = 0; leg < 2; ++leg) {
            const bool dpdk_leg = (leg == 0) == (i % 2 == 0);
            const Nanos rtt =
                dpdk_leg ? ping(*ends.dpdk, server_dpdk_address, dpdk_udp_port, seq++, timeout_ns)
                         : ping(*ends.udp, loopback, server_udp_port, seq++, timeout_ns);
            std::vector<Nanos>& samples = dpdk_leg ? dpdk_samples : udp_samples;
            std::size_t& lost = dpdk_leg ? dpdk_lost : udp_lost;
            if (rtt < 0) {
                ++lost;
            } else {
                samples.push_back(rtt);
            }
        }
        if (interval_ns > 0) {
            std::this_thread::sleep_for(std::chrono::nanoseconds(interval_ns));
        }
    }
    if (!samples_prefix.empty() &&
        (!hb::bench::write_samples_us(samples_prefix + "dpdk_memif.txt", dpdk_samples) ||
         !hb::bench::write_samples_us(samples_prefix + "kernel_udp_loopback.txt", udp_samples))) {
        close_ends(ends);
        return 2;
    }
    const Summary dpdk = summarize(dpdk_samples, dpdk_lost);
    const Summary udp = summarize(udp_samples, udp_lost);
    fmt::print(
        "{{\"pings_per_transport\": {}, \"interval_us\": {}, \"payload_bytes\": {},\n"
        " \"dpdk_memif\": {},\n \"kernel_udp_loopback\": {},\n"
        " \"ratio_p50_dpdk_over_udp\": {:.3f}, \"ratio_p99_dpdk_over_udp\": {:.3f}}}\n",
        pings, interval_ns / 1000, hb::wire::beat_size, to_json(dpdk), to_json(udp),
        dpdk.p50_us / udp.p50_us, dpdk.p99_us / udp.p99_us);
    close_ends(ends);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Round trip: DPDK over net_memif vs kernel UDP over loopback, same two processes"};
    std::size_t pings = 10000;
    std::int64_t interval_us = 100;
    app.add_option("--pings", pings, "pings per transport")->check(CLI::PositiveNumber);
    app.add_option("--interval-us", interval_us, "pause between ping pairs")
        ->check(CLI::NonNegativeNumber);
    std::string samples_prefix;
    app.add_option("--samples-prefix", samples_prefix,
                   "also write every round trip (us), one per line, to PREFIXdpdk_memif.txt and "
                   "PREFIXkernel_udp_loopback.txt");
    CLI11_PARSE(app, argc, argv);
    if (geteuid() != 0) {
        fmt::print(stderr, "dpdk_rtt: needs root (the EAL)\n");
        return 77;
    }
    // Abstract socket name (DPDK 22.11 memif default): nothing to clean up on disk.
    const std::string socket_name = "/run/hb_dpdk_rtt_" + std::to_string(getpid()) + ".sock";
    int ready[2];
    if (pipe(ready) != 0) {
        return 2;
    }
    const pid_t child = fork();
    if (child < 0) {
        return 2;
    }
    if (child == 0) {
        close(ready[0]);
        _exit(serve(ready[1], socket_name));
    }
    close(ready[1]);
    char status = '0';
    const bool server_up = read(ready[0], &status, 1) == 1 && status == '1';
    close(ready[0]);
    const int result =
        server_up ? run_client(socket_name, pings, interval_us * 1000, samples_prefix) : 2;
    kill(child, SIGTERM);
    int child_status = 0;
    waitpid(child, &child_status, 0);
    return result;
}
