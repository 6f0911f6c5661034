// The path state machine and node verdicts, driven observation by observation on a manual clock.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "policy/node_detector.hh"
#include "policy/timing.hh"
#include "tests/support/recording_sink.hh"
#include "tests/support/test_cluster.hh"

namespace hb::policy {
namespace {

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
constexpr Nanos timeout = 30 * nanos_per_ms;

// Node 1's view of a unicast cluster at the fast profile.
ClusterConfig node_one_of(std::uint32_t nodes, std::uint32_t networks) {
    ClusterConfig config = test::make_cluster_config(nodes, networks, NetworkMode::unicast, fast);
    config.local_node = 1;
    return config;
}

using test::RecordingSink;

class NodeDetectorTest : public ::testing::Test {
protected:
    NodeDetectorTest()
        : config_(node_one_of(3, 2)), topology_(config_), bystander_(topology_.find_path(1, 3, 1)) {
        detector_.attach(topology_, now_);
        beat(bystander_);
        beat(bystander_);
        tick();
        sink_.events.clear();
        next_bystander_beat_ = now_ + fast.interval_ns;
    }

    // Path from local adapter `network` to node `peer`.
    PathIndex path_to(NodeId peer, NetworkIndex network) const {
        return topology_.find_path(network, peer, static_cast<AdapterIndex>(network));
    }
    // A beat as the engine reports it: the peer says both its adapters are up.
    void beat(PathIndex path, bool hears_us = true, bool leaving = false,
              Nanos peer_timeout_ns = timeout) {
        ++consecutive_[path];
        detector_.on_beat(BeatObservation{.path = path,
                                          .rx_ns = now_,
                                          .peer_timeout_ns = peer_timeout_ns,
                                          .consecutive = consecutive_[path],
                                          .peer_adapter_states = 0b11,
                                          .peer_tx_time_ns = static_cast<std::uint64_t>(now_),
                                          .peer_hears_us = hears_us,
                                          .leaving = leaving});
    }
    void tick() { detector_.tick(now_, sink_); }
    // Moves time forward in 1 ms steps, ticking at each, while node 3 (the bystander, on network
    // 1) keeps beating every interval: a live third node, so that losing node 2 is not isolation.
    void advance(Nanos delta) {
        const Nanos until = now_ + delta;
        while (now_ < until) {
            now_ = std::min(now_ + nanos_per_ms, until);
            if (now_ >= next_bystander_beat_) {
                beat(bystander_);
                next_bystander_beat_ = now_ + fast.interval_ns;
            }
            tick();
        }
    }
    // Beats every interval on the given paths for `duration`.
    void beat_for(std::initializer_list<PathIndex> paths, Nanos duration) {
        for (Nanos t = 0; t < duration; t += fast.interval_ns) {
            for (const PathIndex p : paths) {
                beat(p);
            }
            advance(fast.interval_ns);
        }
    }
    std::size_t count(EventKind kind, NodeId node) const { return sink_.count(kind, node); }

    ClusterConfig config_;
    Topology topology_;
    NodeDetector detector_;
    RecordingSink sink_;
    Nanos now_ = nanos_per_s;
    std::array<std::uint32_t, 16> consecutive_{};
    PathIndex bystander_;
    Nanos next_bystander_beat_ = 0;
};

TEST_F(NodeDetectorTest, APathNeedsTwoWayContactAndUpCountBeatsToComeUp) {
    const PathIndex p = path_to(2, 0);
    beat(p, /*hears_us=*/false);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::init);
    beat(p, false);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::init) << "the peer has not shown it hears us";
    beat(p, true);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::up);
    EXPECT_EQ(count(EventKind::node_up, 2), 1U);
}

TEST_F(NodeDetectorTest, APathExpiresExactlyAtIntervalTimesMultiplier) {
    const PathIndex p = path_to(2, 0);
    beat(p);
    beat(p);
    tick();
    ASSERT_EQ(detector_.path_state(p), PathState::up);
    const Nanos last = now_;
    now_ = last + timeout - 1;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::up);
    now_ = last + timeout;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::down);
}

