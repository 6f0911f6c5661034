// Micro-benchmarks of the disk heartbeat: a slot's encode (with its CRC32C) and decode at both
// sector sizes, and one disk cycle (write the own slot, read N slots) through io_uring against
// plain pwrite + pread, on a loop device over a file in a temporary directory.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "diskhb/disk_io.hh"
#include "diskhb/format.hh"
#include "hb/assert.hh"
#include "hb/clock.hh"

namespace {

namespace disk = hb::diskhb;

constexpr std::uint64_t seed = 0x6862'6469'736b'0001;
constexpr std::uint64_t cluster = 7;
constexpr std::size_t slot_variants = 64;

disk::Slot random_slot(std::mt19937_64& rng, hb::NodeId node) {
    return disk::Slot{.cluster_id = cluster,
                      .node = node,
                      .incarnation = rng(),
                      .seq = 1 + rng() % (1ULL << 40),
                      .state = rng() % 2 == 0 ? disk::SlotState::alive : disk::SlotState::leaving,
                      .writer_nonce = rng(),
                      .adapter_states = static_cast<std::uint32_t>(rng()),
                      .message = {}};
}

void BM_SlotEncode(benchmark::State& state) {
    const auto sector_size = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(seed);
    std::vector<disk::Slot> slots;
    for (std::size_t i = 0; i < slot_variants; ++i) {
        slots.push_back(random_slot(rng, 2));
    }
    std::vector<std::uint8_t> sector(sector_size);
    std::size_t i = 0;
    for (auto _ : state) {
        disk::encode_slot(slots[i++ % slot_variants], sector);
        benchmark::DoNotOptimize(sector.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sector_size));
}
BENCHMARK(BM_SlotEncode)->Arg(512)->Arg(4096);

void BM_SlotDecode(benchmark::State& state) {
    const auto sector_size = static_cast<std::size_t>(state.range(0));
    std::mt19937_64 rng(seed);
    std::vector<std::vector<std::uint8_t>> sectors;
    for (std::size_t i = 0; i < slot_variants; ++i) {
        sectors.emplace_back(sector_size);
        disk::encode_slot(random_slot(rng, 2), sectors.back());
    }
    std::size_t i = 0;
    disk::Slot slot;
    for (auto _ : state) {
        const disk::DecodeResult result =
            disk::decode_slot(sectors[i++ % slot_variants], cluster, 2, slot);
        benchmark::DoNotOptimize(result);
        HB_ASSERT(result == disk::DecodeResult::ok);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sector_size));
}
BENCHMARK(BM_SlotDecode)->Arg(512)->Arg(4096);

// ---- Disk cycles on a loop device ------------------------------------------------------------

// A loop device over a 2 MiB file in a temporary directory for the whole run, detached at exit.
class BenchDisk {
public:
    BenchDisk() {
        std::string pattern = (std::filesystem::temp_directory_path() / "hb-bench-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            why_ = "mkdtemp failed";
            return;
        }
        dir_ = pattern;
        const std::string file = dir_ + "/disk";
        std::error_code error;
        {
            std::FILE* f = std::fopen(file.c_str(), "w");
            if (f != nullptr) {
                std::fclose(f);
            }
        }
        std::filesystem::resize_file(file, 2 << 20, error);
        if (error || geteuid() != 0) {
            why_ = error ? "cannot create " + file : "loop devices need root";
            return;
        }
        std::FILE* pipe = popen(("losetup -f --show " + file + " 2>/dev/null").c_str(), "r");
        char line[128] = {};
        if (pipe != nullptr && std::fgets(line, sizeof(line), pipe) != nullptr) {
            device_ = line;
            device_.erase(device_.find_last_not_of("\r\n") + 1);
        }
        if (pipe != nullptr) {
            (void)pclose(pipe);
        }
        if (device_.empty()) {
            why_ = "losetup failed (no loop driver or no free device)";
        }
    }
    ~BenchDisk() {
        if (!device_.empty()) {
            (void)std::system(("losetup -d " + device_).c_str());
        }
        if (!dir_.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(dir_, ignored);
        }
    }
    const std::string& device() const { return device_; }
    const std::string& why() const { return why_; }

private:
    std::string dir_;
    std::string device_;
    std::string why_;
};

BenchDisk& bench_disk() {
    static BenchDisk instance;
    return instance;
}

// Opens the loop device initialised with `slots` slots; empty variant side on failure.
std::variant<disk::DiskFile, std::string> open_disk(std::uint32_t slots, disk::Header& header) {
    if (bench_disk().device().empty()) {
        return "no loop device: " + bench_disk().why();
    }
    auto opened = disk::DiskFile::open(bench_disk().device());
    if (auto* error = std::get_if<std::string>(&opened)) {
        return *error;
    }
    auto& file = std::get<disk::DiskFile>(opened);
    header = disk::Header{.cluster_id = cluster,
                          .slot_count = slots,
                          .sector_size = file.sector_size(),
                          .interval_ns = 100 * hb::nanos_per_ms,
                          .multiplier = 5};
    if (std::string error = disk::initialise_disk(file, header); !error.empty()) {
        return error;
    }
    return opened;
}

// The opened disk, or nullptr after marking the benchmark skipped with the reason.
// The disk for a cycle benchmark of state.range(0) slots, initialised; or the benchmark is
// skipped with the reason and this is empty.
struct CycleDisk {
    disk::DiskFile file;
    disk::Header header;
    std::uint32_t slots = 0;
};
std::optional<CycleDisk> open_or_skip(benchmark::State& state) {
    const auto slots = static_cast<std::uint32_t>(state.range(0));
    disk::Header header;
    auto opened = open_disk(slots, header);
    if (const auto* error = std::get_if<std::string>(&opened)) {
        state.SkipWithError(error->c_str());
        return std::nullopt;
    }
    return CycleDisk{
        .file = std::move(std::get<disk::DiskFile>(opened)), .header = header, .slots = slots};
}

