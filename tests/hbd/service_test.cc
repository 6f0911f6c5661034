// hbd's service pieces on their own: the event fan-out and JSON writer, event scripts (real
// scripts in a temporary directory), the deadman switch and its halt guard, and systemd's notify
// protocol over a socket the test binds. Timing bounds are generous: the machine is shared.
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hb/clock.hh"
#include "tests/support/temp_dir.hh"
#include "tests/support/test_cluster.hh"
#include "tools/hbd/deadman.hh"
#include "tools/hbd/event_scripts.hh"
#include "tools/hbd/event_sinks.hh"
#include "tools/hbd/systemd.hh"

namespace hb::hbd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A directory of scripts.
class TempDir : public test::TempDir {
public:
    TempDir() : test::TempDir("hb_service_test") {}
    void script(const std::string& name, const std::string& body) const {
        write(name, "#!/bin/sh\n" + body, fs::perms::owner_all);
    }
};

// Waits up to `timeout` for `condition`; true if it held.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

std::string read_all(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

ClusterConfig three_nodes() {
    ClusterConfig config = test::make_cluster_config(3, 2, NetworkMode::unicast, Timing{});
    config.local_node = 1;
    return config;
}

// Records what it is given, from any thread.
class Recorder final : public EventConsumer {
public:
    void consume(const Event& event) noexcept override {
        const std::lock_guard lock(mutex_);
        engine_events_.push_back(event);
    }
    void consume_from_watchdog(const Event& event) noexcept override {
        const std::lock_guard lock(mutex_);
        watchdog_events_.push_back(event);
    }
    std::vector<Event> watchdog_events() {
        const std::lock_guard lock(mutex_);
        return watchdog_events_;
    }
    std::size_t engine_count() {
        const std::lock_guard lock(mutex_);
        return engine_events_.size();
    }

private:
    std::mutex mutex_;
    std::vector<Event> engine_events_;
    std::vector<Event> watchdog_events_;
};

// ---- fan-out and the JSON-lines writer -----------------------------------------------------

TEST(EventFanout, EveryConsumerGetsEveryEventOnItsPath) {
    EventFanout fanout;
    Recorder first;
    Recorder second;
    fanout.add(first);
    fanout.add(second);
    fanout.publish(Event{.kind = EventKind::node_down, .node = 2});
    fanout.publish_from_watchdog(Event{.kind = EventKind::deadman});
    EXPECT_EQ(first.engine_count(), 1U);
    EXPECT_EQ(second.engine_count(), 1U);
    ASSERT_EQ(second.watchdog_events().size(), 1U);
    EXPECT_EQ(second.watchdog_events()[0].kind, EventKind::deadman);
}

TEST(JsonLinesWriter, WritesOneLinePerEventAndCountsWhatItCannotWrite) {
    const ClusterConfig config = three_nodes();
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    JsonLinesWriter writer(fds[1], config);
    const Event event{.kind = EventKind::deadman, .t_ns = 42, .latency_ns = 5 * nanos_per_ms};
    writer.consume(event);
    writer.consume_from_watchdog(event);
    std::string got(4096, '\0');
    const ssize_t n = read(fds[0], got.data(), got.size());
    ASSERT_GT(n, 0);
    got.resize(static_cast<std::size_t>(n));
    const std::string line = event_to_json(event, config) + "\n";
    EXPECT_EQ(got, line + line);
    EXPECT_NE(line.find(R"("event":"DEADMAN")"), std::string::npos);
    close(fds[0]);
    close(fds[1]);
    writer.consume(event);  // a closed descriptor: lost, counted
    EXPECT_EQ(writer.lost(), 1U);
}

// ---- event scripts -------------------------------------------------------------------------

TEST(ScriptEnvironment, NamesTheEventAndLeavesWhatItHasNotEmpty) {
    const ClusterConfig config = three_nodes();
    const Event remote{.kind = EventKind::remote_adapter_down,
                       .node = 2,
                       .network = 1,
                       .adapter = 1,
                       .t_ns = 123456789,
                       .latency_ns = 31'700'000,
                       .evidence = evidence::paths | evidence::report};
    EXPECT_EQ(ScriptRunner::script_environment(remote, config),
              (std::vector<std::string>{"HB_EVENT=REMOTE_ADAPTER_DOWN", "HB_NODE=2",
                                        "HB_NODE_NAME=node2", "HB_NETWORK=net_1", "HB_ADAPTER=eth1",
                                        "HB_LATENCY_MS=31.700", "HB_EVIDENCE=paths,report",
                                        "HB_CLUSTER=7", "HB_LOCAL_NODE=1", "HB_T_NS=123456789"}));
    // A local adapter's event names this node's interface; no latency is an empty value.
    const Event local{.kind = EventKind::adapter_down, .network = 0, .adapter = 0, .t_ns = 5};
    const std::vector<std::string> env = ScriptRunner::script_environment(local, config);
    EXPECT_EQ(env[1], "HB_NODE=");
    EXPECT_EQ(env[2], "HB_NODE_NAME=");
    EXPECT_EQ(env[4], "HB_ADAPTER=eth0");
    EXPECT_EQ(env[5], "HB_LATENCY_MS=");
}

node::EventsSettings script_settings(const TempDir& dir, Nanos timeout_ns,
                                     std::uint32_t max_running) {
    return node::EventsSettings{.script_dir = dir.path(),
                                .timeout_ns = timeout_ns,
                                .warn_ns = timeout_ns / 2,
                                .max_running = max_running};
}

TEST(ScriptRunner, RunsTheEventsScriptWithItsEnvironmentAndSkipsMissingOnes) {
    const TempDir dir;
    dir.script("node_down", "env > \"$PWD/node_down.env\"\n");
    const ClusterConfig config = three_nodes();
    ScriptRunner runner(script_settings(dir, 5 * nanos_per_s, 4), config);
    std::string error;
    ASSERT_TRUE(runner.start(error)) << error;
    runner.consume(Event{.kind = EventKind::node_up, .node = 3});  // no node_up script
    runner.consume(Event{.kind = EventKind::node_down, .node = 3, .t_ns = 99});
    ASSERT_TRUE(eventually([&] { return fs::exists(dir.path() / "node_down.env"); }));
    ASSERT_TRUE(eventually([&] {
        return read_all(dir.path() / "node_down.env").find("HB_T_NS=99") != std::string::npos;
    }));
    const std::string env = read_all(dir.path() / "node_down.env");
    EXPECT_NE(env.find("HB_EVENT=NODE_DOWN\n"), std::string::npos) << env;
    EXPECT_NE(env.find("HB_NODE_NAME=node3\n"), std::string::npos) << env;
    EXPECT_EQ(runner.dropped(), 0U);
}

TEST(ScriptRunner, AHangingScriptIsKilledAtItsTimeoutAndALaterScriptRunsMeanwhile) {
    const TempDir dir;
    // The hanging script leaves its pid, so the test can see its process group go.
    dir.script("node_down", "echo $$ > \"$PWD/hang.pid\"\nsleep 600 & wait\n");
    dir.script("node_up", "touch \"$PWD/node_up.ran\"\n");
    const ClusterConfig config = three_nodes();
    ScriptRunner runner(script_settings(dir, 800 * nanos_per_ms, 4), config);
    std::string error;
    ASSERT_TRUE(runner.start(error)) << error;
    const auto started = std::chrono::steady_clock::now();
    runner.consume(Event{.kind = EventKind::node_down, .node = 2});
    ASSERT_TRUE(eventually([&] { return fs::exists(dir.path() / "hang.pid"); }));
    runner.consume(Event{.kind = EventKind::node_up, .node = 2});
    ASSERT_TRUE(eventually([&] { return fs::exists(dir.path() / "node_up.ran"); }));
    const pid_t hanging = std::stoi(read_all(dir.path() / "hang.pid"));
    // Before the timeout, the hanging script (and the sleep it started) still run.
    if (std::chrono::steady_clock::now() - started < 600ms) {
        EXPECT_EQ(kill(-hanging, 0), 0);
    }
    ASSERT_TRUE(eventually([&] { return kill(-hanging, 0) != 0; }));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 800ms);
}

