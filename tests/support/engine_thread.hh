// An engine driven on its own thread by a run loop until stopped, its events collected so that
// the test thread can wait for them (the engine tests over real transports share it).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "hb/assert.hh"
#include "hb/runner.hh"

namespace hb::test {

class EngineThread {
public:
    // Runs the engine's loop until `stop` is set, calling `collect` after every poll.
    using RunLoop = std::function<void(const std::atomic<bool>& stop, const AfterPoll& collect)>;

    EngineThread(Engine& engine, RunLoop run_loop) : engine_(engine) {
        events_.reserve(1024);
        thread_ = std::thread([this, run_loop = std::move(run_loop)] {
            const AfterPoll collect = [this] {
                Event event;
                while (engine_.next_event(event)) {
                    HB_ASSERT(events_.size() < events_.capacity());  // never reallocates
                    events_.push_back(event);
                    event_count_.store(events_.size(), std::memory_order_release);
                }
            };
            run_loop(stop_, collect);
        });
    }
    ~EngineThread() { stop(); }
    EngineThread(const EngineThread&) = delete;
    EngineThread& operator=(const EngineThread&) = delete;

    void stop() {
        stop_.store(true);
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    // Waits (up to 5 s of real time) until an event of `kind` about `node` is seen.
    bool wait_for(EventKind kind, NodeId node) {
        for (int i = 0; i < 500; ++i) {
            // Elements below the published count were written before it was stored.
            const std::size_t seen = event_count_.load(std::memory_order_acquire);
            for (std::size_t e = 0; e < seen; ++e) {
                if (events_[e].kind == kind && events_[e].node == node) {
                    return true;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    // Every event, after stop().
    const std::vector<Event>& events() const { return events_; }
    // "node_up(2) node_down(2) ...", after stop().
    std::string describe() const {
        std::string text;
        for (const Event& event : events_) {
            text += std::string(event_name(event.kind)) + "(" + std::to_string(event.node) + ") ";
        }
        return text;
    }

private:
    Engine& engine_;
    std::vector<Event> events_;
    std::atomic<std::size_t> event_count_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace hb::test
