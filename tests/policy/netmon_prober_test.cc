// The netmon prober against real raw sockets: each scenario runs in a forked child inside its own
// network namespace, with the targets in a second one behind veth pairs (198.18.0.0/15 only).
#include "policy/netmon_prober.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
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
// 20 ms × 3: a 60 ms window, wide enough for a loaded two-core machine to answer in time.
constexpr Timing test_timing{.interval_ns = 20 * nanos_per_ms, .multiplier = 3, .up_count = 1};
constexpr Nanos window_ns = 60 * nanos_per_ms;
// How long a scenario waits for a transition that should come within about one window.
constexpr Nanos transition_timeout_ns = 2 * nanos_per_s;

using hb::test::sh;

using test::AdapterCall;
using test::describe;
using test::RecordingDetector;

// The engine thread's loop in small: sleep on the prober's fd, then poll it. Counts what poll()
// allocates; stops as soon as `done` holds or at `until`.
std::uint64_t poll_until(std::vector<NetmonProber*> probers, Nanos until,
                         const std::function<bool()>& done) {
    std::uint64_t poll_allocations = 0;
    while (monotonic_now() < until && !done()) {
        // The first prober's fd wakes us when its reply or deadline is due; the short timeout
        // serves the others, as the runner's other wake-ups would.
        epoll_event event{};
        (void)epoll_wait(probers.front()->wait_fd(), &event, 1, 5);
        const Nanos now = monotonic_now();
        const std::uint64_t before = allocations.load(std::memory_order_relaxed);
        for (NetmonProber* prober : probers) {
            (void)prober->poll(now);
        }
        poll_allocations += allocations.load(std::memory_order_relaxed) - before;
    }
    return poll_allocations;
}

// The targets' ends of the veth pairs live in a second network namespace.
using TargetNamespace = test::NamespaceChild;

// Two adapters: a0 198.18.1.1 facing 198.18.1.2, a1 198.18.2.1 facing 198.18.2.2; the other
// ends live in `targets`.
[[nodiscard]] std::string make_links(const TargetNamespace& targets) {
    REQUIRE(targets.ready());
    REQUIRE(sh("ip link set lo up"));
    for (const char* pair : {"a0 type veth peer name b0", "a1 type veth peer name b1"}) {
        REQUIRE(sh(std::string("ip link add ") + pair + " netns " + targets.pid()));
    }
    REQUIRE(sh("ip addr add 198.18.1.1/24 dev a0 && ip link set a0 up"));
    REQUIRE(sh("ip addr add 198.18.2.1/24 dev a1 && ip link set a1 up"));
    REQUIRE(
        targets.run("ip link set lo up && ip addr add 198.18.1.2/24 dev b0 && ip link set b0 up && "
                    "ip addr add 198.18.2.2/24 dev b1 && ip link set b1 up"));
    return {};
}

NetmonAdapter adapter(std::uint32_t local, const char* ifname, const char* address,
                      std::vector<const char*> targets) {
    NetmonAdapter out{.local = local, .ifname = ifname, .timing = test_timing};
    out.address = *Ipv4::parse(address);
    for (const char* target : targets) {
        out.targets.push_back(*Ipv4::parse(target));
    }
    return out;
}

std::size_t count_calls(const RecordingDetector& detector, std::uint32_t local, bool up) {
    std::size_t count = 0;
    for (const AdapterCall& call : detector.calls) {
        count += call.local == local && call.up == up ? 1 : 0;
    }
    return count;
}

