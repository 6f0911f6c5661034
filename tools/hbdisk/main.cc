// hbdisk: prepares, inspects and tests a heartbeat disk (DESIGN §5 and §8, docs/hbdisk.md).
//
//   hbdisk init DEV --cluster-id ID --slots N [--interval-ms MS] [--multiplier K] [--force]
//               [--key-file FILE]
//   hbdisk dump DEV [--json] [--key-file FILE]
//   hbdisk watch DEV [--count N] [--every-ms MS] [--json] [--key-file FILE]
//   hbdisk -p DEV -t | -r [--nodes A,B] [-c COUNT] [-i MS] [-w SECONDS] [--json] [--key-file FILE]
//
// With --key-file (the cluster key, as hbd's [cluster] key_file) init marks the disk
// authenticated, and every other command signs what it writes and checks what it reads.
//
// The last is RSCT's dhb_read pair test: `-r` on one node, then `-t` on another; the transmitter
// writes a sequence into one slot, the receiver echoes it into another, and the transmitter
// measures each round trip on its own clock.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "build_config.hh"
#include "diskhb/disk_io.hh"
#include "diskhb/format.hh"
#include "hb/clock.hh"
#include "hb/key_file.hh"
#include "hb/mac.hh"

namespace {

using namespace hb;
using namespace hb::diskhb;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

// The incarnation the pair test writes: "PAIRTEST", so dump shows whose slot it is.
constexpr std::uint64_t pair_test_incarnation = 0x5453'4554'5249'4150;

void say_error(const std::string& text) {
    fmt::print(stderr, "hbdisk: {}\n", text);
}

// Every sector from 0 to the last slot, read in one O_DIRECT pread into aligned memory.
class Sectors {
public:
    Sectors(std::uint32_t sector_size, std::uint32_t slots)
        : sector_size_(sector_size), size_((std::size_t{slots} + 1) * sector_size) {
        memory_ = static_cast<std::uint8_t*>(std::aligned_alloc(4096, round_up(size_)));
        if (memory_ != nullptr) {
            std::memset(memory_, 0, round_up(size_));
        }
    }
    ~Sectors() { std::free(memory_); }
    Sectors(const Sectors&) = delete;
    Sectors& operator=(const Sectors&) = delete;

    // "" or what went wrong.
    std::string read(const DiskFile& disk) {
        const ssize_t got = pread(disk.fd(), memory_, size_, 0);
        if (got != static_cast<ssize_t>(size_)) {
            return fmt::format("reading {}: {}", disk.path(),
                               got < 0 ? std::strerror(errno) : "short read");
        }
        return {};
    }
    // Writes one slot sector from `sector(node)`.
    std::string write_slot(const DiskFile& disk, NodeId node) {
        const auto offset = static_cast<off_t>(std::size_t{node} * sector_size_);
        const ssize_t put = pwrite(disk.fd(), sector(node).data(), sector_size_, offset);
        if (put != static_cast<ssize_t>(sector_size_)) {
            return fmt::format("writing slot {} of {}: {}", node, disk.path(),
                               put < 0 ? std::strerror(errno) : "short write");
        }
        return {};
    }
    // Sector 0 is the header; node i's slot is sector i.
    std::span<std::uint8_t> sector(std::uint32_t index) {
        return {memory_ + std::size_t{index} * sector_size_, sector_size_};
    }

private:
    static std::size_t round_up(std::size_t size) { return (size + 4095) / 4096 * 4096; }

