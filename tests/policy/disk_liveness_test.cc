// The disk heartbeat as the detector's second, non-IP source of liveness (DESIGN §6): node 1's
// view of nodes 2 and 3 on two networks and one shared disk, on a manual clock. Peers beat on
// both networks and write their slots on their own schedule; node 1 reads all slots every disk
// interval, as the disk heartbeat does, and hands each read to the detector.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "policy/node_detector.hh"
#include "tests/support/recording_sink.hh"
#include "tests/support/test_cluster.hh"

namespace hb::policy {
namespace {

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
constexpr Nanos ip_timeout = fast.interval_ns * fast.multiplier;

using test::RecordingSink;

class DiskLiveness : public ::testing::Test {
protected:
    // What node 1 knows of one peer, and what the peer does.
    struct Peer {
        NodeId node = 0;
        bool beats = true;   // sends beats on both networks
        bool writes = true;  // writes its slot every disk interval
        bool leaving = false;
        Nanos next_beat = 0;
        Nanos next_write = 0;
        std::uint64_t written = 0;  // its slot's sequence on the disk
        std::uint64_t seen = 0;     // the sequence node 1 last read
        Nanos seen_at = 0;          // when node 1 first read that sequence
        std::array<std::uint32_t, 2> consecutive{};
    };

    DiskLiveness() : config_(make_config()), topology_(config_) {
        detector_.attach(topology_, now_);
        peers_[0].node = 2;
        peers_[1].node = 3;
        // Peers write at their own phase within the disk interval, as unsynchronised nodes do.
        peers_[0].next_write = now_ + 3 * nanos_per_ms;
        peers_[1].next_write = now_ + 7 * nanos_per_ms;
        next_read_ = now_ + disk_interval_;
        run_for(100 * nanos_per_ms);
    }

    static ClusterConfig make_config() {
        ClusterConfig config = test::make_cluster_config(3, 2, NetworkMode::unicast, fast);
        config.local_node = 1;
        return config;
    }
    PathIndex path(const Peer& peer, NetworkIndex network) const {
        return topology_.find_path(network, peer.node, static_cast<AdapterIndex>(network));
    }
    PeerIndex index(const Peer& peer) const { return topology_.peer_of(peer.node); }

    // Moves time forward 1 ms at a time: beats, slot writes, node 1's reads, ticks.
    void run_for(Nanos duration) {
        const Nanos until = now_ + duration;
        while (now_ < until) {
            now_ += nanos_per_ms;
            for (Peer& peer : peers_) {
                if (peer.beats && now_ >= peer.next_beat) {
                    beat(peer);
                    peer.next_beat = now_ + fast.interval_ns;
                }
                if (peer.writes && now_ >= peer.next_write) {
                    ++peer.written;
                    peer.next_write = now_ + disk_interval_;
                }
            }
            if (disk_works_ && now_ >= next_read_) {
                read_slots();
                next_read_ = now_ + disk_interval_;
            }
            detector_.tick(now_, sink_);
        }
    }
    void beat(Peer& peer) {
        for (NetworkIndex n = 0; n < 2; ++n) {
            detector_.on_beat(BeatObservation{.path = path(peer, n),
                                              .rx_ns = now_,
                                              .peer_timeout_ns = ip_timeout,
                                              .peer_interval_ns = fast.interval_ns,
                                              .consecutive = ++peer.consecutive[n],
                                              .peer_adapter_states = 0b11,
                                              .peer_tx_time_ns = static_cast<std::uint64_t>(now_),
                                              .peer_hears_us = true});
        }
    }
    // One read of every slot, reported as the disk heartbeat reports it.
    void read_slots() {
        for (Peer& peer : peers_) {
            if (peer.written != peer.seen) {
                peer.seen = peer.written;
                peer.seen_at = now_;
            }
            detector_.on_disk_slot(DiskObservation{
                .peer = index(peer),
                .rx_ns = now_,
                .last_advance_ns = peer.seen_at,
                .alive = peer.seen_at != 0 && now_ - peer.seen_at < disk_timeout(),
                .leaving = peer.leaving,
                .incarnation = 1,
            });
        }
        if (!disk_reported_) {
            detector_.on_local_disk(true, now_);
            disk_reported_ = true;
        }
    }
    Nanos disk_timeout() const { return disk_interval_ * 3; }

