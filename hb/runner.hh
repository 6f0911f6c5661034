// Run loops that drive an Engine on real time. SingleThreadRunner receives, ticks and sleeps on
// one thread (the default, and what a two-core machine runs best); ThreadedRunner adds a receive
// thread that feeds the engine thread through a bounded lock-free queue.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "hb/engine.hh"

namespace hb {

struct RunnerCounters {
    std::uint64_t loops = 0;
    std::uint64_t wakeups = 0;
    std::uint64_t rx_queue_full = 0;  // threaded: datagrams dropped because the engine lagged
};

// Called on the engine thread after every loop iteration (e.g. to drain events).
using AfterPoll = std::function<void()>;

// Something else the engine thread must serve (a link watch, a netmon prober): polled once per
// loop iteration before the engine ticks, and woken by its file descriptor. Runs on the engine
// thread, so it may call into the engine's detector.
class Poller {
public:
    virtual ~Poller() = default;
    // Readable when poll() has work; -1 if it only needs the loop's regular iterations.
    virtual int wait_fd() const noexcept = 0;
    // Does at most one bounded step of work; true if it did any.
    virtual bool poll(Nanos now) noexcept = 0;
};

// A poller that can be replaced while a runner runs (a reload rebuilds a prober): the runner
// watches the slot's own epoll fd, which follows whatever the slot holds. Engine thread only.
class PollerSlot final : public Poller {
public:
    PollerSlot();
    ~PollerSlot() override;
    PollerSlot(const PollerSlot&) = delete;
    PollerSlot& operator=(const PollerSlot&) = delete;

    // Not owned; nullptr empties the slot.
    void hold(Poller* poller) noexcept;
    Poller* held() const noexcept { return poller_; }
    int wait_fd() const noexcept override { return epoll_fd_; }
    bool poll(Nanos now) noexcept override { return poller_ != nullptr && poller_->poll(now); }

private:
    int epoll_fd_ = -1;
    int watched_fd_ = -1;
    Poller* poller_ = nullptr;
};

class SingleThreadRunner {
public:
    explicit SingleThreadRunner(Engine& engine, std::span<Poller* const> pollers = {});
    ~SingleThreadRunner();
    SingleThreadRunner(const SingleThreadRunner&) = delete;
    SingleThreadRunner& operator=(const SingleThreadRunner&) = delete;

    // Runs until `stop` is set (checked at least every `max_sleep_ns`).
    void run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
             Nanos max_sleep_ns = 50 * nanos_per_ms);
    // One iteration for an embedder that owns the loop: polls the pollers and the engine; when
    // they found nothing, sleeps until the engine's next deadline, a readable transport or
    // poller, or `max_sleep_ns` (0: never sleeps), and polls again. True if either poll did work.
    bool step(Nanos max_sleep_ns);
    const RunnerCounters& counters() const noexcept { return counters_; }

private:
    bool poll_once();
    void sleep(Nanos max_sleep_ns);

    Engine& engine_;
    std::span<Poller* const> pollers_;
    int epoll_fd_ = -1;
    bool must_poll_ = false;  // a transport has no file descriptor to sleep on
    RunnerCounters counters_;
};

class ThreadedRunner {
public:
    ThreadedRunner(Engine& engine, std::span<Poller* const> pollers = {},
                   std::size_t queue_capacity = 8192);
    ~ThreadedRunner();
    ThreadedRunner(const ThreadedRunner&) = delete;
    ThreadedRunner& operator=(const ThreadedRunner&) = delete;

    // Starts the receive thread, runs the engine on the calling thread until `stop`, joins.
    void run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
             Nanos max_sleep_ns = 50 * nanos_per_ms);
    RunnerCounters counters() const noexcept;

private:
    struct Item {
        std::uint32_t local = 0;
        RxRecord record;
    };
    void receive_loop(const std::atomic<bool>& stop) noexcept;

    Engine& engine_;
    std::span<Poller* const> pollers_;
    boost::lockfree::spsc_queue<Item> queue_;
    int rx_epoll_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: the receive thread wakes the engine thread
    int engine_epoll_fd_ = -1;
    std::atomic<std::uint64_t> rx_queue_full_{0};
    RunnerCounters counters_;
};

}  // namespace hb
