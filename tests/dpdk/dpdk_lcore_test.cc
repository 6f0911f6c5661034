// The DPDK transport's lcore mode on net_ring ports: records cross through the polling thread and
// wake the engine's eventfd, full rings are counted both ways, set-up errors are values, the
// engine side allocates nothing, and start/stop cycles return every mbuf.
#include <poll.h>

#include <chrono>
#include <functional>
#include <thread>

#include "tests/dpdk/dpdk_test_support.hh"
#include "tests/support/allocation_counter.hh"
#include "transport/dpdk/dpdk_lcore.hh"

namespace hb::transport {
namespace {

constexpr Ipv4 ip_a{0xC6120201};  // 198.18.2.1
constexpr Ipv4 ip_b{0xC6120202};
constexpr Ipv4 group{0xE4120201};  // 228.18.2.1
constexpr std::uint16_t udp_port = 4098;

// Gentle on a shared machine; the spinning variant runs in the start/stop cycles.
constexpr LcoreOptions sleepy{.idle_sleep_ns = 20'000};

std::unique_ptr<DpdkTransport> open_port(const DpdkOptions& options) {
    auto opened = DpdkTransport::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) {
        ADD_FAILURE() << *error;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<DpdkTransport>>(opened));
}

std::unique_ptr<DpdkLcoreTransport> start_lcore(std::unique_ptr<DpdkTransport> port,
                                                const LcoreOptions& options) {
    auto started = DpdkLcoreTransport::start(std::move(port), options);
    if (auto* error = std::get_if<std::string>(&started)) {
        ADD_FAILURE() << *error;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<DpdkLcoreTransport>>(started));
}

TxRecord record_to(Ipv4 address, std::uint8_t fill) {
    TxRecord record{.dst_address = address, .dst_port = udp_port, .length = 64};
    for (std::size_t i = 0; i < record.length; ++i) {
        record.bytes[i] = static_cast<std::uint8_t>(fill ^ i);
    }
    return record;
}

// Polls `condition` for up to 5 s of real time.
bool eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 5000; ++i) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return condition();
}

bool readable(int fd, int timeout_ms) {
    pollfd entry{.fd = fd, .events = POLLIN, .revents = 0};
    return ::poll(&entry, 1, timeout_ms) == 1 && (entry.revents & POLLIN) != 0;
}

// Two net_ring ports wired back to back, each port's neighbour static (no ARP to wait for).
class LcorePair : public ::testing::Test {
protected:
    void SetUp() override {
        HB_REQUIRE_EAL();
        cable_.make("l" + std::to_string(serial_++));
    }
    void TearDown() override {
        if (!test::eal_error().empty()) {
            return;
        }
        if (a_) {
            a_->stop();  // no polling thread may touch a port's rings while they are drained
        }
        if (b_) {
            b_->stop();
        }
        cable_.drain();
        a_.reset();
        b_.reset();
        cable_.destroy();
    }
    // net_ring ports have no MAC: the transport makes 02:68:62 + the low 24 bits of the address.
    static frame::MacAddress mac_of(Ipv4 address) {
        return {{0x02, 0x68, 0x62, static_cast<std::uint8_t>(address.value >> 16),
                 static_cast<std::uint8_t>(address.value >> 8),
                 static_cast<std::uint8_t>(address.value)}};
    }
    DpdkOptions options(const std::string& name, Ipv4 address, Ipv4 peer) const {
        return {.port = "net_ring_" + name,
                .address = address,
                .udp_port = udp_port,
                .neighbours = {{.address = peer, .mac = mac_of(peer)}}};
    }
    // A closed port is released (DPDK 22.11): a new one on the same rings takes its name again.
    std::unique_ptr<DpdkTransport> reopen_a() {
        test::remove_ring_port(cable_.name_a);
        if (test::make_ring_port(cable_.name_a, cable_.b_to_a, cable_.a_to_b) < 0) {
            ADD_FAILURE() << "cannot make net_ring_" << cable_.name_a << " again";
            return nullptr;
        }
        return open_port(options(cable_.name_a, ip_a, ip_b));
    }
    void start_both(const LcoreOptions& a, const LcoreOptions& b) {
        a_ = start_lcore(open_port(options(cable_.name_a, ip_a, ip_b)), a);
        b_ = start_lcore(open_port(options(cable_.name_b, ip_b, ip_a)), b);
        ASSERT_NE(a_, nullptr);
        ASSERT_NE(b_, nullptr);
    }

    static inline int serial_ = 0;
    test::RingCable cable_;
    std::unique_ptr<DpdkLcoreTransport> a_;
    std::unique_ptr<DpdkLcoreTransport> b_;
};

