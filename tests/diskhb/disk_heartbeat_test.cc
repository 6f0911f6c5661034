// The disk heartbeat on real disks: a file in a temporary directory and loop devices over such
// files (512- and 4096-byte sectors), driven by a manual clock so that no assertion depends on
// the machine's speed; only the I/O itself runs in real time. Faults come from FaultyDiskIo and
// from the kernel (a read-only loop device, `blockdev --setro` under an open disk). This kernel
// has no device-mapper (no dm-mod, no /dev/mapper), so dm `error`/`delay` targets are not used:
// stalls come from the fault layer.
#include "diskhb/disk_heartbeat.hh"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fcntl.h>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "hb/mac.hh"
#include "tests/diskhb/disk_support.hh"
#include "tests/support/allocation_counter.hh"
#include "tests/support/recording_detector.hh"

namespace hb::diskhb {
namespace {

using hb::test::RecordingDetector;
using test::FaultyDiskIo;
using test::run_cycle;

enum class Backing { file512, file4096, loop512, loop4096 };

std::string name_of(Backing backing) {
    switch (backing) {
        case Backing::file512:
            return "File512";
        case Backing::file4096:
            return "File4096";
        case Backing::loop512:
            return "Loop512";
        case Backing::loop4096:
            return "Loop4096";
    }
    return "Unknown";
}

// One node of a test cluster: its config, topology, detector and heartbeat.
struct Node {
    explicit Node(NodeId id, NodeId node_count = 3, std::uint64_t cluster = test::test_cluster)
        : config(test::cluster_config(id, node_count, cluster)), topology(config) {}
    ClusterConfig config;
    Topology topology;
    RecordingDetector detector;
    std::unique_ptr<DiskHeartbeat> heartbeat;

    // The last observation of the peer with node id `node`.
    const DiskObservation* last_of(NodeId node) const {
        const PeerIndex peer = topology.peer_of(node);
        for (auto it = detector.slots.rbegin(); it != detector.slots.rend(); ++it) {
            if (it->peer == peer) {
                return &*it;
            }
        }
        return nullptr;
    }
    std::size_t problems(DiskProblem problem, NodeId node) const {
        std::size_t count = 0;
        for (const auto& call : detector.problems) {
            count += call.problem == problem && call.node == node ? 1 : 0;
        }
        return count;
    }
};

class DiskHeartbeatTest : public ::testing::TestWithParam<Backing> {
protected:
    void SetUp() override {
        const Backing backing = GetParam();
        sector_size_ = backing == Backing::file4096 || backing == Backing::loop4096 ? 4096 : 512;
        ASSERT_FALSE(dir_.path().empty());
        file_ = dir_.path() + "/disk";
        ASSERT_TRUE(test::make_file(file_, 1 << 20));
        path_ = file_;
        if (backing == Backing::loop512 || backing == Backing::loop4096) {
            loop_ = std::make_unique<test::LoopDevice>(file_, sector_size_);
            if (loop_->device().empty()) {
                GTEST_SKIP() << "no loop device: " << loop_->why();
            }
            path_ = loop_->device();
        }
        initialise(test::test_header(sector_size_));
    }

    void initialise(const Header& header) {
        auto disk = DiskFile::open(path_, file_sector());
        ASSERT_TRUE(std::holds_alternative<DiskFile>(disk)) << std::get<std::string>(disk);
        ASSERT_EQ(initialise_disk(std::get<DiskFile>(disk), header), "");
    }

    // The sector size to configure: only regular files need one.
    std::uint32_t file_sector() const { return loop_ ? 0 : sector_size_; }

    DiskOptions options(IoMode mode = IoMode::automatic, Nanos interval_ns = 0) const {
        return DiskOptions{
            .interval_ns = interval_ns, .sector_size = file_sector(), .io_mode = mode};
    }

