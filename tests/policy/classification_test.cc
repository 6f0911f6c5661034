// Failure classification (DESIGN §6) end to end over the in-memory network: three nodes on two
// networks; an adapter, a network, a node, and all of a node's adapters fail, and each observer
// must report the right class, once, and nothing else.
#include <gtest/gtest.h>

#include "tests/support/test_cluster.hh"

namespace hb {
namespace {

using test::TestCluster;

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
constexpr Nanos bound = 3 * fast.interval_ns * fast.multiplier;

class Classification : public ::testing::Test {
protected:
    Classification() : cluster_(3, 2, NetworkMode::unicast, fast) {
        cluster_.run_for(200 * nanos_per_ms);
        for (NodeId id = 1; id <= 3; ++id) {
            cluster_.events(id).clear();
        }
    }
    std::size_t count(NodeId observer, EventKind kind) {
        std::size_t n = 0;
        for (const Event& e : cluster_.events(observer)) {
            n += e.kind == kind ? 1 : 0;
        }
        return n;
    }
    std::size_t total(NodeId observer) { return cluster_.events(observer).size(); }
    const Event& only(NodeId observer, EventKind kind) {
        for (const Event& e : cluster_.events(observer)) {
            if (e.kind == kind) {
                return e;
            }
        }
        ADD_FAILURE() << "no " << event_name(kind) << " at node " << observer;
        static const Event none;
        return none;
    }