std::string reachable_and_unreachable() {
    const TargetNamespace targets;
    if (std::string problem = make_links(targets); !problem.empty()) {
        return problem;
    }
    RecordingDetector detector;
    // a0: one target that answers and one that nobody has (any one answering is enough);
    // a1: only a target that nobody has.
    std::vector<NetmonAdapter> adapters;
    adapters.push_back(adapter(0, "a0", "198.18.1.1", {"198.18.1.99", "198.18.1.2"}));
    adapters.push_back(adapter(1, "a1", "198.18.2.1", {"198.18.2.99"}));
    const Nanos start = monotonic_now();
    auto opened = NetmonProber::open(std::move(adapters), detector, start);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return "open: " + *error;
    }
    NetmonProber& prober = *std::get<std::unique_ptr<NetmonProber>>(opened);
    REQUIRE(prober.identifier(0) != prober.identifier(1));
    std::uint64_t poll_allocations = 0;

    // 1. a1 goes down after one window, never before; a0 stays up.
    poll_allocations +=
        poll_until({&prober}, start + transition_timeout_ns, [&] { return !prober.up(1); });
    REQUIRE_MSG(!prober.up(1), describe(detector.calls));
    REQUIRE_MSG(detector.calls.size() == 1, describe(detector.calls));
    const AdapterCall down = detector.calls[0];
    REQUIRE(down.local == 1 && !down.up && down.evidence == evidence::netmon);
    REQUIRE_MSG(down.at - start >= window_ns, describe(detector.calls));
    // It never answered: its silence is measured from the prober's start.
    REQUIRE_MSG(down.since == start, describe(detector.calls));
    // Keep polling a few windows: a0 must not follow.
    poll_allocations +=
        poll_until({&prober}, monotonic_now() + 4 * window_ns, [] { return false; });
    REQUIRE_MSG(prober.up(0) && count_calls(detector, 0, false) == 0, describe(detector.calls));
    REQUIRE(prober.counters().replies > 0);
    REQUIRE(prober.last_reply_ns(0) > start);

    // 2. Someone takes the address a1 probes: the next answer brings a1 back up.
    REQUIRE(targets.run("ip addr add 198.18.2.99/24 dev b1"));
    poll_allocations += poll_until({&prober}, monotonic_now() + transition_timeout_ns,
                                   [&] { return prober.up(1); });
    REQUIRE_MSG(prober.up(1) && count_calls(detector, 1, true) == 1, describe(detector.calls));
    REQUIRE(detector.calls.back().evidence == evidence::netmon);

    // 3. The targets stop answering while every link stays up: both adapters go down.
    const Nanos silenced = monotonic_now();
    REQUIRE(targets.run("sysctl -qw net.ipv4.icmp_echo_ignore_all=1"));
    // Answers may still come until the setting has taken effect, i.e. until the command is done.
    const Nanos silent = monotonic_now();
    poll_allocations += poll_until({&prober}, silenced + transition_timeout_ns,
                                   [&] { return !prober.up(0) && !prober.up(1); });
    REQUIRE_MSG(!prober.up(0) && !prober.up(1), describe(detector.calls));
    REQUIRE_MSG(count_calls(detector, 0, false) == 1 && count_calls(detector, 1, false) == 2,
                describe(detector.calls));
    for (const AdapterCall& call : detector.calls) {
        if (!call.up && call.at >= silenced) {
            REQUIRE_MSG(call.at - silenced >= window_ns - test_timing.interval_ns,
                        describe(detector.calls));
            // The evidence begins at the last answer, which came before the silence: stamped
            // when the prober read it, which on a loaded machine can be a little later.
            REQUIRE_MSG(call.since > start && call.since <= silent + test_timing.interval_ns &&
                            call.at - call.since >= window_ns,
                        describe(detector.calls));
        }
    }

    // 4. They answer again: both come back up, once each.
    REQUIRE(targets.run("sysctl -qw net.ipv4.icmp_echo_ignore_all=0"));
    poll_allocations += poll_until({&prober}, monotonic_now() + transition_timeout_ns,
                                   [&] { return prober.up(0) && prober.up(1); });
    REQUIRE_MSG(prober.up(0) && prober.up(1), describe(detector.calls));
    REQUIRE_MSG(count_calls(detector, 0, true) == 1 && count_calls(detector, 1, true) == 2,
                describe(detector.calls));
    REQUIRE_MSG(poll_allocations == 0,
                std::to_string(poll_allocations) + " allocations inside poll()");
    return {};
}

TEST(NetmonProber, ReachableStaysUpUnreachableGoesDownAndBack) {
    HB_RUN_ISOLATED(reachable_and_unreachable, scenario_timeout_s);
}

// Two probers on one device and one target: each raw socket sees both probers' replies, and
// each must count only its own (by identifier).
std::string replies_for_another_prober_are_ignored() {
    const TargetNamespace targets;
    if (std::string problem = make_links(targets); !problem.empty()) {
        return problem;
    }
    RecordingDetector detector;
    std::vector<NetmonAdapter> first{adapter(0, "a0", "198.18.1.1", {"198.18.1.2"})};
    std::vector<NetmonAdapter> second{adapter(0, "a0", "198.18.1.1", {"198.18.1.2"})};
    const Nanos start = monotonic_now();
    auto opened_first = NetmonProber::open(std::move(first), detector, start);
    auto opened_second = NetmonProber::open(std::move(second), detector, start);
    REQUIRE(std::holds_alternative<std::unique_ptr<NetmonProber>>(opened_first));
    REQUIRE(std::holds_alternative<std::unique_ptr<NetmonProber>>(opened_second));
    NetmonProber& one = *std::get<std::unique_ptr<NetmonProber>>(opened_first);
    NetmonProber& two = *std::get<std::unique_ptr<NetmonProber>>(opened_second);
    REQUIRE(one.identifier(0) != two.identifier(0));
    (void)poll_until({&one, &two}, start + 10 * window_ns, [] { return false; });
    for (const NetmonProber* prober : {&one, &two}) {
        const NetmonCounters& counters = prober->counters();
        REQUIRE_MSG(counters.replies > 0, describe(detector.calls));
        // Our own replies at most once per probe; the other prober's went to `rejected`.
        REQUIRE_MSG(counters.replies <= counters.probes_sent,
                    std::to_string(counters.replies) + " replies to " +
                        std::to_string(counters.probes_sent) + " probes");
        REQUIRE(counters.rejected > 0);
        REQUIRE(counters.malformed == 0);
    }
    REQUIRE_MSG(detector.calls.empty(), describe(detector.calls));
    return {};
}

TEST(NetmonProber, RepliesForAnotherProberAreIgnored) {
    HB_RUN_ISOLATED(replies_for_another_prober_are_ignored, scenario_timeout_s);
}

std::string open_errors_are_values() {
    RecordingDetector detector;
    REQUIRE(sh("ip link set lo up"));
    const Nanos now = monotonic_now();
    auto none = NetmonProber::open({}, detector, now);
    REQUIRE(std::holds_alternative<std::string>(none));
    // An interface that does not exist: the message names the adapter.
    std::vector<NetmonAdapter> missing{adapter(0, "nosuch0", "198.18.1.1", {"198.18.1.2"})};
    auto opened = NetmonProber::open(std::move(missing), detector, now);
    REQUIRE(std::holds_alternative<std::string>(opened));
    REQUIRE_MSG(std::get<std::string>(opened).find("nosuch0") != std::string::npos,
                std::get<std::string>(opened));
    REQUIRE(detector.calls.empty());
    return {};
}

TEST(NetmonProber, OpenErrorsAreValues) {
    HB_RUN_ISOLATED(open_errors_are_values, scenario_timeout_s);
}

}  // namespace
}  // namespace hb::policy
