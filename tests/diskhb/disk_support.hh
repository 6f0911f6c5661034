// What the disk heartbeat tests share: heartbeat disks in temporary directories (a file, or a loop
// device over one, always detached), small clusters without networks, a fault layer between the
// heartbeat and io_uring, and a helper that runs one cycle on a manual clock.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "diskhb/disk_heartbeat.hh"
#include "diskhb/disk_io.hh"
#include "hb/clock.hh"
#include "hb/model.hh"
#include "hb/topology.hh"

namespace hb::diskhb::test {

inline constexpr std::uint64_t test_cluster = 7;
inline constexpr Nanos test_interval_ns = 100 * nanos_per_ms;
inline constexpr std::uint32_t test_multiplier = 3;
inline constexpr Nanos test_timeout_ns = test_interval_ns * test_multiplier;
// Real time allowed for one cycle's I/O to complete: far beyond any pause of a loaded VM.
inline constexpr Nanos io_wait_ns = 10 * nanos_per_s;

inline Header test_header(std::uint32_t sector_size, std::uint32_t slots = 4,
                          std::uint64_t cluster = test_cluster) {
    return Header{.cluster_id = cluster,
                  .slot_count = slots,
                  .sector_size = sector_size,
                  .interval_ns = test_interval_ns,
                  .multiplier = test_multiplier};
}

// Nodes 1..node_count, no networks: the disk is all these tests need of a cluster.
inline ClusterConfig cluster_config(NodeId local, NodeId node_count,
                                    std::uint64_t cluster = test_cluster) {
    ClusterConfig config;
    config.cluster_id = cluster;
    config.local_node = local;
    for (NodeId id = 1; id <= node_count; ++id) {
        config.nodes.push_back(NodeConfig{.id = id, .name = "node" + std::to_string(id)});
    }
    return config;
}

// A directory under the system's temporary directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "hb-disk-XXXXXX").string();
        if (mkdtemp(pattern.data()) != nullptr) {
            path_ = pattern;
        }
    }
    ~TempDir() {
        if (!path_.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(path_, ignored);
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

[[nodiscard]] inline bool make_file(const std::string& path, std::uint64_t size) {
    std::error_code error;
    {
        std::FILE* file = std::fopen(path.c_str(), "w");
        if (file == nullptr) {
            return false;
        }
        std::fclose(file);
    }
    std::filesystem::resize_file(path, size, error);
    return !error;
}

// Runs a command and returns its first line of output, or nullopt if it failed.
inline std::optional<std::string> run_command(const std::string& command) {
    std::FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
    if (pipe == nullptr) {
        return std::nullopt;
    }
    char line[256] = {};
    const bool got = std::fgets(line, sizeof(line), pipe) != nullptr;
    const int status = pclose(pipe);
    if (status != 0) {
        return std::nullopt;
    }
    std::string text = got ? line : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    return text;
}

// A loop device over a file in a temporary directory, detached in the destructor. `device()` is
// empty when none could be made; `why()` then says why (for GTEST_SKIP).
class LoopDevice {
public:
    LoopDevice(const std::string& file, std::uint32_t sector_size, bool read_only = false) {
        if (geteuid() != 0) {
            why_ = "loop devices need root";
            return;
        }
        const std::string command = std::string("losetup -f --show ") + (read_only ? "-r " : "") +
                                    "-b " + std::to_string(sector_size) + " " + file;
        if (auto device = run_command(command); device && !device->empty()) {
            device_ = *device;
            // The read-only flag of a loop device (blockdev --setro) outlives its attachment.
            if (!read_only && std::system(("blockdev --setrw " + device_).c_str()) != 0) {
                why_ = "blockdev --setrw " + device_ + " failed";
            }
        } else {
            why_ = "'" + command + "' failed (no loop driver, or no free loop device)";
        }
    }
    // The kernel lets go of a device a ring used only when the ring's teardown work has run,
    // after the ring's descriptor is closed: `losetup -d` then detaches it once that is done
    // (autoclear), and the destructor waits for it.
    ~LoopDevice() {
        if (device_.empty()) {
            return;
        }
        (void)std::system(("blockdev --setrw " + device_ + "; losetup -d " + device_).c_str());
        const std::string backing =
            "/sys/block/" + std::filesystem::path(device_).filename().string() + "/loop";
        for (int i = 0; i < 1000 && std::filesystem::exists(backing); ++i) {
            usleep(10000);
        }
    }
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;
    const std::string& device() const noexcept { return device_; }
    const std::string& why() const noexcept { return why_; }

private:
    std::string device_;
    std::string why_;
};

// Faults between the heartbeat and the real I/O. The inner layer still does the I/O; the faults
// change what the heartbeat is told and what it finds in the buffer.
class FaultyDiskIo final : public DiskIo {
public:
    explicit FaultyDiskIo(std::unique_ptr<DiskIo> inner) : inner_(std::move(inner)) {}

    int submit_error = 0;      // < 0: submit_cycle fails with it
    int write_error = 0;       // < 0: the write fails with it (and the linked read is cancelled)
    bool short_read = false;   // the read moves one sector less
    bool short_write = false;  // the write moves half a sector
    bool stall = false;        // completions are held back while set
    NodeId tear_slot = 0;      // after each read: this slot's tail copy of seq is the old one
    NodeId flip_slot = 0;      // after each read: one byte of this slot's message is changed
    // After each read: this slot shows `foreign` (another writer's write landing between ours
    // and the read).
    NodeId foreign_slot = 0;
    Slot foreign;

    std::uint32_t sector_size() const noexcept override { return inner_->sector_size(); }
    std::uint32_t slot_count() const noexcept override { return inner_->slot_count(); }
    std::span<std::uint8_t> own_sector() noexcept override { return inner_->own_sector(); }
    std::span<std::uint8_t> slot_sectors() noexcept override { return inner_->slot_sectors(); }
    int submit_cycle() noexcept override {
        return submit_error < 0 ? submit_error : inner_->submit_cycle();
    }
    bool reap(CycleResult& result) noexcept override {
        if (!held_ && inner_->reap(held_result_)) {
            held_ = true;
        }
        if (!held_ || stall) {
            return false;
        }
        held_ = false;
        result = held_result_;
        if (write_error < 0) {
            result = CycleResult{.write = write_error, .read = -ECANCELED};
        } else if (short_write) {
            result = CycleResult{.write = static_cast<int>(sector_size() / 2), .read = -ECANCELED};
        } else if (short_read) {
            result.read -= static_cast<int>(sector_size());
        }
        damage();
        return true;
    }
    int wait_fd() const noexcept override { return inner_->wait_fd(); }
    std::string_view mode() const noexcept override { return inner_->mode(); }

private:
    std::span<std::uint8_t> slot(NodeId node) noexcept {
        return slot_sectors().subspan((node - 1) * sector_size(), sector_size());
    }
    void damage() noexcept {
        if (tear_slot != 0) {
            const std::span<std::uint8_t> sector = slot(tear_slot);
            sector[sector.size() - 8] ^= 0x01;  // the tail's seq: a write that did not finish
        }
        if (flip_slot != 0) {
            slot(flip_slot)[slot_offset::message + 5] ^= 0x40;
        }
        if (foreign_slot != 0) {
            encode_slot(foreign, slot(foreign_slot));
        }
    }

    std::unique_ptr<DiskIo> inner_;
    bool held_ = false;
    CycleResult held_result_;
};

// Starts the cycle due at `now` (if any) and waits, in real time, until it is no longer in flight.
// The heartbeat sees only `now`, so nothing depends on how fast the machine is.
[[nodiscard]] inline bool run_cycle(DiskHeartbeat& heartbeat, Nanos now) {
    (void)heartbeat.poll(now);
    const Nanos until = monotonic_now() + io_wait_ns;
    while (heartbeat.in_flight()) {
        if (monotonic_now() > until) {
            return false;
        }
        pollfd pfd{.fd = heartbeat.wait_fd(), .events = POLLIN, .revents = 0};
        (void)::poll(&pfd, 1, 5);
        (void)heartbeat.poll(now);
    }
    return true;
}

template <typename T>
T* opened(std::variant<std::unique_ptr<T>, std::string>& result, std::string& error) {
    if (auto* message = std::get_if<std::string>(&result)) {
        error = *message;
        return nullptr;
    }
    return std::get<std::unique_ptr<T>>(result).get();
}

}  // namespace hb::diskhb::test
