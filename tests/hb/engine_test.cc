// The engine end to end over an in-memory network on a manual clock: verdicts, restarts,
// graceful leave, every drop reason, and no allocation on the beat path.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <new>

#include "hb/engine.hh"
#include "hb/mac.hh"
#include "tests/support/test_cluster.hh"

#include "tests/support/allocation_counter.hh"

using hb::test::allocations;

namespace hb {
namespace {

using test::TestCluster;

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};

MacKey test_key() {
    const std::array<std::uint8_t, 32> material{1, 2,  3,  4,  5,  6,  7,  8,
                                                9, 10, 11, 12, 13, 14, 15, 16};
    return derive_key(material);
}

TEST(Engine, PeersComeUpAndAKilledPeerIsReportedDownOnceWithinTheDetectionTime) {
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(200 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 3; ++observer) {
        for (NodeId peer = 1; peer <= 3; ++peer) {
            if (peer != observer) {
                EXPECT_EQ(cluster.events_of(observer, EventKind::node_up, peer).size(), 1U);
            }
        }
    }
    const Nanos crash_at = cluster.now();
    cluster.crash(3);
    cluster.run_for(500 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        const auto downs = cluster.events_of(observer, EventKind::node_down, 3);
        ASSERT_EQ(downs.size(), 1U) << "observer " << observer;
        // The last beat came at most one interval before the crash; expiry is exact after it.
        EXPECT_LE(downs[0].t_ns - crash_at, fast.detection_ns() + 200 * nanos_per_us);
        EXPECT_GE(downs[0].latency_ns, fast.detection_ns());
        EXPECT_LE(downs[0].latency_ns, fast.detection_ns() + 200 * nanos_per_us);
        EXPECT_EQ(downs[0].evidence, evidence::paths);
        EXPECT_TRUE(cluster.events_of(observer, EventKind::node_down, 3 - observer).empty());
    }
}

TEST(Engine, AHungPeerIsReportedDownThenUpWhenItResumes) {
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.crash(3);
    cluster.run_for(300 * nanos_per_ms);
    ASSERT_EQ(cluster.events_of(1, EventKind::node_down, 3).size(), 1U);
    cluster.resume(3);
    cluster.run_for(200 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_up, 3).size(), 2U);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_restarted, 3).empty());
}

TEST(Engine, AHungNodeDoesNotReportItsHealthyPeersDownWhenItResumes) {
    // While node 3 is stopped, 60 beats queue up for it (more than one receive burst); on
    // resuming it must judge its peers on the newest of them and on nothing measured across its
    // own stall.
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.crash(3);
    cluster.run_for(300 * nanos_per_ms);
    cluster.resume(3);
    cluster.run_for(200 * nanos_per_ms);
    EXPECT_TRUE(cluster.events_of(3, EventKind::node_down, 1).empty());
    EXPECT_TRUE(cluster.events_of(3, EventKind::node_down, 2).empty());
    EXPECT_EQ(cluster.engine(3).counters().local_stalls, 1U);
    EXPECT_EQ(cluster.engine(1).counters().local_stalls, 0U);
}

TEST(Engine, ASilentPeerIsStillReportedDownAfterALocalStall) {
    // Node 2 died while node 1 was stalled: the verdict comes one detection time after node 1
    // resumes, not at once (its silence across the stall proves nothing) and not never.
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.crash(1);
    cluster.crash(2);
    cluster.run_for(300 * nanos_per_ms);
    cluster.resume(1);
    const Nanos resumed_at = cluster.now();
    cluster.run_for(200 * nanos_per_ms);
    const auto downs = cluster.events_of(1, EventKind::node_down, 2);
    ASSERT_EQ(downs.size(), 1U);
    EXPECT_GE(downs[0].t_ns - resumed_at, fast.detection_ns());
    EXPECT_LE(downs[0].t_ns - resumed_at, fast.detection_ns() + fast.interval_ns);
}

TEST(Engine, ARestartIsReportedAsARestartAndNotAsADeath) {
    TestCluster cluster(2, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    const std::uint32_t old_incarnation = cluster.engine(2).incarnation();
    cluster.start(2, old_incarnation + 1);  // restarts faster than the detection time
    cluster.run_for(200 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_restarted, 2).size(), 1U);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_down, 2).empty());
    EXPECT_EQ(cluster.engine(1).counters().restarts_seen, 1U);
    EXPECT_EQ(cluster.engine(1).path_state(0), PathState::up);
}

