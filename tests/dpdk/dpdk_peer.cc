// A test node that runs an engine over the DPDK transport from an hbd configuration, writing
// hbd's event lines, so the netns tests can put it on a switch next to kernel-UDP hbd nodes:
//   dpdk_peer -c CONFIG --events PATH --port DEVARGS [--file-prefix NAME]
// Only the local node's first adapter is served. SIGTERM/SIGINT stop it; it then prints its
// transport counters on stderr as one JSON line and exits 0. Exit 77: the EAL cannot start.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "hb/runner.hh"
#include "policy/node_detector.hh"
#include "tools/node/config.hh"
#include "transport/dpdk/dpdk_transport.hh"
#include "transport/dpdk/eal.hh"

namespace {

std::atomic<bool> stop_requested{false};

void request_stop(int) {
    stop_requested.store(true);
}

int fail(const std::string& message, int code = 1) {
    std::fprintf(stderr, "dpdk_peer: %s\n", message.c_str());
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    std::string events_path;
    std::string port;
    std::string file_prefix = "hb_dpdk_peer_" + std::to_string(getpid());
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string option = argv[i];
        if (option == "-c") {
            config_path = argv[i + 1];
        } else if (option == "--events") {
            events_path = argv[i + 1];
        } else if (option == "--port") {
            port = argv[i + 1];
        } else if (option == "--file-prefix") {
            file_prefix = argv[i + 1];
        } else {
            return fail("unknown option " + option);
        }
    }
    if (config_path.empty() || events_path.empty() || port.empty()) {
        return fail("usage: dpdk_peer -c CONFIG --events PATH --port DEVARGS [--file-prefix N]");
    }
    hb::node::ConfigResult loaded = hb::node::load_config(config_path);
    if (!loaded.settings) {
        return fail(hb::node::format_errors(config_path, loaded.errors));
    }
    const hb::ClusterConfig& cluster = loaded.settings->cluster;
    const hb::NodeConfig* local = cluster.find_node(cluster.local_node);
    if (local == nullptr || local->adapters.empty()) {
        return fail("the local node has no adapter");
    }
    const hb::AdapterConfig& adapter = local->adapters[0];
    const hb::NetworkConfig& network = cluster.networks[adapter.network];

    const std::vector<std::string> eal_args{"--no-huge",
                                            "-m",
                                            "128",
                                            "--no-pci",
                                            "--no-telemetry",
                                            "--log-level=lib.eal:error",
                                            "--file-prefix=" + file_prefix};
    if (const std::string error = hb::transport::eal::start(eal_args); !error.empty()) {
        return fail(error, 77);
    }
    int result = 0;
    {
        auto opened = hb::transport::DpdkTransport::open({.port = port,
                                                          .address = adapter.address,
                                                          .udp_port = network.port,
                                                          .mode = network.mode,
                                                          .group = network.group});
        if (auto* error = std::get_if<std::string>(&opened)) {
            hb::transport::eal::stop();
            return fail(*error);
        }
        auto& transport = *std::get<std::unique_ptr<hb::transport::DpdkTransport>>(opened);
        hb::policy::NodeDetector detector;
        hb::Engine engine(cluster, detector);
        engine.attach_transport(0, transport);
        if (const std::string error = engine.start(hb::monotonic_now()); !error.empty()) {
            return fail(error);
        }
        const int events_fd =
            ::open(events_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (events_fd < 0) {
            return fail("cannot open " + events_path + ": " + std::strerror(errno));
        }
        std::signal(SIGTERM, request_stop);
        std::signal(SIGINT, request_stop);
        const hb::AfterPoll drain = [&] {
            hb::Event event;
            while (engine.next_event(event)) {
                const std::string line = hb::event_to_json(event, cluster) + "\n";
                if (::write(events_fd, line.data(), line.size()) !=
                    static_cast<ssize_t>(line.size())) {
                    result = 1;
                }
            }
        };
        hb::SingleThreadRunner runner(engine);
        runner.run(stop_requested, drain);
        ::close(events_fd);
        const hb::transport::DpdkCounters counters = transport.dpdk_counters();
        std::fprintf(stderr,
                     "{\"rx_frames\": %llu, \"rx_datagrams\": %llu, \"rx_malformed\": %llu, "
                     "\"rx_not_for_us\": %llu, \"tx_datagrams\": %llu, \"tx_unknown_neighbour\": "
                     "%llu, \"arp_requests_sent\": %llu, \"arp_replies_received\": %llu, "
                     "\"arp_requests_answered\": %llu, \"igmp_reports_sent\": %llu, "
                     "\"bad_udp_checksum\": %llu, \"beats_accepted\": %llu}\n",
                     static_cast<unsigned long long>(counters.rx_frames),
                     static_cast<unsigned long long>(counters.rx_datagrams),
                     static_cast<unsigned long long>(counters.rx_malformed_total()),
                     static_cast<unsigned long long>(counters.rx_not_for_us),
                     static_cast<unsigned long long>(counters.tx_datagrams),
                     static_cast<unsigned long long>(counters.tx_unknown_neighbour),
                     static_cast<unsigned long long>(counters.arp_requests_sent),
                     static_cast<unsigned long long>(counters.arp_replies_received),
                     static_cast<unsigned long long>(counters.arp_requests_answered),
                     static_cast<unsigned long long>(counters.igmp_reports_sent),
                     static_cast<unsigned long long>(counters.rx_dropped[static_cast<std::size_t>(
                         hb::transport::frame::FrameKind::bad_udp_checksum)]),
                     static_cast<unsigned long long>(engine.counters().beats_accepted));
    }
    const std::string runtime_directory = hb::transport::eal::runtime_directory();
    hb::transport::eal::stop();
    std::error_code ignored;  // the prefix is this process's own
    std::filesystem::remove_all(runtime_directory, ignored);
    return result;
}