    std::uint32_t sector_size_;
    std::size_t size_;
    std::uint8_t* memory_ = nullptr;
};

// The disk keys of --key-file (hb::derive_disk_key); empty without it.
KeySet disk_keys;

const KeySet* keys_or_null() {
    return disk_keys.empty() ? nullptr : &disk_keys;
}

const MacKey* signing_or_null() {
    return disk_keys.empty() ? nullptr : &disk_keys.signing();
}

// The disk and its header, or the reason it cannot be used.
struct OpenDisk {
    DiskFile file;
    Header header;
};

std::variant<OpenDisk, std::string> open_disk(const std::string& path) {
    auto opened = DiskFile::open(path);
    if (auto* error = std::get_if<std::string>(&opened)) {
        return *error;
    }
    OpenDisk disk{.file = std::move(std::get<DiskFile>(opened)), .header = {}};
    auto header = read_header(disk.file);
    if (auto* error = std::get_if<std::string>(&header)) {
        return *error;
    }
    disk.header = std::get<Header>(header);
    if (std::string problem = check_header(disk.file, disk.header, disk.header.cluster_id, {});
        !problem.empty()) {
        return problem;
    }
    if (std::string problem =
            check_authentication(disk.file.path(), disk.header, !disk_keys.empty());
        !problem.empty()) {
        return problem + (disk_keys.empty() ? " (give --key-file)" : "");
    }
    return disk;
}

// open_disk, saying why not on standard error.
std::optional<OpenDisk> open_or_say(const std::string& path) {
    auto opened = open_disk(path);
    if (auto* error = std::get_if<std::string>(&opened)) {
        say_error(*error);
        return std::nullopt;
    }
    return std::move(std::get<OpenDisk>(opened));
}

std::string state_name(SlotState state) {
    return state == SlotState::leaving ? "LEAVING" : "ALIVE";
}

// ---- init ----------------------------------------------------------------------------------

struct InitOptions {
    std::string path;
    std::uint64_t cluster_id = 0;
    std::uint32_t slots = 0;
    double interval_ms = 10;
    std::uint32_t multiplier = 3;
    std::uint32_t sector_size = 0;
    bool force = false;
};

int run_init(const InitOptions& options) {
    // A file that does not exist yet is created (a file-backed heartbeat disk); a device never.
    if (access(options.path.c_str(), F_OK) != 0) {
        const int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            say_error(fmt::format("cannot create {}: {}", options.path, std::strerror(errno)));
            return exit_failed;
        }
        ::close(fd);
    }
    auto opened = DiskFile::open(options.path, options.sector_size);
    if (auto* error = std::get_if<std::string>(&opened)) {
        say_error(*error);
        return exit_failed;
    }
    const DiskFile& disk = std::get<DiskFile>(opened);
    // Never overwrite what may be somebody's: another cluster's heartbeat disk, this cluster's
    // (its nodes may be running), or anything else that is not empty.
    if (disk.size_bytes() >= disk.sector_size() && !options.force) {
        auto existing = read_header(disk);
        if (const Header* header = std::get_if<Header>(&existing)) {
            say_error(fmt::format(
                "{} already holds the heartbeat header of {} (cluster {}, {} slots); "
                "re-initialising it wipes every slot: add --force to do it",
                options.path,
                header->cluster_id == options.cluster_id ? "this cluster" : "another cluster",
                header->cluster_id, header->slot_count));
            return exit_failed;
        }
        const std::string& why = std::get<std::string>(existing);
        if (why.find("not initialised") == std::string::npos) {
            say_error(fmt::format("{} is not empty ({}); add --force to overwrite it", options.path,
                                  why));
            return exit_failed;
        }
    }
    const Header header{.cluster_id = options.cluster_id,
                        .slot_count = options.slots,
                        .sector_size = disk.sector_size(),
                        .interval_ns = static_cast<Nanos>(std::llround(options.interval_ms * 1e6)),
                        .multiplier = options.multiplier,
                        .authenticated = !disk_keys.empty()};
    if (std::string error = initialise_disk(disk, header); !error.empty()) {
        say_error(error);
        return exit_failed;
    }
    fmt::print("{}: initialised for cluster {}: {} slots of {} bytes, disk timing {} ms x {}, {}\n",
               options.path, header.cluster_id, header.slot_count, header.sector_size,
               options.interval_ms, header.multiplier,
               header.authenticated ? "authenticated (slots carry a MAC)" : "unauthenticated");
    return exit_ok;
}

// ---- dump and watch ------------------------------------------------------------------------

struct SlotReading {
    NodeId node = 0;
    DecodeResult result = DecodeResult::empty;
    Slot slot;
};

