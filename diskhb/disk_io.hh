// Opening a heartbeat disk (a block device or a file, O_DIRECT) and checking its header, and the
// I/O of one heartbeat cycle behind a small interface (DiskIo), so that tests can put faults
// between the heartbeat and the kernel. UringDiskIo is the real one: io_uring with one registered
// buffer and a registered file. Only diskhb/ includes liburing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "diskhb/format.hh"

namespace hb::diskhb {

// An open heartbeat disk. Owns the descriptor.
class DiskFile {
public:
    DiskFile() = default;
    ~DiskFile();
    DiskFile(DiskFile&& other) noexcept;
    DiskFile& operator=(DiskFile&& other) noexcept;
    DiskFile(const DiskFile&) = delete;
    DiskFile& operator=(const DiskFile&) = delete;

    // Opens `path` O_RDWR|O_DIRECT. The sector size is BLKSSZGET's for a block device (a non-zero
    // `sector_size` must then equal it), `sector_size` or 512 for a regular file.
    [[nodiscard]] static std::variant<DiskFile, std::string> open(const std::string& path,
                                                                  std::uint32_t sector_size = 0);

    int fd() const noexcept { return fd_; }
    const std::string& path() const noexcept { return path_; }
    bool block_device() const noexcept { return block_device_; }
    std::uint32_t sector_size() const noexcept { return sector_size_; }
    std::uint64_t size_bytes() const noexcept { return size_bytes_; }

private:
    int fd_ = -1;
    std::string path_;
    bool block_device_ = false;
    std::uint32_t sector_size_ = 0;
    std::uint64_t size_bytes_ = 0;
};

// Reads sector 0 and decodes it; the message names the disk and the problem ("not initialised:
// run hbdisk init", "bad header CRC", ...).
[[nodiscard]] std::variant<Header, std::string> read_header(const DiskFile& disk);

// Whether this node may use the disk: the cluster id, a slot for every node in `nodes` (the local
// node and its peers), the sector size and the disk's size. Empty when it may.
[[nodiscard]] std::string check_header(const DiskFile& disk, const Header& header,
                                       std::uint64_t cluster_id, std::span<const NodeId> nodes);
// Whether a node with (or without) a cluster key may use a disk with this header: an
// authenticated disk needs the key to check slots, and a node with a key refuses an
// unauthenticated disk, whose slots anyone able to write the disk could forge. "" when it may.
[[nodiscard]] std::string check_authentication(const std::string& path, const Header& header,
                                               bool have_key);

// Writes `header` to sector 0 and zeroes every slot sector (what `hbdisk init` does); a regular
// file that is too short is extended. The header's sector size must be the disk's.
[[nodiscard]] std::string initialise_disk(const DiskFile& disk, const Header& header);

// Bytes from sector 0 to the end of the last slot.
[[nodiscard]] constexpr std::uint64_t disk_bytes(const Header& header) noexcept {
    return (std::uint64_t{header.slot_count} + 1) * header.sector_size;
}

// How the ring waits for the device.
enum class IoMode : std::uint8_t {
    automatic,  // IOPOLL if the device completes polled I/O, else interrupt-driven
    interrupt,  // completions signalled by the kernel (an eventfd wakes the run loop)
    iopoll,     // busy-polled completions (IORING_SETUP_IOPOLL); open fails where refused
    sqpoll,     // a kernel thread submits (IORING_SETUP_SQPOLL); interrupt-driven if refused
};
std::string_view to_string(IoMode mode) noexcept;

// The outcome of one cycle: bytes transferred, or -errno. The read is linked to the write, so a
// failed or short write cancels it (-ECANCELED).
struct CycleResult {
    int write = 0;
    int read = 0;
};

// One heartbeat cycle at a time: the own slot's sector written, then every slot sector read.
class DiskIo {
public:
    virtual ~DiskIo() = default;

    virtual std::uint32_t sector_size() const noexcept = 0;
    virtual std::uint32_t slot_count() const noexcept = 0;
    // Where the own slot is encoded before submit_cycle(): one sector.
    virtual std::span<std::uint8_t> own_sector() noexcept = 0;
    // Every slot sector (slot i at i × sector size) as the last completed read left them.
    virtual std::span<std::uint8_t> slot_sectors() noexcept = 0;

    // Starts a cycle: 0, or -errno when it could not be submitted. Never called while one is in
    // flight; the buffers belong to the kernel until reap() says the cycle is complete.
    [[nodiscard]] virtual int submit_cycle() noexcept = 0;
    // Collects completions without blocking; true (and `result`) once both ops are complete.
    [[nodiscard]] virtual bool reap(CycleResult& result) noexcept = 0;
    // Readable when completions may have arrived; -1 when they must be polled for (IOPOLL).
    virtual int wait_fd() const noexcept = 0;
    // The mode in use and, after a fallback, why ("interrupt (IOPOLL refused: ...)").
    virtual std::string_view mode() const noexcept = 0;
};

class UringDiskIo final : public DiskIo {
public:
    // Sets up the ring for `own_node`'s slot on `disk` (whose header is `header`), registers the
    // buffer and the file, and for IOPOLL tries one polled read of sector 0, falling back as the
    // mode allows. The ring keeps its own reference to the file.
    [[nodiscard]] static std::variant<std::unique_ptr<UringDiskIo>, std::string> open(
        const DiskFile& disk, const Header& header, NodeId own_node, IoMode mode);
    ~UringDiskIo() override;
    UringDiskIo(const UringDiskIo&) = delete;
    UringDiskIo& operator=(const UringDiskIo&) = delete;

    std::uint32_t sector_size() const noexcept override { return header_.sector_size; }
    std::uint32_t slot_count() const noexcept override { return header_.slot_count; }
    std::span<std::uint8_t> own_sector() noexcept override;
    std::span<std::uint8_t> slot_sectors() noexcept override;
    [[nodiscard]] int submit_cycle() noexcept override;
    [[nodiscard]] bool reap(CycleResult& result) noexcept override;
    int wait_fd() const noexcept override { return polled_ ? -1 : event_fd_; }
    std::string_view mode() const noexcept override { return mode_; }

    struct Ring;  // liburing's state, kept out of this header

private:
    UringDiskIo(const Header& header, NodeId own_node);
    [[nodiscard]] std::string set_up(int fd, unsigned flags);
    void tear_down() noexcept;

    Header header_;
    NodeId own_node_;
    std::unique_ptr<Ring> ring_;
    std::uint8_t* buffer_ = nullptr;  // (1 + slot_count) sectors, sector-aligned
    std::size_t buffer_size_ = 0;
    int event_fd_ = -1;
    bool polled_ = false;
    unsigned pending_ = 0;  // ops of the cycle in flight not yet completed
    CycleResult result_;
    std::string mode_;
};

}  // namespace hb::diskhb
