// The DPDK transport's lcore mode: a thread of its own busy-polls the port (RX burst, parse, TX
// burst) and trades fixed-size records with the engine thread through two SPSC rings, so the
// engine's Transport calls touch only the rings and the engine may sleep between beats.
// This header includes no DPDK header.
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "hb/transport.hh"
#include "transport/dpdk/dpdk_transport.hh"

namespace hb::transport {

struct LcoreOptions {
    std::size_t rx_ring_records = 1024;  // port -> engine; full: dropped, counted
    std::size_t tx_ring_records = 1024;  // engine -> port; full: dropped, counted
    int cpu = -1;                        // pin the polling thread to this CPU; -1: leave it
    // 1..99: the polling thread runs SCHED_FIFO at this priority (docs/dpdk.md, A CPU for the
    // polling thread), and start() fails if the kernel refuses; 0: it stays SCHED_OTHER. A
    // spinning FIFO thread leaves its CPU only to higher priorities (and the kernel's small
    // reserve for ordinary tasks): give it an isolated CPU, and the engine a higher priority.
    int priority = 0;
    // 0: spin between empty polls (a dedicated core); otherwise sleep this long after a poll that
    // moved nothing (a shared machine, tests), which delays beats by up to that much.
    Nanos idle_sleep_ns = 0;
    // true: wait_fd() is an eventfd the polling thread signals when the RX ring stops being
    // empty, so the engine thread can sleep; false: wait_fd() is -1 and the engine must poll.
    bool wake_engine = true;
};

// The polling thread's side, written by it alone, read from anywhere.
struct LcoreCounters {
    std::uint64_t polls = 0;         // loop iterations
    std::uint64_t idle_polls = 0;    // iterations that moved nothing
    std::uint64_t rx_ring_full = 0;  // datagrams received from the port with no room in the ring
    std::uint64_t tx_ring_full = 0;  // records the engine could not queue (engine side)
    std::uint64_t wakeups_sent = 0;  // eventfd writes
};

class DpdkLcoreTransport final : public Transport {
public:
    // Takes the open port and starts its polling thread. From here on only that thread calls the
    // port's receive() and send(); the caller keeps reading its counters and link state.
    static std::variant<std::unique_ptr<DpdkLcoreTransport>, std::string> start(
        std::unique_ptr<DpdkTransport> port, const LcoreOptions& options);

    // stop(), then the port closes (docs/dpdk.md: shutdown order).
    ~DpdkLcoreTransport() override;
    DpdkLcoreTransport(const DpdkLcoreTransport&) = delete;
    DpdkLcoreTransport& operator=(const DpdkLcoreTransport&) = delete;

    // Stops and joins the polling thread; idempotent. Records still in the rings stay there (they
    // hold no mbufs): receive() may still take them and send() still queues, but nothing moves.
    void stop() noexcept;
    bool running() const noexcept { return thread_.joinable(); }

    // Engine thread only: the rings' consumer and producer ends.
    std::size_t receive(std::span<RxRecord> out) noexcept override;
    std::size_t send(std::span<const TxRecord> batch) noexcept override;
    int wait_fd() const noexcept override { return wake_fd_; }
    // The port's own link_state(): a control-path read that touches no queue.
    LinkState link_state() const noexcept override { return port_->link_state(); }
    // The port's counters, with records lost to full rings added to rx_errors and tx_errors;
    // rx_datagrams and tx_datagrams are what crossed the port.
    TransportCounters counters() const noexcept override;
    LcoreCounters lcore_counters() const noexcept;

    const DpdkTransport& port() const noexcept { return *port_; }
    const LcoreOptions& options() const noexcept { return options_; }
    // The polling thread's scheduling policy and priority, as the kernel reports them.
    [[nodiscard]] std::pair<int, int> polling_thread_scheduling() noexcept;

private:
    DpdkLcoreTransport(std::unique_ptr<DpdkTransport> port, const LcoreOptions& options);
    void run() noexcept;
    bool poll_once() noexcept;
    void signal_engine() noexcept;

    struct alignas(64) PollerSide {
        std::atomic<std::uint64_t> polls{0};
        std::atomic<std::uint64_t> idle_polls{0};
        std::atomic<std::uint64_t> rx_ring_full{0};
        std::atomic<std::uint64_t> wakeups_sent{0};
    };
    struct alignas(64) EngineSide {
        std::atomic<std::uint64_t> tx_ring_full{0};
    };

    LcoreOptions options_;
    std::unique_ptr<DpdkTransport> port_;
    boost::lockfree::spsc_queue<RxRecord> rx_ring_;
    boost::lockfree::spsc_queue<TxRecord> tx_ring_;
    int wake_fd_ = -1;
    // Set by the polling thread when it writes the eventfd, cleared by the engine before it
    // reads it: one write per sleep of the engine, not one per burst.
    alignas(64) std::atomic<bool> wake_pending_{false};
    alignas(64) std::atomic<bool> stop_{false};
    PollerSide poller_side_;
    EngineSide engine_side_;
    // The polling thread's bursts, sized once.
    std::array<RxRecord, DpdkTransport::max_burst> rx_burst_{};
    std::array<TxRecord, DpdkTransport::max_burst> tx_burst_{};
    std::thread thread_;  // last: started when everything above exists
};

}  // namespace hb::transport