// Publishes p50/p99 of the cycle latencies (µs) and feeds the manual time.
void report(benchmark::State& state, std::vector<double>& samples_us) {
    if (samples_us.empty()) {
        return;
    }
    std::sort(samples_us.begin(), samples_us.end());
    const auto at = [&](double q) {
        return samples_us[std::min(
            samples_us.size() - 1,
            static_cast<std::size_t>(q * static_cast<double>(samples_us.size())))];
    };
    state.counters["p50_us"] = at(0.50);
    state.counters["p99_us"] = at(0.99);
    state.counters["max_us"] = samples_us.back();
    state.SetItemsProcessed(state.iterations());
}

// The timed loop of both cycle benchmarks: a fresh own slot encoded into `own` (untimed), then
// `cycle()` timed; p50/p99 published at the end.
template <typename Cycle>
void time_cycles(benchmark::State& state, std::span<std::uint8_t> own, const Cycle& cycle) {
    std::mt19937_64 rng(seed);
    std::vector<double> samples_us;
    samples_us.reserve(1 << 20);
    std::uint64_t seq = 0;
    for (auto _ : state) {
        disk::Slot slot = random_slot(rng, 1);
        slot.seq = ++seq;
        disk::encode_slot(slot, own);
        const hb::Nanos start = hb::monotonic_now();
        cycle();
        const hb::Nanos elapsed = hb::monotonic_now() - start;
        state.SetIterationTime(static_cast<double>(elapsed) / 1e9);
        if (samples_us.size() < samples_us.capacity()) {
            samples_us.push_back(static_cast<double>(elapsed) / 1e3);
        }
    }
    report(state, samples_us);
}

void BM_CycleUring(benchmark::State& state) {
    std::optional<CycleDisk> opened = open_or_skip(state);
    if (!opened) {
        return;
    }
    const disk::DiskFile* file = &opened->file;
    const disk::Header& header = opened->header;
    const std::uint32_t slots = opened->slots;
    auto io = disk::UringDiskIo::open(*file, header, 1, disk::IoMode::automatic);
    if (auto* error = std::get_if<std::string>(&io)) {
        state.SkipWithError(error->c_str());
        return;
    }
    disk::UringDiskIo& ring = *std::get<std::unique_ptr<disk::UringDiskIo>>(io);
    time_cycles(state, ring.own_sector(), [&] {
        HB_ASSERT(ring.submit_cycle() == 0);
        disk::CycleResult result;
        while (!ring.reap(result)) {
            if (ring.wait_fd() >= 0) {
                pollfd pfd{.fd = ring.wait_fd(), .events = POLLIN, .revents = 0};
                (void)::poll(&pfd, 1, 1000);
            }
        }
        HB_ASSERT(result.write == static_cast<int>(header.sector_size));
        HB_ASSERT(result.read == static_cast<int>(slots * header.sector_size));
    });
    state.SetLabel(std::string(ring.mode()));
}
BENCHMARK(BM_CycleUring)->Arg(2)->Arg(32)->Arg(255)->UseManualTime();

void BM_CyclePwritePread(benchmark::State& state) {
    std::optional<CycleDisk> opened = open_or_skip(state);
    if (!opened) {
        return;
    }
    const disk::DiskFile* file = &opened->file;
    const disk::Header& header = opened->header;
    const std::uint32_t slots = opened->slots;
    const std::size_t sector = header.sector_size;
    const std::size_t bytes = (std::size_t{slots} + 1) * sector;
    auto* buffer =
        static_cast<std::uint8_t*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
    HB_ASSERT(buffer != nullptr);
    time_cycles(state, {buffer, sector}, [&] {
        HB_ASSERT(pwrite(file->fd(), buffer, sector, static_cast<off_t>(sector)) ==
                  static_cast<ssize_t>(sector));
        HB_ASSERT(pread(file->fd(), buffer + sector, bytes - sector, static_cast<off_t>(sector)) ==
                  static_cast<ssize_t>(bytes - sector));
    });
    std::free(buffer);
}
BENCHMARK(BM_CyclePwritePread)->Arg(2)->Arg(32)->Arg(255)->UseManualTime();

// What reading every slot costs in CRC work: decode of N 512-byte slots.
void BM_DecodeAllSlots(benchmark::State& state) {
    const auto slots = static_cast<std::size_t>(state.range(0));
    const auto sector_size = static_cast<std::size_t>(state.range(1));
    std::mt19937_64 rng(seed);
    std::vector<std::uint8_t> sectors(slots * sector_size);
    for (std::size_t i = 0; i < slots; ++i) {
        disk::encode_slot(random_slot(rng, static_cast<hb::NodeId>(i + 1)),
                          {sectors.data() + i * sector_size, sector_size});
    }
    disk::Slot slot;
    for (auto _ : state) {
        for (std::size_t i = 0; i < slots; ++i) {
            const auto result = disk::decode_slot({sectors.data() + i * sector_size, sector_size},
                                                  cluster, static_cast<hb::NodeId>(i + 1), slot);
            benchmark::DoNotOptimize(result);
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(slots));
}
BENCHMARK(BM_DecodeAllSlots)->Args({255, 512})->Args({255, 4096});

}  // namespace