std::vector<SlotReading> decode_all(Sectors& sectors, const Header& header) {
    std::vector<SlotReading> out;
    for (NodeId node = 1; node <= header.slot_count; ++node) {
        SlotReading reading{.node = node, .result = DecodeResult::empty, .slot = {}};
        reading.result = decode_slot(sectors.sector(node), header.cluster_id, node, reading.slot,
                                     keys_or_null());
        out.push_back(reading);
    }
    return out;
}

std::string header_json(const std::string& path, const Header& header) {
    return fmt::format(
        R"({{"path":"{}","cluster_id":{},"slots":{},"sector_size":{},"interval_ms":{},"multiplier":{},"authenticated":{}}})",
        path, header.cluster_id, header.slot_count, header.sector_size,
        static_cast<double>(header.interval_ns) / 1e6, header.multiplier,
        header.authenticated ? "true" : "false");
}

std::string slot_json(const SlotReading& r, std::optional<double> age_ms = std::nullopt) {
    std::string out = fmt::format(R"({{"node":{},"status":"{}")", r.node, to_string(r.result));
    if (r.result == DecodeResult::ok) {
        out += fmt::format(
            R"(,"state":"{}","incarnation":{},"seq":{},"writer":"{:016x}","adapter_states":{})",
            state_name(r.slot.state), r.slot.incarnation, r.slot.seq, r.slot.writer_nonce,
            r.slot.adapter_states);
    }
    if (age_ms) {
        out += fmt::format(R"(,"age_ms":{:.1f})", *age_ms);
    }
    return out + "}";
}

int run_dump(const std::string& path, bool json) {
    const std::optional<OpenDisk> opened = open_or_say(path);
    if (!opened) {
        return exit_failed;
    }
    const OpenDisk& disk = *opened;
    Sectors sectors(disk.header.sector_size, disk.header.slot_count);
    if (std::string error = sectors.read(disk.file); !error.empty()) {
        say_error(error);
        return exit_failed;
    }
    const std::vector<SlotReading> slots = decode_all(sectors, disk.header);
    if (json) {
        std::string out = R"({"header":)" + header_json(path, disk.header) + R"(,"slots":[)";
        for (std::size_t i = 0; i < slots.size(); ++i) {
            out += (i == 0 ? "" : ",") + slot_json(slots[i]);
        }
        fmt::print("{}]}}\n", out);
        return exit_ok;
    }
    fmt::print("{}: cluster {}, {} slots of {} bytes, disk timing {} ms x {}, {}\n", path,
               disk.header.cluster_id, disk.header.slot_count, disk.header.sector_size,
               static_cast<double>(disk.header.interval_ns) / 1e6, disk.header.multiplier,
               disk.header.authenticated ? "authenticated" : "unauthenticated");
    fmt::print("{:>4}  {:<13} {:<8} {:>20} {:>20}  {:<16} {}\n", "node", "status", "state",
               "incarnation", "seq", "writer", "adapters");
    for (const SlotReading& r : slots) {
        if (r.result == DecodeResult::ok) {
            fmt::print("{:>4}  {:<13} {:<8} {:>20} {:>20}  {:016x} {:#x}\n", r.node,
                       to_string(r.result), state_name(r.slot.state), r.slot.incarnation,
                       r.slot.seq, r.slot.writer_nonce, r.slot.adapter_states);
        } else {
            fmt::print("{:>4}  {}\n", r.node, to_string(r.result));
        }
    }
    return exit_ok;
}