    void open(Node& node, Nanos now, IoMode mode = IoMode::automatic, Nanos interval_ns = 0) {
        auto result = DiskHeartbeat::open(path_, node.topology, node.detector,
                                          options(mode, interval_ns), now);
        ASSERT_TRUE(std::holds_alternative<std::unique_ptr<DiskHeartbeat>>(result))
            << std::get<std::string>(result);
        node.heartbeat = std::move(std::get<std::unique_ptr<DiskHeartbeat>>(result));
    }

    void open_both(Node& a, Node& b) {
        open(a, start_);
        open(b, start_);
    }

    // The node over a fault layer on the real ring; returns the layer.
    FaultyDiskIo* open_faulty(Node& node, Nanos now) {
        auto disk = DiskFile::open(path_, file_sector());
        EXPECT_TRUE(std::holds_alternative<DiskFile>(disk));
        auto header = read_header(std::get<DiskFile>(disk));
        EXPECT_TRUE(std::holds_alternative<Header>(header));
        auto io = UringDiskIo::open(std::get<DiskFile>(disk), std::get<Header>(header),
                                    node.topology.local_node(), IoMode::automatic);
        std::string error;
        EXPECT_NE(test::opened(io, error), nullptr) << error;
        auto faulty =
            std::make_unique<FaultyDiskIo>(std::move(std::get<std::unique_ptr<UringDiskIo>>(io)));
        FaultyDiskIo* layer = faulty.get();
        auto started = DiskHeartbeat::start(std::move(faulty), std::get<Header>(header),
                                            node.topology, node.detector, options(), now);
        EXPECT_NE(test::opened(started, error), nullptr) << error;
        node.heartbeat = std::move(std::get<std::unique_ptr<DiskHeartbeat>>(started));
        return layer;
    }

    // Writes bytes straight into the disk, through the page cache (a writer hb does not know).
    void write_raw(const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
        const int fd = ::open(path_.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(bytes.size()));
        ASSERT_EQ(fsync(fd), 0);
        ::close(fd);
    }
    void write_slot(const Slot& slot, NodeId position) {
        std::vector<std::uint8_t> sector(sector_size_);
        encode_slot(slot, sector);
        write_raw(sector, std::uint64_t{position} * sector_size_);
    }

    // Both nodes run one cycle at `t`, in order.
    static void both(Node& a, Node& b, Nanos t) {
        ASSERT_TRUE(run_cycle(*a.heartbeat, t));
        ASSERT_TRUE(run_cycle(*b.heartbeat, t));
    }