TEST_F(NodeDetectorTest, ABeatPushesTheExpiryOut) {
    const PathIndex p = path_to(2, 0);
    beat(p);
    beat(p);
    tick();
    advance(25 * nanos_per_ms);
    beat(p);
    const Nanos last = now_;
    advance(timeout - 1);
    EXPECT_EQ(detector_.path_state(p), PathState::up);
    now_ = last + timeout;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::down);
}

TEST_F(NodeDetectorTest, NodeDownOnlyWhenEveryPathIsDownWithTheLatencyOfTheLastBeat) {
    const PathIndex a = path_to(2, 0);
    const PathIndex b = path_to(2, 1);
    beat_for({a, b}, 50 * nanos_per_ms);
    ASSERT_EQ(count(EventKind::node_up, 2), 1U);
    beat_for({b}, 100 * nanos_per_ms);  // network 0 silent: one path down, node still up
    EXPECT_EQ(detector_.path_state(a), PathState::down);
    EXPECT_EQ(count(EventKind::node_down, 2), 0U);
    const Nanos last_beat = now_ - fast.interval_ns;
    advance(100 * nanos_per_ms);
    ASSERT_EQ(count(EventKind::node_down, 2), 1U);
    const Event& down = sink_.events.back();
    EXPECT_EQ(down.kind, EventKind::node_down);
    EXPECT_EQ(down.latency_ns, down.t_ns - last_beat);
    EXPECT_EQ(down.evidence, evidence::paths);
}

// Network 0 fails. Node 3 advertises a longer timeout there (its multiplier raised for loss),
// so its path outlives node 2's by more than the settle window: until it expires too, it is
// no evidence that the network works, and node 2's silence is not its adapter's failure.
class NetworkEvidenceTest : public NodeDetectorTest {
protected:
    static constexpr Nanos long_timeout = 80 * nanos_per_ms;
    static constexpr Nanos never = std::numeric_limits<Nanos>::max();

    NetworkEvidenceTest() {
        for (int i = 0; i < 5; ++i) {
            beat_all_but_net_0(i == 0);
            beat(path_to(2, 0));
            beat(path_to(3, 0), true, false, long_timeout);
            advance(fast.interval_ns);
        }
        for (const NodeId peer : {2U, 3U}) {
            for (const NetworkIndex network : {0U, 1U}) {
                EXPECT_EQ(detector_.path_state(path_to(peer, network)), PathState::up);
            }
        }
        sink_.events.clear();
        cut_at_ = now_;
    }
    // Node 2 on network 1 beats every interval until it stops (node 3 there is the fixture's
    // bystander).
    void beat_all_but_net_0(bool first) {
        if ((first || now_ >= next_net_1_beat_) && now_ < node_2_net_1_until_) {
            beat(path_to(2, 1), true, false, node_2_net_1_timeout_);
            next_net_1_beat_ = now_ + fast.interval_ns;
        }
    }
    // Moves on 1 ms at a time with network 1 beating; from `node_3_from` on, node 3 beats on
    // network 0 again every interval.
    void run_for(Nanos duration, Nanos node_3_from = never) {
        const Nanos until = now_ + duration;
        Nanos next = node_3_from;
        while (now_ < until) {
            beat_all_but_net_0(false);
            if (now_ >= next) {
                beat(path_to(3, 0), true, false, long_timeout);
                next = now_ + fast.interval_ns;
            }
            advance(nanos_per_ms);
        }
    }
    std::size_t count_kind(EventKind kind) const { return sink_.count(kind); }
    std::string seen() const { return sink_.describe(cut_at_); }

    Nanos cut_at_ = 0;
    Nanos next_net_1_beat_ = 0;
    Nanos node_2_net_1_until_ = never;
    Nanos node_2_net_1_timeout_ = timeout;
};

TEST_F(NetworkEvidenceTest, ANetworkFailingPathByPathIsOneNetworkDown) {
    run_for(200 * nanos_per_ms);
    EXPECT_EQ(count_kind(EventKind::network_down), 1U) << seen();
    EXPECT_EQ(count_kind(EventKind::remote_adapter_down), 0U)
        << "node 2's path expired first, while node 3's had not yet: " << seen();
    EXPECT_EQ(sink_.events.size(), 1U) << seen();
}