TEST(Engine, ARestartAfterADeathGivesDownRestartedAndUp) {
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.crash(2);
    cluster.run_for(200 * nanos_per_ms);
    cluster.start(2);
    cluster.run_for(200 * nanos_per_ms);
    std::vector<Event> events;
    for (const Event& event : cluster.events(1)) {
        if (event.node == 2) {
            events.push_back(event);
        }
    }
    ASSERT_EQ(events.size(), 4U);
    EXPECT_EQ(events[0].kind, EventKind::node_up);
    EXPECT_EQ(events[1].kind, EventKind::node_down);
    EXPECT_EQ(events[2].kind, EventKind::node_restarted);
    EXPECT_EQ(events[3].kind, EventKind::node_up);
}

TEST(Engine, AGracefulLeaveIsReportedAsLeftAndNeverAsDown) {
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.engine(3).leave(cluster.now());
    cluster.crash(3);
    cluster.run_for(500 * nanos_per_ms);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        EXPECT_EQ(cluster.events_of(observer, EventKind::node_left, 3).size(), 1U);
        EXPECT_TRUE(cluster.events_of(observer, EventKind::node_down, 3).empty());
    }
}

TEST(Engine, MulticastNetworksDetectTheSameWay) {
    TestCluster cluster(3, 1, NetworkMode::multicast, fast);
    cluster.run_for(200 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_up, 2).size(), 1U);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_up, 3).size(), 1U);
    cluster.crash(2);
    cluster.run_for(300 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_down, 2).size(), 1U);
    EXPECT_EQ(cluster.events_of(3, EventKind::node_down, 2).size(), 1U);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_down, 3).empty());
    // Round trips are measured on multicast too, from the rotating echo.
    EXPECT_GT(cluster.engine(1).tracker(0).rtt_samples(), 0U);
}

// Beats sent per path (the statistics of hb/node.hh): each unicast path counts its own; a
// multicast adapter's paths all count the group's; either way they match what the peer received.
TEST(Engine, BeatsSentPerPathMatchTheEngineTotal) {
    for (const NetworkMode mode : {NetworkMode::unicast, NetworkMode::multicast}) {
        TestCluster cluster(3, 1, mode, fast);
        cluster.run_for(200 * nanos_per_ms);
        const Engine& engine = cluster.engine(1);
        const EngineCounters& counters = engine.counters();
        ASSERT_EQ(engine.topology().paths().size(), 2U);
        const std::uint64_t first = engine.beats_sent_on(0);
        const std::uint64_t second = engine.beats_sent_on(1);
        EXPECT_GT(first, 5U);
        if (mode == NetworkMode::unicast) {
            EXPECT_EQ(first + second, counters.beats_sent + counters.send_failures);
        } else {
            EXPECT_EQ(first, second);
            EXPECT_EQ(first, counters.beats_sent + counters.send_failures);
        }
        // Node 2 heard all of node 1's beats but those still in flight.
        const Engine& peer = cluster.engine(2);
        const PathIndex back = peer.topology().find_path(0, 1, 0);
        ASSERT_NE(back, Topology::none);
        EXPECT_LE(peer.tracker(back).received(), first);
        EXPECT_GE(peer.tracker(back).received() + 2, first);
    }
}

TEST(Engine, APeerOnTwoNetworksIsDownOnlyWhenEveryPathIs) {
    TestCluster cluster(3, 2, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.network(0).cut_both(test::address_of(1, 0), test::address_of(2, 0));
    cluster.run_for(300 * nanos_per_ms);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_down, 2).empty());
    const Topology& topology = cluster.engine(1).topology();
    EXPECT_EQ(cluster.engine(1).path_state(topology.find_path(0, 2, 0)), PathState::down);
    EXPECT_EQ(cluster.engine(1).path_state(topology.find_path(1, 2, 1)), PathState::up);
    cluster.network(1).cut_both(test::address_of(1, 1), test::address_of(2, 1));
    cluster.run_for(300 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_down, 2).size(), 1U);
}

