// The traffic watch against real rtnetlink counters: each scenario runs in a forked child inside
// its own network namespace; the far end of a veth pair lives in a second namespace whose process
// keeps sending to us (198.18.0.0/15 only). A blackhole qdisc on the far end's egress stops every
// inbound packet while both links stay up: only the counters can tell.
#include "policy/traffic_watch.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "hb/clock.hh"

#include "tests/support/allocation_counter.hh"
#include "tests/support/isolated.hh"
#include "tests/support/recording_detector.hh"

using hb::test::allocations;

namespace hb::policy {
namespace {

constexpr int scenario_timeout_s = 60;
// 20 ms × 5: a 100 ms window, wide enough that a loaded two-core machine's sender (every 2 ms)
// never falls silent that long by accident.
constexpr Timing test_timing{.interval_ns = 20 * nanos_per_ms, .multiplier = 5, .up_count = 1};
constexpr Nanos window_ns = 100 * nanos_per_ms;
constexpr Nanos transition_timeout_ns = 3 * nanos_per_s;
constexpr long send_every_ns = 2 * nanos_per_ms;

using hb::test::sh;

using test::AdapterCall;
using test::describe;
using test::RecordingDetector;

std::string describe(const TrafficWatch& watch) {
    const TrafficCounters c = watch.counters();
    return "reads " + std::to_string(c.reads) + " absent " + std::to_string(c.absent) + " errors " +
           std::to_string(c.read_errors) + " (errno " + std::to_string(watch.last_error()) +
           ") resets " + std::to_string(c.counter_resets) + " down " + std::to_string(c.went_down) +
           " up " + std::to_string(c.came_up) + "; rx_packets " +
           std::to_string(watch.judge(0).rx_packets());
}

// The engine thread's loop in small: sleep on the watch's timerfd, then poll it. Counts what
// poll() allocates; stops as soon as `done` holds or at `until`.
std::uint64_t poll_until(TrafficWatch& watch, Nanos until, const std::function<bool()>& done) {
    std::uint64_t poll_allocations = 0;
    while (monotonic_now() < until && !done()) {
        pollfd pfd{.fd = watch.wait_fd(), .events = POLLIN, .revents = 0};
        (void)::poll(&pfd, 1, 50);
        const Nanos now = monotonic_now();
        const std::uint64_t before = allocations.load(std::memory_order_relaxed);
        (void)watch.poll(now);
        poll_allocations += allocations.load(std::memory_order_relaxed) - before;
    }
    return poll_allocations;
}

// The far end: a forked process in its own network namespace that sends a UDP datagram to
// 198.18.1.1 every 2 ms (failing quietly until the link and address exist) until it is killed.
[[noreturn]] void send_forever() {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);  // discard: nobody listens, the datagram still counts as received
    to.sin_addr.s_addr = inet_addr("198.18.1.1");
    const char byte = 0;
    for (;;) {
        (void)sendto(fd, &byte, 1, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to),
                     sizeof(to));
        const timespec pause{.tv_sec = 0, .tv_nsec = send_every_ns};
        nanosleep(&pause, nullptr);
    }
}

class FarEnd : public test::NamespaceChild {
public:
    FarEnd() : NamespaceChild(send_forever) {}
};

// The packets `ifname` received, from /proc/net/dev (this process's namespace); -1 when absent.
std::int64_t proc_rx_packets(const std::string& ifname) {
    std::int64_t packets = -1;
    if (FILE* file = std::fopen("/proc/net/dev", "r")) {
        std::array<char, 512> line{};
        while (std::fgets(line.data(), line.size(), file) != nullptr) {
            char name[32] = {};
            long long bytes = 0;
            long long count = 0;
            if (std::sscanf(line.data(), " %31[^:]: %lld %lld", name, &bytes, &count) == 3 &&
                ifname == name) {
                packets = count;
            }
        }
        std::fclose(file);
    }
    return packets;
}

// a0 198.18.1.1 here, b0 198.18.1.2 in `far`.
[[nodiscard]] std::string make_link(const FarEnd& far) {
    REQUIRE(far.ready());
    REQUIRE(sh("ip link set lo up"));
    REQUIRE(sh("ip link add a0 type veth peer name b0 netns " + far.pid()));
    REQUIRE(sh("ip addr add 198.18.1.1/24 dev a0 && ip link set a0 up"));
    REQUIRE(far.run("ip link set lo up && ip addr add 198.18.1.2/24 dev b0 && ip link set b0 up"));
    // Carrier and operstate settle asynchronously (the kernel's linkwatch work): until a0 is UP no
    // datagram arrives, and the watch would rightly see silence.
    const Nanos until = monotonic_now() + transition_timeout_ns;
    const timespec pause{.tv_sec = 0, .tv_nsec = 10 * nanos_per_ms};
    while (!sh("ip link show a0 | grep -q 'state UP'")) {
        REQUIRE_MSG(monotonic_now() < until, "a0 never reached operstate UP");
        nanosleep(&pause, nullptr);
    }
    // And the far end's datagrams flow: its first ones wait for ARP, whose first request may have
    // gone out before a0 could take it (then the retry comes a second later, a silent window).
    const std::int64_t rx_before = proc_rx_packets("a0");
    while (proc_rx_packets("a0") < rx_before + 5) {
        REQUIRE_MSG(monotonic_now() < until, "no datagrams from the far end arrive on a0");
        nanosleep(&pause, nullptr);
    }
    return {};
}

