// SIGHUP reload (docs/operations.md, Reload). A thread of its own re-reads and checks the
// configuration, so the engine never waits on a file or a parser; what may change in a running
// node ([timing], [netmon]) goes to the engine thread as a plan through an SPSC queue, and the
// engine loop applies it at its next turn. Everything else that changed is logged as needing a
// restart and ignored; a configuration with errors is logged with its lines and not used.
#pragma once

#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "hb/runner.hh"
#include "tools/hbd/systemd.hh"
#include "tools/node/config.hh"
#include "tools/node/node.hh"
#include "tools/node/reload.hh"

namespace hb::hbd {

class Reloader final : public Poller {
public:
    // `running` is what the node was started with; `node` and `notifier` must outlive this.
    Reloader(std::filesystem::path config_path, node::NodeSettings running, node::Node& node,
             SystemdNotifier& notifier);
    ~Reloader() override;  // stops and joins the thread; restores SIGHUP to ignored
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

    // Starts the thread and installs the SIGHUP handler (one Reloader per process).
    [[nodiscard]] bool start(std::string& error);

    // Engine thread: readable when a plan is ready; poll() applies it.
    int wait_fd() const noexcept override { return ready_fd_; }
    bool poll(Nanos now) noexcept override;

    std::uint64_t reloads() const noexcept { return reloads_.load(std::memory_order_relaxed); }

private:
    void run() noexcept;
    void reload() noexcept;

    std::filesystem::path config_path_;
    node::NodeSettings running_;  // the reload thread's view of what runs
    node::Node& node_;
    SystemdNotifier& notifier_;
    boost::lockfree::spsc_queue<node::ReloadPlan*> plans_{4};
    int hup_fd_ = -1;    // eventfd: SIGHUP arrived (or stop)
    int ready_fd_ = -1;  // eventfd: a plan waits for the engine thread
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> reloads_{0};
    std::thread thread_;
};

}  // namespace hb::hbd
