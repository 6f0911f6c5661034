#include "transport/dpdk/dpdk_lcore.hh"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

// A system header (meson: include_type 'system'), like every DPDK header here.
#include <rte_pause.h>

#include "hb/assert.hh"

namespace hb::transport {

namespace {

// Only the thread that owns the counter writes it: a plain add, no locked instruction.
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

DpdkLcoreTransport::DpdkLcoreTransport(std::unique_ptr<DpdkTransport> port,
                                       const LcoreOptions& options)
    : options_(options),
      port_(std::move(port)),
      rx_ring_(options.rx_ring_records),
      tx_ring_(options.tx_ring_records) {}

std::variant<std::unique_ptr<DpdkLcoreTransport>, std::string> DpdkLcoreTransport::start(
    std::unique_ptr<DpdkTransport> port, const LcoreOptions& options) {
    if (port == nullptr) {
        return std::string("lcore mode needs an open DPDK port");
    }
    if (options.rx_ring_records == 0 || options.tx_ring_records == 0) {
        return "DPDK port \"" + port->options().port + "\": lcore ring sizes must be positive";
    }
    if (options.priority < 0 || options.priority > 99) {
        return "DPDK port \"" + port->options().port + "\": polling thread priority " +
               std::to_string(options.priority) + " is not in 0..99";
    }
    std::unique_ptr<DpdkLcoreTransport> transport{new DpdkLcoreTransport(std::move(port), options)};
    if (options.wake_engine) {
        transport->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (transport->wake_fd_ < 0) {
            return "DPDK port \"" + transport->port_->options().port +
                   "\": eventfd for the engine's wakeups: " + std::strerror(errno);
        }
    }
    DpdkLcoreTransport* self = transport.get();
    transport->thread_ = std::thread([self] { self->run(); });
    pthread_setname_np(transport->thread_.native_handle(), "hb-dpdk-lcore");
    if (options.cpu >= 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(static_cast<unsigned>(options.cpu), &cpus);
        const int result =
            pthread_setaffinity_np(transport->thread_.native_handle(), sizeof cpus, &cpus);
        if (result != 0) {
            return "DPDK port \"" + transport->port_->options().port +
                   "\": pinning its polling thread to CPU " + std::to_string(options.cpu) + ": " +
                   std::strerror(result);  // the destructor stops the thread
        }
    }
    if (options.priority > 0) {
        const sched_param param{.sched_priority = options.priority};
        const int result =
            pthread_setschedparam(transport->thread_.native_handle(), SCHED_FIFO, &param);
        if (result != 0) {
            return "DPDK port \"" + transport->port_->options().port + "\": SCHED_FIFO " +
                   std::to_string(options.priority) +
                   " for its polling thread: " + std::strerror(result);
        }
    }
    return transport;
}

std::pair<int, int> DpdkLcoreTransport::polling_thread_scheduling() noexcept {
    int policy = -1;
    sched_param param{};
    if (!thread_.joinable() ||
        pthread_getschedparam(thread_.native_handle(), &policy, &param) != 0) {
        return {-1, 0};
    }
    return {policy, param.sched_priority};
}

DpdkLcoreTransport::~DpdkLcoreTransport() {
    stop();
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
    }
    // port_ closes after this body: the polling thread no longer touches it.
}

void DpdkLcoreTransport::stop() noexcept {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void DpdkLcoreTransport::run() noexcept {
    while (!stop_.load(std::memory_order_relaxed)) {
        bump(poller_side_.polls);
        if (poll_once()) {
            continue;
        }
        bump(poller_side_.idle_polls);
        if (options_.idle_sleep_ns > 0) {
            std::this_thread::sleep_for(std::chrono::nanoseconds(options_.idle_sleep_ns));
        } else {
            rte_pause();
        }
    }
}

// One RX burst into the ring and one TX burst out of it: bounded work per iteration.
bool DpdkLcoreTransport::poll_once() noexcept {
    const std::size_t received = port_->receive(rx_burst_);
    if (received != 0) {
        const std::size_t pushed = rx_ring_.push(rx_burst_.data(), received);
        if (pushed < received) {
            bump(poller_side_.rx_ring_full, received - pushed);
        }
        if (pushed != 0) {
            signal_engine();
        }
    }
    const std::size_t queued = tx_ring_.pop(tx_burst_.data(), tx_burst_.size());
    if (queued != 0) {
        port_->send({tx_burst_.data(), queued});  // what the port did not take, it counted
    }
    return received != 0 || queued != 0;
}

// After a push. With receive()'s fence, either the engine's second pop sees the push, or this
// exchange sees the engine's "not pending" and writes (Dekker-style: both fences are seq_cst).
void DpdkLcoreTransport::signal_engine() noexcept {
    if (wake_fd_ < 0) {
        return;
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!wake_pending_.exchange(true, std::memory_order_relaxed)) {
        // Counted before the write: whoever sees the eventfd readable sees the count too.
        bump(poller_side_.wakeups_sent);
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
    }
}

std::size_t DpdkLcoreTransport::receive(std::span<RxRecord> out) noexcept {
    std::size_t taken = rx_ring_.pop(out.data(), out.size());
    if (taken != 0 || wake_fd_ < 0) {
        return taken;
    }
    // About to say "nothing": clear the wakeup, then look again, so that a record pushed
    // meanwhile is either taken now or signalled anew (the engine may sleep after this).
    wake_pending_.store(false, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t got = ::read(wake_fd_, &count, sizeof count);
    taken = rx_ring_.pop(out.data(), out.size());
    return taken;
}

std::size_t DpdkLcoreTransport::send(std::span<const TxRecord> batch) noexcept {
    const std::size_t pushed = tx_ring_.push(batch.data(), batch.size());
    if (pushed < batch.size()) {
        bump(engine_side_.tx_ring_full, batch.size() - pushed);
    }
    return pushed;
}

LcoreCounters DpdkLcoreTransport::lcore_counters() const noexcept {
    return LcoreCounters{
        .polls = poller_side_.polls.load(std::memory_order_relaxed),
        .idle_polls = poller_side_.idle_polls.load(std::memory_order_relaxed),
        .rx_ring_full = poller_side_.rx_ring_full.load(std::memory_order_relaxed),
        .tx_ring_full = engine_side_.tx_ring_full.load(std::memory_order_relaxed),
        .wakeups_sent = poller_side_.wakeups_sent.load(std::memory_order_relaxed),
    };
}

TransportCounters DpdkLcoreTransport::counters() const noexcept {
    TransportCounters counters = port_->counters();
    const LcoreCounters lcore = lcore_counters();
    counters.rx_errors += lcore.rx_ring_full;
    counters.tx_errors += lcore.tx_ring_full;
    return counters;
}

}  // namespace hb::transport