    test::TempDir dir_;
    std::string file_;
    std::string path_;
    std::uint32_t sector_size_ = 512;
    std::unique_ptr<test::LoopDevice> loop_;
    const Nanos start_ = monotonic_now();
};

TEST_P(DiskHeartbeatTest, TwoNodesSeeEachOtherAlive) {
    Node one(1), two(2);
    open_both(one, two);
    EXPECT_FALSE(one.heartbeat->io_mode().empty());
    EXPECT_EQ(one.heartbeat->interval_ns(), test::test_interval_ns);
    EXPECT_EQ(one.heartbeat->timeout_ns(), test::test_timeout_ns);
    Nanos t = start_;
    both(one, two, t);
    // The disk became a source at the first cycle; node 2's slot had nothing yet for node 1.
    ASSERT_EQ(one.detector.disk_calls.size(), 1u);
    EXPECT_TRUE(one.detector.disk_calls[0].up);
    EXPECT_EQ(one.detector.disk_calls[0].since, t);
    ASSERT_NE(one.last_of(2), nullptr);
    EXPECT_FALSE(one.last_of(2)->alive);
    for (int i = 0; i < 4; ++i) {
        t += test::test_interval_ns;
        both(one, two, t);
    }
    for (Node* node : {&one, &two}) {
        const NodeId peer = node == &one ? 2 : 1;
        const Node& other = node == &one ? two : one;
        const DiskObservation* seen = node->last_of(peer);
        ASSERT_NE(seen, nullptr);
        EXPECT_TRUE(seen->alive);
        EXPECT_FALSE(seen->leaving);
        EXPECT_EQ(seen->rx_ns, t);
        EXPECT_EQ(seen->last_advance_ns, t);
        EXPECT_EQ(seen->incarnation, other.heartbeat->incarnation());
        // Node 3 is configured but never wrote: its slot is empty, never alive, never a problem.
        ASSERT_NE(node->last_of(3), nullptr);
        EXPECT_FALSE(node->last_of(3)->alive);
        EXPECT_EQ(node->last_of(3)->last_advance_ns, 0);
        EXPECT_TRUE(node->detector.problems.empty());
        EXPECT_EQ(node->heartbeat->counters().cycles, 5u);
        EXPECT_EQ(node->heartbeat->counters().io_errors, 0u);
        EXPECT_EQ(node->heartbeat->counters().conflicts, 0u);
        EXPECT_EQ(node->detector.disk_calls.size(), 1u);
    }
    // One observation per peer per cycle.
    EXPECT_EQ(one.detector.slots.size(), 2u * 5u);
}

TEST_P(DiskHeartbeatTest, StoppedWriterIsNotAliveAfterTheTimeout) {
    Node one(1), two(2);
    open_both(one, two);
    Nanos t = start_;
    for (int i = 0; i < 3; ++i, t += test::test_interval_ns) {
        both(two, one, t);  // node 2 writes, then node 1 reads what it wrote
    }
    const Nanos last_advance = t - test::test_interval_ns;
    ASSERT_TRUE(one.last_of(2)->alive);
    ASSERT_EQ(one.last_of(2)->last_advance_ns, last_advance);
    two.heartbeat.reset();  // node 2 stops writing
    for (; t < last_advance + test::test_timeout_ns; t += test::test_interval_ns) {
        ASSERT_TRUE(run_cycle(*one.heartbeat, t));
        ASSERT_TRUE(one.last_of(2)->alive) << "at +" << (t - last_advance) << " ns";
        EXPECT_EQ(one.last_of(2)->last_advance_ns, last_advance);
    }
    ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    EXPECT_FALSE(one.last_of(2)->alive);
    EXPECT_EQ(one.last_of(2)->last_advance_ns, last_advance);
    EXPECT_TRUE(one.detector.problems.empty());

    // It restarts: a new incarnation is movement even though its seq starts again from 1.
    Node again(2);
    t += test::test_interval_ns;
    open(again, t);
    both(again, one, t);
    EXPECT_TRUE(one.last_of(2)->alive);
    EXPECT_EQ(one.last_of(2)->last_advance_ns, t);
    EXPECT_EQ(one.last_of(2)->incarnation, again.heartbeat->incarnation());
    EXPECT_EQ(one.heartbeat->counters().conflicts, 0u);
}

TEST_P(DiskHeartbeatTest, LeavingIsSeen) {
    Node one(1), two(2);
    open_both(one, two);
    Nanos t = start_;
    both(one, two, t);
    t += test::test_interval_ns;
    both(one, two, t);
    EXPECT_FALSE(one.last_of(2)->leaving);
    two.heartbeat->leaving(t);
    ASSERT_TRUE(run_cycle(*two.heartbeat, t));
    EXPECT_TRUE(two.heartbeat->left());
    ASSERT_TRUE(run_cycle(*one.heartbeat, t + test::test_interval_ns));
    EXPECT_TRUE(one.last_of(2)->leaving);
}

TEST_P(DiskHeartbeatTest, TwoWritersOnOneSlotAreDetected) {
    Node first(1), second(1), observer(2);
    open(first, start_);
    open(second, start_);
    // The observer reads twice per interval: once after each writer.
    open(observer, start_, IoMode::automatic, test::test_interval_ns / 2);
    ASSERT_NE(first.heartbeat->writer_nonce(), second.heartbeat->writer_nonce());
    Nanos t = start_;
    for (int i = 0; i < 6; ++i, t += test::test_interval_ns) {
        ASSERT_TRUE(run_cycle(*first.heartbeat, t));
        ASSERT_TRUE(run_cycle(*observer.heartbeat, t));
        ASSERT_TRUE(run_cycle(*second.heartbeat, t + test::test_interval_ns / 2));
        ASSERT_TRUE(run_cycle(*observer.heartbeat, t + test::test_interval_ns / 2));
    }
    EXPECT_GE(observer.heartbeat->counters().conflicts, 8u);
    // Reported, but not every cycle: at most once per disk timeout (3 of the observer's cycles).
    const std::size_t reports = observer.problems(DiskProblem::slot_conflict, 1);
    EXPECT_GE(reports, 1u);
    EXPECT_LE(reports, 4u);
    // Someone does write the slot: a conflict must not make the node look dead.
    EXPECT_TRUE(observer.last_of(1)->alive);
}

TEST_P(DiskHeartbeatTest, ForeignWriteOnTheOwnSlotIsAConflict) {
    Node one(1), two(2);
    FaultyDiskIo* faults = open_faulty(one, start_);
    open(two, start_);
    Nanos t = start_;
    both(one, two, t);
    faults->foreign_slot = 1;
    faults->foreign = Slot{.cluster_id = test::test_cluster,
                           .node = 1,
                           .incarnation = one.heartbeat->incarnation(),
                           .seq = 999,
                           .state = SlotState::alive,
                           .writer_nonce = one.heartbeat->writer_nonce() + 1,
                           .adapter_states = 0,
                           .message = {}};
    for (int i = 0; i < 5; ++i) {
        t += test::test_interval_ns;
        both(one, two, t);
    }
    EXPECT_EQ(one.heartbeat->counters().conflicts, 5u);
    EXPECT_EQ(one.problems(DiskProblem::slot_conflict, 1), 1u);
}

TEST_P(DiskHeartbeatTest, WriteErrorTakesTheDiskAwayUntilItWorks) {
    Node one(1), two(2);
    FaultyDiskIo* faults = open_faulty(one, start_);
    open(two, start_);
    Nanos t = start_;
    both(one, two, t);
    const Nanos last_good = t;
    faults->write_error = -EIO;
    for (int i = 0; i < 3; ++i) {
        t += test::test_interval_ns;
        both(one, two, t);
    }
    faults->write_error = 0;
    t += test::test_interval_ns;
    both(one, two, t);
    const auto& calls = one.detector.disk_calls;
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_TRUE(calls[0].up);
    EXPECT_FALSE(calls[1].up);
    EXPECT_EQ(calls[1].since, last_good);
    EXPECT_TRUE(calls[2].up);
    EXPECT_EQ(calls[2].since, t);
    EXPECT_EQ(one.heartbeat->counters().io_errors, 3u);
    EXPECT_EQ(one.heartbeat->counters().went_down, 1u);
    EXPECT_EQ(one.heartbeat->counters().came_up, 2u);
    EXPECT_TRUE(one.heartbeat->disk_up());
    // No observations from the failed cycles.
    EXPECT_EQ(one.detector.slots.size(), 2u * 2u);
}

TEST_P(DiskHeartbeatTest, ShortIoAndSubmitErrorsAreFailures) {
    Node one(1);
    FaultyDiskIo* faults = open_faulty(one, start_);
    Nanos t = start_;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    faults->short_read = true;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t += test::test_interval_ns));
    faults->short_read = false;
    faults->short_write = true;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t += test::test_interval_ns));
    faults->short_write = false;
    faults->submit_error = -EBUSY;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t += test::test_interval_ns));
    EXPECT_FALSE(one.heartbeat->disk_up());
    faults->submit_error = 0;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t += test::test_interval_ns));
    EXPECT_TRUE(one.heartbeat->disk_up());
    const DiskCounters& c = one.heartbeat->counters();
    EXPECT_EQ(c.short_io, 2u);
    EXPECT_EQ(c.io_errors, 1u);
    EXPECT_EQ(c.cycles, 2u);
    EXPECT_EQ(c.went_down, 1u);  // one loss, however many failures in a row
}

