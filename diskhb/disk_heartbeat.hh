// The disk heartbeat (DESIGN §5): every disk interval this node writes its slot and reads every
// slot in one io_uring cycle, and tells the detector what it read: each peer's slot (alive while
// its seq advances), the disk's own health (I/O errors, stalls) and slots it cannot trust.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "diskhb/disk_io.hh"
#include "diskhb/format.hh"
#include "hb/deadline_timer.hh"
#include "hb/detector.hh"
#include "hb/runner.hh"
#include "hb/topology.hh"

namespace hb::diskhb {

struct DiskOptions {
    Nanos interval_ns = 0;          // 0: the disk timing in the header
    std::uint32_t multiplier = 0;   // 0: the header's
    std::uint32_t sector_size = 0;  // regular files only; 0: 512 (devices report their own)
    IoMode io_mode = IoMode::automatic;
    std::uint64_t incarnation = 0;  // 0: CLOCK_REALTIME at open, new at every start
};

struct DiskCounters {
    std::uint64_t cycles_started = 0;
    std::uint64_t cycles = 0;     // completed without error: the slots were read
    std::uint64_t io_errors = 0;  // a submit, write or read that failed
    std::uint64_t short_io = 0;   // a write or read that moved fewer bytes than asked
    std::uint64_t stalls = 0;     // cycles with no completion within the disk timeout
    std::uint64_t went_down = 0;  // on_local_disk(false) calls
    std::uint64_t came_up = 0;    // on_local_disk(true) calls
    // Slots read (own and peers') and what was wrong with them; every read counts.
    std::uint64_t corrupt = 0;  // bad magic, version, CRC or field
    std::uint64_t torn = 0;
    std::uint64_t wrong_cluster = 0;
    std::uint64_t wrong_node = 0;
    std::uint64_t bad_mac = 0;            // intact, but not signed with an accepted key (a forgery)
    std::uint64_t conflicts = 0;          // two writers on one slot
    std::uint64_t problems_reported = 0;  // on_disk_problem calls (rate-limited)
};

class DiskHeartbeat final : public Poller {
public:
    // Opens `path` (DiskFile::open), checks its header against the topology's cluster id and
    // nodes, and sets up the ring. The first cycle starts at the first poll(). Call after the
    // engine has started (the detector must be attached).
    [[nodiscard]] static std::variant<std::unique_ptr<DiskHeartbeat>, std::string> open(
        const std::string& path, const Topology& topology, Detector& detector,
        const DiskOptions& options, Nanos now);
    // The same over an I/O layer already set up for the local node's slot of a disk with
    // `header` (what tests use to put faults in). `options.sector_size` and `io_mode` are the
    // layer's business and ignored here.
    [[nodiscard]] static std::variant<std::unique_ptr<DiskHeartbeat>, std::string> start(
        std::unique_ptr<DiskIo> io, const Header& header, const Topology& topology,
        Detector& detector, const DiskOptions& options, Nanos now);
    ~DiskHeartbeat() override;
    DiskHeartbeat(const DiskHeartbeat&) = delete;
    DiskHeartbeat& operator=(const DiskHeartbeat&) = delete;

    // An epoll set of a timerfd (the next cycle, a stall deadline) and the ring's completion
    // eventfd.
    int wait_fd() const noexcept override { return epoll_fd_; }
    // Collects a completed cycle and reports it, reports a stall, or starts the cycle that is
    // due (never a second one while one is in flight). Allocates nothing.
    bool poll(Nanos now) noexcept override;

    // Graceful stop: from now on the slot says LEAVING; written at once unless a cycle is in
    // flight (then by the next). Keep polling until left().
    void leaving(Nanos now) noexcept;
    // A key rollover step: slots are signed with the new signing key and accepted under any of
    // the set from the next cycle on. Beat keys (the cluster's), as the topology's config has them.
    void replace_keys(const KeySet& beat_keys) noexcept;
    [[nodiscard]] bool authenticated() const noexcept { return !keys_.empty(); }