TEST(ScriptRunner, ScriptsBeyondMaxRunningWaitTheirTurn) {
    const TempDir dir;
    dir.script("node_down", "sleep 600\n");
    dir.script("node_up", "touch \"$PWD/node_up.ran\"\n");
    const ClusterConfig config = three_nodes();
    ScriptRunner runner(script_settings(dir, 700 * nanos_per_ms, 1), config);
    std::string error;
    ASSERT_TRUE(runner.start(error)) << error;
    const auto started = std::chrono::steady_clock::now();
    runner.consume(Event{.kind = EventKind::node_down, .node = 2});
    runner.consume(Event{.kind = EventKind::node_up, .node = 2});
    ASSERT_TRUE(eventually([&] { return fs::exists(dir.path() / "node_up.ran"); }));
    // Its one slot was taken by the hanging script until that was killed.
    EXPECT_GE(std::chrono::steady_clock::now() - started, 700ms);
}

TEST(ScriptRunner, TheWatchdogsEventRunsItsScriptToo) {
    const TempDir dir;
    dir.script("deadman", "touch \"$PWD/deadman.ran\"\n");
    const ClusterConfig config = three_nodes();
    ScriptRunner runner(script_settings(dir, 5 * nanos_per_s, 2), config);
    std::string error;
    ASSERT_TRUE(runner.start(error)) << error;
    runner.consume_from_watchdog(Event{.kind = EventKind::deadman});
    EXPECT_TRUE(eventually([&] { return fs::exists(dir.path() / "deadman.ran"); }));
}

