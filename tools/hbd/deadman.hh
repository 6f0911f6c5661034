// The deadman switch (docs/operations.md, Deadman): a watchdog thread watches a progress counter
// that the engine loop bumps every turn. When the loop has not turned for [deadman] timeout_ms,
// the node is muted for good (its engine sends nothing more, even if the loop resumes, until hbd
// restarts), so that peers judge it down rather than trust a node that cannot keep time; the
// watchdog reports DEADMAN itself, since the engine thread is stuck. action = "halt" powers the
// machine off instead, where the guards allow it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "hb/model.hh"
#include "hb/runner.hh"
#include "tools/hbd/event_sinks.hh"
#include "tools/node/config.hh"

namespace hb::hbd {

// Why action = "halt" may not power this machine off; "" when it may. It never may when the
// environment has HB_DEADMAN_NO_HALT (the test harness sets it for every hbd it starts), nor
// outside the initial PID and network namespaces (a test's node, a container).
std::string halt_refusal() noexcept;

class Deadman final : public Poller {
public:
    // `stop` ends a test stall; `sinks` get the DEADMAN event. All must outlive the deadman.
    Deadman(const node::DeadmanSettings& settings, EventFanout& sinks,
            const std::atomic<bool>& stop);
    ~Deadman() override;  // stops and joins the watchdog
    Deadman(const Deadman&) = delete;
    Deadman& operator=(const Deadman&) = delete;

    // The flag the engine checks before it sends (Engine::set_mute_flag).
    const std::atomic<bool>& mute_flag() const noexcept { return mute_; }
    bool fired() const noexcept { return mute_.load(std::memory_order_relaxed); }

    // Starts the watchdog thread; call when the engine loop is about to run.
    void start();
    // Stops and joins it; call when the loop has returned (a stop is no stall).
    void stop() noexcept;

    // The engine loop's turn: progress. With test_hook, a requested stall happens here.
    int wait_fd() const noexcept override { return -1; }
    bool poll(Nanos now) noexcept override;

    // With test_hook: toggles a stall of the engine loop (async-signal-safe: SIGUSR2's handler).
    void toggle_test_stall() noexcept;

private:
    void watch() noexcept;
    void fire(Nanos now, Nanos stalled_ns) noexcept;

    node::DeadmanSettings settings_;
    EventFanout& sinks_;
    const std::atomic<bool>& stop_requested_;
    std::atomic<std::uint64_t> progress_{0};
    std::atomic<bool> mute_{false};
    std::atomic<bool> stall_{false};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace hb::hbd