TEST(Engine, TheLastPeerFallingSilentIsIsolationNotADeath) {
    // Two nodes, no disk, no netmon: when the only peer goes silent this node cannot tell its
    // death from its own isolation, and a NODE_DOWN could start a takeover (split brain).
    TestCluster cluster(2, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    cluster.crash(2);
    cluster.run_for(300 * nanos_per_ms);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_down, 2).empty());
    ASSERT_EQ(cluster.events_of(1, EventKind::isolated, 0).size(), 1U);
    EXPECT_EQ(cluster.events_of(1, EventKind::isolated, 0)[0].evidence,
              evidence::paths | evidence::inference);
    cluster.resume(2);
    cluster.run_for(200 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::isolation_ended, 0).size(), 1U);
    EXPECT_TRUE(cluster.events_of(1, EventKind::node_down, 2).empty());
}

TEST(Engine, APathComesUpOnlyWhenBothSidesHearEachOther) {
    TestCluster cluster(2, 1, NetworkMode::unicast, fast);
    // Node 2 hears node 1, node 1 hears nothing: neither may call the path up.
    cluster.network(0).cut(test::address_of(2, 0), test::address_of(1, 0));
    cluster.run_for(300 * nanos_per_ms);
    EXPECT_EQ(cluster.engine(2).path_state(0), PathState::init);
    EXPECT_EQ(cluster.engine(1).path_state(0), PathState::down);
    EXPECT_TRUE(cluster.events(1).empty());
    EXPECT_TRUE(cluster.events(2).empty());
    cluster.network(0).restore_all();
    cluster.run_for(100 * nanos_per_ms);
    EXPECT_EQ(cluster.engine(1).path_state(0), PathState::up);
    EXPECT_EQ(cluster.engine(2).path_state(0), PathState::up);
}

TEST(Engine, RoundTripTimeComesFromTheEchoOnTheReceiversClock) {
    TestCluster cluster(2, 1, NetworkMode::unicast, fast);
    cluster.network(0).latency_ns = 300 * nanos_per_us;
    cluster.run_for(200 * nanos_per_ms, 50 * nanos_per_us);
    const PathTracker& tracker = cluster.engine(1).tracker(0);
    ASSERT_GT(tracker.rtt_samples(), 5U);
    // Two one-way latencies; the echo hold is subtracted exactly.
    EXPECT_EQ(tracker.rtt_min_ns(), 600 * nanos_per_us);
    EXPECT_EQ(tracker.rtt_max_ns(), 600 * nanos_per_us);
}

TEST(Engine, AuthenticatedClustersAcceptSignedBeats) {
    TestCluster cluster(2, 1, NetworkMode::unicast, fast, test_key());
    cluster.run_for(100 * nanos_per_ms);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_up, 2).size(), 1U);
    EXPECT_EQ(cluster.engine(1).counters().dropped_total(), 0U);
}

// Drop reasons: each malformed or misdirected datagram is counted under its own reason.
class EngineDrops : public ::testing::Test {
protected:
    void SetUp() override {
        cluster_ = std::make_unique<TestCluster>(2, 1, NetworkMode::unicast, fast, test_key());
        cluster_->run_for(50 * nanos_per_ms);
        ASSERT_EQ(engine().counters().dropped_total(), 0U);
    }
    Engine& engine() { return cluster_->engine(1); }

    // A valid beat from node 2 to node 1, as node 2's engine would send it.
    wire::Beat valid_beat() const {
        wire::Beat beat;
        beat.cluster_id = 7;
        beat.src_node = 2;
        beat.dst_node = 1;
        beat.network = 0;
        beat.src_adapter = 0;
        beat.dst_adapter = 0;
        beat.incarnation = cluster_->engine(2).incarnation();
        beat.seq = cluster_->engine(1).tracker(0).highest_seq() + 1;
        beat.tx_time_ns = static_cast<std::uint64_t>(cluster_->now());
        beat.multiplier = 3;
        beat.interval_us = 10'000;
        return beat;
    }
    RxRecord record_of(const wire::Beat& beat, bool sign = true) const {
        RxRecord record;
        record.rx_ns = cluster_->now();
        record.src_address = test::address_of(2, 0);
        record.src_port = default_port;
        record.length = wire::beat_size;
        std::span<std::uint8_t, wire::beat_size> bytes{record.bytes.data(), wire::beat_size};
        wire::Beat named = beat;
        if (named.key_id == 0) {
            named.key_id = test_key().id;  // an unsigned beat names the key too: a forged tag
        }
        wire::encode(named, bytes);
        if (sign) {
            mac_sign(test_key().bytes, bytes);
        }
        return record;
    }
    std::uint64_t dropped(DropReason reason) { return engine().counters().dropped_for(reason); }

