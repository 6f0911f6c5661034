// Opening and checking a heartbeat disk, and the io_uring cycle: WRITE_FIXED of the own slot linked
// to one READ_FIXED of every slot, in one registered buffer on a registered file.
#include "diskhb/disk_io.hh"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "hb/assert.hh"

namespace hb::diskhb {

namespace {

constexpr std::size_t page_size = 4096;
constexpr unsigned ring_entries = 4;  // a cycle is two ops; one cycle in flight at a time
constexpr std::uint64_t write_tag = 1;
constexpr std::uint64_t read_tag = 2;
constexpr Nanos probe_timeout_ns = 5 * nanos_per_s;

std::string errno_text(int error) {
    return std::strerror(error);
}

std::string disk_says(const std::string& path, const std::string& what) {
    return "disk " + path + " " + what;
}

// Sector-aligned memory for O_DIRECT, released with std::free.
struct FreeDeleter {
    void operator()(std::uint8_t* memory) const noexcept { std::free(memory); }
};
using AlignedBytes = std::unique_ptr<std::uint8_t, FreeDeleter>;

AlignedBytes aligned_bytes(std::size_t size) {
    const std::size_t rounded = (size + page_size - 1) / page_size * page_size;
    auto* memory = static_cast<std::uint8_t*>(std::aligned_alloc(page_size, rounded));
    HB_ASSERT(memory != nullptr);
    std::memset(memory, 0, rounded);
    return AlignedBytes(memory);
}

Nanos now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * nanos_per_s + ts.tv_nsec;
}

}  // namespace

// ---- DiskFile --------------------------------------------------------------------------------

DiskFile::~DiskFile() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

DiskFile::DiskFile(DiskFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      block_device_(other.block_device_),
      sector_size_(other.sector_size_),
      size_bytes_(other.size_bytes_) {}

DiskFile& DiskFile::operator=(DiskFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        block_device_ = other.block_device_;
        sector_size_ = other.sector_size_;
        size_bytes_ = other.size_bytes_;
    }
    return *this;
}

std::variant<DiskFile, std::string> DiskFile::open(const std::string& path,
                                                   std::uint32_t sector_size) {
    DiskFile disk;
    disk.path_ = path;
    disk.fd_ = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (disk.fd_ < 0) {
        return disk_says(path, "cannot be opened read-write with O_DIRECT: " + errno_text(errno));
    }
    struct stat status {};
    if (fstat(disk.fd_, &status) != 0) {
        return disk_says(path, "cannot be examined: " + errno_text(errno));
    }
    if (S_ISBLK(status.st_mode)) {
        disk.block_device_ = true;
        int device_sector = 0;
        std::uint64_t size = 0;
        if (ioctl(disk.fd_, BLKSSZGET, &device_sector) != 0 ||
            ioctl(disk.fd_, BLKGETSIZE64, &size) != 0) {
            return disk_says(path, "does not report its geometry: " + errno_text(errno));
        }
        // Some kernels open a read-only device for writing and fail each write later: say so now.
        int read_only = 0;
        if (ioctl(disk.fd_, BLKROGET, &read_only) == 0 && read_only != 0) {
            return disk_says(path, "cannot be opened read-write: the device is read-only");
        }
        disk.sector_size_ = static_cast<std::uint32_t>(device_sector);
        disk.size_bytes_ = size;
        if (sector_size != 0 && sector_size != disk.sector_size_) {
            return disk_says(path, "has " + std::to_string(disk.sector_size_) +
                                       "-byte sectors, not the " + std::to_string(sector_size) +
                                       " configured");
        }
    } else if (S_ISREG(status.st_mode)) {
        disk.sector_size_ = sector_size != 0 ? sector_size : min_sector_size;
        disk.size_bytes_ = static_cast<std::uint64_t>(status.st_size);
    } else {
        return disk_says(path, "is neither a block device nor a regular file");
    }
    if (!valid_sector_size(disk.sector_size_)) {
        return disk_says(path, "has a sector size of " + std::to_string(disk.sector_size_) +
                                   " bytes: hb supports 512 to 4096, a power of two");
    }
    return disk;
}

// ---- Header ----------------------------------------------------------------------------------