    TestCluster cluster_;
};

TEST_F(Classification, AnAdapterFailureIsLocalAtItsNodeAndRemoteElsewhere) {
    const Nanos failed_at = cluster_.now();
    cluster_.set_adapter(3, 0, false);
    cluster_.run_for(300 * nanos_per_ms);
    // Node 3 knows from its link; the others learn it from node 3's own report over net_1.
    ASSERT_EQ(count(3, EventKind::adapter_down), 1U);
    EXPECT_EQ(only(3, EventKind::adapter_down).network, 0);
    EXPECT_EQ(only(3, EventKind::adapter_down).evidence, evidence::link);
    EXPECT_EQ(total(3), 1U) << "nothing about its peers";
    for (NodeId observer = 1; observer <= 2; ++observer) {
        ASSERT_EQ(count(observer, EventKind::remote_adapter_down), 1U) << observer;
        const Event& e = only(observer, EventKind::remote_adapter_down);
        EXPECT_EQ(e.node, 3U);
        EXPECT_EQ(e.network, 0);
        EXPECT_EQ(e.adapter, 0);
        EXPECT_EQ(e.evidence, evidence::report);
        EXPECT_LE(e.t_ns - failed_at, bound);
        EXPECT_EQ(total(observer), 1U) << "no NODE_DOWN, no NETWORK_DOWN";
    }
    cluster_.set_adapter(3, 0, true);
    cluster_.run_for(300 * nanos_per_ms);
    EXPECT_EQ(count(3, EventKind::adapter_up), 1U);
    EXPECT_EQ(total(3), 2U) << "its paths were still coming up: no NETWORK_DOWN";
    EXPECT_EQ(count(1, EventKind::remote_adapter_up), 1U);
    EXPECT_EQ(count(2, EventKind::remote_adapter_up), 1U);
    EXPECT_EQ(count(1, EventKind::node_down) + count(2, EventKind::node_down), 0U);
}

TEST_F(Classification, ANetworkFailureIsOneNetworkDownAtEveryNode) {
    const Nanos failed_at = cluster_.now();
    cluster_.set_network(0, false);
    cluster_.run_for(300 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 3; ++observer) {
        ASSERT_EQ(count(observer, EventKind::network_down), 1U) << observer;
        const Event& e = only(observer, EventKind::network_down);
        EXPECT_EQ(e.network, 0);
        // The peers' own reports say their adapters are up: the network failed.
        EXPECT_EQ(e.evidence, evidence::paths | evidence::report);
        EXPECT_LE(e.t_ns - failed_at, bound);
        EXPECT_EQ(total(observer), 1U) << "no per-peer flood, no NODE_DOWN";
    }
    cluster_.set_network(0, true);
    cluster_.run_for(300 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 3; ++observer) {
        EXPECT_EQ(count(observer, EventKind::network_up), 1U) << observer;
        EXPECT_EQ(total(observer), 2U) << observer;
    }
}

TEST_F(Classification, ANodeDeathIsOneNodeDownAndNothingElse) {
    const Nanos killed_at = cluster_.now();
    cluster_.crash(3);
    cluster_.run_for(300 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        ASSERT_EQ(count(observer, EventKind::node_down), 1U) << observer;
        EXPECT_EQ(only(observer, EventKind::node_down).node, 3U);
        EXPECT_LE(only(observer, EventKind::node_down).t_ns - killed_at,
                  fast.detection_ns() + fast.interval_ns);
        EXPECT_EQ(total(observer), 1U) << "no adapter or network events first";
    }
}

TEST_F(Classification, ANodeWithEveryAdapterDownIsIsolatedAndJudgesNobody) {
    cluster_.set_adapter(3, 0, false);
    cluster_.set_adapter(3, 1, false);
    cluster_.run_for(300 * nanos_per_ms);
    EXPECT_EQ(count(3, EventKind::adapter_down), 2U);
    ASSERT_EQ(count(3, EventKind::isolated), 1U);
    EXPECT_EQ(only(3, EventKind::isolated).evidence, evidence::link);
    // Measured from the last sign of life (its links were fine until just now).
    EXPECT_LE(only(3, EventKind::isolated).latency_ns, bound);
    EXPECT_EQ(count(3, EventKind::node_down), 0U);
    EXPECT_EQ(count(3, EventKind::network_down), 0U);
    EXPECT_EQ(count(3, EventKind::remote_adapter_down), 0U);
    // To the others it is gone, which is all they can know.
    EXPECT_EQ(count(1, EventKind::node_down), 1U);
    EXPECT_EQ(count(2, EventKind::node_down), 1U);

    cluster_.set_adapter(3, 0, true);
    cluster_.set_adapter(3, 1, true);
    cluster_.run_for(300 * nanos_per_ms);
    EXPECT_EQ(count(3, EventKind::isolation_ended), 1U);
    EXPECT_EQ(count(3, EventKind::node_down), 0U);
    EXPECT_EQ(count(1, EventKind::node_up), 1U);
}

TEST_F(Classification, AnAdapterIsDownWhileAnyOfItsHealthSourcesSaysSo) {
    policy::NodeDetector& detector = cluster_.node(3).detector;
    // Its targets stopped answering 25 ms ago; then its link fails too.
    detector.on_local_adapter(0, false, evidence::netmon, cluster_.now() - 25 * nanos_per_ms);
    cluster_.run_for(5 * nanos_per_ms);
    cluster_.set_adapter(3, 0, false, evidence::link);
    cluster_.run_for(100 * nanos_per_ms);
    ASSERT_EQ(count(3, EventKind::adapter_down), 1U);
    EXPECT_EQ(only(3, EventKind::adapter_down).evidence, evidence::netmon);
    EXPECT_GE(only(3, EventKind::adapter_down).latency_ns, 25 * nanos_per_ms);
    EXPECT_LT(only(3, EventKind::adapter_down).latency_ns, bound);
    // The link comes back, the targets are still silent: still down.
    cluster_.set_adapter(3, 0, true, evidence::link);
    cluster_.run_for(100 * nanos_per_ms);
    EXPECT_EQ(count(3, EventKind::adapter_up), 0U);
    EXPECT_EQ(detector.local_adapter_states() & 1U, 0U);
    // A target answers: up, on netmon's word.
    detector.on_local_adapter(0, true, evidence::netmon, cluster_.now());
    cluster_.run_for(100 * nanos_per_ms);
    ASSERT_EQ(count(3, EventKind::adapter_up), 1U);
    EXPECT_EQ(only(3, EventKind::adapter_up).evidence, evidence::netmon);
    EXPECT_EQ(detector.local_adapter_states() & 1U, 1U);
    // A source repeating itself changes nothing.
    detector.on_local_adapter(0, true, evidence::link, cluster_.now());
    cluster_.run_for(50 * nanos_per_ms);
    EXPECT_EQ(total(3), 2U);
}

TEST_F(Classification, IsolationByNetmonIsMeasuredFromTheLastSignOfLife) {
    cluster_.set_adapter(3, 0, false, evidence::netmon);
    cluster_.set_adapter(3, 1, false, evidence::netmon);
    cluster_.run_for(300 * nanos_per_ms);
    ASSERT_EQ(count(3, EventKind::isolated), 1U);
    const Event& isolated = only(3, EventKind::isolated);
    EXPECT_EQ(isolated.evidence, evidence::netmon);
    EXPECT_LE(isolated.latency_ns, bound);
    EXPECT_EQ(count(3, EventKind::node_down), 0U);
}

TEST_F(Classification, APeerBackFromAHangIsNotReportedForAPathStillComingUp) {
    cluster_.crash(3);
    cluster_.run_for(300 * nanos_per_ms);
    // Back, but its second network is slower to come up than the first.
    cluster_.network(1).cut_both(test::address_of(3, 1), test::address_of(1, 1));
    cluster_.network(1).cut_both(test::address_of(3, 1), test::address_of(2, 1));
    cluster_.resume(3);
    cluster_.run_for(20 * nanos_per_ms);
    cluster_.network(1).restore_all();
    cluster_.run_for(300 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        EXPECT_EQ(count(observer, EventKind::node_down), 1U);
        EXPECT_EQ(count(observer, EventKind::node_up), 1U);
        EXPECT_EQ(total(observer), 2U) << "no REMOTE_ADAPTER_DOWN for a path not yet up";
    }
}

TEST_F(Classification, ARemoteAdapterFailureIsInferredWhenThePeerCannotReportIt) {
    // Node 3's adapter on net_0 stops passing traffic but its link looks fine to it (a virtual
    // switch fault): no report, so the others infer it from silence on one network only.
    cluster_.network(0).cut_both(test::address_of(3, 0), test::address_of(1, 0));
    cluster_.network(0).cut_both(test::address_of(3, 0), test::address_of(2, 0));
    cluster_.run_for(300 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        ASSERT_EQ(count(observer, EventKind::remote_adapter_down), 1U) << observer;
        EXPECT_EQ(only(observer, EventKind::remote_adapter_down).evidence,
                  evidence::paths | evidence::inference);
        EXPECT_EQ(total(observer), 1U);
    }
}

}  // namespace
}  // namespace hb