    std::unique_ptr<TestCluster> cluster_;
};

TEST_F(EngineDrops, EachReasonIsCountedSeparately) {
    RxRecord record = record_of(valid_beat());
    record.length = 60;
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::truncated), 1U);

    record = record_of(valid_beat());
    record.length = wire::max_datagram + 1;
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::oversize), 1U);

    record = record_of(valid_beat());
    record.bytes[0] ^= 0xFF;
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::bad_magic), 1U);

    record = record_of(valid_beat());
    record.bytes[2] = 9;
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::bad_version), 1U);

    wire::Beat beat = valid_beat();
    beat.cluster_id = 8;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::other_cluster), 1U);

    engine().ingest(0, record_of(valid_beat(), false));
    EXPECT_EQ(dropped(DropReason::bad_mac), 1U);

    record = record_of(valid_beat());
    record.bytes[40] ^= 1;  // tx time changed after signing
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::bad_mac), 2U);

    beat = valid_beat();
    beat.key_id = static_cast<std::uint8_t>(test_key().id ^ 0x01U);
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::unknown_key), 1U) << "no accepted key has that id";

    beat = valid_beat();
    beat.kind = wire::Kind::probe;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::unsupported_kind), 1U);
    EXPECT_EQ(engine().counters().pings_answered, 0U);

    beat = valid_beat();
    beat.src_node = 1;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::own_beat), 1U);

    beat = valid_beat();
    beat.dst_node = 5;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::not_for_us), 1U);

    beat = valid_beat();
    beat.src_node = 9;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::unknown_node), 1U);

    beat = valid_beat();
    beat.network = 1;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::wrong_network), 1U);

    beat = valid_beat();
    beat.src_adapter = 3;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::unknown_adapter), 1U);

    record = record_of(valid_beat());
    record.src_address = test::address_of(3, 0);
    engine().ingest(0, record);
    EXPECT_EQ(dropped(DropReason::wrong_address), 1U);

    EXPECT_EQ(engine().counters().dropped_total(), 15U);
    EXPECT_TRUE(cluster_->events_of(1, EventKind::node_restarted, 2).empty());
    EXPECT_EQ(
        engine().counters().last_dropped_from[static_cast<std::size_t>(DropReason::wrong_address)],
        test::address_of(3, 0));
}

// The MAC is checked before anything is believed: a forged new incarnation (a fake restart)
// changes no state, emits nothing, and the peer's real beats go on being accepted.
TEST_F(EngineDrops, AForgedRestartChangesNothing) {
    wire::Beat beat = valid_beat();
    beat.incarnation = cluster_->engine(2).incarnation() ^ 0x5A5A'0001U;
    beat.seq = 1;
    const std::uint64_t highest = engine().tracker(0).highest_seq();
    const std::uint64_t accepted = engine().counters().beats_accepted;
    engine().ingest(0, record_of(beat, /*sign=*/false));
    EXPECT_EQ(dropped(DropReason::bad_mac), 1U);
    EXPECT_EQ(engine().counters().restarts_seen, 0U);
    EXPECT_EQ(engine().counters().beats_accepted, accepted);
    EXPECT_EQ(engine().tracker(0).highest_seq(), highest) << "the path's window is untouched";
    cluster_->run_for(100 * nanos_per_ms);
    EXPECT_TRUE(cluster_->events_of(1, EventKind::node_restarted, 2).empty());
    EXPECT_TRUE(cluster_->events_of(1, EventKind::node_down, 2).empty());
    EXPECT_GT(engine().tracker(0).highest_seq(), highest) << "the real beats still count";
}

