// Reading an hbd configuration (TOML, DESIGN §9) into the cluster model plus the daemon's own
// settings. Every problem is reported with its line; nothing is silently defaulted or ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hb/model.hh"
#include "policy/netmon_config.hh"

namespace hb::node {

struct ConfigError {
    std::uint32_t line = 0;  // 0 when the problem has no single line (e.g. a missing section)
    std::string message;     // names the bad key and value
};

// Settings that belong to the process, not the cluster model.
struct ProcessSettings {
    // Real-time priority (SCHED_FIFO) of the engine thread; 0 runs it as a normal thread.
    int realtime_priority = 10;
    bool lock_memory = true;
    // "single": one thread receives, ticks and emits; "threaded": receive threads feed the engine
    // through lock-free queues.
    enum class Threads : std::uint8_t { single, threaded } threads = Threads::single;
};

// [disk]: the shared disk of the disk heartbeat (docs/disk.md). Zero values: what the disk's
// header says (timing) or what the device says (sector size).
struct DiskSettings {
    std::filesystem::path path;  // empty: no [disk]
    Nanos interval_ns = 0;
    std::uint32_t multiplier = 0;
    std::uint32_t sector_size = 0;  // for regular files; a block device reports its own
    // How completions are reaped: "auto" polls where the device supports it and says when it
    // falls back; "interrupt", "iopoll" and "sqpoll" ask for one mode.
    enum class Io : std::uint8_t { automatic, interrupt, iopoll, sqpoll } io = Io::automatic;
};

// [dpdk]: the DPDK EAL's arguments (docs/dpdk.md), used when the local node has an adapter with
// transport = "dpdk". Only a build with DPDK accepts the section.
struct DpdkSettings {
    bool configured = false;  // [dpdk] is present
    std::vector<std::string> eal_args;
    // "inline": the engine thread polls its ports; "lcore": each port gets a polling thread of its
    // own that trades records with the engine through SPSC rings (docs/dpdk.md, Lcore mode).
    enum class Mode : std::uint8_t { inline_polling, lcore } mode = Mode::inline_polling;
    int lcore_cpu = -1;  // "lcore": the CPU every polling thread is pinned to; -1: not pinned
    // "lcore": SCHED_FIFO priority of the polling threads (below [process] realtime_priority);
    // 0: SCHED_OTHER.
    int lcore_priority = 0;
};

// [control]: hbd's Unix control socket, which hbctl reads (docs/operations.md, Reading status).
struct ControlSettings {
    // Empty: the default, default_control_socket() of the cluster and node.
    std::filesystem::path socket;
};

// [metrics]: the Prometheus endpoint (docs/operations.md, Metrics). Off without the section.
struct MetricsSettings {
    bool enabled = false;
    Ipv4 address{};
    std::uint16_t port = 0;
};

// [events]: event scripts (docs/operations.md, Event scripts). Empty script_dir: none.
struct EventsSettings {
    std::filesystem::path script_dir;     // resolved; checked to be a searchable directory
    Nanos timeout_ns = 30 * nanos_per_s;  // a script still running then is killed
    Nanos warn_ns = 5 * nanos_per_s;      // a script running this long is reported
    std::uint32_t max_running = 8;        // scripts run at once; more wait their turn
};

// [deadman]: what hbd does when its own engine loop stops turning (docs/operations.md).
struct DeadmanSettings {
    Nanos timeout_ns = 0;  // 0: no [deadman]
    // "event": stop beating (peers judge the node down) and report DEADMAN; "halt": power off.
    enum class Action : std::uint8_t { event, halt } action = Action::event;
    // SIGUSR2 stalls the engine loop until the next SIGUSR2: for tests of the switch only.
    bool test_hook = false;
};

struct NodeSettings {
    ClusterConfig cluster;
    ProcessSettings process;
    std::filesystem::path key_file;  // the signing key's file; empty when none was configured
    // [cluster] accept_key_files: keys accepted besides key_file's, during a rollover.
    std::vector<std::filesystem::path> accept_key_files;
    // [cluster] allow_unauthenticated = true (and no key_file): the operator's explicit consent to
    // run without authentication. Node::create refuses a keyless node without it.
    bool allow_unauthenticated = false;
    // [timing] adaptive_ceiling: the highest multiplier adaptive timing may raise a path to for
    // its measured loss; 0 (absent) keeps the advertised timing (DetectorOptions).
    std::uint32_t adaptive_ceiling = 0;
    // [netmon]: the resolved netmon.cf path (empty without [netmon]), how it was read, and the
    // probe targets of each adapter of the local node, indexed like that node's adapter list
    // (empty without [netmon]; an adapter without targets has an empty list).
    std::filesystem::path netmon_file;
    policy::NetmonMode netmon_mode = policy::NetmonMode::caa;
    std::vector<std::vector<Ipv4>> netmon_targets;
    DiskSettings disk;
    DpdkSettings dpdk;
    ControlSettings control;
    MetricsSettings metrics;
    EventsSettings events;
    DeadmanSettings deadman;
};

struct ConfigResult {
    std::optional<NodeSettings> settings;  // set only when errors is empty
    std::vector<ConfigError> errors;
    std::vector<std::string> warnings;
};

// Parses TOML text; `base_dir` resolves relative paths (key_file). Reads the key file.
ConfigResult parse_config(std::string_view toml_text, const std::filesystem::path& base_dir);
// Reads and parses a file; a missing or unreadable file is an error with line 0.
ConfigResult load_config(const std::filesystem::path& file);

// Where hbd serves its control socket when [control] names none (DESIGN §9), so that several
// nodes can run on one machine without clashing: /run/hb/<cluster id>-<node id>.sock.
std::filesystem::path default_control_socket(std::uint64_t cluster_id, NodeId node);
// The control socket of a node's settings: [control] socket, else the default.
std::filesystem::path control_socket(const NodeSettings& settings);

// "path:line: message" (or "path: message" for line 0), one error per line.
std::string format_errors(const std::filesystem::path& file,
                          const std::vector<ConfigError>& errors);

}  // namespace hb::node