TEST(ScriptRunner, ListsTheScriptsPresent) {
    const TempDir dir;
    dir.script("node_down", "true\n");
    dir.script("network_up", "true\n");
    std::ofstream(dir.path() / "node_up") << "not executable\n";
    EXPECT_EQ(ScriptRunner::scripts_present(dir.path()),
              (std::vector<std::string>{"node_down", "network_up"}));
}

// ---- deadman -------------------------------------------------------------------------------

TEST(Deadman, FiresOnceWhenTheLoopStopsTurningAndStaysMuted) {
    EventFanout sinks;
    Recorder recorder;
    sinks.add(recorder);
    const std::atomic<bool> stop{false};
    Deadman deadman(node::DeadmanSettings{.timeout_ns = 300 * nanos_per_ms}, sinks, stop);
    deadman.start();
    // A turning loop: no switch.
    const auto turning_until = std::chrono::steady_clock::now() + 600ms;
    while (std::chrono::steady_clock::now() < turning_until) {
        deadman.poll(monotonic_now());
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(deadman.fired());
    const Nanos stalled_at = monotonic_now();
    ASSERT_TRUE(eventually([&] { return deadman.fired(); }));
    EXPECT_TRUE(deadman.mute_flag().load());
    ASSERT_TRUE(eventually([&] { return recorder.watchdog_events().size() == 1; }));
    const Event event = recorder.watchdog_events()[0];
    EXPECT_EQ(event.kind, EventKind::deadman);
    EXPECT_GE(event.t_ns - stalled_at, 300 * nanos_per_ms - 20 * nanos_per_ms);
    EXPECT_GE(event.latency_ns, 300 * nanos_per_ms);
    // The loop resumes: still muted, and no second event.
    for (int i = 0; i < 20; ++i) {
        deadman.poll(monotonic_now());
        std::this_thread::sleep_for(10ms);
    }
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(deadman.fired());
    EXPECT_EQ(recorder.watchdog_events().size(), 1U);
    EXPECT_EQ(recorder.engine_count(), 0U);
}

TEST(Deadman, NeverFiresOnceStopped) {
    EventFanout sinks;
    const std::atomic<bool> stop{false};
    Deadman deadman(node::DeadmanSettings{.timeout_ns = 200 * nanos_per_ms}, sinks, stop);
    deadman.start();
    deadman.poll(monotonic_now());
    deadman.stop();  // the loop returned: hbd is stopping, not stalled
    std::this_thread::sleep_for(500ms);
    EXPECT_FALSE(deadman.fired());
}

TEST(Deadman, TheTestHookStallsTheLoopOnlyWhenEnabled) {
    EventFanout sinks;
    std::atomic<bool> stop{false};
    Deadman off(node::DeadmanSettings{.timeout_ns = nanos_per_s}, sinks, stop);
    off.toggle_test_stall();
    off.poll(monotonic_now());  // returns at once: no hook
    Deadman on(node::DeadmanSettings{.timeout_ns = nanos_per_s, .test_hook = true}, sinks, stop);
    on.toggle_test_stall();
    std::atomic<bool> returned{false};
    std::thread loop([&] {
        on.poll(monotonic_now());
        returned = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(returned.load());
    on.toggle_test_stall();
    EXPECT_TRUE(eventually([&] { return returned.load(); }));
    loop.join();
}

TEST(DeadmanHalt, IsRefusedWithTheEnvironmentGuard) {
    ASSERT_EQ(setenv("HB_DEADMAN_NO_HALT", "1", 1), 0);
    EXPECT_EQ(halt_refusal(), "HB_DEADMAN_NO_HALT is set");
}

TEST(DeadmanHalt, IsRefusedOutsideTheInitialNetworkNamespace) {
    // In a child, so the test process keeps its namespace; only halt_refusal() is called there.
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        unsetenv("HB_DEADMAN_NO_HALT");
        if (unshare(CLONE_NEWNET) != 0) {
            _exit(77);
        }
        _exit(halt_refusal().find("namespaces") != std::string::npos ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        GTEST_SKIP() << "unshare(CLONE_NEWNET) not permitted: needs root";
    }
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---- systemd -------------------------------------------------------------------------------

class NotifySocket {
public:
    explicit NotifySocket(const fs::path& path) : fd_(socket(AF_UNIX, SOCK_DGRAM, 0)) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        bound_ = bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
        timeval timeout{.tv_sec = 0, .tv_usec = 100'000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~NotifySocket() { close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    bool bound() const { return bound_; }
    std::vector<std::string> drain() const {
        std::vector<std::string> out;
        std::string buffer(4096, '\0');
        for (ssize_t n; (n = recv(fd_, buffer.data(), buffer.size(), 0)) > 0;) {
            out.emplace_back(buffer.data(), static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    int fd_;
    bool bound_ = false;
};

TEST(Systemd, NotifiesStateChangesAndPingsTheWatchdogAtHalfItsPeriod) {
    if (!systemd_supported()) {
        GTEST_SKIP() << "built without libsystemd: hbd does not notify";
    }
    const TempDir dir;
    const NotifySocket socket(dir.path() / "notify");
    ASSERT_TRUE(socket.bound());
    ASSERT_EQ(setenv("NOTIFY_SOCKET", (dir.path() / "notify").c_str(), 1), 0);
    ASSERT_EQ(setenv("WATCHDOG_USEC", "100000", 1), 0);
    unsetenv("WATCHDOG_PID");
    SystemdNotifier notifier;
    notifier.ready();
    notifier.reloading();
    notifier.stopping();
    const std::vector<std::string> states = socket.drain();
    ASSERT_EQ(states.size(), 3U);
    EXPECT_EQ(states[0], "READY=1");
    EXPECT_TRUE(states[1].starts_with("RELOADING=1\nMONOTONIC_USEC=")) << states[1];
    EXPECT_EQ(states[2], "STOPPING=1");

    SystemdWatchdog watchdog;
    std::string error;
    ASSERT_TRUE(watchdog.open(monotonic_now(), error)) << error;
    ASSERT_TRUE(watchdog.enabled());
    EXPECT_EQ(watchdog.period_ns(), 100 * nanos_per_ms);
    EXPECT_GE(watchdog.wait_fd(), 0);
    // A busy loop for 500 ms: pings every 50 ms, not one per turn.
    std::uint64_t turns = 0;
    const Nanos until = monotonic_now() + 500 * nanos_per_ms;
    for (Nanos now = monotonic_now(); now < until; now = monotonic_now()) {
        watchdog.poll(now);
        ++turns;
    }
    const std::vector<std::string> pings = socket.drain();
    EXPECT_GT(turns, 1000U);
    EXPECT_GE(pings.size(), 5U);
    EXPECT_LE(pings.size(), 12U);
    EXPECT_EQ(watchdog.pings(), pings.size());
    for (const std::string& ping : pings) {
        EXPECT_EQ(ping, "WATCHDOG=1");
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
}

TEST(Systemd, WithoutAWatchdogNothingIsPolled) {
    unsetenv("WATCHDOG_USEC");
    SystemdWatchdog watchdog;
    std::string error;
    ASSERT_TRUE(watchdog.open(monotonic_now(), error)) << error;
    EXPECT_FALSE(watchdog.enabled());
    EXPECT_EQ(watchdog.wait_fd(), -1);
    EXPECT_FALSE(watchdog.poll(monotonic_now()));
}

}  // namespace
}  // namespace hb::hbd
