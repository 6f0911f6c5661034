// Event scripts (PowerHA's habit: one script per event, docs/operations.md): for every event,
// `<script_dir>/<event name in lower case>` runs if it is there and executable, with the event in
// its environment. The engine thread only hands a fixed-size record to the runner thread through
// a bounded SPSC queue; the runner spawns, watches, times out and reports the scripts, so a slow
// or hanging script never delays the engine nor, while slots are free, a later event's script.
#pragma once

#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "hb/event.hh"
#include "hb/model.hh"
#include "tools/hbd/event_sinks.hh"
#include "tools/node/config.hh"

namespace hb::hbd {

struct ScriptCounters {
    std::uint64_t started = 0;
    std::uint64_t succeeded = 0;    // exit status 0
    std::uint64_t failed = 0;       // another exit status, or a signal
    std::uint64_t timed_out = 0;    // killed at the timeout
    std::uint64_t warned = 0;       // ran longer than warn_ms
    std::uint64_t not_started = 0;  // posix_spawn failed
    std::uint64_t no_script = 0;    // no executable script for the event
};

class ScriptRunner final : public EventConsumer {
public:
    // Events queued for scripts not yet started; beyond, events are dropped and counted.
    static constexpr std::size_t queue_capacity = 1024;
    // After SIGTERM at the timeout, how long a script's process group has before SIGKILL.
    static constexpr Nanos kill_grace_ns = 2 * nanos_per_s;

    // `cluster` is copied (for names): the runner thread shares nothing with the engine's.
    ScriptRunner(const node::EventsSettings& settings, const ClusterConfig& cluster);
    // Stops the runner thread: running scripts' process groups get SIGTERM, and SIGKILL after
    // the grace; queued events are dropped.
    ~ScriptRunner() override;
    ScriptRunner(const ScriptRunner&) = delete;
    ScriptRunner& operator=(const ScriptRunner&) = delete;

    // Starts the runner thread; false (with the reason in `error`) when it cannot.
    [[nodiscard]] bool start(std::string& error);

    void consume(const Event& event) noexcept override;
    void consume_from_watchdog(const Event& event) noexcept override;

    // Events dropped because the queue was full (read from any thread).
    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
    // The runner thread's counters: read after the destructor ran... or from that thread.
    const ScriptCounters& counters() const noexcept { return counters_; }

    // The events that have an executable script in `dir`, by script name ("node_down").
    static std::vector<std::string> scripts_present(const std::filesystem::path& dir);

    // The environment a script of `event` gets on top of hbd's own (NAME=value each).
    static std::vector<std::string> script_environment(const Event& event,
                                                       const ClusterConfig& cluster);

private:
    struct Child {
        pid_t pid = -1;
        int pidfd = -1;   // readable when it exits; -1 where the kernel has no pidfd_open
        int output = -1;  // read end of its stdout and stderr
        std::string name;
        std::string subject;  // "NODE_DOWN node 2 (beta)", for the log
        Nanos started_ns = 0;
        Nanos signalled_ns = 0;  // SIGTERM sent at the timeout (0: not yet)
        bool warned = false;
        bool killed = false;
        std::string partial;  // output not yet ended by a newline
    };

    void run() noexcept;
    void launch(const Event& event) noexcept;
    void drain_output(Child& child, bool final) noexcept;
    bool reap(Child& child, Nanos now) noexcept;
    void enforce_deadlines(Child& child, Nanos now) noexcept;
    Nanos wait_deadline(Nanos now) const noexcept;
    void wait(Nanos now) noexcept;
    void report_drops() noexcept;
    void shut_down() noexcept;

    node::EventsSettings settings_;
    ClusterConfig cluster_;
    boost::lockfree::spsc_queue<Event> queue_;
    // The deadman's one event, handed over outside the engine's queue (another producer).
    Event watchdog_event_;
    std::atomic<bool> watchdog_pending_{false};
    std::atomic<std::uint64_t> dropped_{0};
    std::uint64_t dropped_reported_ = 0;
    int wake_fd_ = -1;  // eventfd: an event was queued, or stop
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::vector<Child> children_;  // runner thread only
    ScriptCounters counters_;
};

}  // namespace hb::hbd