TEST_P(DiskHeartbeatTest, StallIsReportedOnceAndCyclesDoNotPileUp) {
    Node one(1);
    FaultyDiskIo* faults = open_faulty(one, start_);
    Nanos t = start_;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    const Nanos last_good = t;
    faults->stall = true;
    t += test::test_interval_ns;
    (void)one.heartbeat->poll(t);
    ASSERT_TRUE(one.heartbeat->in_flight());
    const Nanos submitted = t;
    const std::uint64_t started = one.heartbeat->counters().cycles_started;
    // Until the disk timeout: nothing reported, nothing new submitted.
    for (; t < submitted + test::test_timeout_ns; t += test::test_interval_ns / 2) {
        (void)one.heartbeat->poll(t);
        EXPECT_EQ(one.detector.disk_calls.size(), 1u);
    }
    (void)one.heartbeat->poll(t);
    ASSERT_EQ(one.detector.disk_calls.size(), 2u);
    EXPECT_FALSE(one.detector.disk_calls[1].up);
    EXPECT_EQ(one.detector.disk_calls[1].since, last_good);
    for (int i = 0; i < 10; ++i) {
        (void)one.heartbeat->poll(t += test::test_interval_ns);
    }
    EXPECT_EQ(one.heartbeat->counters().cycles_started, started);
    EXPECT_EQ(one.heartbeat->counters().stalls, 1u);
    EXPECT_EQ(one.detector.disk_calls.size(), 2u);
    // The late completion brings the disk back.
    faults->stall = false;
    ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    ASSERT_EQ(one.detector.disk_calls.size(), 3u);
    EXPECT_TRUE(one.detector.disk_calls[2].up);
    EXPECT_EQ(one.detector.disk_calls[2].since, t);
}