int run_watch(const std::string& path, std::uint64_t count, double every_ms, bool json) {
    const std::optional<OpenDisk> opened = open_or_say(path);
    if (!opened) {
        return exit_failed;
    }
    const OpenDisk& disk = *opened;
    Sectors sectors(disk.header.sector_size, disk.header.slot_count);
    // Age: time since this watcher first saw the slot's current sequence (its clock, as the
    // heartbeat judges liveness).
    std::vector<std::uint64_t> last_seq(disk.header.slot_count + 1, 0);
    std::vector<Nanos> since(disk.header.slot_count + 1, 0);
    const Nanos timeout = disk.header.interval_ns * disk.header.multiplier;
    for (std::uint64_t round = 0; count == 0 || round < count; ++round) {
        if (round != 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(std::llround(every_ms * 1e3)));
        }
        if (std::string error = sectors.read(disk.file); !error.empty()) {
            say_error(error);
            return exit_failed;
        }
        const Nanos now = monotonic_now();
        std::string line = json ? fmt::format(R"({{"t_ns":{},"slots":[)", now) : std::string();
        bool first = true;
        for (const SlotReading& r : decode_all(sectors, disk.header)) {
            if (r.result == DecodeResult::empty) {
                continue;
            }
            std::optional<double> age;
            if (r.result == DecodeResult::ok) {
                if (since[r.node] == 0 || r.slot.seq != last_seq[r.node]) {
                    last_seq[r.node] = r.slot.seq;
                    since[r.node] = now;
                }
                age = static_cast<double>(now - since[r.node]) / 1e6;
            }
            if (json) {
                line += (first ? "" : ",") + slot_json(r, age);
            } else if (r.result == DecodeResult::ok) {
                const bool stopped = round != 0 && now - since[r.node] >= timeout;
                line += fmt::format("{}node {} seq {} age {:.1f} ms {}{}", first ? "" : " | ",
                                    r.node, r.slot.seq, *age, state_name(r.slot.state),
                                    stopped ? " STOPPED" : "");
            } else {
                line +=
                    fmt::format("{}node {} {}", first ? "" : " | ", r.node, to_string(r.result));
            }
            first = false;
        }
        fmt::print("{}\n", json ? line + "]}" : (first ? "no slot written" : line));
        std::fflush(stdout);
    }
    return exit_ok;
}

// ---- the pair test ------------------------------------------------------------------------

struct PairOptions {
    std::string path;
    bool transmit = false;
    NodeId forth = 0;  // the transmitter writes here, the receiver reads
    NodeId back = 0;   // the receiver echoes here, the transmitter reads
    std::uint64_t count = 20;
    double interval_ms = 100;
    double deadline_s = 30;
    bool json = false;
};

double percentile(std::vector<double> sorted, double p) {
    if (sorted.empty()) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
    const auto low = static_cast<std::size_t>(std::floor(rank));
    const std::size_t high = std::min(low + 1, sorted.size() - 1);
    return sorted[low] + (sorted[high] - sorted[low]) * (rank - static_cast<double>(low));
}

// The slot `node` holds a live writer that is not a pair test: refuse to write over it.
std::string slot_in_use(Sectors& sectors, const OpenDisk& disk, NodeId node) {
    Slot before;
    if (std::string error = sectors.read(disk.file); !error.empty()) {
        return error;
    }
    const bool had = decode_slot(sectors.sector(node), disk.header.cluster_id, node, before,
                                 keys_or_null()) == DecodeResult::ok;
    if (!had || before.incarnation == pair_test_incarnation) {
        return {};
    }
    std::this_thread::sleep_for(
        std::chrono::nanoseconds(2 * disk.header.interval_ns * disk.header.multiplier));
    if (std::string error = sectors.read(disk.file); !error.empty()) {
        return error;
    }
    Slot after;
    if (decode_slot(sectors.sector(node), disk.header.cluster_id, node, after, keys_or_null()) ==
            DecodeResult::ok &&
        after.seq != before.seq) {
        return fmt::format(
            "slot {} of {} is in use by a running node (its sequence advances); choose free "
            "slots with --nodes A,B",
            node, disk.file.path());
    }
    return {};
}

std::string write_test_slot(Sectors& sectors, const OpenDisk& disk, NodeId node,
                            std::uint64_t seq) {
    encode_slot(Slot{.cluster_id = disk.header.cluster_id,
                     .node = node,
                     .incarnation = pair_test_incarnation,
                     .seq = seq,
                     .state = SlotState::alive,
                     .writer_nonce = pair_test_incarnation,
                     .adapter_states = 0,
                     .message = {}},
                sectors.sector(node), signing_or_null());
    return sectors.write_slot(disk.file, node);
}

// The sequence the pair test wrote in `node`'s slot, or 0.
std::uint64_t test_seq(Sectors& sectors, const OpenDisk& disk, NodeId node) {
    Slot slot;
    if (decode_slot(sectors.sector(node), disk.header.cluster_id, node, slot, keys_or_null()) !=
            DecodeResult::ok ||
        slot.incarnation != pair_test_incarnation) {
        return 0;
    }
    return slot.seq;
}