TEST_F(NetworkEvidenceTest, AnAdapterFailureWaitsForABeatNewerThanTheCut) {
    // Node 2's path expires at +30 ms and the settle window ends at +50 ms; node 3's beats on
    // network 0 resume at +65 ms: only then does the network show it works.
    const Nanos late_beat = cut_at_ + 65 * nanos_per_ms;
    run_for(200 * nanos_per_ms, late_beat);
    ASSERT_EQ(count_kind(EventKind::remote_adapter_down), 1U) << seen();
    EXPECT_EQ(count_kind(EventKind::network_down), 0U) << seen();
    const Event& down = sink_.events.front();
    EXPECT_EQ(down.node, 2U);
    EXPECT_EQ(down.network, 0);
    EXPECT_EQ(down.evidence, evidence::paths | evidence::inference);
    EXPECT_GE(down.t_ns, late_beat);
    EXPECT_LE(down.t_ns, late_beat + fast.interval_ns + nanos_per_ms) << "rechecked every interval";
}

TEST_F(NetworkEvidenceTest, APeerNotHeardSinceItsCutIsNotAliveWithAnAdapterDown) {
    // Node 2's beats on network 0 stop at the cut (lost, or its adapter failed) and the node
    // dies 25 ms later; its path on network 1 advertises a long timeout and outlives the settle
    // window, while node 3 shows network 0 works. Nothing heard from node 2 since its cut says
    // it lives on with one adapter down: its death is one NODE_DOWN and nothing before it.
    node_2_net_1_timeout_ = long_timeout;
    node_2_net_1_until_ = cut_at_ + 25 * nanos_per_ms;
    run_for(200 * nanos_per_ms, now_);
    ASSERT_EQ(sink_.events.size(), 1U) << seen();
    EXPECT_EQ(sink_.events.front().kind, EventKind::node_down) << seen();
    EXPECT_EQ(sink_.events.front().node, 2U);
}

TEST_F(NetworkEvidenceTest, AnAdapterFailureBesideAWorkingPathNeedsOnlyTheSettleWindow) {
    // Node 3 keeps beating on network 0: the evidence is there as soon as the window ends.
    run_for(200 * nanos_per_ms, now_);
    ASSERT_EQ(count_kind(EventKind::remote_adapter_down), 1U) << seen();
    EXPECT_EQ(sink_.events.size(), 1U) << seen();
    EXPECT_LE(sink_.events.front().t_ns - cut_at_, timeout + 2 * fast.interval_ns + nanos_per_ms)
        << seen();
}

TEST_F(NodeDetectorTest, AntiFlapAPathThatWentDownNeedsUpCountBeatsInARow) {
    const PathIndex p = path_to(2, 0);
    beat_for({p}, 50 * nanos_per_ms);
    advance(100 * nanos_per_ms);
    ASSERT_EQ(detector_.path_state(p), PathState::down);
    consecutive_[p] = 0;  // the gap broke the run
    beat(p);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::init);
    consecutive_[p] = 0;  // another gap: the run starts again
    beat(p);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::init);
    beat(p);
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::up);
    EXPECT_EQ(detector_.counters().path_down, 1U);
    EXPECT_EQ(detector_.counters().path_up, 3U);  // twice this path, once the bystander's
}

TEST_F(NodeDetectorTest, ARestartResetsPathsWithoutAFalseNodeDown) {
    const PathIndex a = path_to(2, 0);
    const PathIndex b = path_to(2, 1);
    beat_for({a, b}, 50 * nanos_per_ms);
    detector_.on_peer_restart(topology_.peer_of(2), now_);
    consecutive_[a] = consecutive_[b] = 0;
    tick();
    EXPECT_EQ(count(EventKind::node_restarted, 2), 1U);
    EXPECT_EQ(detector_.path_state(a), PathState::init);
    beat_for({a, b}, 50 * nanos_per_ms);
    EXPECT_EQ(detector_.path_state(a), PathState::up);
    EXPECT_EQ(count(EventKind::node_down, 2), 0U);
    EXPECT_EQ(count(EventKind::node_up, 2), 1U) << "it never stopped being up";
}

