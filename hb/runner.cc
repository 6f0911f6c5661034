#include "hb/runner.hh"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <thread>
#include <vector>

#include "hb/assert.hh"

namespace hb {

namespace {

constexpr std::size_t max_ingest_per_loop = 256;

int make_epoll_for(std::span<Transport* const> transports) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    HB_ASSERT(fd >= 0);
    for (std::uint32_t l = 0; l < transports.size(); ++l) {
        const int wait_fd = transports[l]->wait_fd();
        if (wait_fd < 0) {
            continue;
        }
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = l;
        HB_ASSERT(epoll_ctl(fd, EPOLL_CTL_ADD, wait_fd, &event) == 0);
    }
    return fd;
}

void add_pollers(int epoll_fd, std::span<Poller* const> pollers) {
    for (Poller* poller : pollers) {
        if (poller->wait_fd() < 0) {
            continue;
        }
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = UINT32_MAX;
        HB_ASSERT(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, poller->wait_fd(), &event) == 0);
    }
}

bool poll_all(std::span<Poller* const> pollers, Nanos now) {
    bool did_work = false;
    for (Poller* poller : pollers) {
        did_work = poller->poll(now) || did_work;
    }
    return did_work;
}

bool has_polled_transport(std::span<Transport* const> transports) {
    return std::any_of(transports.begin(), transports.end(),
                       [](const Transport* t) { return t->wait_fd() < 0; });
}

// Sleeps on `epoll_fd` until something is readable or the deadline passes; a transport that must
// be polled turns the sleep into a check.
void wait_until(int epoll_fd, Nanos deadline, Nanos now, Nanos max_sleep_ns, bool must_poll) {
    Nanos sleep_ns = std::clamp<Nanos>(deadline - now, 0, max_sleep_ns);
    if (must_poll) {
        sleep_ns = 0;
    }
    timespec timeout{.tv_sec = sleep_ns / nanos_per_s, .tv_nsec = sleep_ns % nanos_per_s};
    std::array<epoll_event, 16> ready{};
    const int n =
        epoll_pwait2(epoll_fd, ready.data(), static_cast<int>(ready.size()), &timeout, nullptr);
    HB_ASSERT(n >= 0 || errno == EINTR);
}

}  // namespace

PollerSlot::PollerSlot() : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
    HB_ASSERT(epoll_fd_ >= 0);
}

PollerSlot::~PollerSlot() {
    close(epoll_fd_);
}

void PollerSlot::hold(Poller* poller) noexcept {
    if (watched_fd_ >= 0) {
        // The old poller may have closed its fd already, which took it out of the set.
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watched_fd_, nullptr);
        watched_fd_ = -1;
    }
    poller_ = poller;
    if (poller_ != nullptr && poller_->wait_fd() >= 0) {
        epoll_event event{};
        event.events = EPOLLIN;
        HB_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, poller_->wait_fd(), &event) == 0);
        watched_fd_ = poller_->wait_fd();
    }
}

SingleThreadRunner::SingleThreadRunner(Engine& engine, std::span<Poller* const> pollers)
    : engine_(engine),
      pollers_(pollers),
      epoll_fd_(make_epoll_for(engine.transports())),
      must_poll_(has_polled_transport(engine.transports())) {
    add_pollers(epoll_fd_, pollers_);
}

SingleThreadRunner::~SingleThreadRunner() {
    close(epoll_fd_);
}

void SingleThreadRunner::run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
                             Nanos max_sleep_ns) {
    HB_ASSERT(engine_.started());
    while (!stop.load(std::memory_order_relaxed)) {
        const bool did_work = poll_once();
        if (after_poll) {
            after_poll();
        }
        if (did_work) {
            continue;  // more may be waiting; sleep only when a poll found nothing
        }
        sleep(max_sleep_ns);
    }
}

