// The embedding API (docs/embedding.md): one hb node inside an application, built from a
// configuration exactly as hbd builds it, driven by the application's own loop (poll) or by a run
// loop, with a statistics snapshot any thread can read without locks. Installed as <hb/node.hh>
// in libhb; implemented by the composition root (tools/node/embedded.cc), which alone knows every
// module, so this header names none of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hb/event.hh"
#include "tools/node/config.hh"

namespace hb {

namespace node {
class Node;
class StatsBoard;
}  // namespace node

// One path (local adapter, peer adapter) as last published.
struct PathStats {
    enum class State : std::uint8_t { down, init, up };  // DESIGN §6: DOWN -> INIT -> UP

    NodeId peer = 0;
    std::int32_t network = no_network;        // index in ClusterConfig::networks
    std::int32_t local_adapter = no_adapter;  // index in the local node's adapter list
    std::int32_t peer_adapter = no_adapter;   // index in the peer's adapter list
    State state = State::down;
    std::uint64_t beats_sent = 0;  // toward the peer adapter (multicast: to the group)
    std::uint64_t beats_received = 0;
    std::uint64_t beats_missed = 0;  // sequence numbers skipped and never filled in
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0;
    Nanos rtt_last_ns = 0;  // 0 until the first echo
    Nanos rtt_smoothed_ns = 0;
    Nanos rtt_min_ns = 0;
    Nanos rtt_max_ns = 0;
    Nanos last_heard_ns = 0;  // CLOCK_MONOTONIC of the newest beat; 0: never heard
};

// The engine's and the detector's counters (hb::EngineCounters, summed where it has detail).
struct EngineStats {
    std::uint64_t beats_sent = 0;
    std::uint64_t beats_accepted = 0;
    std::uint64_t send_failures = 0;
    std::uint64_t dropped = 0;  // every drop reason together
    std::uint64_t pings_answered = 0;
    std::uint64_t restarts_seen = 0;
    std::uint64_t local_stalls = 0;
    std::uint64_t events_emitted = 0;
    std::uint64_t events_lost = 0;
    std::uint64_t path_expiries = 0;  // paths that went down
};

// One consistent publication: every field comes from the same moment of the engine thread.
struct NodeStats {
    std::uint64_t publication = 0;  // counts publications; 0: none yet (all zero)
    Nanos published_ns = 0;         // CLOCK_MONOTONIC of the publication
    EngineStats engine;
    std::vector<PathStats> paths;  // Node::path_count() entries, in the engine's path order
    // Scratch space of read_stats(): sized on the first read of this object, reused after.
    std::vector<std::uint64_t> words;
};

struct NodeOptions {
    // How often the engine thread publishes statistics while polled or run (and at start and
    // stop). A publication costs a few hundred nanoseconds per path.
    Nanos stats_period_ns = 10 * nanos_per_ms;
};

class Node {
public:
    // The node, or a message a person can act on (config errors one per line with their line
    // numbers, "path:line: message"; or what could not be opened).
    using Created = std::variant<std::unique_ptr<Node>, std::string>;

    static Created from_file(const std::filesystem::path& file, NodeOptions options = {});
    // `base_dir` resolves the config's relative paths (key_file, netmon file, disk).
    static Created from_string(std::string_view toml, const std::filesystem::path& base_dir,
                               NodeOptions options = {});
    // From settings built or adjusted in code (node::parse_config gives them).
    static Created create(node::NodeSettings settings, NodeOptions options = {});

    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // The configuration's warnings (e.g. no key_file: beats unauthenticated).
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }
    const ClusterConfig& cluster() const noexcept;
    std::uint32_t incarnation() const noexcept;
    // Names for events and stats, from the configuration; empty when there is none.
    std::string_view node_name(NodeId node) const noexcept;
    std::string_view network_name(std::int32_t network) const noexcept;
    // An adapter's interface name; node 0 is the local node.
    std::string_view adapter_name(NodeId node, std::int32_t adapter) const noexcept;
    // The event as one line of hbd's event stream (DESIGN §9).
    std::string event_json(const Event& event) const;

    // Applies [process] (real-time priority, memory locking) to the calling process and
    // thread, as hbd does; a library does not do this by itself. One line per setting.
    std::vector<std::string> apply_process_settings() const;

    // Starts beating, the link watch, netmon, the disk heartbeat. "" or what failed; a node that
    // failed to start, or started already, says so again (create a new one). The thread that
    // calls start() and then poll() or run() is the engine thread.
    [[nodiscard]] std::string start();
    bool started() const noexcept { return started_; }
    bool stopped() const noexcept { return stopped_; }

    // Single-thread mode (the default): one bounded step of the node's work; when there was
    // none, sleeps until there is, at most `max_sleep_ns` (0: never sleeps), and steps again.
    // True if it did work. Engine thread only.
    bool poll(Nanos max_sleep_ns = 0);
    // The next verdict, if any. From one thread at a time (the engine thread or one other).
    bool next_event(Event& out) noexcept;

    // Runs the node on the calling thread with the runner the settings ask for ([process]
    // threads) until request_stop(). With `on_event`, events are handed to it on this thread;
    // without, they wait for next_event() on one other thread.
    void run(const std::function<void(const Event&)>& on_event = {});
    // Any thread, and async-signal-safe: makes run() return.
    void request_stop() noexcept;
    // A graceful stop, on the engine thread once run() has returned (or between polls): peers
    // report NODE_LEFT, not NODE_DOWN. Publishes the final statistics; the node is done.
    void stop();

    // Any thread, no lock: the latest publication. False only when the engine thread was
    // preempted in the middle of a publication for the whole read (try again).
    std::size_t path_count() const noexcept;
    bool read_stats(NodeStats& out) const;

private:
    static Created from_config(node::ConfigResult result, const std::filesystem::path& source,
                               NodeOptions options);
    Node(std::unique_ptr<node::Node> node, std::vector<std::string> warnings, NodeOptions options);
    void publish_stats_if_due(Nanos now);

    std::unique_ptr<node::Node> node_;
    std::unique_ptr<node::StatsBoard> stats_;
    struct Loop;
    std::unique_ptr<Loop> loop_;  // poll()'s runner, made at start()
    std::vector<std::string> warnings_;
    NodeOptions options_;
    std::atomic<bool> stop_requested_{false};
    std::string start_error_;  // why start() failed, if it did
    Nanos next_publish_ns_ = 0;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace hb
