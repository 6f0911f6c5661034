// Forgetting peers' neighbour entries when a link comes back (docs/linkwatch.md): the flush on
// its own, and the link poller doing it when an interface regains carrier. Each scenario runs in
// its own network namespace.
#include "policy/neighbour_flush.hh"

#include <net/if.h>

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "policy/link_poller.hh"
#include "tests/support/isolated.hh"
#include "tests/support/recording_detector.hh"
#include "tests/support/test_cluster.hh"

namespace hb::policy {
namespace {

using test::sh;

// The kernel's entry for `address` on a0, as `ip neigh` prints it ("" when there is none).
std::string neighbour(const std::string& address) {
    std::string out;
    if (FILE* pipe = popen(("ip -4 neigh show " + address + " dev a0").c_str(), "r")) {
        std::array<char, 256> line{};
        while (fgets(line.data(), line.size(), pipe) != nullptr) {
            out += line.data();
        }
        pclose(pipe);
    }
    return out;
}

// a0 (198.18.9.1/24) paired with b0, both up, and a0's carrier reported (it settles
// asynchronously after `ip link set up`: a poller opened before would see it come up).
std::string make_pair() {
    if (!sh("ip link add a0 type veth peer name b0 && ip addr add 198.18.9.1/24 dev a0 && "
            "ip link set a0 up && ip link set b0 up")) {
        return "cannot create the veth pair";
    }
    for (int i = 0; i < 200; ++i) {
        if (sh("ip -o link show a0 | grep -q 'state UP'")) {
            return {};
        }
        ::usleep(10'000);
    }
    return "a0 did not come up within 2 s";
}

// A stale entry, as a beat sent while the link was down leaves one (unresolved, FAILED) or as
// one learnt before it went down.
bool add_entry(const std::string& address) {
    return sh("ip neigh replace " + address + " dev a0 lladdr 02:00:00:00:00:09 nud stale");
}

TEST(NeighbourFlush, ForgetsEntriesAndCountsTheAbsentOnes) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_pair(); !error.empty()) {
            return error;
        }
        REQUIRE(add_entry("198.18.9.2"));
        REQUIRE_MSG(!neighbour("198.18.9.2").empty(), "the entry was not added");
        auto opened = NeighbourFlush::open();
        REQUIRE_MSG(std::holds_alternative<std::unique_ptr<NeighbourFlush>>(opened),
                    std::get<std::string>(opened));
        NeighbourFlush& flush = *std::get<std::unique_ptr<NeighbourFlush>>(opened);
        const std::array<Ipv4, 2> peers = {*Ipv4::parse("198.18.9.2"), *Ipv4::parse("198.18.9.3")};
        flush.forget(static_cast<int>(if_nametoindex("a0")), peers);
        REQUIRE_MSG(neighbour("198.18.9.2").empty(), neighbour("198.18.9.2"));
        REQUIRE(flush.counters().requests == 2);
        REQUIRE(flush.counters().forgotten == 1);
        REQUIRE(flush.counters().absent == 1);
        REQUIRE(flush.counters().errors == 0);
        // An interface that does not exist is an error reply, counted, not a crash.
        flush.forget(999999, peers);
        REQUIRE(flush.counters().errors == 2);
        return {};
    });
}

TEST(NeighbourFlush, TheLinkPollerForgetsPeersWhenCarrierReturns) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_pair(); !error.empty()) {
            return error;
        }
        // Node 1 on a0; its peers 2 and 3 at 198.18.9.2 and .3.
        ClusterConfig config = test::make_cluster_config(3, 1, NetworkMode::unicast,
                                                         Timing{.interval_ns = 10 * nanos_per_ms});
        config.local_node = 1;
        for (NodeConfig& node : config.nodes) {
            node.adapters[0].ifname = "a0";
            node.adapters[0].address = Ipv4{(198U << 24) | (18U << 16) | (9U << 8) | node.id};
        }
        const Topology topology(config);
        test::RecordingDetector detector;
        auto opened = LinkPoller::open(topology, detector, monotonic_now());
        REQUIRE_MSG(std::holds_alternative<std::unique_ptr<LinkPoller>>(opened),
                    std::get<std::string>(opened));
        LinkPoller& poller = *std::get<std::unique_ptr<LinkPoller>>(opened);

        REQUIRE(sh("ip link set b0 down"));  // a0 loses carrier
        const auto poll_until = [&](bool up) {
            for (int i = 0; i < 200; ++i) {
                pollfd ready{.fd = poller.wait_fd(), .events = POLLIN, .revents = 0};
                (void)::poll(&ready, 1, 10);
                poller.poll(monotonic_now());
                if (!detector.calls.empty() && detector.calls.back().up == up) {
                    return true;
                }
            }
            return false;
        };
        REQUIRE_MSG(poll_until(false), test::describe(detector.calls));
        REQUIRE(poller.neighbour_counters().requests == 0);
        // While the link is down, beats to the peers leave entries behind.
        REQUIRE(add_entry("198.18.9.2"));
        REQUIRE(add_entry("198.18.9.3"));
        REQUIRE(sh("ip link set b0 up"));
        REQUIRE_MSG(poll_until(true), test::describe(detector.calls));
        REQUIRE_MSG(neighbour("198.18.9.2").empty() && neighbour("198.18.9.3").empty(),
                    neighbour("198.18.9.2") + neighbour("198.18.9.3"));
        REQUIRE(poller.neighbour_counters().requests == 2);
        REQUIRE(poller.neighbour_counters().forgotten == 2);
        return {};
    });
}

}  // namespace
}  // namespace hb::policy