TEST_F(NodeDetectorTest, ARestartThatNeverCompletesTheHandshakeEndsInNodeDown) {
    const PathIndex a = path_to(2, 0);
    beat_for({a}, 50 * nanos_per_ms);
    detector_.on_peer_restart(topology_.peer_of(2), now_);
    advance(100 * nanos_per_ms);
    EXPECT_EQ(count(EventKind::node_restarted, 2), 1U);
    EXPECT_EQ(count(EventKind::node_down, 2), 1U);
}

TEST_F(NodeDetectorTest, LeavingIsReportedOnceAndTheSilenceAfterItIsNotADeath) {
    const PathIndex a = path_to(2, 0);
    beat_for({a}, 50 * nanos_per_ms);
    beat(a, true, /*leaving=*/true);
    beat(a, true, true);
    advance(200 * nanos_per_ms);
    EXPECT_EQ(count(EventKind::node_left, 2), 1U);
    EXPECT_EQ(count(EventKind::node_down, 2), 0U);
    // Back with a new life: reported as restarted and up again.
    detector_.on_peer_restart(topology_.peer_of(2), now_);
    consecutive_[a] = 0;
    beat_for({a}, 50 * nanos_per_ms);
    EXPECT_EQ(count(EventKind::node_restarted, 2), 1U);
    EXPECT_EQ(count(EventKind::node_up, 2), 2U);
}

TEST_F(NodeDetectorTest, ALocalStallRestartsTheSilenceClock) {
    const PathIndex p = path_to(2, 0);
    beat(p);
    beat(p);
    tick();
    const Nanos last = now_;
    now_ = last + 25 * nanos_per_ms;
    detector_.on_local_stall(now_, 25 * nanos_per_ms);
    const Nanos resumed = now_;
    now_ = last + timeout;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::up) << "silence across our own stall";
    now_ = resumed + timeout - 1;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::up);
    now_ = resumed + timeout;
    tick();
    EXPECT_EQ(detector_.path_state(p), PathState::down);
    EXPECT_EQ(detector_.counters().local_stalls, 1U);
}

TEST_F(NodeDetectorTest, NextDeadlineIsThePathExpiry) {
    const PathIndex p = path_to(2, 0);
    beat(p);
    EXPECT_EQ(detector_.next_deadline(), 0) << "an arrival is due at once";
    tick();
    EXPECT_EQ(detector_.next_deadline(), now_ + timeout);
}

TEST_F(NodeDetectorTest, AllLocalAdaptersAreUpWithoutALinkWatch) {
    EXPECT_EQ(detector_.local_adapter_states(), 0b11U);
}

// Adaptive timing: one path from node 2, fed beats with the tracker's counters as the engine
// would, on a detector with a ceiling of 8.
class AdaptiveTimingTest : public ::testing::Test {
protected:
    AdaptiveTimingTest()
        : config_(node_one_of(2, 1)),
          topology_(config_),
          detector_(DetectorOptions{.adaptive_ceiling = 8}),
          path_(topology_.find_path(0, 2, 0)) {
        detector_.attach(topology_, now_);
    }