// Replays of the current life are duplicates or older than the window; neither is heard.
TEST_F(EngineDrops, ReplayedBeatsAreDuplicatesOrStale) {
    wire::Beat beat = valid_beat();
    beat.seq += 200;  // ahead of the real stream, so that its window moves past old numbers
    const RxRecord ahead = record_of(beat);
    engine().ingest(0, ahead);
    const std::uint64_t accepted = engine().counters().beats_accepted;
    engine().ingest(0, ahead);
    EXPECT_EQ(dropped(DropReason::duplicate), 1U);
    beat.seq -= PathTracker::window;
    engine().ingest(0, record_of(beat));
    EXPECT_EQ(dropped(DropReason::stale_seq), 1U);
    EXPECT_EQ(engine().counters().beats_accepted, accepted);
}

// A beat from any of a peer's recent earlier lives is late or replayed, never a restart: a
// captured beat of a life before the last one does not make the peer "restart" back into it.
TEST_F(EngineDrops, AnEarlierLifeIsNeverARestart) {
    const std::uint32_t first = cluster_->engine(2).incarnation();
    wire::Beat beat = valid_beat();
    for (std::uint32_t life = 1; life <= 3; ++life) {
        beat.incarnation = first + life;
        beat.seq = 1;
        engine().ingest(0, record_of(beat));
    }
    EXPECT_EQ(engine().counters().restarts_seen, 3U);
    for (std::uint32_t life = 0; life < 3; ++life) {
        beat.incarnation = first + life;
        beat.seq = 1000;
        engine().ingest(0, record_of(beat));
    }
    EXPECT_EQ(dropped(DropReason::stale_incarnation), 3U);
    EXPECT_EQ(engine().counters().restarts_seen, 3U);
}

// A key rollover in the order docs/security.md gives (accept the new key everywhere, sign with
// it, forget the old) drops nothing and reports nothing; signing with a key a peer does not
// accept yet is refused as unknown_key and, in time, reported.
TEST(EngineKeys, RolloverInOrderIsInvisibleAndOutOfOrderIsCounted) {
    const std::array<std::uint8_t, 32> other{42};
    const MacKey old_key = test_key();
    const MacKey new_key = derive_key(other);
    ASSERT_NE(new_key.id, old_key.id) << "pick another test key: the ids collide";
    TestCluster cluster(3, 1, NetworkMode::unicast, fast, old_key);
    cluster.run_for(100 * nanos_per_ms);
    const auto keys = [](std::initializer_list<MacKey> list) {
        KeySet set;
        for (const MacKey& key : list) {
            EXPECT_TRUE(set.add(key));
        }
        return set;
    };
    std::array<std::size_t, 4> events_before{};
    for (NodeId node = 1; node <= 3; ++node) {
        events_before[node] = cluster.events(node).size();
    }
    for (const KeySet& step :
         {keys({old_key, new_key}), keys({new_key, old_key}), keys({new_key})}) {
        for (NodeId node = 1; node <= 3; ++node) {
            cluster.engine(node).replace_keys(step);
            cluster.run_for(50 * nanos_per_ms);
        }
    }
    cluster.run_for(200 * nanos_per_ms);
    for (NodeId node = 1; node <= 3; ++node) {
        EXPECT_EQ(cluster.events(node).size(), events_before[node]) << "node " << node;
        EXPECT_EQ(cluster.engine(node).counters().dropped_total(), 0U) << "node " << node;
        EXPECT_EQ(cluster.engine(node).keys(), keys({new_key}));
    }

    // Node 1 moves on to a third key that its peers have never heard of.
    const std::array<std::uint8_t, 32> third{43};
    cluster.engine(1).replace_keys(keys({derive_key(third)}));
    cluster.run_for(300 * nanos_per_ms);
    for (NodeId peer = 2; peer <= 3; ++peer) {
        EXPECT_GT(cluster.engine(peer).counters().dropped_for(DropReason::unknown_key) +
                      cluster.engine(peer).counters().dropped_for(DropReason::bad_mac),
                  0U);
        EXPECT_EQ(cluster.events_of(peer, EventKind::node_down, 1).size(), 1U);
    }
}