std::size_t count_calls(const RecordingDetector& detector, std::uint32_t local, bool up) {
    std::size_t count = 0;
    for (const AdapterCall& call : detector.calls) {
        count += call.local == local && call.up == up ? 1 : 0;
    }
    return count;
}

std::string silenced_link_goes_down_and_back() {
    const FarEnd far;
    if (std::string problem = make_link(far); !problem.empty()) {
        return problem;
    }
    RecordingDetector detector;
    // a0 receives the far end's datagrams; nosuch0 does not exist (silence from the start).
    std::vector<TrafficAdapter> adapters;
    adapters.push_back(TrafficAdapter{.local = 0, .ifname = "a0", .timing = test_timing});
    adapters.push_back(TrafficAdapter{.local = 1, .ifname = "nosuch0", .timing = test_timing});
    const Nanos start = monotonic_now();
    auto opened = TrafficWatch::open(std::move(adapters), detector, start);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return "open: " + *error;
    }
    TrafficWatch& watch = *std::get<std::unique_ptr<TrafficWatch>>(opened);
    REQUIRE(watch.judge(0).ifindex() > 0);
    REQUIRE(watch.judge(1).ifindex() == 0);
    std::uint64_t poll_allocations = 0;

    // 1. The absent interface goes down after one window, never before; a0 stays up while
    //    datagrams arrive, and its counter moves.
    const std::uint64_t rx_at_start = watch.judge(0).rx_packets();
    poll_allocations +=
        poll_until(watch, start + transition_timeout_ns, [&] { return !watch.up(1); });
    REQUIRE_MSG(!watch.up(1), describe(detector.calls) + " / " + describe(watch));
    REQUIRE_MSG(detector.calls.size() == 1, describe(detector.calls));
    const AdapterCall absent_down = detector.calls[0];
    REQUIRE(absent_down.local == 1 && !absent_down.up && absent_down.evidence == evidence::inbound);
    REQUIRE_MSG(absent_down.since == start && absent_down.at - start >= window_ns,
                describe(detector.calls));
    poll_allocations += poll_until(watch, monotonic_now() + 3 * window_ns, [] { return false; });
    REQUIRE_MSG(watch.up(0) && count_calls(detector, 0, false) == 0,
                describe(detector.calls) + " / " + describe(watch));
    REQUIRE_MSG(watch.judge(0).rx_packets() > rx_at_start, describe(watch));
    REQUIRE_MSG(watch.judge(0).last_moved_ns() > start, describe(watch));

    // 2. The far end's egress drops everything while both links stay up: a0 goes down after
    //    one window, measured from the last reading that saw the counter move.
    REQUIRE(far.run("tc qdisc add dev b0 root blackhole"));
    const Nanos silenced = monotonic_now();
    poll_allocations +=
        poll_until(watch, silenced + transition_timeout_ns, [&] { return !watch.up(0); });
    REQUIRE_MSG(!watch.up(0), describe(detector.calls) + " / " + describe(watch));
    REQUIRE_MSG(count_calls(detector, 0, false) == 1, describe(detector.calls));
    const AdapterCall down = detector.calls.back();
    REQUIRE(down.local == 0 && !down.up && down.evidence == evidence::inbound);
    REQUIRE_MSG(down.at - down.since >= window_ns, describe(detector.calls));
    // The last movement was seen by at most the first reading after the blackhole.
    REQUIRE_MSG(
        down.since > start && down.since <= silenced + 2 * test_timing.interval_ns,
        describe(detector.calls) + " silenced at " + std::to_string(silenced / nanos_per_ms));
    REQUIRE_MSG(
        down.at - silenced >= window_ns - test_timing.interval_ns,
        describe(detector.calls) + " silenced at " + std::to_string(silenced / nanos_per_ms));
    REQUIRE_MSG(sh("ip link show a0 | grep -q LOWER_UP"), "a0 lost its carrier");

    // 3. Traffic again: up at the first reading that sees the counter move, once.
    REQUIRE(far.run("tc qdisc del dev b0 root"));
    const Nanos restored = monotonic_now();
    poll_allocations +=
        poll_until(watch, restored + transition_timeout_ns, [&] { return watch.up(0); });
    REQUIRE_MSG(watch.up(0) && count_calls(detector, 0, true) == 1,
                describe(detector.calls) + " / " + describe(watch));
    const AdapterCall up = detector.calls.back();
    REQUIRE(up.local == 0 && up.evidence == evidence::inbound);
    REQUIRE_MSG(up.since >= restored && up.since <= up.at, describe(detector.calls));

    // 4. The interface disappears: counted as absent, silence, down after a window; no crash.
    const std::uint64_t absent_before = watch.counters().absent;
    REQUIRE(sh("ip link del a0"));
    const Nanos deleted = monotonic_now();
    poll_allocations +=
        poll_until(watch, deleted + transition_timeout_ns, [&] { return !watch.up(0); });
    REQUIRE_MSG(!watch.up(0) && count_calls(detector, 0, false) == 2,
                describe(detector.calls) + " / " + describe(watch));
    REQUIRE_MSG(watch.counters().absent > absent_before, describe(watch));
    REQUIRE_MSG(watch.counters().read_errors == 0, describe(watch));
    REQUIRE(watch.counters().went_down == 3 && watch.counters().came_up == 1);
    REQUIRE_MSG(poll_allocations == 0,
                std::to_string(poll_allocations) + " allocations inside poll()");
    return {};
}

