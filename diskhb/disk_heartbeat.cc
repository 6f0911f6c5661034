// The disk heartbeat: one io_uring cycle per disk interval, the peers' slots judged on this
// node's clock, and the disk's own failures (errors, stalls) reported as the loss of the source.
#include "diskhb/disk_heartbeat.hh"

#include "hb/mac.hh"

#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "hb/assert.hh"

namespace hb::diskhb {

namespace {

constexpr Nanos never = std::numeric_limits<Nanos>::max();
// Polled completions (IOPOLL) are looked for this soon after a submit, then ever less often.
constexpr Nanos first_reap_tick_ns = 50 * nanos_per_us;

std::uint64_t random_u64() noexcept {
    std::uint64_t value = 0;
    while (value == 0) {
        if (getrandom(&value, sizeof(value), 0) != sizeof(value)) {
            timespec ts{};
            clock_gettime(CLOCK_MONOTONIC, &ts);  // getrandom cannot fail after boot; belt only
            value = static_cast<std::uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ULL ^
                    static_cast<std::uint64_t>(getpid());
        }
    }
    return value;
}

std::uint64_t realtime_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * nanos_per_s +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

DiskHeartbeat::DiskHeartbeat(std::unique_ptr<DiskIo> io, Detector& detector)
    : io_(std::move(io)), detector_(detector) {}

DiskHeartbeat::~DiskHeartbeat() {
    if (epoll_fd_ >= 0) {
        ::close(epoll_fd_);
    }
}

std::variant<std::unique_ptr<DiskHeartbeat>, std::string> DiskHeartbeat::open(
    const std::string& path, const Topology& topology, Detector& detector,
    const DiskOptions& options, Nanos now) {
    auto opened = DiskFile::open(path, options.sector_size);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return std::move(*error);
    }
    DiskFile& disk = std::get<DiskFile>(opened);
    auto header = read_header(disk);
    if (auto* error = std::get_if<std::string>(&header)) {
        return std::move(*error);
    }
    std::vector<NodeId> nodes{topology.local_node()};
    for (const Peer& peer : topology.peers()) {
        nodes.push_back(peer.node);
    }
    if (std::string problem =
            check_header(disk, std::get<Header>(header), topology.config().cluster_id, nodes);
        !problem.empty()) {
        return problem;
    }
    if (std::string problem = check_authentication(disk.path(), std::get<Header>(header),
                                                   !topology.config().keys.empty());
        !problem.empty()) {
        return problem;
    }
    auto io =
        UringDiskIo::open(disk, std::get<Header>(header), topology.local_node(), options.io_mode);
    if (auto* error = std::get_if<std::string>(&io)) {
        return std::move(*error);
    }
    auto started = start(std::move(std::get<std::unique_ptr<UringDiskIo>>(io)),
                         std::get<Header>(header), topology, detector, options, now);
    if (auto* heartbeat = std::get_if<std::unique_ptr<DiskHeartbeat>>(&started)) {
        (*heartbeat)->disk_file_ = std::move(disk);
    }
    return started;
}

std::variant<std::unique_ptr<DiskHeartbeat>, std::string> DiskHeartbeat::start(
    std::unique_ptr<DiskIo> io, const Header& header, const Topology& topology, Detector& detector,
    const DiskOptions& options, Nanos now) {
    HB_ASSERT(io != nullptr);
    HB_ASSERT(io->sector_size() == header.sector_size && io->slot_count() == header.slot_count);
    const NodeId local = topology.local_node();
    HB_ASSERT(local >= 1 && local <= header.slot_count);
    std::unique_ptr<DiskHeartbeat> heartbeat{new DiskHeartbeat(std::move(io), detector)};
    DiskHeartbeat& h = *heartbeat;
    // A header that disagrees with the keys is refused by open(); a test's header decides here.
    if (header.authenticated) {
        h.replace_keys(topology.config().keys);
    }
    h.cluster_id_ = header.cluster_id;
    h.local_node_ = local;
    h.interval_ns_ = options.interval_ns != 0 ? options.interval_ns : header.interval_ns;
    const std::uint32_t multiplier =
        options.multiplier != 0 ? options.multiplier : header.multiplier;
    h.timeout_ns_ = h.interval_ns_ * multiplier;
    h.incarnation_ = options.incarnation != 0 ? options.incarnation : realtime_ns();
    h.nonce_ = random_u64();
    h.next_cycle_ns_ = now;
    h.watched_.reserve(topology.peers().size() + 1);
    h.watched_.push_back(Watched{.node = local});
    for (const Peer& peer : topology.peers()) {
        if (peer.node == 0 || peer.node > header.slot_count) {
            return "disk: node " + std::to_string(peer.node) + " has no slot among the disk's " +
                   std::to_string(header.slot_count);
        }
        h.watched_.push_back(Watched{.node = peer.node, .peer = topology.peer_of(peer.node)});
        HB_ASSERT(h.watched_.back().peer == h.watched_.size() - 2);
    }
    h.epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (!h.timer_.open() || h.epoll_fd_ < 0) {
        return std::string("disk: timerfd/epoll: ") + std::strerror(errno);
    }
    for (const int fd : {h.timer_.fd(), h.io_->wait_fd()}) {
        if (fd < 0) {
            continue;
        }
        epoll_event event{.events = EPOLLIN, .data = {.fd = fd}};
        if (epoll_ctl(h.epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
            return std::string("disk: epoll_ctl: ") + std::strerror(errno);
        }
    }
    h.arm_timer(now);
    return heartbeat;
}

bool DiskHeartbeat::poll(Nanos now) noexcept {
    bool worked = timer_.consume(now);
    if (in_flight_) {
        CycleResult result;
        if (io_->reap(result)) {
            in_flight_ = false;
            finish_cycle(result, now);
            worked = true;
        } else if (!stall_reported_ && now - submitted_ns_ >= timeout_ns_) {
            // The device holds the buffers until it answers, so no new cycle starts meanwhile.
            stall_reported_ = true;
            ++counters_.stalls;
            disk_failed();
            worked = true;
        }
    }
    if (!in_flight_ && now >= next_cycle_ns_) {
        start_cycle(now);
        worked = true;
    }
    arm_timer(now);
    return worked;
}

void DiskHeartbeat::leaving(Nanos now) noexcept {
    leaving_ = true;
    if (!in_flight_) {
        start_cycle(now);
        arm_timer(now);
    }
}

void DiskHeartbeat::replace_keys(const KeySet& beat_keys) noexcept {
    keys_ = KeySet{};
    for (const MacKey& key : beat_keys.accepted()) {
        HB_ASSERT(keys_.add(derive_disk_key(key)));
    }
}

void DiskHeartbeat::start_cycle(Nanos now) noexcept {
    HB_ASSERT(!in_flight_);
    ++seq_;
    const Slot slot{.cluster_id = cluster_id_,
                    .node = local_node_,
                    .incarnation = incarnation_,
                    .seq = seq_,
                    .state = leaving_ ? SlotState::leaving : SlotState::alive,
                    .writer_nonce = nonce_,
                    .adapter_states = detector_.local_adapter_states(),
                    .message = {}};
    encode_slot(slot, io_->own_sector(), keys_.empty() ? nullptr : &keys_.signing());
    next_cycle_ns_ += interval_ns_;
    if (next_cycle_ns_ <= now) {
        next_cycle_ns_ = now + interval_ns_;  // after a stall, start the cadence again
    }
    ++counters_.cycles_started;
    const int error = io_->submit_cycle();
    if (error < 0) {
        ++counters_.io_errors;
        disk_failed();
        return;
    }
    in_flight_ = true;
    in_flight_leaving_ = leaving_;
    stall_reported_ = false;
    submitted_ns_ = now;
    reap_tick_ns_ = first_reap_tick_ns;
}

void DiskHeartbeat::disk_failed() noexcept {
    // Only a disk that was a source can be lost; before its first cycle it never was one.
    if (disk_ == DiskHealth::up) {
        ++counters_.went_down;
        detector_.on_local_disk(false, last_completed_ns_);
    }
    if (disk_ != DiskHealth::unknown) {
        disk_ = DiskHealth::down;
    }
}

void DiskHeartbeat::finish_cycle(const CycleResult& result, Nanos now) noexcept {
    const int sector = static_cast<int>(io_->sector_size());
    const int slots_bytes = static_cast<int>(io_->slot_sectors().size());
    if (result.write < 0 || (result.write == sector && result.read < 0)) {
        ++counters_.io_errors;
        disk_failed();
        return;
    }
    if (result.write != sector || result.read != slots_bytes) {
        ++counters_.short_io;
        disk_failed();
        return;
    }
    ++counters_.cycles;
    last_completed_ns_ = now;
    if (disk_ != DiskHealth::up) {
        disk_ = DiskHealth::up;
        ++counters_.came_up;
        detector_.on_local_disk(true, now);
    }
    check_own(watched_[0], now);
    for (std::size_t i = 1; i < watched_.size(); ++i) {
        Watched& peer = watched_[i];
        read_peer(peer, now);
        const bool alive = peer.last_advance_ns != 0 && now - peer.last_advance_ns < timeout_ns_;
        detector_.on_disk_slot(DiskObservation{.peer = peer.peer,
                                               .rx_ns = now,
                                               .last_advance_ns = peer.last_advance_ns,
                                               .alive = alive,
                                               .leaving = peer.leaving,
                                               .incarnation = peer.incarnation});
    }
    if (in_flight_leaving_) {
        left_ = true;
    }
}

namespace {

std::span<const std::uint8_t> slot_sector(DiskIo& io, NodeId node) noexcept {
    const std::size_t size = io.sector_size();
    return io.slot_sectors().subspan((node - 1) * size, size);
}

}  // namespace

bool DiskHeartbeat::read_slot(Watched& watched, Slot& slot, bool empty_is_corrupt,
                              Nanos now) noexcept {
    const DecodeResult result = decode_slot(slot_sector(*io_, watched.node), cluster_id_,
                                            watched.node, slot, keys_.empty() ? nullptr : &keys_);
    switch (result) {
        case DecodeResult::ok:
            cleared(watched, DiskProblem::slot_corrupt);
            return true;
        case DecodeResult::empty:
            if (empty_is_corrupt) {
                break;
            }
            cleared(watched, DiskProblem::slot_corrupt);  // never written: nothing wrong
            cleared(watched, DiskProblem::slot_conflict);
            return false;
        case DecodeResult::torn:
            ++counters_.torn;
            problem(watched, DiskProblem::slot_corrupt, now);
            return false;
        case DecodeResult::bad_mac:
            // Written by someone without the key: never believed, reported as a slot that
            // cannot be trusted.
            ++counters_.bad_mac;
            problem(watched, DiskProblem::slot_corrupt, now);
            return false;
        case DecodeResult::wrong_cluster:
        case DecodeResult::wrong_node:
            // An intact slot of another cluster or node: a writer that does not belong here.
            counters_.wrong_cluster += result == DecodeResult::wrong_cluster ? 1 : 0;
            counters_.wrong_node += result == DecodeResult::wrong_node ? 1 : 0;
            problem(watched, DiskProblem::slot_conflict, now);
            return false;
        default:
            break;
    }
    ++counters_.corrupt;
    problem(watched, DiskProblem::slot_corrupt, now);
    return false;
}

void DiskHeartbeat::check_own(Watched& own, Nanos now) noexcept {
    Slot slot;
    // The read follows our write: even an empty slot means the write did not land.
    if (!read_slot(own, slot, true, now)) {
        return;
    }
    // Anything but our write means another writer wrote between our write and the read.
    if (slot.writer_nonce != nonce_ || slot.incarnation != incarnation_ || slot.seq != seq_) {
        ++counters_.conflicts;
        problem(own, DiskProblem::slot_conflict, now);
        return;
    }
    cleared(own, DiskProblem::slot_conflict);
}

void DiskHeartbeat::read_peer(Watched& peer, Nanos now) noexcept {
    Slot slot;
    if (!read_slot(peer, slot, false, now)) {
        return;
    }
    bool conflict = false;
    bool advanced = false;
    if (!peer.seen) {
        // The first sight is a baseline: a slot written long ago says nothing of now.
        peer.seen = true;
    } else if (slot.incarnation != peer.incarnation) {
        advanced = true;  // a restart
        // Back to the incarnation before the current one: two processes take turns.
        conflict = slot.incarnation == peer.previous_incarnation;
        peer.previous_incarnation = peer.incarnation;
    } else if (slot.writer_nonce != peer.nonce || slot.seq < peer.seq) {
        // One incarnation, yet another writer or a sequence gone back. Someone still writes the
        // slot, so it counts as movement: a conflict must not make a running node look dead.
        advanced = true;
        conflict = true;
    } else if (slot.seq > peer.seq) {
        advanced = true;
    }
    peer.incarnation = slot.incarnation;
    peer.seq = slot.seq;
    peer.nonce = slot.writer_nonce;
    peer.leaving = slot.state == SlotState::leaving;
    if (advanced) {
        peer.last_advance_ns = now;
    }
    if (conflict) {
        ++counters_.conflicts;
        problem(peer, DiskProblem::slot_conflict, now);
    } else {
        cleared(peer, DiskProblem::slot_conflict);
    }
}

void DiskHeartbeat::problem(Watched& slot, DiskProblem kind, Nanos now) noexcept {
    // One report per bad spell of a slot, and at most one per disk timeout for a slot that keeps
    // turning bad and good: a damaged slot is an event, not one per cycle. A spell that starts
    // within the hold-off is reported when the hold-off ends, if it lasts that long.
    const auto k = static_cast<std::size_t>(kind);
    if (slot.reported[k] || (slot.reported_ns[k] != 0 && now - slot.reported_ns[k] < timeout_ns_)) {
        return;
    }
    slot.reported[k] = true;
    slot.reported_ns[k] = now;
    ++counters_.problems_reported;
    detector_.on_disk_problem(kind, slot.node, now);
}

void DiskHeartbeat::cleared(Watched& slot, DiskProblem kind) noexcept {
    slot.reported[static_cast<std::size_t>(kind)] = false;
}

void DiskHeartbeat::arm_timer(Nanos now) noexcept {
    Nanos deadline = never;
    if (!in_flight_) {
        deadline = next_cycle_ns_;
    } else {
        if (!stall_reported_) {
            deadline = submitted_ns_ + timeout_ns_;
        }
        if (io_->wait_fd() < 0) {
            // Polled completions raise no event: look again soon, then less often.
            deadline = std::min(deadline, now + reap_tick_ns_);
            reap_tick_ns_ = std::min(reap_tick_ns_ * 2, std::max(interval_ns_ / 4, reap_tick_ns_));
        }
    }
    if (deadline == never) {
        // A stall already reported: the eventfd brings the late completion, and a slow check
        // keeps an eye on it in case it never comes.
        deadline = now + interval_ns_;
    }
    timer_.arm(deadline);
}

}  // namespace hb::diskhb
