// A shared disk for the simulation: the real DiskHeartbeat of every node over an in-memory disk
// whose cycles complete `latency_ns` after they are submitted, on the cluster's manual clock.
// A node's path to it can fail (every cycle then ends in an I/O error).
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "diskhb/disk_heartbeat.hh"
#include "diskhb/disk_io.hh"
#include "diskhb/format.hh"
#include "tests/support/test_cluster.hh"

namespace hb::test {

class FakeDisk {
public:
    explicit FakeDisk(const diskhb::Header& header)
        : header_(header), sectors_((std::size_t{header.slot_count} + 1) * header.sector_size) {
        diskhb::encode_header(header, std::span(sectors_).first(header.sector_size));
    }
    const diskhb::Header& header() const noexcept { return header_; }
    // Sector 0 is the header; node i's slot is sector i.
    std::span<std::uint8_t> sector(std::uint32_t index) noexcept {
        return std::span(sectors_).subspan(std::size_t{index} * header_.sector_size,
                                           header_.sector_size);
    }
    std::span<std::uint8_t> slots() noexcept {
        return std::span(sectors_).subspan(header_.sector_size);
    }

private:
    diskhb::Header header_;
    std::vector<std::uint8_t> sectors_;
};

class FakeDiskIo final : public diskhb::DiskIo {
public:
    FakeDiskIo(FakeDisk& disk, NodeId own, const Nanos* clock, Nanos latency_ns,
               const bool* failing)
        : disk_(disk),
          own_(own),
          clock_(clock),
          latency_ns_(latency_ns),
          failing_(failing),
          own_sector_(disk.header().sector_size),
          slot_sectors_(disk.slots().size()),
          event_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~FakeDiskIo() override {
        if (event_fd_ >= 0) {
            ::close(event_fd_);
        }
    }
    FakeDiskIo(const FakeDiskIo&) = delete;
    FakeDiskIo& operator=(const FakeDiskIo&) = delete;

    std::uint32_t sector_size() const noexcept override { return disk_.header().sector_size; }
    std::uint32_t slot_count() const noexcept override { return disk_.header().slot_count; }
    std::span<std::uint8_t> own_sector() noexcept override { return own_sector_; }
    std::span<std::uint8_t> slot_sectors() noexcept override { return slot_sectors_; }
    int submit_cycle() noexcept override {
        submitted_ns_ = *clock_;
        pending_ = true;
        return 0;
    }
    // The write lands and the read happens when the cycle completes, as one.
    bool reap(diskhb::CycleResult& result) noexcept override {
        if (!pending_ || *clock_ < submitted_ns_ + latency_ns_) {
            return false;
        }
        pending_ = false;
        if (*failing_) {
            result = {.write = -EIO, .read = -ECANCELED};
            return true;
        }
        std::copy(own_sector_.begin(), own_sector_.end(), disk_.sector(own_).begin());
        std::copy(disk_.slots().begin(), disk_.slots().end(), slot_sectors_.begin());
        result = {.write = static_cast<int>(own_sector_.size()),
                  .read = static_cast<int>(slot_sectors_.size())};
        return true;
    }
    // Completions are found by polling at every simulation step; the descriptor (never
    // signalled) only tells the heartbeat it need not schedule polls of its own.
    int wait_fd() const noexcept override { return event_fd_; }
    std::string_view mode() const noexcept override { return "simulated"; }

private:
    FakeDisk& disk_;
    NodeId own_;
    const Nanos* clock_;
    Nanos latency_ns_;
    const bool* failing_;
    std::vector<std::uint8_t> own_sector_;
    std::vector<std::uint8_t> slot_sectors_;
    int event_fd_;
    Nanos submitted_ns_ = 0;
    bool pending_ = false;
};

// Gives every node of `cluster` (and every node it restarts later) a disk heartbeat on `disk`.
// `failing[id]` set: node id's path to the disk fails from then on.
class SharedDisk {
public:
    SharedDisk(TestCluster& cluster, std::uint32_t nodes, Nanos interval_ns,
               std::uint32_t multiplier, Nanos latency_ns)
        : disk_(diskhb::Header{.cluster_id = 7,
                               .slot_count = nodes,
                               .sector_size = 512,
                               .interval_ns = interval_ns,
                               .multiplier = multiplier}),
          failing_(std::make_unique<bool[]>(nodes + 1)) {
        cluster.set_node_setup([this, &cluster, latency_ns](NodeId id,
                                                            TestCluster::Member& member) {
            auto io =
                std::make_unique<FakeDiskIo>(disk_, id, cluster.clock(), latency_ns, &failing_[id]);
            auto started = diskhb::DiskHeartbeat::start(std::move(io), disk_.header(),
                                                        member.engine->topology(), member.detector,
                                                        diskhb::DiskOptions{}, cluster.now());
            HB_ASSERT(std::holds_alternative<std::unique_ptr<diskhb::DiskHeartbeat>>(started));
            member.pollers.push_back(
                std::move(std::get<std::unique_ptr<diskhb::DiskHeartbeat>>(started)));
        });
    }
    void set_failing(NodeId id, bool failing) { failing_[id] = failing; }

private:
    FakeDisk disk_;
    std::unique_ptr<bool[]> failing_;
};

}  // namespace hb::test