    // A LEAVING slot was written and read back.
    [[nodiscard]] bool left() const noexcept { return left_; }

    // Whether the disk works as far as this node knows: the last cycle completed in time.
    [[nodiscard]] bool disk_up() const noexcept { return disk_ == DiskHealth::up; }
    [[nodiscard]] std::string_view io_mode() const noexcept { return io_->mode(); }
    [[nodiscard]] Nanos interval_ns() const noexcept { return interval_ns_; }
    [[nodiscard]] Nanos timeout_ns() const noexcept { return timeout_ns_; }
    [[nodiscard]] std::uint64_t incarnation() const noexcept { return incarnation_; }
    [[nodiscard]] std::uint64_t writer_nonce() const noexcept { return nonce_; }
    [[nodiscard]] std::uint64_t seq() const noexcept { return seq_; }
    [[nodiscard]] const DiskCounters& counters() const noexcept { return counters_; }
    [[nodiscard]] bool in_flight() const noexcept { return in_flight_; }

private:
    enum class DiskHealth : std::uint8_t { unknown, up, down };
    static constexpr std::size_t problem_kinds = 2;

    // What this node knows of one slot it watches (its own, or a peer's).
    struct Watched {
        NodeId node = 0;
        PeerIndex peer = Topology::none;  // none: the own slot
        bool seen = false;                // a valid slot was read at least once
        std::uint64_t incarnation = 0;
        std::uint64_t previous_incarnation = 0;
        std::uint64_t seq = 0;
        std::uint64_t nonce = 0;
        bool leaving = false;
        Nanos last_advance_ns = 0;
        // Problem reports: whether the current bad spell was reported, and when the last was.
        bool reported[problem_kinds] = {};
        Nanos reported_ns[problem_kinds] = {};
    };

    DiskHeartbeat(std::unique_ptr<DiskIo> io, Detector& detector);
    void start_cycle(Nanos now) noexcept;
    void finish_cycle(const CycleResult& result, Nanos now) noexcept;
    void disk_failed() noexcept;
    // Decodes the watched slot as the last read left it; counts and reports what is wrong with
    // it. True when `slot` holds a valid slot.
    [[nodiscard]] bool read_slot(Watched& watched, Slot& slot, bool empty_is_corrupt,
                                 Nanos now) noexcept;
    void check_own(Watched& own, Nanos now) noexcept;
    void read_peer(Watched& peer, Nanos now) noexcept;
    void problem(Watched& slot, DiskProblem kind, Nanos now) noexcept;
    static void cleared(Watched& slot, DiskProblem kind) noexcept;
    void arm_timer(Nanos now) noexcept;

    DiskFile disk_file_;  // open() keeps the disk open for as long as the ring (below) uses it
    std::unique_ptr<DiskIo> io_;
    Detector& detector_;
    KeySet keys_;  // disk keys (hb::derive_disk_key); empty on an unauthenticated disk
    std::uint64_t cluster_id_ = 0;
    NodeId local_node_ = 0;
    Nanos interval_ns_ = 0;
    Nanos timeout_ns_ = 0;
    std::uint64_t incarnation_ = 0;
    std::uint64_t nonce_ = 0;
    std::uint64_t seq_ = 0;  // of the last write started
    bool leaving_ = false;
    bool left_ = false;
    bool in_flight_ = false;
    bool in_flight_leaving_ = false;
    bool stall_reported_ = false;
    Nanos submitted_ns_ = 0;
    Nanos next_cycle_ns_ = 0;
    Nanos reap_tick_ns_ = 0;  // polled completions: how soon to look again
    Nanos last_completed_ns_ = 0;
    DiskHealth disk_ = DiskHealth::unknown;
    std::vector<Watched> watched_;  // [0] is the own slot, then the peers in PeerIndex order
    int epoll_fd_ = -1;
    DeadlineTimer timer_;
    DiskCounters counters_;
};

}  // namespace hb::diskhb
