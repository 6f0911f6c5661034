// Engines over real UDP sockets on loopback, driven by both run loops: beats flow, paths come up,
// and a stopped node is reported down. Timing is real, so only verdicts are asserted.
#include <unistd.h>

#include <gtest/gtest.h>

#include <optional>

#include "hb/runner.hh"
#include "policy/node_detector.hh"
#include "tests/support/engine_thread.hh"
#include "tests/support/test_cluster.hh"
#include "transport/udp/udp_transport.hh"

namespace hb {
namespace {

// Real sockets and real time: 20 ms x 5 tolerates the tens of milliseconds a virtual machine's
// vCPU can be paused by its host. This test checks verdicts, not speed.
constexpr Timing fast{.interval_ns = 20 * nanos_per_ms, .multiplier = 5, .up_count = 2};
constexpr std::uint16_t test_port = 40991;

ClusterConfig loopback_config(NodeId local) {
    ClusterConfig config = test::make_cluster_config(3, 1, NetworkMode::unicast, fast);
    config.local_node = local;
    config.networks[0].port = test_port;
    for (NodeConfig& node : config.nodes) {
        node.adapters[0].ifname = "lo";
        node.adapters[0].address = Ipv4{(127U << 24) | (0U << 16) | (1U << 8) | node.id};
    }
    return config;
}

// One node: its engine runs on its own thread under the chosen runner until stopped.
class LoopbackNode {
public:
    LoopbackNode(NodeId id, bool threaded)
        : config_(loopback_config(id)), engine_(config_, detector_) {
        const AdapterConfig& adapter = config_.find_node(id)->adapters[0];
        auto opened = transport::UdpTransport::open(
            {.ifname = adapter.ifname, .address = adapter.address, .port = test_port});
        HB_ASSERT(std::holds_alternative<std::unique_ptr<transport::UdpTransport>>(opened));
        transport_ = std::move(std::get<std::unique_ptr<transport::UdpTransport>>(opened));
        engine_.attach_transport(0, *transport_);
        HB_ASSERT(engine_.start(monotonic_now()).empty());
        thread_.emplace(engine_,
                        [this, threaded](const std::atomic<bool>& stop, const AfterPoll& collect) {
                            if (threaded) {
                                ThreadedRunner runner(engine_);
                                runner.run(stop, collect);
                            } else {
                                SingleThreadRunner runner(engine_);
                                runner.run(stop, collect);
                            }
                        });
    }

    void stop() { thread_->stop(); }
    bool wait_for(EventKind kind, NodeId node) { return thread_->wait_for(kind, node); }
    std::string describe() const { return thread_->describe(); }
    const Engine& engine() const { return engine_; }

private:
    ClusterConfig config_;
    policy::NodeDetector detector_;
    Engine engine_;
    std::unique_ptr<transport::UdpTransport> transport_;
    std::optional<test::EngineThread> thread_;  // last: stops before the rest is destroyed
};

class UdpEngine : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "binding a socket to a device (SO_BINDTODEVICE) needs root";
        }
    }
};

TEST_P(UdpEngine, NodesComeUpAndAStoppedOneIsReportedDown) {
    const bool threaded = GetParam();
    // Three nodes: when the last peer a node hears falls silent, it reports itself isolated.
    LoopbackNode alpha(1, threaded);
    LoopbackNode gamma(3, threaded);
    {
        LoopbackNode beta(2, threaded);
        // Each about the other: gamma coming up first must not let beta stop before alpha
        // has seen it.
        ASSERT_TRUE(alpha.wait_for(EventKind::node_up, 2));
        ASSERT_TRUE(beta.wait_for(EventKind::node_up, 1));
    }  // beta stops without leaving: a crash, as far as alpha can tell
    const bool reported = alpha.wait_for(EventKind::node_down, 2);
    alpha.stop();
    ASSERT_TRUE(reported) << "alpha reported: " << alpha.describe();
    EXPECT_GT(alpha.engine().counters().beats_accepted, 0U);
    EXPECT_EQ(alpha.engine().counters().dropped_total(), 0U);
    EXPECT_GT(alpha.engine().tracker(0).rtt_samples(), 0U);
}

std::string run_mode_name(const ::testing::TestParamInfo<bool>& mode) {
    return mode.param ? "threaded" : "single";
}

INSTANTIATE_TEST_SUITE_P(RunModes, UdpEngine, ::testing::Values(false, true), run_mode_name);

}  // namespace
}  // namespace hb
