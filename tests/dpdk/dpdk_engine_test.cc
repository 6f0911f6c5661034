// Three engines over DPDK transports in one process, each on net_ring ports joined by a hub (a
// thread flooding every frame to the other ports, like an Ethernet hub): ARP resolves, beats flow,
// nodes come up, and a stopped node is reported down. Unicast and multicast, inline and in lcore
// mode (a polling thread per port). Timing is real, so only verdicts are asserted.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "hb/runner.hh"
#include "policy/node_detector.hh"
#include "tests/dpdk/dpdk_test_support.hh"
#include "tests/support/engine_thread.hh"
#include "tests/support/test_cluster.hh"
#include "transport/dpdk/dpdk_lcore.hh"
#include "transport/dpdk/dpdk_transport.hh"

namespace hb {
namespace {

// As in the UDP engine test: 20 ms x 5 tolerates a paused vCPU; here four busy threads also
// share two cores.
constexpr Timing fast{.interval_ns = 20 * nanos_per_ms, .multiplier = 5, .up_count = 2};
constexpr std::size_t node_count = 3;

struct Setup {
    NetworkMode mode = NetworkMode::unicast;
    bool lcore = false;  // the port polled by a thread of its own, SPSC rings to the engine
};

// Every frame a port sends reaches every other port once; mbufs are shared (reference counted),
// not copied, so each returns to its sender's pool when the last receiver frees it.
class Hub {
public:
    Hub(std::array<rte_ring*, node_count> from_node, std::array<rte_ring*, node_count> to_node)
        : from_node_(from_node), to_node_(to_node), thread_([this] { run(); }) {}
    ~Hub() { stop(); }
    void stop() {
        stop_.store(true);
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    void run() {
        std::array<void*, 32> frames{};
        while (!stop_.load(std::memory_order_relaxed)) {
            bool moved = false;
            for (std::size_t from = 0; from < node_count; ++from) {
                const unsigned count =
                    rte_ring_dequeue_burst(from_node_[from], frames.data(), frames.size(), nullptr);
                for (unsigned i = 0; i < count; ++i) {
                    auto* mbuf = static_cast<rte_mbuf*>(frames[i]);
                    rte_mbuf_refcnt_update(mbuf, static_cast<std::int16_t>(node_count - 2));
                    for (std::size_t to = 0; to < node_count; ++to) {
                        if (to != from && rte_ring_enqueue(to_node_[to], mbuf) != 0) {
                            rte_pktmbuf_free(mbuf);  // that port's ring is full: its copy is lost
                        }
                    }
                }
                moved = moved || count != 0;
            }
            if (!moved) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        }
    }

    std::array<rte_ring*, node_count> from_node_;
    std::array<rte_ring*, node_count> to_node_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

ClusterConfig dpdk_config(NodeId local, NetworkMode mode) {
    ClusterConfig config = test::make_cluster_config(node_count, 1, mode, fast);
    config.local_node = local;
    for (NodeConfig& node : config.nodes) {
        node.adapters[0].transport = TransportKind::dpdk;
    }
    return config;
}

// One node: its engine runs on its own thread under the single-thread runner until stopped
// (busy-polling inline, as the port has no file descriptor; sleeping on the eventfd in lcore
// mode). Stopping is a crash: no LEAVING beat. The port stays open until the test ends, because
// its mbufs may still sit in others' rings.
class DpdkNode {
public:
    DpdkNode(NodeId id, Setup setup, const std::string& port)
        : config_(dpdk_config(id, setup.mode)), engine_(config_, detector_) {
        const NetworkMode mode = setup.mode;
        const AdapterConfig& adapter = config_.find_node(id)->adapters[0];
        const NetworkConfig& network = config_.networks[0];
        auto opened = transport::DpdkTransport::open({.port = port,
                                                      .address = adapter.address,
                                                      .udp_port = network.port,
                                                      .mode = mode,
                                                      .group = network.group});
        if (auto* error = std::get_if<std::string>(&opened)) {
            ADD_FAILURE() << *error;
            return;
        }
        transport_ = std::move(std::get<std::unique_ptr<transport::DpdkTransport>>(opened));
        if (setup.lcore) {
            // Sleeps 20 us when idle: seven threads share two cores here.
            auto started = transport::DpdkLcoreTransport::start(std::move(transport_),
                                                                {.idle_sleep_ns = 20'000});
            if (auto* error = std::get_if<std::string>(&started)) {
                ADD_FAILURE() << *error;
                return;
            }
            lcore_ = std::move(std::get<std::unique_ptr<transport::DpdkLcoreTransport>>(started));
            engine_.attach_transport(0, *lcore_);
        } else {
            engine_.attach_transport(0, *transport_);
        }
        HB_ASSERT(engine_.start(monotonic_now()).empty());
        thread_.emplace(engine_, [this](const std::atomic<bool>& stop, const AfterPoll& collect) {
            SingleThreadRunner runner(engine_);
            runner.run(stop, collect);
        });
    }

    bool opened() const { return transport_ != nullptr || lcore_ != nullptr; }
    void stop() {
        if (thread_) {
            thread_->stop();
        }
        if (lcore_) {
            lcore_->stop();  // the port is idle from here on, its rings can be drained
        }
    }
    bool wait_for(EventKind kind, NodeId node) { return thread_ && thread_->wait_for(kind, node); }
    std::string seen() const { return thread_ ? thread_->describe() : std::string(); }
    const Engine& engine() const { return engine_; }
    const transport::DpdkTransport& transport() const {
        return lcore_ ? lcore_->port() : *transport_;
    }
    const transport::DpdkLcoreTransport* lcore() const { return lcore_.get(); }

private:
    ClusterConfig config_;
    policy::NodeDetector detector_;
    Engine engine_;
    std::unique_ptr<transport::DpdkTransport> transport_;   // inline mode
    std::unique_ptr<transport::DpdkLcoreTransport> lcore_;  // lcore mode: owns the port
    std::optional<test::EngineThread> thread_;  // last: stops before the rest is destroyed
};

class DpdkEngine : public ::testing::TestWithParam<Setup> {
protected:
    void SetUp() override {
        HB_REQUIRE_EAL();
        const std::string mode =
            std::string(GetParam().mode == NetworkMode::multicast ? "m" : "u") +
            (GetParam().lcore ? "l" : "");
        for (std::size_t i = 0; i < node_count; ++i) {
            const std::string suffix = mode + std::to_string(i);
            from_node_[i] = test::make_ring("from" + suffix);
            to_node_[i] = test::make_ring("to" + suffix);
            ASSERT_NE(from_node_[i], nullptr);
            ASSERT_NE(to_node_[i], nullptr);
            ports_[i] = "node" + suffix;
            ASSERT_GE(test::make_ring_port(ports_[i], to_node_[i], from_node_[i]), 0);
        }
        hub_ = std::make_unique<Hub>(from_node_, to_node_);
    }
    void TearDown() override {
        if (!test::eal_error().empty()) {
            return;
        }
        for (auto& node : nodes_) {
            if (node) {
                node->stop();
            }
        }
        hub_.reset();
        // Every frame still queued belongs to some node's pool: free them all before any pool.
        for (std::size_t i = 0; i < node_count; ++i) {
            test::drain_ring(from_node_[i]);
            test::drain_ring(to_node_[i]);
        }
        for (auto& node : nodes_) {
            if (node && node->opened()) {
                const transport::DpdkTransport& transport = node->transport();
                EXPECT_EQ(transport.mempool_available(), transport.mempool_capacity());
            }
            node.reset();
        }
        for (std::size_t i = 0; i < node_count; ++i) {
            test::remove_ring_port(ports_[i]);
            rte_ring_free(from_node_[i]);
            rte_ring_free(to_node_[i]);
        }
    }
    DpdkNode& start(NodeId id) {
        auto& node = nodes_[id - 1];
        node = std::make_unique<DpdkNode>(id, GetParam(), "net_ring_" + ports_[id - 1]);
        return *node;
    }

    std::array<rte_ring*, node_count> from_node_{};
    std::array<rte_ring*, node_count> to_node_{};
    std::array<std::string, node_count> ports_;
    std::unique_ptr<Hub> hub_;
    std::array<std::unique_ptr<DpdkNode>, node_count> nodes_;
};

TEST_P(DpdkEngine, NodesComeUpAndAStoppedOneIsReportedDown) {
    DpdkNode& alpha = start(1);
    DpdkNode& gamma = start(3);
    DpdkNode& beta = start(2);
    ASSERT_TRUE(alpha.opened() && beta.opened() && gamma.opened());
    ASSERT_TRUE(alpha.wait_for(EventKind::node_up, 2)) << alpha.seen();
    ASSERT_TRUE(beta.wait_for(EventKind::node_up, 1)) << beta.seen();
    ASSERT_TRUE(alpha.wait_for(EventKind::node_up, 3)) << alpha.seen();
    beta.stop();  // no LEAVING beat: a crash, as far as alpha can tell
    const bool reported = alpha.wait_for(EventKind::node_down, 2);
    alpha.stop();
    gamma.stop();
    ASSERT_TRUE(reported) << "alpha reported: " << alpha.seen();
    EXPECT_GT(alpha.engine().counters().beats_accepted, 0U);
    EXPECT_EQ(alpha.engine().counters().dropped_total(), 0U);
    EXPECT_GT(alpha.engine().tracker(0).rtt_samples(), 0U);
    const transport::DpdkCounters counters = alpha.transport().dpdk_counters();
    EXPECT_EQ(counters.rx_malformed_total(), 0U);
    EXPECT_EQ(counters.tx_no_mbuf, 0U);
    if (const transport::DpdkLcoreTransport* lcore = alpha.lcore()) {
        EXPECT_EQ(lcore->lcore_counters().rx_ring_full, 0U);
        EXPECT_EQ(lcore->lcore_counters().tx_ring_full, 0U);
        EXPECT_GT(lcore->lcore_counters().wakeups_sent, 0U);  // the engine slept between beats
    }
    if (GetParam().mode == NetworkMode::unicast) {
        EXPECT_GT(counters.arp_requests_sent + counters.arp_requests_answered, 0U);
        EXPECT_TRUE(alpha.transport().neighbours().lookup(test::address_of(3, 0)));
    }
}

std::string setup_name(const ::testing::TestParamInfo<Setup>& setup) {
    return std::string(setup.param.mode == NetworkMode::multicast ? "multicast" : "unicast") +
           (setup.param.lcore ? "_lcore" : "_inline");
}

INSTANTIATE_TEST_SUITE_P(Modes, DpdkEngine,
                         ::testing::Values(Setup{NetworkMode::unicast, false},
                                           Setup{NetworkMode::multicast, false},
                                           Setup{NetworkMode::unicast, true},
                                           Setup{NetworkMode::multicast, true}),
                         setup_name);

}  // namespace
}  // namespace hb

int main(int argc, char** argv) {
    return hb::test::dpdk_main(argc, argv, "engine");
}