TEST_F(EngineDrops, APingIsAnsweredWithAPongOnTheSameAdapterAndOnlyWithAValidMac) {
    // hbping, at an address of its own on network 0 (DESIGN §8: hbd answers on its heartbeat
    // socket, so the live path is what hbping tests).
    test::FakeTransport hbping(cluster_->network(0), *Ipv4::parse("198.18.1.99"), 40000);
    cluster_->network(0).attach(hbping);
    wire::Beat ping;
    ping.kind = wire::Kind::ping;
    ping.cluster_id = 7;
    ping.src_node = 0xFFFFFFFF;
    ping.incarnation = 5;
    ping.seq = 42;
    ping.tx_time_ns = 123'456'789;
    ping.multiplier = 1;
    ping.interval_us = 1000;
    RxRecord record = record_of(ping);
    record.src_address = hbping.address();
    record.src_port = hbping.port();

    engine().ingest(0, record_of(ping, /*sign=*/false));  // from node 2's address, unsigned
    EXPECT_EQ(dropped(DropReason::bad_mac), 1U);
    engine().ingest(0, record);
    EXPECT_EQ(engine().counters().pings_answered, 1U);
    EXPECT_EQ(engine().counters().dropped_total(), 1U) << "a PING is not an unsupported kind";

    std::array<RxRecord, 4> got{};
    ASSERT_EQ(hbping.receive(got), 1U) << "one PONG, to the PING's source address and port";
    ASSERT_EQ(got[0].length, wire::beat_size);
    const std::span<const std::uint8_t, wire::beat_size> bytes{got[0].bytes.data(),
                                                               wire::beat_size};
    EXPECT_TRUE(mac_verify(test_key().bytes, bytes)) << "signed with the cluster key";
    EXPECT_EQ(bytes[wire::key_id_offset], test_key().id) << "naming the key it is signed with";
    wire::Beat pong;
    ASSERT_EQ(wire::decode(bytes, pong), wire::DecodeError::none);
    EXPECT_EQ(pong.kind, wire::Kind::pong);
    EXPECT_EQ(pong.src_node, 1U);
    EXPECT_EQ(pong.dst_node, ping.src_node);
    EXPECT_EQ(pong.echo_seq, 42U);
    EXPECT_EQ(pong.echo_tx_time_ns, ping.tx_time_ns);
    EXPECT_EQ(pong.echo_node, ping.src_node);
    cluster_->network(0).detach(hbping);
}

TEST_F(EngineDrops, ReplayedAndDuplicatedBeatsAreDroppedAndCounted) {
    const RxRecord beat = record_of(valid_beat());
    engine().ingest(0, beat);
    engine().ingest(0, beat);
    EXPECT_EQ(dropped(DropReason::duplicate), 1U);

    wire::Beat old = valid_beat();
    old.seq = 1;  // far behind after many beats: outside the replay window
    cluster_->run_for(1000 * nanos_per_ms);
    engine().ingest(0, record_of(old));
    EXPECT_EQ(dropped(DropReason::stale_seq), 1U);
}

TEST_F(EngineDrops, BeatsFromThePeersPreviousLifeAreStale) {
    const std::uint32_t first_life = cluster_->engine(2).incarnation();
    wire::Beat from_first_life = valid_beat();
    cluster_->start(2, first_life + 1);
    cluster_->run_for(50 * nanos_per_ms);
    ASSERT_EQ(cluster_->events_of(1, EventKind::node_restarted, 2).size(), 1U);
    from_first_life.seq = 1'000'000;
    engine().ingest(0, record_of(from_first_life));
    EXPECT_EQ(dropped(DropReason::stale_incarnation), 1U);
    cluster_->run_for(50 * nanos_per_ms);
    EXPECT_EQ(cluster_->events_of(1, EventKind::node_restarted, 2).size(), 1U);
}

TEST_F(EngineDrops, OnePollDrainsWhatQueuedUpBeforeTicking) {
    // Queued beats are read before the tick, so verdicts rest on the newest of them; 100 beats
    // are more than three receive bursts.
    test::FakeTransport& transport = *cluster_->node(1).transports[0];
    const std::uint64_t before = engine().counters().beats_accepted;
    wire::Beat beat = valid_beat();
    for (int i = 0; i < 100; ++i, ++beat.seq) {
        transport.deliver(record_of(beat));
    }
    engine().poll(cluster_->now());
    EXPECT_EQ(engine().counters().beats_accepted - before, 100U);
    EXPECT_EQ(transport.pending(), 0U);
}