std::variant<Header, std::string> read_header(const DiskFile& disk) {
    // A header written for larger sectors than the disk's is still read whole, so that the
    // mismatch is reported as such rather than as a bad CRC.
    std::size_t length = max_sector_size;
    if (disk.size_bytes() < length) {
        length = disk.sector_size();
    }
    AlignedBytes buffer = aligned_bytes(length);
    const ssize_t got = pread(disk.fd(), buffer.get(), length, 0);
    if (got < 0) {
        return disk_says(disk.path(), "cannot be read: " + errno_text(errno));
    }
    if (static_cast<std::size_t>(got) < disk.sector_size()) {
        return disk_says(disk.path(), "is too small to hold a heartbeat header (" +
                                          std::to_string(disk.size_bytes()) + " bytes)");
    }
    Header header;
    const DecodeResult result =
        decode_header({buffer.get(), static_cast<std::size_t>(got)}, header);
    switch (result) {
        case DecodeResult::ok:
            return header;
        case DecodeResult::empty:
            return disk_says(disk.path(), "is not initialised: run hbdisk init");
        case DecodeResult::bad_magic:
            return disk_says(disk.path(),
                             "is not an hb heartbeat disk (sector 0 has no header magic)");
        case DecodeResult::bad_version:
            return disk_says(disk.path(),
                             "has another heartbeat format version; this hb reads version 1");
        case DecodeResult::bad_crc:
            return disk_says(disk.path(),
                             "has a corrupt header (CRC mismatch): re-initialise it with hbdisk "
                             "init");
        default:
            return disk_says(disk.path(), "has a header with values version 1 does not allow (" +
                                              std::string(to_string(result)) + ")");
    }
}

std::string check_header(const DiskFile& disk, const Header& header, std::uint64_t cluster_id,
                         std::span<const NodeId> nodes) {
    if (header.cluster_id != cluster_id) {
        return disk_says(disk.path(), "belongs to cluster " + std::to_string(header.cluster_id) +
                                          ", not " + std::to_string(cluster_id));
    }
    if (header.sector_size != disk.sector_size()) {
        return disk_says(disk.path(), "was initialised for " + std::to_string(header.sector_size) +
                                          "-byte sectors, but its sectors are " +
                                          std::to_string(disk.sector_size()) + " bytes");
    }
    for (const NodeId node : nodes) {
        if (node == 0 || node > header.slot_count) {
            return disk_says(disk.path(), "has " + std::to_string(header.slot_count) +
                                              " slots: node " + std::to_string(node) +
                                              " has none (re-initialise it with at least " +
                                              std::to_string(node) + ")");
        }
    }
    if (disk.size_bytes() < disk_bytes(header)) {
        return disk_says(disk.path(), "is " + std::to_string(disk.size_bytes()) +
                                          " bytes, but its " + std::to_string(header.slot_count) +
                                          " slots need " + std::to_string(disk_bytes(header)));
    }
    return {};
}

std::string check_authentication(const std::string& path, const Header& header, bool have_key) {
    if (header.authenticated && !have_key) {
        return disk_says(path,
                         "is authenticated (initialised with a key file): its slots can only be "
                         "checked with the cluster key");
    }
    if (!header.authenticated && have_key) {
        return disk_says(
            path,
            "was initialised without a key, so anyone who can write it could forge "
            "slots: re-initialise it with hbdisk init --key-file (every node stopped)");
    }
    return {};
}

std::string initialise_disk(const DiskFile& disk, const Header& header) {
    if (header.sector_size != disk.sector_size()) {
        return disk_says(disk.path(), "has " + std::to_string(disk.sector_size()) +
                                          "-byte sectors, not " +
                                          std::to_string(header.sector_size));
    }
    const std::uint64_t needed = disk_bytes(header);
    if (disk.size_bytes() < needed) {
        if (disk.block_device()) {
            return disk_says(disk.path(), "is " + std::to_string(disk.size_bytes()) + " bytes; " +
                                              std::to_string(header.slot_count) + " slots need " +
                                              std::to_string(needed));
        }
        if (ftruncate(disk.fd(), static_cast<off_t>(needed)) != 0) {
            return disk_says(disk.path(), "cannot be extended: " + errno_text(errno));
        }
    }
    AlignedBytes buffer = aligned_bytes(needed);
    encode_header(header, {buffer.get(), header.sector_size});
    const ssize_t written = pwrite(disk.fd(), buffer.get(), needed, 0);
    if (written != static_cast<ssize_t>(needed)) {
        return disk_says(disk.path(),
                         "cannot be written: " + (written < 0 ? errno_text(errno) : "short write"));
    }
    if (fdatasync(disk.fd()) != 0) {
        return disk_says(disk.path(), "cannot be synced: " + errno_text(errno));
    }
    return {};
}