TEST_P(DiskHeartbeatTest, CorruptAndTornSlotsAreCountedAndReportedOncePerSpell) {
    Node one(1), two(2);
    FaultyDiskIo* faults = open_faulty(one, start_);
    open(two, start_);
    Nanos t = start_;
    for (int i = 0; i < 2; ++i, t += test::test_interval_ns) {
        both(two, one, t);  // the first read is the baseline, the second sees it move
    }
    ASSERT_TRUE(one.last_of(2)->alive);

    faults->tear_slot = 2;
    for (int i = 0; i < 10; ++i, t += test::test_interval_ns) {
        both(two, one, t);
    }
    EXPECT_EQ(one.heartbeat->counters().torn, 10u);
    EXPECT_EQ(one.problems(DiskProblem::slot_corrupt, 2), 1u);
    // Its data is ignored: no movement seen while it is torn.
    EXPECT_FALSE(one.last_of(2)->alive);

    faults->tear_slot = 0;
    both(two, one, t);
    EXPECT_TRUE(one.last_of(2)->alive);
    // Flipping between bad and good: reported when it turns bad, but not again within one disk
    // timeout; a spell that starts within it is reported when the hold-off ends.
    faults->flip_slot = 2;
    const Nanos first_flip = t += test::test_interval_ns;
    both(two, one, t);
    EXPECT_EQ(one.problems(DiskProblem::slot_corrupt, 2), 2u);
    faults->flip_slot = 0;
    both(two, one, t += test::test_interval_ns);
    faults->flip_slot = 2;
    for (int i = 0; i < 4; ++i) {
        both(two, one, t += test::test_interval_ns);
    }
    EXPECT_EQ(one.heartbeat->counters().corrupt, 5u);
    EXPECT_EQ(one.problems(DiskProblem::slot_corrupt, 2), 3u);
    ASSERT_EQ(one.detector.problems.size(), 3u);
    EXPECT_EQ(one.detector.problems[1].at, first_flip);
    EXPECT_EQ(one.detector.problems[2].at, first_flip + test::test_timeout_ns);
}