// ---- timing changes (a reload) and muting ------------------------------------------------

constexpr Timing slow{.interval_ns = 50 * nanos_per_ms, .multiplier = 3, .up_count = 2};

// Every verdict but NODE_UP (the start) that any node reported about any other.
std::size_t false_verdicts(TestCluster& cluster, NodeId nodes) {
    std::size_t count = 0;
    for (NodeId observer = 1; observer <= nodes; ++observer) {
        for (const Event& event : cluster.events(observer)) {
            count += event.kind == EventKind::node_up ? 0 : 1;
        }
    }
    return count;
}

// The timeout node `observer`'s detector holds for every path from node `peer`.
std::vector<Nanos> timeouts_from(TestCluster& cluster, NodeId observer, NodeId peer) {
    std::vector<Nanos> out;
    const Topology& topology = cluster.engine(observer).topology();
    for (PathIndex p = 0; p < topology.paths().size(); ++p) {
        if (topology.paths()[p].peer_node == peer) {
            out.push_back(cluster.node(observer).detector.path(p).timeout_ns);
        }
    }
    return out;
}

void retime(TestCluster& cluster, NodeId id, const Timing& timing) {
    TestCluster::Member& member = cluster.node(id);
    for (NetworkIndex n = 0; n < member.config.networks.size(); ++n) {
        member.config.networks[n].timing = timing;
        member.engine->timing_changed(n, cluster.now());
    }
}

TEST(EngineTiming, ALongerIntervalIsAdvertisedAtOnceAndSentOnlyAfterPeersLearnedIt) {
    TestCluster cluster(3, 2, NetworkMode::unicast, fast);
    cluster.run_for(200 * nanos_per_ms);
    retime(cluster, 1, slow);
    const Nanos changed_at = cluster.now();
    EXPECT_EQ(cluster.engine(1).advertised_timing(0), slow);
    EXPECT_EQ(cluster.engine(1).send_interval_ns(0), fast.interval_ns);
    EXPECT_EQ(cluster.engine(1).counters().timing_changes, 2U);  // one per network
    // Up to one old detection time plus an interval, the old rate goes on; by its end every
    // peer holds the new, longer timeout.
    cluster.run_until(changed_at + fast.detection_ns());
    EXPECT_EQ(cluster.engine(1).send_interval_ns(1), fast.interval_ns);
    for (NodeId peer = 2; peer <= 3; ++peer) {
        for (const Nanos timeout : timeouts_from(cluster, peer, 1)) {
            EXPECT_EQ(timeout, slow.detection_ns()) << "peer " << peer;
        }
    }
    cluster.run_for(2 * fast.interval_ns);
    EXPECT_EQ(cluster.engine(1).send_interval_ns(0), slow.interval_ns);
    EXPECT_EQ(cluster.engine(1).send_interval_ns(1), slow.interval_ns);
    cluster.run_for(2000 * nanos_per_ms);
    EXPECT_EQ(false_verdicts(cluster, 3), 0U);
}

TEST(EngineTiming, AShorterIntervalIsSentAtOnce) {
    TestCluster cluster(3, 1, NetworkMode::unicast, slow);
    cluster.run_for(500 * nanos_per_ms);
    const std::uint64_t sent_before = cluster.engine(1).counters().beats_sent;
    retime(cluster, 1, fast);
    EXPECT_EQ(cluster.engine(1).send_interval_ns(0), fast.interval_ns);
    // The next beat is due within the new interval, not at the end of the old one.
    cluster.run_for(fast.interval_ns);
    EXPECT_GT(cluster.engine(1).counters().beats_sent, sent_before);
    cluster.run_for(100 * nanos_per_ms);
    for (NodeId peer = 2; peer <= 3; ++peer) {
        for (const Nanos timeout : timeouts_from(cluster, peer, 1)) {
            EXPECT_EQ(timeout, fast.detection_ns());
        }
    }
    // At the new rate, a crash is found within the new detection time.
    const Nanos crash_at = cluster.now();
    cluster.crash(1);
    cluster.run_for(500 * nanos_per_ms);
    const auto downs = cluster.events_of(2, EventKind::node_down, 1);
    ASSERT_EQ(downs.size(), 1U);
    EXPECT_LE(downs[0].t_ns - crash_at, fast.detection_ns() + fast.interval_ns);
}