TEST(TrafficWatch, BlackholedLinkGoesDownAfterOneWindowAndBack) {
    HB_RUN_ISOLATED(silenced_link_goes_down_and_back, scenario_timeout_s);
}

constexpr const char* make_silent_pair =
    "ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up";

// A recreated interface (a new ifindex under the name) is a new baseline, counted as a reset.
std::string recreated_interface_is_followed_by_name() {
    RecordingDetector detector;
    REQUIRE(sh("ip link set lo up"));
    // A veth pair with no addresses and no IPv6: d1 sends nothing, so d0 receives nothing.
    REQUIRE(sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"));
    REQUIRE(sh(make_silent_pair));
    const Nanos start = monotonic_now();
    std::vector<TrafficAdapter> adapters{
        TrafficAdapter{.local = 0, .ifname = "d0", .timing = test_timing}};
    auto opened = TrafficWatch::open(std::move(adapters), detector, start);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return "open: " + *error;
    }
    TrafficWatch& watch = *std::get<std::unique_ptr<TrafficWatch>>(opened);
    const int first_ifindex = watch.judge(0).ifindex();
    REQUIRE(first_ifindex > 0);
    // Nothing arrives: down after one window.
    (void)poll_until(watch, start + transition_timeout_ns, [&] { return !watch.up(0); });
    REQUIRE_MSG(!watch.up(0) && detector.calls.size() == 1, describe(detector.calls));
    REQUIRE(detector.calls[0].since == start);
    REQUIRE(sh(std::string("ip link del d0 && ") + make_silent_pair));
    (void)poll_until(watch, monotonic_now() + transition_timeout_ns,
                     [&] { return watch.judge(0).ifindex() != first_ifindex; });
    REQUIRE_MSG(watch.judge(0).ifindex() != first_ifindex && watch.judge(0).ifindex() > 0,
                describe(watch));
    REQUIRE_MSG(watch.counters().counter_resets == 1, describe(watch));
    REQUIRE_MSG(!watch.up(0) && detector.calls.size() == 1, describe(detector.calls));
    return {};
}

TEST(TrafficWatch, RecreatedInterfaceIsANewBaseline) {
    HB_RUN_ISOLATED(recreated_interface_is_followed_by_name, scenario_timeout_s);
}

std::string open_errors_are_values() {
    RecordingDetector detector;
    const Nanos now = monotonic_now();
    auto none = TrafficWatch::open({}, detector, now);
    REQUIRE(std::holds_alternative<std::string>(none));
    std::vector<TrafficAdapter> bad{
        TrafficAdapter{.local = 0, .ifname = "a-name-far-too-long", .timing = test_timing}};
    auto opened = TrafficWatch::open(std::move(bad), detector, now);
    REQUIRE(std::holds_alternative<std::string>(opened));
    REQUIRE_MSG(std::get<std::string>(opened).find("a-name-far-too-long") != std::string::npos,
                std::get<std::string>(opened));
    REQUIRE(detector.calls.empty());
    return {};
}

TEST(TrafficWatch, OpenErrorsAreValues) {
    HB_RUN_ISOLATED(open_errors_are_values, scenario_timeout_s);
}

}  // namespace
}  // namespace hb::policy