    // `count` sequence numbers, one an interval; every `lose_every`-th is lost (0: none).
    void send(std::uint64_t count, std::uint64_t lose_every) {
        for (std::uint64_t i = 0; i < count; ++i) {
            now_ += fast.interval_ns;
            ++seq_;
            if (lose_every != 0 && seq_ % lose_every == 0) {
                ++lost_;
                consecutive_ = 0;
            } else {
                ++received_;
                ++consecutive_;
                detector_.on_beat(BeatObservation{.path = path_,
                                                  .rx_ns = now_,
                                                  .peer_timeout_ns = timeout,
                                                  .peer_interval_ns = fast.interval_ns,
                                                  .consecutive = consecutive_,
                                                  .path_received = received_,
                                                  .path_lost = lost_,
                                                  .peer_hears_us = true});
            }
            detector_.tick(now_, sink_);
        }
    }
    // Silence: time passes, ticking every millisecond; the peer's sequence numbers go on.
    void silence(Nanos duration) {
        for (Nanos t = 0; t < duration; t += nanos_per_ms) {
            now_ += nanos_per_ms;
            detector_.tick(now_, sink_);
        }
        const auto skipped = static_cast<std::uint64_t>(duration / fast.interval_ns);
        seq_ += skipped;
        lost_ += skipped;
        consecutive_ = 0;
    }

    ClusterConfig config_;
    Topology topology_;
    NodeDetector detector_;
    PathIndex path_;
    RecordingSink sink_;
    Nanos now_ = nanos_per_s;
    std::uint64_t seq_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t lost_ = 0;
    std::uint32_t consecutive_ = 0;
};

TEST_F(AdaptiveTimingTest, FivePercentLossRaisesTheMultiplierToSixAndTheTimeoutFollows) {
    send(999, 20);  // 5 %, ending with a beat that arrived
    ASSERT_EQ(detector_.path_state(path_), PathState::up);
    EXPECT_EQ(detector_.path(path_).multiplier, multiplier_for(0.05, fast.interval_ns));
    EXPECT_EQ(detector_.path(path_).multiplier, 6U);
    EXPECT_GE(detector_.counters().adaptive_raises, 1U);
    // 50 ms of silence would have expired 10 ms x 3; it does not expire 10 ms x 6.
    silence(50 * nanos_per_ms);
    EXPECT_EQ(detector_.path_state(path_), PathState::up);
    silence(10 * nanos_per_ms);
    EXPECT_EQ(detector_.path_state(path_), PathState::down);
}

TEST_F(AdaptiveTimingTest, TheMultiplierFallsBackWhenTheLossStops) {
    send(1000, 20);
    ASSERT_EQ(detector_.path(path_).multiplier, 6U);
    send(3000, 0);
    EXPECT_EQ(detector_.path(path_).multiplier, fast.multiplier);
    EXPECT_GE(detector_.counters().adaptive_lowers, 1U);
    const Nanos last = now_;
    silence(timeout);
    EXPECT_EQ(detector_.path_state(path_), PathState::down);
    EXPECT_EQ(detector_.path(path_).down_since_ns, last + timeout);
}

TEST_F(AdaptiveTimingTest, TheCeilingHolds) {
    send(2000, 3);  // 33 % loss calls for far more than 8
    EXPECT_EQ(detector_.path(path_).multiplier, 8U);
}

TEST_F(AdaptiveTimingTest, AnOutageIsNotLoss) {
    send(500, 0);
    silence(2 * nanos_per_s);  // 200 sequence numbers skipped while the path was down
    ASSERT_EQ(detector_.path_state(path_), PathState::down);
    send(500, 0);
    EXPECT_EQ(detector_.path_state(path_), PathState::up);
    EXPECT_EQ(detector_.path(path_).multiplier, fast.multiplier);
    EXPECT_EQ(detector_.counters().adaptive_raises, 0U);
}

TEST_F(AdaptiveTimingTest, OffByDefault) {
    NodeDetector plain;
    plain.attach(topology_, now_);
    for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
        now_ += fast.interval_ns;
        if (seq % 20 != 0) {
            plain.on_beat(BeatObservation{.path = path_,
                                          .rx_ns = now_,
                                          .peer_timeout_ns = timeout,
                                          .peer_interval_ns = fast.interval_ns,
                                          .consecutive = 5,
                                          .path_received = seq - seq / 20,
                                          .path_lost = seq / 20,
                                          .peer_hears_us = true});
        }
        plain.tick(now_, sink_);
    }
    EXPECT_EQ(plain.path(path_).effective_timeout_ns(), timeout);
    EXPECT_EQ(plain.counters().adaptive_raises, 0U);
}

}  // namespace
}  // namespace hb::policy
