// disk_soak: how short a disk interval holds, and how fast the disk path detects a stopped
// writer (issue: "the shortest disk interval that runs 10 minutes with no missed deadline").
//
//   disk_soak DEV --interval-ms 10 --seconds 600 --trials 50 [--json FILE]
//
// Two disk heartbeats (nodes 1 and 2 of a two-node cluster) run on DEV, one thread, as hbd runs
// them. DEV is initialised for the run (everything on it is lost). Soak: each node's completed
// cycles are timed as its detector sees them (the rx_ns of successive reads); a gap of more
// than two intervals between completed cycles is a missed deadline (a whole cycle lost), a gap
// of the disk timeout or more would have made the peer look dead, and every report of the peer
// not alive is counted. Detection: node 2 stops writing at a random phase; the time until node
// 1 reports its slot not alive, from the stop and from node 2's last write seen advancing.
#include <sys/epoll.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "diskhb/disk_heartbeat.hh"
#include "diskhb/disk_io.hh"
#include "hb/timer_wheel.hh"

namespace {

using namespace hb;

// Keeps what the soak needs from the disk heartbeat's reports about the one peer.
class SoakDetector final : public Detector {
public:
    void attach(const Topology&, Nanos) override {}
    void on_beat(const BeatObservation&) noexcept override {}
    void on_peer_restart(PeerIndex, Nanos) noexcept override {}
    void on_local_stall(Nanos, Nanos) noexcept override {}
    void on_local_adapter(std::uint32_t, bool, std::uint32_t, Nanos) noexcept override {}
    void on_disk_slot(const DiskObservation& slot) noexcept override {
        if (last_rx_ns != 0) {
            max_gap_ns = std::max(max_gap_ns, slot.rx_ns - last_rx_ns);
            gaps_over_two += slot.rx_ns - last_rx_ns > 2 * interval_ns ? 1 : 0;
            gaps_over_timeout += slot.rx_ns - last_rx_ns >= timeout_ns ? 1 : 0;
        }
        last_rx_ns = slot.rx_ns;
        ++cycles;
        if (!slot.alive && was_alive) {
            ++went_dead;
            dead_at_ns = slot.rx_ns;
            dead_last_advance_ns = slot.last_advance_ns;
        }
        was_alive = slot.alive;
    }
    void on_local_disk(bool up, Nanos) noexcept override { disk_down += up ? 0 : 1; }
    void on_disk_problem(DiskProblem, NodeId, Nanos) noexcept override { ++problems; }
    void tick(Nanos, EventSink&) noexcept override {}
    Nanos next_deadline() const noexcept override { return TimerWheel::never; }
    PathState path_state(PathIndex) const noexcept override { return PathState::down; }
    std::uint32_t local_adapter_states() const noexcept override { return 0; }

    Nanos interval_ns = 0;
    Nanos timeout_ns = 0;
    Nanos last_rx_ns = 0;
    Nanos max_gap_ns = 0;
    std::uint64_t cycles = 0;
    std::uint64_t gaps_over_two = 0;
    std::uint64_t gaps_over_timeout = 0;
    std::uint64_t went_dead = 0;
    std::uint64_t disk_down = 0;
    std::uint64_t problems = 0;
    bool was_alive = false;
    Nanos dead_at_ns = 0;
    Nanos dead_last_advance_ns = 0;
};

ClusterConfig two_nodes(NodeId local) {
    ClusterConfig config;
    config.cluster_id = 7;
    config.local_node = local;
    config.networks.push_back(NetworkConfig{.name = "net_a"});
    for (NodeId id = 1; id <= 2; ++id) {
        config.nodes.push_back(NodeConfig{
            .id = id,
            .name = "node" + std::to_string(id),
            .adapters = {AdapterConfig{.network = 0, .ifname = "lo", .address = Ipv4{id}}}});
    }
    return config;
}

struct Member {
    explicit Member(NodeId id) : config(two_nodes(id)), topology(config) {}
    ClusterConfig config;
    Topology topology;
    SoakDetector detector;
    std::unique_ptr<diskhb::DiskHeartbeat> heartbeat;
    bool running = true;
};

double percentile(std::vector<double> values, double p) {
    if (values.empty()) {
        return std::nan("");
    }
    std::sort(values.begin(), values.end());
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"disk_soak: the disk heartbeat's missed deadlines and detection latency"};
    std::string device;
    double interval_ms = 10;
    double seconds = 600;
    unsigned trials = 50;
    std::string json_path;
    app.add_option("DEV", device, "block device or file to initialise and use")->required();
    app.add_option("--interval-ms", interval_ms, "disk interval")->check(CLI::Range(0.1, 1000.0));
    app.add_option("--seconds", seconds, "soak length")->check(CLI::Range(1.0, 86400.0));
    app.add_option("--trials", trials, "detection trials")->check(CLI::Range(0U, 10000U));
    app.add_option("--json", json_path, "write the results here too");
    CLI11_PARSE(app, argc, argv);