TEST(DpdkLcoreStart, ErrorsAreValues) {
    auto none = DpdkLcoreTransport::start(nullptr, {});
    ASSERT_TRUE(std::holds_alternative<std::string>(none));
}

TEST_F(LcorePair, SetUpErrorsAreValuesAndStopTheThread) {
    auto empty_ring = DpdkLcoreTransport::start(open_port(options(cable_.name_a, ip_a, ip_b)),
                                                {.rx_ring_records = 0});
    ASSERT_TRUE(std::holds_alternative<std::string>(empty_ring));
    EXPECT_NE(std::get<std::string>(empty_ring).find("ring sizes"), std::string::npos);
    // The last CPU a cpu_set_t can name exists on no machine this runs on.
    auto no_such_cpu = DpdkLcoreTransport::start(reopen_a(), {.cpu = CPU_SETSIZE - 1});
    ASSERT_TRUE(std::holds_alternative<std::string>(no_such_cpu));
    EXPECT_NE(std::get<std::string>(no_such_cpu).find("pinning"), std::string::npos);
    auto bad_priority = DpdkLcoreTransport::start(reopen_a(), {.priority = 100});
    ASSERT_TRUE(std::holds_alternative<std::string>(bad_priority));
    EXPECT_NE(std::get<std::string>(bad_priority).find("0..99"), std::string::npos);
    a_ = start_lcore(reopen_a(), {.cpu = 0, .idle_sleep_ns = 20'000});
    ASSERT_NE(a_, nullptr);
    EXPECT_TRUE(a_->running());
    EXPECT_EQ(a_->polling_thread_scheduling(), std::make_pair(SCHED_OTHER, 0));
}

// A real-time polling thread: SCHED_FIFO at the priority asked for (the suite runs as root,
// which the EAL needs anyway). It sleeps between idle polls here: a FIFO spinner on this shared
// machine's CPU would starve the test itself.
TEST_F(LcorePair, APollingThreadPriorityIsSchedFifo) {
    a_ = start_lcore(open_port(options(cable_.name_a, ip_a, ip_b)),
                     {.priority = 1, .idle_sleep_ns = 20'000});
    ASSERT_NE(a_, nullptr);
    EXPECT_EQ(a_->polling_thread_scheduling(), std::make_pair(SCHED_FIFO, 1));
}

TEST_F(LcorePair, DatagramsCrossAndWakeTheEngine) {
    start_both(sleepy, sleepy);
    ASSERT_GE(b_->wait_fd(), 0);
    std::array<RxRecord, 32> received{};
    EXPECT_EQ(b_->receive(received), 0U);
    EXPECT_FALSE(readable(b_->wait_fd(), 0));
    const std::array<TxRecord, 3> batch{record_to(ip_b, 1), record_to(ip_b, 2), record_to(ip_b, 3)};
    ASSERT_EQ(a_->send(batch), batch.size());
    // The engine would sleep on wait_fd(): it must become readable.
    ASSERT_TRUE(readable(b_->wait_fd(), 5000));
    std::size_t got = 0;
    ASSERT_TRUE(eventually([&] {
        got += b_->receive(std::span(received).subspan(got));
        return got == batch.size();
    }));
    for (std::size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(received[i].src_address, ip_a);
        EXPECT_EQ(received[i].src_port, udp_port);
        ASSERT_EQ(received[i].length, batch[i].length);
        EXPECT_TRUE(std::equal(batch[i].bytes.begin(), batch[i].bytes.begin() + batch[i].length,
                               received[i].bytes.begin()));
        EXPECT_GT(received[i].rx_ns, 0);
    }
    // Drained: an empty receive clears the wakeup, so a sleeping engine is not woken for nothing.
    EXPECT_EQ(b_->receive(received), 0U);
    EXPECT_FALSE(readable(b_->wait_fd(), 0));
    EXPECT_GE(b_->lcore_counters().wakeups_sent, 1U);
    // And it is signalled again for the next one.
    ASSERT_EQ(a_->send(std::span(batch).first(1)), 1U);
    EXPECT_TRUE(readable(b_->wait_fd(), 5000));
    EXPECT_TRUE(eventually([&] { return b_->receive(received) == 1; }));

    EXPECT_EQ(a_->counters().tx_datagrams, batch.size() + 1);
    EXPECT_EQ(b_->counters().rx_datagrams, batch.size() + 1);
    EXPECT_EQ(a_->counters().tx_errors, 0U);
    EXPECT_EQ(b_->counters().rx_errors, 0U);
    EXPECT_GT(b_->lcore_counters().idle_polls, 0U);
    EXPECT_EQ(b_->link_state(), LinkState::up);
}

TEST_F(LcorePair, WithoutWakeupsTheEngineMustPoll) {
    LcoreOptions polled = sleepy;
    polled.wake_engine = false;
    start_both(sleepy, polled);
    EXPECT_EQ(b_->wait_fd(), -1);
    const std::array<TxRecord, 1> batch{record_to(ip_b, 9)};
    ASSERT_EQ(a_->send(batch), 1U);
    std::array<RxRecord, 4> received{};
    EXPECT_TRUE(eventually([&] { return b_->receive(received) == 1; }));
    EXPECT_EQ(b_->lcore_counters().wakeups_sent, 0U);
}

TEST_F(LcorePair, FullRingsAreCountedBothWays) {
    start_both({.rx_ring_records = 1024, .tx_ring_records = 8, .idle_sleep_ns = 20'000},
               {.rx_ring_records = 8, .tx_ring_records = 8, .idle_sleep_ns = 20'000});
    // Engine to port: with the polling thread stopped nothing drains the TX ring.
    a_->stop();
    EXPECT_FALSE(a_->running());
    const std::vector<TxRecord> batch(20, record_to(ip_b, 5));
    EXPECT_EQ(a_->send(batch), 8U);
    EXPECT_EQ(a_->lcore_counters().tx_ring_full, 12U);
    EXPECT_EQ(a_->counters().tx_errors, 12U);

    // Port to engine: b's engine takes nothing while 20 datagrams arrive.
    a_.reset();
    test::drain_ring(cable_.a_to_b);
    auto sender = reopen_a();
    ASSERT_NE(sender, nullptr);
    ASSERT_EQ(sender->send(batch), batch.size());
    ASSERT_TRUE(eventually([&] { return b_->port().dpdk_counters().rx_datagrams == 20; }));
    EXPECT_EQ(b_->lcore_counters().rx_ring_full, 12U);
    EXPECT_EQ(b_->counters().rx_errors, 12U);
    std::array<RxRecord, 32> received{};
    EXPECT_EQ(b_->receive(received), 8U);
    EXPECT_EQ(b_->receive(received), 0U);
    b_->stop();
    test::drain_ring(cable_.b_to_a);
    EXPECT_EQ(b_->port().mempool_available(), b_->port().mempool_capacity());
}

TEST_F(LcorePair, TheEngineSideDoesNotAllocate) {
    start_both(sleepy, sleepy);
    const std::array<TxRecord, 4> to_b{record_to(ip_b, 1), record_to(ip_b, 2), record_to(ip_b, 3),
                                       record_to(ip_b, 4)};
    std::array<RxRecord, 32> received{};
    const std::uint64_t before = test::allocations.load();
    std::size_t sent = 0;
    std::size_t got = 0;
    for (int round = 0; round < 200; ++round) {
        sent += a_->send(to_b);
        got += b_->receive(received);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    EXPECT_EQ(test::allocations.load(), before);  // both polling threads included
    EXPECT_EQ(sent, 800U);
    EXPECT_GT(got, 0U);
}

// One port whose TX ring is its own RX ring, started and stopped repeatedly with frames in flight:
// every mbuf comes back, and the EAL heap does not grow.
TEST(DpdkLcoreLifetime, StartStopCyclesLeakNothing) {
    HB_REQUIRE_EAL();
    int cycle = 0;
    test::loop_port_cycles("lloop", 20, [&cycle](const std::string& loop_port) {
        {
            // Spinning, as on a dedicated core, but only for a few milliseconds per cycle.
            auto lcore = start_lcore(open_port({.port = loop_port,
                                                .address = ip_a,
                                                .udp_port = udp_port,
                                                .mode = NetworkMode::multicast,
                                                .group = group}),
                                     {});
            ASSERT_NE(lcore, nullptr);
            const DpdkTransport& port = lcore->port();
            const std::vector<TxRecord> batch(40, record_to(group, 7));
            ASSERT_EQ(lcore->send(batch), batch.size());
            // Our own frames come back and are dropped (plus the IGMP report from open).
            ASSERT_TRUE(
                eventually([&] { return port.dpdk_counters().rx_not_for_us == batch.size() + 1; }));
            EXPECT_TRUE(
                eventually([&] { return port.mempool_available() == port.mempool_capacity(); }));
            // Leave frames in the rings and in flight: stop and close must take them back.
            ASSERT_EQ(lcore->send(batch), batch.size());
            std::this_thread::sleep_for(std::chrono::microseconds(50 * cycle++));
        }
    });
}

}  // namespace
}  // namespace hb::transport

int main(int argc, char** argv) {
    return hb::test::dpdk_main(argc, argv, "lcore");
}
