// Link state from a DPDK port (DESIGN §6 rule 1): a DPDK transport on net_af_packet over a veth
// in a network namespace of this test's own, its link read by the port link poller. Setting the
// veth's peer down takes the carrier away: the port reports down and the detector ADAPTER_DOWN;
// setting it up again gives ADAPTER_UP. Needs root (the namespace, the veth and the EAL).
#include <sched.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "policy/node_detector.hh"
#include "policy/port_link_poller.hh"
#include "tests/dpdk/dpdk_test_support.hh"
#include "tests/support/test_cluster.hh"
#include "transport/dpdk/dpdk_transport.hh"

namespace hb {
namespace {

constexpr const char* port_side = "hblink0";  // the DPDK port's interface
constexpr const char* peer_side = "hblink1";  // its veth peer, whose state the test changes
constexpr Nanos link_period_ns = 5 * nanos_per_ms;

// Why the veth could not be made in a namespace of our own; empty when it was.
std::string& veth_error() {
    static std::string error;
    return error;
}

bool ip(const std::string& arguments) {
    const std::string command = "ip " + arguments + " >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
}

void make_veth() {
    if (geteuid() != 0) {
        veth_error() = "not root";
    } else if (unshare(CLONE_NEWNET) != 0) {
        veth_error() = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    } else if (!ip(std::string("link add ") + port_side + " type veth peer name " + peer_side) ||
               !ip(std::string("link set ") + port_side + " up") ||
               !ip(std::string("link set ") + peer_side + " up")) {
        veth_error() = "cannot create and raise a veth pair with ip(8)";
    }
}

#define HB_REQUIRE_VETH()                                                            \
    do {                                                                             \
        HB_REQUIRE_EAL();                                                            \
        if (!veth_error().empty()) {                                                 \
            GTEST_SKIP() << "no veth in a namespace of this test: " << veth_error(); \
        }                                                                            \
    } while (false)

std::unique_ptr<transport::DpdkTransport> open_port(const std::string& vdev, Ipv4 address) {
    auto opened =
        transport::DpdkTransport::open({.port = vdev + ",iface=" + port_side, .address = address});
    if (auto* error = std::get_if<std::string>(&opened)) {
        ADD_FAILURE() << *error;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<transport::DpdkTransport>>(opened));
}

// Polls `read` for up to two seconds until it returns `expected`.
template <typename Read>
bool eventually(Read read, LinkState expected) {
    const Nanos deadline = monotonic_now() + 2 * nanos_per_s;
    while (monotonic_now() < deadline) {
        if (read() == expected) {
            return true;
        }
        usleep(1000);
    }
    return false;
}

TEST(DpdkLink, TheAfPacketPortFollowsItsInterfacesCarrier) {
    HB_REQUIRE_VETH();
    const auto port = open_port("net_af_packet10", Ipv4{0xC6120101});
    ASSERT_NE(port, nullptr);
    EXPECT_NE(port->host_ifindex(), 0U);
    const auto read = [&] { return port->link_state(); };
    EXPECT_TRUE(eventually(read, LinkState::up));
    ASSERT_TRUE(ip(std::string("link set ") + peer_side + " down"));
    EXPECT_TRUE(eventually(read, LinkState::down)) << "the veth lost its carrier";
    ASSERT_TRUE(ip(std::string("link set ") + peer_side + " up"));
    EXPECT_TRUE(eventually(read, LinkState::up));
    // The port's own interface set down (administratively) is down too.
    ASSERT_TRUE(ip(std::string("link set ") + port_side + " down"));
    EXPECT_TRUE(eventually(read, LinkState::down)) << "the interface is administratively down";
    ASSERT_TRUE(ip(std::string("link set ") + port_side + " up"));
    EXPECT_TRUE(eventually(read, LinkState::up));
}

// The engine, detector and port link poller of one node, driven by hand on real time.
struct LinkedNode {
    LinkedNode(const ClusterConfig& config, transport::DpdkTransport& port)
        : engine(config, detector) {
        engine.attach_transport(0, port);
        const Nanos now = monotonic_now();
        EXPECT_EQ(engine.start(now), "");
        poller = policy::PortLinkPoller::open({{0, &port}}, detector, link_period_ns, now);
    }
    // Runs for up to `timeout_ns` until an event of `kind` comes; collects every event.
    bool run_until(EventKind kind, Nanos timeout_ns) {
        const Nanos deadline = monotonic_now() + timeout_ns;
        while (monotonic_now() < deadline) {
            poller->poll(monotonic_now());
            engine.poll(monotonic_now());
            Event event;
            while (engine.next_event(event)) {
                events.push_back(event);
                if (event.kind == kind) {
                    return true;
                }
            }
            usleep(200);
        }
        return false;
    }
    std::string describe() const {
        std::string out;
        for (const Event& event : events) {
            out += std::string(event_name(event.kind)) + " ";
        }
        return out.empty() ? "no events" : out;
    }

    policy::NodeDetector detector;
    Engine engine;
    std::unique_ptr<policy::PortLinkPoller> poller;
    std::vector<Event> events;
};

TEST(DpdkLink, ThePeerVethDownGivesAdapterDownAndUpGivesItBack) {
    HB_REQUIRE_VETH();
    ClusterConfig config = test::make_cluster_config(
        2, 1, NetworkMode::unicast,
        Timing{.interval_ns = 20 * nanos_per_ms, .multiplier = 5, .up_count = 2});
    config.local_node = 1;
    config.nodes[0].adapters[0].transport = TransportKind::dpdk;
    const auto port = open_port("net_af_packet11", config.nodes[0].adapters[0].address);
    ASSERT_NE(port, nullptr);
    {
        LinkedNode node(config, *port);
        EXPECT_EQ(node.poller->state(0), LinkState::up);
        // Up at start: no adapter event for a while.
        EXPECT_FALSE(node.run_until(EventKind::adapter_down, 100 * nanos_per_ms))
            << node.describe();
        const Nanos down_ns = monotonic_now();
        ASSERT_TRUE(ip(std::string("link set ") + peer_side + " down"));
        ASSERT_TRUE(node.run_until(EventKind::adapter_down, 2 * nanos_per_s)) << node.describe();
        const Event& down = node.events.back();
        EXPECT_NE(down.evidence & evidence::link, 0U);
        // Noticed within a few poll periods (generous: two vCPUs are shared).
        EXPECT_LT(down.t_ns - down_ns, 500 * nanos_per_ms);
        EXPECT_EQ(node.poller->state(0), LinkState::down);
        ASSERT_TRUE(ip(std::string("link set ") + peer_side + " up"));
        ASSERT_TRUE(node.run_until(EventKind::adapter_up, 2 * nanos_per_s)) << node.describe();
        EXPECT_NE(node.events.back().evidence & evidence::link, 0U);
        EXPECT_EQ(node.poller->counters().changes, 2U);
    }
    EXPECT_EQ(port->mempool_available(), port->mempool_capacity());
}

}  // namespace
}  // namespace hb

int main(int argc, char** argv) {
    hb::make_veth();  // before the EAL: the whole process lives in the new namespace
    return hb::test::dpdk_main(argc, argv, "link");
}