    const Nanos interval_ns = static_cast<Nanos>(std::llround(interval_ms * 1e6));
    auto opened = diskhb::DiskFile::open(device);
    if (auto* error = std::get_if<std::string>(&opened)) {
        fmt::print(stderr, "disk_soak: {}\n", *error);
        return 2;
    }
    const diskhb::DiskFile& disk = std::get<diskhb::DiskFile>(opened);
    if (std::string error =
            diskhb::initialise_disk(disk, diskhb::Header{.cluster_id = 7,
                                                         .slot_count = 2,
                                                         .sector_size = disk.sector_size(),
                                                         .interval_ns = interval_ns,
                                                         .multiplier = 3});
        !error.empty()) {
        fmt::print(stderr, "disk_soak: {}\n", error);
        return 2;
    }
    std::vector<std::unique_ptr<Member>> members;
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    for (NodeId id = 1; id <= 2; ++id) {
        auto member = std::make_unique<Member>(id);
        auto started = diskhb::DiskHeartbeat::open(device, member->topology, member->detector,
                                                   diskhb::DiskOptions{}, monotonic_now());
        if (auto* error = std::get_if<std::string>(&started)) {
            fmt::print(stderr, "disk_soak: {}\n", *error);
            return 2;
        }
        member->heartbeat = std::move(std::get<std::unique_ptr<diskhb::DiskHeartbeat>>(started));
        member->detector.interval_ns = member->heartbeat->interval_ns();
        member->detector.timeout_ns = member->heartbeat->timeout_ns();
        epoll_event event{.events = EPOLLIN, .data = {.u32 = id - 1}};
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, member->heartbeat->wait_fd(), &event);
        members.push_back(std::move(member));
    }
    const auto run_until = [&](Nanos until, auto&& done) {
        while (monotonic_now() < until && !done()) {
            std::array<epoll_event, 2> ready{};
            (void)epoll_wait(epoll_fd, ready.data(), ready.size(), 1);
            const Nanos now = monotonic_now();
            for (auto& member : members) {
                if (member->running) {
                    (void)member->heartbeat->poll(now);
                }
            }
        }
    };
    fmt::print("disk_soak: {} ({}-byte sectors), interval {} ms, timeout {} ms, io {}\n", device,
               disk.sector_size(), interval_ms,
               static_cast<double>(members[0]->heartbeat->timeout_ns()) / 1e6,
               members[0]->heartbeat->io_mode());

    // Soak.
    const Nanos soak_start = monotonic_now();
    run_until(soak_start + static_cast<Nanos>(seconds * 1e9), [] { return false; });
    std::uint64_t cycles = 0;
    std::uint64_t missed = 0;
    std::uint64_t over_timeout = 0;
    std::uint64_t false_deaths = 0;
    std::uint64_t disk_down = 0;
    std::uint64_t problems = 0;
    Nanos max_gap = 0;
    for (const auto& member : members) {
        const SoakDetector& d = member->detector;
        cycles += d.cycles;
        missed += d.gaps_over_two;
        over_timeout += d.gaps_over_timeout;
        // Only alive -> not alive counts: until a slot first moves it was never alive.
        false_deaths += d.went_dead;
        disk_down += d.disk_down;
        problems += d.problems;
        max_gap = std::max(max_gap, d.max_gap_ns);
    }
    fmt::print(
        "soak: {:.0f} s, {} completed cycles, max gap {:.2f} ms, {} missed deadlines "
        "(gap > 2 intervals), {} gaps >= timeout, {} peer reported not alive, {} disk "
        "down, {} slot problems\n",
        seconds, cycles, static_cast<double>(max_gap) / 1e6, missed, over_timeout, false_deaths,
        disk_down, problems);

    // Detection trials.
    std::mt19937_64 random(0x6862'736f'616b'0001);
    std::vector<double> from_stop_ms;
    std::vector<double> from_last_advance_ms;
    SoakDetector& observer = members[0]->detector;
    for (unsigned trial = 0; trial < trials; ++trial) {
        members[1]->running = true;
        run_until(monotonic_now() + 10 * interval_ns, [&] { return observer.was_alive; });
        run_until(monotonic_now() + 5 * interval_ns +
                      static_cast<Nanos>(random() % static_cast<std::uint64_t>(interval_ns)),
                  [] { return false; });
        const std::uint64_t deaths = observer.went_dead;
        const Nanos stopped = monotonic_now();
        members[1]->running = false;
        run_until(stopped + 20 * interval_ns, [&] { return observer.went_dead != deaths; });
        if (observer.went_dead == deaths) {
            fmt::print(stderr, "disk_soak: trial {}: no detection\n", trial);
            continue;
        }
        from_stop_ms.push_back(static_cast<double>(observer.dead_at_ns - stopped) / 1e6);
        from_last_advance_ms.push_back(
            static_cast<double>(observer.dead_at_ns - observer.dead_last_advance_ns) / 1e6);
    }
    const auto summary = [](const std::vector<double>& v) {
        return fmt::format("p50 {:.2f} p99 {:.2f} max {:.2f} ms", percentile(v, 50),
                           percentile(v, 99),
                           v.empty() ? std::nan("") : *std::max_element(v.begin(), v.end()));
    };
    fmt::print("detection over {} trials: from the stop {}; from the last advance seen {}\n",
               from_stop_ms.size(), summary(from_stop_ms), summary(from_last_advance_ms));
    if (!json_path.empty()) {
        if (std::FILE* out = std::fopen(json_path.c_str(), "w")) {
            fmt::print(
                out,
                R"({{"device":"{}","sector_size":{},"interval_ms":{},"timeout_ms":{},"io":"{}","seconds":{},"cycles":{},"max_gap_ms":{:.3f},"missed_deadlines":{},"gaps_over_timeout":{},"peer_not_alive":{},"disk_down":{},"slot_problems":{},"detection_from_stop_ms":[{}],"detection_from_last_advance_ms":[{}]}})"
                "\n",
                device, disk.sector_size(), interval_ms,
                static_cast<double>(members[0]->heartbeat->timeout_ns()) / 1e6,
                members[0]->heartbeat->io_mode(), seconds, cycles,
                static_cast<double>(max_gap) / 1e6, missed, over_timeout, false_deaths, disk_down,
                problems, fmt::join(from_stop_ms, ","), fmt::join(from_last_advance_ms, ","));
            std::fclose(out);
        }
    }
    return missed == 0 && over_timeout == 0 && false_deaths == 0 ? 0 : 1;
}