TEST_P(DiskHeartbeatTest, SlotsOfAnotherClusterOrNodeAreConflicts) {
    Node one(1);
    open(one, start_);
    Slot stranger{.cluster_id = 9,
                  .node = 2,
                  .incarnation = 5,
                  .seq = 1,
                  .state = SlotState::alive,
                  .writer_nonce = 1,
                  .adapter_states = 0,
                  .message = {}};
    write_slot(stranger, 2);
    stranger.cluster_id = test::test_cluster;
    stranger.node = 1;  // node 1's slot content in node 3's place
    write_slot(stranger, 3);
    Nanos t = start_;
    for (int i = 0; i < 3; ++i, t += test::test_interval_ns) {
        ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    }
    EXPECT_EQ(one.heartbeat->counters().wrong_cluster, 3u);
    EXPECT_EQ(one.heartbeat->counters().wrong_node, 3u);
    EXPECT_EQ(one.problems(DiskProblem::slot_conflict, 2), 1u);
    EXPECT_EQ(one.problems(DiskProblem::slot_conflict, 3), 1u);
    EXPECT_FALSE(one.last_of(2)->alive);
}

// With a cluster key the disk is authenticated: slots are signed, peers' slots checked, and a
// slot written by someone without the key (a valid CRC, no valid MAC) is refused and counted,
// never taken for a live node.
TEST_P(DiskHeartbeatTest, AuthenticatedDiskRefusesSlotsWithoutAValidMac) {
    Header header = test::test_header(sector_size_);
    header.authenticated = true;
    initialise(header);
    std::array<std::uint8_t, 32> material{1};
    const MacKey key = derive_key(material);
    Node one(1), two(2);
    ASSERT_TRUE(one.config.keys.add(key));
    ASSERT_TRUE(two.config.keys.add(key));
    open_both(one, two);
    EXPECT_TRUE(one.heartbeat->authenticated());
    Nanos t = start_;
    for (int i = 0; i < 3; ++i, t += test::test_interval_ns) {
        both(one, two, t);
    }
    ASSERT_NE(one.last_of(2), nullptr);
    EXPECT_TRUE(one.last_of(2)->alive) << "signed slots of a key holder are believed";
    EXPECT_EQ(one.heartbeat->counters().bad_mac, 0u);

    // Node 3 never runs; a forger writes its slot, advancing, with a valid CRC and no key.
    for (std::uint64_t seq = 1; seq <= 3; ++seq, t += test::test_interval_ns) {
        write_slot(Slot{.cluster_id = test::test_cluster,
                        .node = 3,
                        .incarnation = 77,
                        .seq = seq,
                        .state = SlotState::alive,
                        .writer_nonce = 1,
                        .adapter_states = 1,
                        .message = {}},
                   3);
        ASSERT_TRUE(run_cycle(*one.heartbeat, t));
    }
    EXPECT_EQ(one.heartbeat->counters().bad_mac, 3u);
    EXPECT_EQ(one.problems(DiskProblem::slot_corrupt, 3), 1u) << "reported once per spell";
    EXPECT_FALSE(one.last_of(3)->alive);

    // A node without the key cannot use the disk, nor can a keyed node use an unauthenticated
    // one (whose slots anyone able to write it could forge).
    Node keyless(3);
    auto refused = DiskHeartbeat::open(path_, keyless.topology, keyless.detector, options(), t);
    ASSERT_TRUE(std::holds_alternative<std::string>(refused));
    EXPECT_NE(std::get<std::string>(refused).find("is authenticated"), std::string::npos);
    EXPECT_NE(check_authentication(path_, test::test_header(sector_size_), true)
                  .find("was initialised without a key"),
              std::string::npos);
    EXPECT_EQ(check_authentication(path_, header, true), "");
}