// ---- UringDiskIo -----------------------------------------------------------------------------

std::string_view to_string(IoMode mode) noexcept {
    switch (mode) {
        case IoMode::automatic:
            return "automatic";
        case IoMode::interrupt:
            return "interrupt";
        case IoMode::iopoll:
            return "iopoll";
        case IoMode::sqpoll:
            return "sqpoll";
    }
    return "unknown";
}

struct UringDiskIo::Ring {
    io_uring ring{};
    bool initialised = false;
};

UringDiskIo::UringDiskIo(const Header& header, NodeId own_node)
    : header_(header), own_node_(own_node), ring_(std::make_unique<Ring>()) {}

UringDiskIo::~UringDiskIo() {
    tear_down();
    if (event_fd_ >= 0) {
        ::close(event_fd_);
    }
    // Registered pages stay pinned until the ring is gone; after io_uring_queue_exit the kernel
    // no longer writes into them.
    std::free(buffer_);
}

std::span<std::uint8_t> UringDiskIo::own_sector() noexcept {
    return {buffer_, header_.sector_size};
}

std::span<std::uint8_t> UringDiskIo::slot_sectors() noexcept {
    return {buffer_ + header_.sector_size, std::size_t{header_.slot_count} * header_.sector_size};
}

void UringDiskIo::tear_down() noexcept {
    if (ring_->initialised) {
        io_uring_queue_exit(&ring_->ring);
        ring_->initialised = false;
    }
    pending_ = 0;
    result_ = {};
}

std::string UringDiskIo::set_up(int fd, unsigned flags) {
    io_uring_params params{};
    params.flags = flags;
    if ((flags & IORING_SETUP_SQPOLL) != 0) {
        params.sq_thread_idle = 1000;  // ms before the kernel thread sleeps
    }
    int error = io_uring_queue_init_params(ring_entries, &ring_->ring, &params);
    if (error < 0) {
        return "io_uring_queue_init: " + errno_text(-error);
    }
    ring_->initialised = true;
    if ((error = io_uring_register_files(&ring_->ring, &fd, 1)) < 0) {
        return "io_uring_register_files: " + errno_text(-error);
    }
    const iovec buffer{.iov_base = buffer_, .iov_len = buffer_size_};
    if ((error = io_uring_register_buffers(&ring_->ring, &buffer, 1)) < 0) {
        return "io_uring_register_buffers: " + errno_text(-error);
    }
    polled_ = (flags & IORING_SETUP_IOPOLL) != 0;
    if (!polled_ && (error = io_uring_register_eventfd(&ring_->ring, event_fd_)) < 0) {
        return "io_uring_register_eventfd: " + errno_text(-error);
    }
    // One read of sector 0: a polled ring learns here whether the device completes polled I/O.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
    HB_ASSERT(sqe != nullptr);
    io_uring_prep_read_fixed(sqe, 0, buffer_, header_.sector_size, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    if ((error = io_uring_submit(&ring_->ring)) < 0) {
        return "io_uring_submit: " + errno_text(-error);
    }
    const Nanos until = now_ns() + probe_timeout_ns;
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_->ring, &cqe) != 0) {
        if (now_ns() > until) {
            return "a test read of sector 0 did not complete within 5 s";
        }
        const timespec pause{.tv_sec = 0, .tv_nsec = 50 * nanos_per_us};
        nanosleep(&pause, nullptr);
    }
    const int result = cqe->res;
    io_uring_cqe_seen(&ring_->ring, cqe);
    std::uint64_t events = 0;
    (void)::read(event_fd_, &events, sizeof(events));
    if (result < 0) {
        return "a test read of sector 0 failed: " + errno_text(-result);
    }
    if (static_cast<std::uint32_t>(result) != header_.sector_size) {
        return "a test read of sector 0 was short";
    }
    return {};
}