    std::vector<Event> of(NodeId node) const { return sink_.about(node); }
    std::size_t count(EventKind kind) const { return sink_.count(kind); }
    std::string seen() const { return sink_.describe(mark_); }
    // Forgets the events so far; times in seen() count from here.
    void clear() {
        sink_.events.clear();
        mark_ = now_;
    }

    ClusterConfig config_;
    Topology topology_;
    NodeDetector detector_;
    RecordingSink sink_;
    Nanos now_ = nanos_per_s;
    Nanos mark_ = 0;
    Nanos disk_interval_ = 10 * nanos_per_ms;
    Nanos next_read_ = 0;
    bool disk_works_ = true;
    bool disk_reported_ = false;
    std::array<Peer, 2> peers_;
};

TEST_F(DiskLiveness, TheFirstCompletedCycleIsDiskUpAndPeersComeUpByTheirBeats) {
    EXPECT_TRUE(detector_.disk_usable());
    EXPECT_EQ(count(EventKind::disk_up), 1U) << seen();
    EXPECT_EQ(count(EventKind::node_up), 2U) << seen();
    EXPECT_EQ(sink_.events.size(), 3U) << seen();
}

TEST_F(DiskLiveness, CuttingEveryNetworkIsUnreachableThenPartitionNeverNodeDown) {
    clear();
    peers_[0].beats = false;  // node 2 cut off by IP; its slot keeps advancing
    run_for(300 * nanos_per_ms);
    const std::vector<Event> events = of(2);
    ASSERT_EQ(events.size(), 2U) << seen();
    EXPECT_EQ(events[0].kind, EventKind::node_unreachable);
    EXPECT_EQ(events[0].evidence, evidence::paths);
    EXPECT_EQ(events[1].kind, EventKind::partition);
    EXPECT_EQ(events[1].evidence, evidence::paths | evidence::disk);
    // Proof of life is a write after the cut, first seen by a read whose previous read came
    // after the cut too: within two disk intervals (and a step) of the IP verdict.
    EXPECT_LE(events[1].t_ns - events[0].t_ns, 2 * disk_interval_ + nanos_per_ms) << seen();
    EXPECT_EQ(count(EventKind::node_down), 0U) << seen();

    clear();
    peers_[0].beats = true;
    run_for(100 * nanos_per_ms);
    ASSERT_EQ(of(2).size(), 1U) << seen();
    EXPECT_EQ(of(2)[0].kind, EventKind::partition_healed) << "not NODE_UP: it never went down";
}

TEST_F(DiskLiveness, ADeathIsUnreachableThenNodeDownOnBothKindsOfEvidence) {
    clear();
    const Nanos died = now_;
    peers_[0].beats = false;
    peers_[0].writes = false;
    run_for(300 * nanos_per_ms);
    const std::vector<Event> events = of(2);
    ASSERT_EQ(events.size(), 2U) << seen();
    EXPECT_EQ(events[0].kind, EventKind::node_unreachable);
    EXPECT_EQ(events[1].kind, EventKind::node_down);
    EXPECT_EQ(events[1].evidence, evidence::paths | evidence::disk);
    // Its slot stops advancing a disk timeout after its last write, seen at the next read.
    EXPECT_LE(events[1].t_ns - died, disk_timeout() + 2 * disk_interval_) << seen();
    EXPECT_EQ(count(EventKind::partition), 0U) << seen();
}

TEST_F(DiskLiveness, ASlowDiskReadingALastWriteAfterTheCutIsNoProofOfLife) {
    // Reads every 100 ms: the first read after the IP cut can see the dead node's last write,
    // made before it died, for the first time. Only a write after the cut proves it lives.
    disk_interval_ = 100 * nanos_per_ms;
    run_for(400 * nanos_per_ms);
    // Die just before a read is due, so that read comes after the IP paths expire.
    while (next_read_ - now_ != ip_timeout + 5 * nanos_per_ms) {
        run_for(nanos_per_ms);
    }
    clear();
    peers_[0].writes = false;
    peers_[0].next_write = now_;
    ++peers_[0].written;  // its last write, just before it died
    peers_[0].beats = false;
    run_for(600 * nanos_per_ms);
    const std::vector<Event> events = of(2);
    ASSERT_EQ(events.size(), 2U) << seen();
    EXPECT_EQ(events[0].kind, EventKind::node_unreachable);
    EXPECT_EQ(events[1].kind, EventKind::node_down) << seen();
}

TEST_F(DiskLiveness, ALeavingSlotIsNodeLeftWhileCutOff) {
    clear();
    peers_[0].beats = false;
    run_for(100 * nanos_per_ms);
    ASSERT_EQ(count(EventKind::partition), 1U) << seen();
    peers_[0].leaving = true;  // it stops gracefully; only the disk can tell us
    run_for(30 * nanos_per_ms);
    peers_[0].writes = false;
    run_for(200 * nanos_per_ms);
    ASSERT_EQ(of(2).size(), 3U) << seen();
    EXPECT_EQ(of(2)[2].kind, EventKind::node_left);
    EXPECT_EQ(of(2)[2].evidence, evidence::leaving | evidence::disk);
    EXPECT_EQ(count(EventKind::node_down), 0U) << seen();
}

TEST_F(DiskLiveness, LosingTheDiskKeepsAPartition) {
    peers_[0].beats = false;
    run_for(100 * nanos_per_ms);
    ASSERT_EQ(count(EventKind::partition), 1U) << seen();
    clear();
    const Nanos last_cycle = now_;
    disk_works_ = false;
    detector_.on_local_disk(false, last_cycle);
    run_for(100 * nanos_per_ms);
    ASSERT_EQ(sink_.events.size(), 1U) << "the last evidence said node 2 lives: " << seen();
    EXPECT_EQ(sink_.events[0].kind, EventKind::disk_down);
    EXPECT_EQ(sink_.events[0].latency_ns, sink_.events[0].t_ns - last_cycle);
    EXPECT_EQ(sink_.events[0].evidence, evidence::disk);
    EXPECT_FALSE(detector_.disk_usable());
}

TEST_F(DiskLiveness, LosingTheDiskLeavesAnUndecidedPeerToTheIpVerdict) {
    clear();
    peers_[1].beats = false;
    while (count(EventKind::node_unreachable) == 0) {
        run_for(nanos_per_ms);
    }
    ASSERT_EQ(of(3).size(), 1U) << "undecided yet: " << seen();
    disk_works_ = false;
    detector_.on_local_disk(false, now_);
    run_for(100 * nanos_per_ms);
    ASSERT_EQ(of(3).size(), 2U) << seen();
    EXPECT_EQ(of(3)[1].kind, EventKind::node_down);
    EXPECT_EQ(of(3)[1].evidence, evidence::paths) << "the IP verdict, without the disk";
}

TEST_F(DiskLiveness, EveryPeerSilentWithTheDiskIsJudgedPeerByPeerNotIsolation) {
    clear();
    peers_[0].beats = false;
    peers_[1].beats = false;
    peers_[1].writes = false;
    run_for(300 * nanos_per_ms);
    EXPECT_EQ(count(EventKind::isolated), 0U) << seen();
    ASSERT_EQ(of(2).size(), 2U) << seen();
    EXPECT_EQ(of(2)[1].kind, EventKind::partition);
    ASSERT_EQ(of(3).size(), 2U) << seen();
    EXPECT_EQ(of(3)[1].kind, EventKind::node_down);
}

TEST_F(DiskLiveness, SlotProblemsAreEventsAboutTheSlotsOwner) {
    clear();
    detector_.on_disk_problem(DiskProblem::slot_corrupt, 3, now_);
    detector_.on_disk_problem(DiskProblem::slot_conflict, 1, now_);
    EXPECT_EQ(detector_.next_deadline(), 0) << "due at once";
    run_for(nanos_per_ms);
    ASSERT_EQ(sink_.events.size(), 2U) << seen();
    EXPECT_EQ(sink_.events[0].kind, EventKind::disk_slot_corrupt);
    EXPECT_EQ(sink_.events[0].node, 3U);
    EXPECT_EQ(sink_.events[1].kind, EventKind::disk_slot_conflict);
    EXPECT_EQ(sink_.events[1].node, 1U);
    EXPECT_EQ(sink_.events[1].evidence, evidence::disk);
}

}  // namespace
}  // namespace hb::policy