bool SingleThreadRunner::step(Nanos max_sleep_ns) {
    HB_ASSERT(engine_.started());
    if (poll_once()) {
        return true;
    }
    if (max_sleep_ns <= 0) {
        return false;
    }
    sleep(max_sleep_ns);
    return poll_once();
}

bool SingleThreadRunner::poll_once() {
    ++counters_.loops;
    const bool polled = poll_all(pollers_, monotonic_now());
    return engine_.poll(monotonic_now()) || polled;
}

void SingleThreadRunner::sleep(Nanos max_sleep_ns) {
    wait_until(epoll_fd_, engine_.next_deadline(), monotonic_now(), max_sleep_ns, must_poll_);
    ++counters_.wakeups;
}

ThreadedRunner::ThreadedRunner(Engine& engine, std::span<Poller* const> pollers,
                               std::size_t queue_capacity)
    : engine_(engine),
      pollers_(pollers),
      queue_(queue_capacity),
      rx_epoll_fd_(make_epoll_for(engine.transports())),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      engine_epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
    HB_ASSERT(wake_fd_ >= 0 && engine_epoll_fd_ >= 0);
    epoll_event event{};
    event.events = EPOLLIN;
    HB_ASSERT(epoll_ctl(engine_epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) == 0);
    add_pollers(engine_epoll_fd_, pollers_);
}

ThreadedRunner::~ThreadedRunner() {
    close(rx_epoll_fd_);
    close(wake_fd_);
    close(engine_epoll_fd_);
}

RunnerCounters ThreadedRunner::counters() const noexcept {
    RunnerCounters copy = counters_;
    copy.rx_queue_full = rx_queue_full_.load(std::memory_order_relaxed);
    return copy;
}

void ThreadedRunner::receive_loop(const std::atomic<bool>& stop) noexcept {
    const auto transports = engine_.transports();
    const bool must_poll = has_polled_transport(transports);
    std::vector<RxRecord> burst(32);
    while (!stop.load(std::memory_order_relaxed)) {
        std::size_t received = 0;
        for (std::uint32_t l = 0; l < transports.size(); ++l) {
            const std::size_t count = transports[l]->receive(burst);
            for (std::size_t i = 0; i < count; ++i) {
                if (!queue_.push(Item{.local = l, .record = burst[i]})) {
                    rx_queue_full_.fetch_add(1, std::memory_order_relaxed);
                }
            }
            received += count;
        }
        if (received != 0) {
            const std::uint64_t one = 1;
            [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof one);
            continue;
        }
        wait_until(rx_epoll_fd_, monotonic_now() + 50 * nanos_per_ms, monotonic_now(),
                   50 * nanos_per_ms, must_poll);
    }
}

void ThreadedRunner::run(const std::atomic<bool>& stop, const AfterPoll& after_poll,
                         Nanos max_sleep_ns) {
    HB_ASSERT(engine_.started());
    std::thread receiver([this, &stop] { receive_loop(stop); });
    while (!stop.load(std::memory_order_relaxed)) {
        ++counters_.loops;
        // One bounded burst per iteration keeps ticks on time when the queue is long.
        std::size_t taken = 0;
        for (Item item; taken < max_ingest_per_loop && queue_.pop(item); ++taken) {
            engine_.ingest(item.local, item.record);
        }
        bool did_work = taken != 0;
        did_work = poll_all(pollers_, monotonic_now()) || did_work;
        did_work = engine_.tick(monotonic_now()) || did_work;
        if (after_poll) {
            after_poll();
        }
        if (did_work) {
            continue;
        }
        std::uint64_t drained = 0;
        [[maybe_unused]] const ssize_t got = read(wake_fd_, &drained, sizeof drained);
        if (queue_.read_available() != 0) {
            continue;
        }
        wait_until(engine_epoll_fd_, engine_.next_deadline(), monotonic_now(), max_sleep_ns, false);
        ++counters_.wakeups;
    }
    receiver.join();
}

}  // namespace hb
