// The composition root: builds a running node from its settings (transports, detector, engine)
// so that hbd and every other embedder assemble a node the same way.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "hb/engine.hh"
#include "hb/runner.hh"
#include "policy/link_poller.hh"
#include "policy/netmon_prober.hh"
#include "policy/node_detector.hh"
#include "policy/timing_advice.hh"
#include "tools/node/config.hh"

namespace hb::node {

class Node {
public:
    // Opens a transport for every local adapter. The message names what failed.
    static std::variant<std::unique_ptr<Node>, std::string> create(NodeSettings settings);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    const NodeSettings& settings() const noexcept { return settings_; }
    Engine& engine() noexcept { return *engine_; }
    const policy::NodeDetector& detector() const noexcept { return detector_; }
    const policy::NetmonProber* netmon_prober() const noexcept { return netmon_prober_.get(); }

    // Starts the engine, the link watch of the local adapters and, when netmon.cf gives any
    // adapter targets, the netmon prober.
    [[nodiscard]] std::string start(Nanos now);
    // Runs the engine with the runner the settings ask for until `stop` is set.
    void run(const std::atomic<bool>& stop, const AfterPoll& after_poll);

private:
    explicit Node(NodeSettings settings);

    NodeSettings settings_;
    policy::NodeDetector detector_;
    std::vector<std::unique_ptr<Transport>> transports_;
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<policy::LinkPoller> link_poller_;
    std::unique_ptr<policy::NetmonProber> netmon_prober_;  // null without netmon targets
    std::unique_ptr<policy::TimingAdvisor> timing_advisor_;
    std::vector<Poller*> pollers_;
};

// Applies real-time priority and memory locking to the calling process/thread. Returns one line
// per setting saying what was done or why it could not be (e.g. not permitted): never fatal.
std::vector<std::string> apply_process_settings(const ProcessSettings& settings);

}  // namespace hb::node