// Leaves the slot as init made it: never written.
void clear_slot(Sectors& sectors, const OpenDisk& disk, NodeId node) {
    std::memset(sectors.sector(node).data(), 0, disk.header.sector_size);
    (void)sectors.write_slot(disk.file, node);
}

int run_pair(const PairOptions& options) {
    const std::optional<OpenDisk> opened = open_or_say(options.path);
    if (!opened) {
        return exit_failed;
    }
    const OpenDisk& disk = *opened;
    NodeId forth = options.forth;
    NodeId back = options.back;
    if (forth == 0) {  // the two highest slots, the least likely to belong to a node
        forth = disk.header.slot_count - 1;
        back = disk.header.slot_count;
    }
    if (forth == 0 || back > disk.header.slot_count || forth > disk.header.slot_count) {
        say_error(fmt::format("--nodes {},{}: the disk has slots 1..{} (and needs two)", forth,
                              back, disk.header.slot_count));
        return exit_usage;
    }
    Sectors sectors(disk.header.sector_size, disk.header.slot_count);
    const NodeId own = options.transmit ? forth : back;
    if (std::string error = slot_in_use(sectors, disk, own); !error.empty()) {
        say_error(error);
        return exit_failed;
    }
    const Nanos deadline = monotonic_now() + static_cast<Nanos>(options.deadline_s * 1e9);
    const auto poll_gap = std::chrono::microseconds(500);
    const char* role = options.transmit ? "transmitter" : "receiver";
    fmt::print(stderr, "hbdisk: {} on {}: writing slot {}, reading slot {}\n", role, options.path,
               own, options.transmit ? back : forth);

    if (!options.transmit) {
        // Echo every new sequence the transmitter writes, until it says it is done (seq with the
        // top bit set) or the deadline passes.
        std::uint64_t echoed = 0;
        std::uint64_t seen = test_seq(sectors, disk, forth);  // a previous run's last value
        while (monotonic_now() < deadline) {
            if (std::string error = sectors.read(disk.file); !error.empty()) {
                say_error(error);
                return exit_failed;
            }
            const std::uint64_t seq = test_seq(sectors, disk, forth);
            if (seq != 0 && seq != seen) {
                seen = seq;
                if (std::string error = write_test_slot(sectors, disk, back, seq); !error.empty()) {
                    say_error(error);
                    return exit_failed;
                }
                if ((seq >> 63) != 0) {
                    fmt::print("Link operates normally: echoed {} writes from slot {}\n", echoed,
                               forth);
                    clear_slot(sectors, disk, back);
                    return exit_ok;
                }
                ++echoed;
            }
            std::this_thread::sleep_for(poll_gap);
        }
        fmt::print("No link: {} writes from slot {} seen within {} s\n", echoed, forth,
                   options.deadline_s);
        clear_slot(sectors, disk, back);
        return exit_failed;
    }

    // Transmitter: one write per interval; each echo read back is a round trip on our clock.
    std::vector<double> rtt_ms;
    const std::uint64_t base = static_cast<std::uint64_t>(monotonic_now()) & 0x0FFF'FFFF'FFFF'0000;
    std::uint64_t lost = 0;
    for (std::uint64_t i = 1; i <= options.count && monotonic_now() < deadline; ++i) {
        const std::uint64_t seq = base + i;
        const Nanos sent = monotonic_now();
        if (std::string error = write_test_slot(sectors, disk, forth, seq); !error.empty()) {
            say_error(error);
            return exit_failed;
        }
        const Nanos give_up =
            std::min(deadline, sent + std::max<Nanos>(nanos_per_s, 10 * disk.header.interval_ns));
        bool answered = false;
        while (!answered && monotonic_now() < give_up) {
            if (std::string error = sectors.read(disk.file); !error.empty()) {
                say_error(error);
                return exit_failed;
            }
            if (test_seq(sectors, disk, back) == seq) {
                answered = true;
                rtt_ms.push_back(static_cast<double>(monotonic_now() - sent) / 1e6);
            } else {
                std::this_thread::sleep_for(poll_gap);
            }
        }
        lost += answered ? 0 : 1;
        if (i < options.count) {
            const Nanos next = sent + static_cast<Nanos>(options.interval_ms * 1e6);
            const Nanos now = monotonic_now();
            if (next > now) {
                std::this_thread::sleep_for(std::chrono::nanoseconds(next - now));
            }
        }
    }
    // Tell the receiver we are done, and wait (a second at most) until it has read it before
    // freeing the slot.
    const std::uint64_t done = (base + options.count + 1) | (1ULL << 63);
    if (write_test_slot(sectors, disk, forth, done).empty() && !rtt_ms.empty()) {
        const Nanos give_up = monotonic_now() + nanos_per_s;
        while (monotonic_now() < give_up && sectors.read(disk.file).empty() &&
               test_seq(sectors, disk, back) != done) {
            std::this_thread::sleep_for(poll_gap);
        }
    }
    std::sort(rtt_ms.begin(), rtt_ms.end());
    const std::uint64_t sent = rtt_ms.size() + lost;
    double sum = 0;
    for (const double v : rtt_ms) {
        sum += v;
    }
    const bool ok = !rtt_ms.empty() && lost == 0;
    if (options.json) {
        const auto number = [](double v) {
            return std::isnan(v) ? std::string("null") : fmt::format("{:.3f}", v);
        };
        fmt::print(
            R"({{"path":"{}","slots":[{},{}],"sent":{},"echoed":{},"lost":{},"rtt_ms":{{"min":{},"avg":{},"p50":{},"p99":{},"max":{}}},"ok":{}}})"
            "\n",
            options.path, forth, back, sent, rtt_ms.size(), lost,
            number(rtt_ms.empty() ? std::numeric_limits<double>::quiet_NaN() : rtt_ms.front()),
            number(rtt_ms.empty() ? std::numeric_limits<double>::quiet_NaN()
                                  : sum / static_cast<double>(rtt_ms.size())),
            number(percentile(rtt_ms, 50)), number(percentile(rtt_ms, 99)),
            number(rtt_ms.empty() ? std::numeric_limits<double>::quiet_NaN() : rtt_ms.back()),
            ok ? "true" : "false");
    } else if (rtt_ms.empty()) {
        fmt::print("No link: none of {} writes to slot {} was echoed in slot {}\n", sent, forth,
                   back);
    } else {
        fmt::print("{}: {} writes, {} echoed, {} lost\n",
                   ok ? "Link operates normally" : "Link loses writes", sent, rtt_ms.size(), lost);
        fmt::print("round trip min/avg/p50/p99/max = {:.3f}/{:.3f}/{:.3f}/{:.3f}/{:.3f} ms\n",
                   rtt_ms.front(), sum / static_cast<double>(rtt_ms.size()), percentile(rtt_ms, 50),
                   percentile(rtt_ms, 99), rtt_ms.back());
    }
    clear_slot(sectors, disk, forth);
    return ok ? exit_ok : exit_failed;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "hbdisk: prepare, inspect and test an hb heartbeat disk.\n\n"
        "  hbdisk init DEV --cluster-id ID --slots N   write the header, zero every slot\n"
        "  hbdisk dump DEV [--json]                    the header and every slot\n"
        "  hbdisk watch DEV                            live sequence, age and state per slot\n"
        "  hbdisk -p DEV -r   (on one node), then\n"
        "  hbdisk -p DEV -t   (on another)             the pair test: is the disk shared?\n\n"
        "Exit status: 0 success, 1 the check or the disk failed, 2 usage error."};
    app.set_version_flag("--version", std::string("hbdisk ") + HB_VERSION);
    app.require_subcommand(0, 1);

    InitOptions init;
    CLI::App* init_command = app.add_subcommand("init", "initialise DEV as a heartbeat disk");
    init_command->add_option("DEV", init.path, "block device or file (created if absent)")
        ->required();
    init_command->add_option("--cluster-id", init.cluster_id, "the cluster's [cluster] id")
        ->required()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{INT64_MAX}));
    init_command->add_option("--slots", init.slots, "slots, one per node id (1..255)")
        ->required()
        ->check(CLI::Range(1U, max_slots));
    init_command->add_option("--interval-ms", init.interval_ms, "disk interval (default 10)")
        ->check(CLI::Range(0.1, 60000.0));
    init_command->add_option("--multiplier", init.multiplier, "disk timeout in intervals (3)")
        ->check(CLI::Range(1U, 255U));
    init_command->add_option("--sector-size", init.sector_size, "for files: 512 or 4096")
        ->check(CLI::IsMember({512U, 4096U}));
    init_command->add_flag("--force", init.force, "overwrite whatever the disk holds");
    std::string key_path;
    const std::string key_help =
        "the cluster key file (hbd's [cluster] key_file): slots are signed and checked";
    init_command->add_option("--key-file", key_path, key_help + "; marks the disk authenticated");

    std::string dump_path;
    bool dump_json = false;
    CLI::App* dump_command = app.add_subcommand("dump", "print the header and every slot");
    dump_command->add_option("DEV", dump_path, "heartbeat disk")->required();
    dump_command->add_flag("--json", dump_json, "one JSON document");
    dump_command->add_option("--key-file", key_path, key_help);

    std::string watch_path;
    std::uint64_t watch_count = 0;
    double watch_every_ms = 1000;
    bool watch_json = false;
    CLI::App* watch_command = app.add_subcommand("watch", "follow every slot");
    watch_command->add_option("DEV", watch_path, "heartbeat disk")->required();
    watch_command->add_option("--count", watch_count, "readings, then stop (0: until killed)");
    watch_command->add_option("--every-ms", watch_every_ms, "time between readings (1000)")
        ->check(CLI::Range(1.0, 3600000.0));
    watch_command->add_flag("--json", watch_json, "one JSON line per reading");
    watch_command->add_option("--key-file", key_path, key_help);

    PairOptions pair;
    bool receive = false;
    std::vector<std::uint32_t> nodes;
    app.add_option("-p", pair.path, "pair test on DEV (with -t or -r)");
    CLI::Option* transmit_flag = app.add_flag("-t", pair.transmit, "pair test: transmit");
    CLI::Option* receive_flag = app.add_flag("-r", receive, "pair test: receive and echo");
    transmit_flag->excludes(receive_flag);
    app.add_option("--nodes", nodes, "pair test slots A,B (default: the two highest)")
        ->delimiter(',')
        ->expected(2)
        ->check(CLI::Range(1U, max_slots));
    app.add_option("-c", pair.count, "pair test: writes (20)")->check(CLI::Range(1U, 1000000U));
    app.add_option("-i", pair.interval_ms, "pair test: ms between writes (100)")
        ->check(CLI::Range(0.1, 60000.0));
    app.add_option("-w", pair.deadline_s, "pair test: give up after SECONDS (30)")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_flag("--json", pair.json, "pair test: one JSON document");
    app.add_option("--key-file", key_path, key_help);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);
        return code == 0 ? exit_ok : exit_usage;
    }
    if (!key_path.empty()) {
        auto key = load_key_file(key_path);
        if (auto* problem = std::get_if<std::string>(&key)) {
            say_error("--key-file \"" + key_path + "\" " + *problem);
            return exit_usage;
        }
        static_cast<void>(disk_keys.add(derive_disk_key(std::get<MacKey>(key))));
    }
    if (*init_command) {
        return run_init(init);
    }
    if (*dump_command) {
        return run_dump(dump_path, dump_json);
    }
    if (*watch_command) {
        return run_watch(watch_path, watch_count, watch_every_ms, watch_json);
    }
    if (pair.path.empty() || (!pair.transmit && !receive)) {
        say_error("give a command (init, dump, watch) or the pair test -p DEV -t|-r; see --help");
        return exit_usage;
    }
    if (!nodes.empty()) {
        if (nodes[0] == nodes[1]) {
            say_error(
                fmt::format("--nodes {},{}: two different slots are needed", nodes[0], nodes[1]));
            return exit_usage;
        }
        pair.forth = nodes[0];
        pair.back = nodes[1];
    }
    return run_pair(pair);
}