TEST_P(DiskHeartbeatTest, PollAllocatesNothing) {
    Node one(1), two(2);
    open_both(one, two);
    Nanos t = start_;
    both(one, two, t);
    const std::uint64_t before = hb::test::allocations.load();
    for (int i = 0; i < 20; ++i) {
        t += test::test_interval_ns;
        both(one, two, t);
    }
    EXPECT_EQ(hb::test::allocations.load() - before, 0u);
}

TEST_P(DiskHeartbeatTest, RefusesWhatIsNotItsDisk) {
    Node stranger(1, 3, 9);
    auto result =
        DiskHeartbeat::open(path_, stranger.topology, stranger.detector, options(), start_);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_EQ(std::get<std::string>(result), "disk " + path_ + " belongs to cluster 7, not 9");

    Node far(1, 5);  // node 5 has no slot on a 4-slot disk
    result = DiskHeartbeat::open(path_, far.topology, far.detector, options(), start_);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("has 4 slots: node 5 has none"), std::string::npos)
        << std::get<std::string>(result);

    // A header written for the other sector size.
    const Header other = test::test_header(sector_size_ == 512 ? 4096 : 512);
    std::vector<std::uint8_t> sector(other.sector_size);
    encode_header(other, sector);
    write_raw(sector, 0);
    Node one(1);
    result = DiskHeartbeat::open(path_, one.topology, one.detector, options(), start_);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("sectors"), std::string::npos)
        << std::get<std::string>(result);
}