TEST(EngineTiming, EveryNodeSlowingDownAndSpeedingUpUnderLossGivesNoVerdict) {
    // At 10 ms x 3 the new gaps (37 ms and more) exceed the old timeout (30 ms): sent at once,
    // they would expire every path. 2 % loss makes the first beats of the new timing go missing
    // now and then, while leaving random false expiries (p^3 per interval) out of the picture.
    constexpr Timing quick{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
    constexpr Timing slower{.interval_ns = 50 * nanos_per_ms, .multiplier = 3, .up_count = 2};
    TestCluster cluster(3, 2, NetworkMode::unicast, quick, std::nullopt, 11);
    cluster.network(0).loss = 0.02;
    cluster.network(1).loss = 0.02;
    cluster.run_for(300 * nanos_per_ms);
    for (int round = 0; round < 5; ++round) {
        for (NodeId id = 1; id <= 3; ++id) {
            retime(cluster, id, slower);
            cluster.run_for(7 * nanos_per_ms);  // not in step: each node changes on its own
        }
        cluster.run_for(1000 * nanos_per_ms);
        for (NodeId id = 1; id <= 3; ++id) {
            retime(cluster, id, quick);
            cluster.run_for(3 * nanos_per_ms);
        }
        cluster.run_for(1000 * nanos_per_ms);
    }
    EXPECT_EQ(false_verdicts(cluster, 3), 0U);
    EXPECT_EQ(cluster.engine(1).send_interval_ns(0), quick.interval_ns);
}

TEST(EngineTiming, AnUnchangedTimingChangesNothing) {
    TestCluster cluster(2, 1, NetworkMode::unicast, fast);
    cluster.run_for(100 * nanos_per_ms);
    retime(cluster, 1, fast);
    EXPECT_EQ(cluster.engine(1).counters().timing_changes, 0U);
}

TEST(EngineMute, AMutedNodeSendsNothingAndIsJudgedDownNotLeft) {
    TestCluster cluster(3, 1, NetworkMode::unicast, fast);
    std::atomic<bool> mute{false};
    cluster.engine(3).set_mute_flag(&mute);
    cluster.run_for(200 * nanos_per_ms);
    ASSERT_EQ(cluster.events_of(1, EventKind::node_up, 3).size(), 1U);
    mute.store(true);
    const std::uint64_t sent = cluster.engine(3).counters().beats_sent;
    cluster.run_for(300 * nanos_per_ms);
    // A muted node says nothing, not even that it leaves.
    cluster.engine(3).leave(cluster.now());
    cluster.run_for(100 * nanos_per_ms);
    EXPECT_EQ(cluster.engine(3).counters().beats_sent, sent);
    EXPECT_GT(cluster.engine(3).counters().beats_muted, 0U);
    for (NodeId observer = 1; observer <= 2; ++observer) {
        EXPECT_EQ(cluster.events_of(observer, EventKind::node_down, 3).size(), 1U);
        EXPECT_TRUE(cluster.events_of(observer, EventKind::node_left, 3).empty());
    }
}

TEST(EngineAllocation, TheBeatPathNeverAllocatesAfterStart) {
    TestCluster cluster(4, 2, NetworkMode::unicast, fast, test_key());
    cluster.run_for(200 * nanos_per_ms);  // warm up: every path up, events delivered
    cluster.crash(4);
    const std::uint64_t before = allocations.load();
    cluster.run_for(2000 * nanos_per_ms);  // ~800 beats received per node, and a failure
    const std::uint64_t after = allocations.load();
    EXPECT_EQ(after - before, 0U);
    EXPECT_EQ(cluster.events_of(1, EventKind::node_down, 4).size(), 1U);
    EXPECT_GT(cluster.engine(1).counters().beats_accepted, 700U);
}

}  // namespace
}  // namespace hb