std::variant<std::unique_ptr<UringDiskIo>, std::string> UringDiskIo::open(const DiskFile& disk,
                                                                          const Header& header,
                                                                          NodeId own_node,
                                                                          IoMode mode) {
    HB_ASSERT(header.sector_size == disk.sector_size());
    HB_ASSERT(own_node >= 1 && own_node <= header.slot_count);
    std::unique_ptr<UringDiskIo> io{new UringDiskIo(header, own_node)};
    io->buffer_size_ = (std::size_t{header.slot_count} + 1) * header.sector_size;
    io->buffer_ = aligned_bytes(io->buffer_size_).release();
    io->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (io->event_fd_ < 0) {
        return disk_says(disk.path(), "io_uring: eventfd: " + errno_text(errno));
    }
    const auto fail = [&](const std::string& problem) {
        return disk_says(disk.path(),
                         "io_uring (" + std::string(to_string(mode)) + "): " + problem);
    };
    switch (mode) {
        case IoMode::interrupt:
            if (std::string problem = io->set_up(disk.fd(), 0); !problem.empty()) {
                return fail(problem);
            }
            io->mode_ = "interrupt";
            break;
        case IoMode::iopoll:
            if (std::string problem = io->set_up(disk.fd(), IORING_SETUP_IOPOLL);
                !problem.empty()) {
                return fail(problem);
            }
            io->mode_ = "iopoll";
            break;
        case IoMode::automatic:
        case IoMode::sqpoll: {
            const bool sqpoll = mode == IoMode::sqpoll;
            std::string refused =
                io->set_up(disk.fd(), sqpoll ? IORING_SETUP_SQPOLL : IORING_SETUP_IOPOLL);
            if (refused.empty()) {
                io->mode_ = sqpoll ? "sqpoll" : "iopoll";
                break;
            }
            io->tear_down();
            if (std::string problem = io->set_up(disk.fd(), 0); !problem.empty()) {
                return fail(problem);
            }
            io->mode_ = std::string("interrupt (") + (sqpoll ? "SQPOLL" : "IOPOLL") +
                        " refused: " + refused + ")";
            break;
        }
    }
    return io;
}

int UringDiskIo::submit_cycle() noexcept {
    HB_ASSERT(pending_ == 0);
    io_uring* ring = &ring_->ring;
    // Sectors that a failed submit left queued go with the next one: they point into the same
    // buffer, so they carry whatever the caller encoded since.
    if (io_uring_sq_ready(ring) == 0) {
        io_uring_sqe* write = io_uring_get_sqe(ring);
        io_uring_sqe* read = io_uring_get_sqe(ring);
        HB_ASSERT(write != nullptr && read != nullptr);
        const std::uint32_t sector = header_.sector_size;
        io_uring_prep_write_fixed(write, 0, buffer_, sector, std::uint64_t{own_node_} * sector, 0);
        write->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
        io_uring_sqe_set_data64(write, write_tag);
        io_uring_prep_read_fixed(read, 0, buffer_ + sector, header_.slot_count * sector, sector, 0);
        read->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(read, read_tag);
    }
    // The kernel takes a linked pair whole or, failing to enter, neither (-EAGAIN, -EBUSY, ...).
    const int submitted = io_uring_submit(ring);
    if (submitted < 0) {
        return submitted;
    }
    pending_ = 2;
    result_ = {};
    return 0;
}

bool UringDiskIo::reap(CycleResult& result) noexcept {
    if (pending_ == 0) {
        return false;
    }
    if (!polled_) {
        std::uint64_t events = 0;
        (void)::read(event_fd_, &events, sizeof(events));
    }
    io_uring_cqe* cqe = nullptr;
    while (pending_ > 0 && io_uring_peek_cqe(&ring_->ring, &cqe) == 0) {
        if (io_uring_cqe_get_data64(cqe) == write_tag) {
            result_.write = cqe->res;
        } else {
            HB_ASSERT(io_uring_cqe_get_data64(cqe) == read_tag);
            result_.read = cqe->res;
        }
        io_uring_cqe_seen(&ring_->ring, cqe);
        --pending_;
    }
    if (pending_ > 0) {
        return false;
    }
    result = result_;
    return true;
}

}  // namespace hb::diskhb