TEST_P(DiskHeartbeatTest, UninitialisedDiskIsRefusedWithTheFix) {
    {
        const int fd = ::open(path_.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        const std::vector<std::uint8_t> zero(4096, 0);
        ASSERT_EQ(pwrite(fd, zero.data(), zero.size(), 0), 4096);
        ASSERT_EQ(fsync(fd), 0);
        ::close(fd);
    }
    Node one(1);
    auto result = DiskHeartbeat::open(path_, one.topology, one.detector, options(), start_);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_EQ(std::get<std::string>(result),
              "disk " + path_ + " is not initialised: run hbdisk init");
}

TEST_P(DiskHeartbeatTest, IoModesSayWhatTheyChose) {
    Node one(1), two(2);
    open(one, start_, IoMode::automatic);
    const std::string automatic(one.heartbeat->io_mode());
    EXPECT_TRUE(automatic == "iopoll" || automatic.starts_with("interrupt (IOPOLL refused: "))
        << automatic;
    open(two, start_, IoMode::interrupt);
    EXPECT_EQ(two.heartbeat->io_mode(), "interrupt");
    Nanos t = start_;
    for (int i = 0; i < 3; ++i, t += test::test_interval_ns) {
        both(one, two, t);
    }
    EXPECT_TRUE(one.last_of(2)->alive);
    EXPECT_TRUE(two.last_of(1)->alive);

    Node three(3);
    open(three, t, IoMode::sqpoll);
    const std::string sqpoll(three.heartbeat->io_mode());
    EXPECT_TRUE(sqpoll == "sqpoll" || sqpoll.starts_with("interrupt (SQPOLL refused: ")) << sqpoll;
    ASSERT_TRUE(run_cycle(*three.heartbeat, t));
    ASSERT_TRUE(run_cycle(*three.heartbeat, t + test::test_interval_ns));
    EXPECT_EQ(three.heartbeat->counters().cycles, 2u);

    // IOPOLL asked for explicitly: used, or refused with the device's reason, never silently
    // replaced.
    Node four(4, 4);
    auto polled =
        DiskHeartbeat::open(path_, four.topology, four.detector, options(IoMode::iopoll), t);
    if (auto* error = std::get_if<std::string>(&polled)) {
        EXPECT_NE(error->find("io_uring (iopoll): "), std::string::npos) << *error;
    } else {
        EXPECT_EQ(std::get<std::unique_ptr<DiskHeartbeat>>(polled)->io_mode(), "iopoll");
    }
}

INSTANTIATE_TEST_SUITE_P(Disks, DiskHeartbeatTest,
                         ::testing::Values(Backing::file512, Backing::file4096, Backing::loop512,
                                           Backing::loop4096),
                         [](const auto& param_info) { return name_of(param_info.param); });

// ---- The kernel's own refusals ---------------------------------------------------------------

TEST(DiskHeartbeatDevice, ReadOnlyLoopDeviceIsRefusedAtOpen) {
    test::TempDir dir;
    const std::string file = dir.path() + "/disk";
    ASSERT_TRUE(test::make_file(file, 1 << 20));
    {
        auto disk = DiskFile::open(file);
        ASSERT_TRUE(std::holds_alternative<DiskFile>(disk));
        ASSERT_EQ(initialise_disk(std::get<DiskFile>(disk), test::test_header(512)), "");
    }
    test::LoopDevice loop(file, 512, true);
    if (loop.device().empty()) {
        GTEST_SKIP() << "no loop device: " << loop.why();
    }
    Node one(1);
    auto result =
        DiskHeartbeat::open(loop.device(), one.topology, one.detector, {}, monotonic_now());
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_EQ(std::get<std::string>(result),
              "disk " + loop.device() + " cannot be opened read-write: the device is read-only");
}

// A device that turns read-only under an open disk: the kernel fails every write (EPERM), the
// disk is lost, and it comes back when the device is writable again.
TEST(DiskHeartbeatDevice, DeviceTurnedReadOnlyIsLostAndRecovered) {
    test::TempDir dir;
    const std::string file = dir.path() + "/disk";
    ASSERT_TRUE(test::make_file(file, 1 << 20));
    test::LoopDevice loop(file, 512);
    if (loop.device().empty()) {
        GTEST_SKIP() << "no loop device: " << loop.why();
    }
    {
        auto disk = DiskFile::open(loop.device());
        ASSERT_TRUE(std::holds_alternative<DiskFile>(disk));
        ASSERT_EQ(initialise_disk(std::get<DiskFile>(disk), test::test_header(512)), "");
    }
    Node one(1);
    auto result =
        DiskHeartbeat::open(loop.device(), one.topology, one.detector, {}, monotonic_now());
    std::string error;
    DiskHeartbeat* heartbeat = test::opened(result, error);
    ASSERT_NE(heartbeat, nullptr) << error;
    Nanos t = monotonic_now();
    ASSERT_TRUE(run_cycle(*heartbeat, t));
    const Nanos last_good = t;
    ASSERT_EQ(std::system(("blockdev --setro " + loop.device()).c_str()), 0);
    ASSERT_TRUE(run_cycle(*heartbeat, t += test::test_interval_ns));
    ASSERT_TRUE(run_cycle(*heartbeat, t += test::test_interval_ns));
    const bool writable = std::system(("blockdev --setrw " + loop.device()).c_str()) == 0;
    EXPECT_EQ(heartbeat->counters().io_errors, 2u);
    ASSERT_EQ(one.detector.disk_calls.size(), 2u);
    EXPECT_FALSE(one.detector.disk_calls[1].up);
    EXPECT_EQ(one.detector.disk_calls[1].since, last_good);
    ASSERT_TRUE(writable);
    ASSERT_TRUE(run_cycle(*heartbeat, t += test::test_interval_ns));
    ASSERT_EQ(one.detector.disk_calls.size(), 3u);
    EXPECT_TRUE(one.detector.disk_calls[2].up);
}

}  // namespace
}  // namespace hb::diskhb
