// The port link poller: link state read from transports on a schedule, passed to the detector
// as evidence::link on every change and once at start.
#include "policy/port_link_poller.hh"

#include <gtest/gtest.h>

#include "tests/support/recording_detector.hh"

namespace hb::policy {
namespace {

// A transport whose link the test sets; it carries nothing.
class LinkOnlyTransport final : public Transport {
public:
    std::size_t receive(std::span<RxRecord>) noexcept override { return 0; }
    std::size_t send(std::span<const TxRecord>) noexcept override { return 0; }
    TransportCounters counters() const noexcept override { return {}; }
    LinkState link_state() const noexcept override {
        ++reads;
        return link;
    }
    LinkState link = LinkState::up;
    mutable int reads = 0;
};

constexpr Nanos period_ns = 10 * nanos_per_ms;
constexpr Nanos start_ns = 1000 * nanos_per_ms;

TEST(PortLinkPoller, ReportsTheInitialStateOfEveryPortThatCanTell) {
    LinkOnlyTransport up;
    LinkOnlyTransport down;
    down.link = LinkState::down;
    LinkOnlyTransport unknown;
    unknown.link = LinkState::unknown;
    test::RecordingDetector detector;
    const auto poller =
        PortLinkPoller::open({{0, &up}, {1, &down}, {2, &unknown}}, detector, period_ns, start_ns);
    ASSERT_EQ(detector.calls.size(), 2U) << test::describe(detector.calls);
    EXPECT_EQ(detector.calls[0].local, 0U);
    EXPECT_TRUE(detector.calls[0].up);
    EXPECT_EQ(detector.calls[0].evidence, evidence::link);
    EXPECT_EQ(detector.calls[1].local, 1U);
    EXPECT_FALSE(detector.calls[1].up);
    EXPECT_EQ(detector.calls[1].since, start_ns);
    EXPECT_EQ(poller->state(2), LinkState::unknown);
    EXPECT_EQ(poller->counters().unknown, 1U);
}

TEST(PortLinkPoller, ReadsOnlyWhenThePeriodIsDue) {
    LinkOnlyTransport port;
    test::RecordingDetector detector;
    const auto poller = PortLinkPoller::open({{0, &port}}, detector, period_ns, start_ns);
    EXPECT_EQ(port.reads, 1);
    EXPECT_FALSE(poller->poll(start_ns + period_ns - 1));
    EXPECT_EQ(port.reads, 1);
    EXPECT_FALSE(poller->poll(start_ns + period_ns));  // read, but nothing changed
    EXPECT_EQ(port.reads, 2);
    EXPECT_FALSE(poller->poll(start_ns + period_ns + 1));
    EXPECT_EQ(port.reads, 2);
}

TEST(PortLinkPoller, ReportsDownSinceTheLastUpReadAndUpAgain) {
    LinkOnlyTransport port;
    test::RecordingDetector detector;
    const auto poller = PortLinkPoller::open({{3, &port}}, detector, period_ns, start_ns);
    detector.calls.clear();
    Nanos now = start_ns + period_ns;
    EXPECT_FALSE(poller->poll(now));
    const Nanos last_up_ns = now;
    port.link = LinkState::down;
    now += period_ns;
    EXPECT_TRUE(poller->poll(now));
    ASSERT_EQ(detector.calls.size(), 1U) << test::describe(detector.calls);
    EXPECT_EQ(detector.calls[0].local, 3U);
    EXPECT_FALSE(detector.calls[0].up);
    EXPECT_EQ(detector.calls[0].evidence, evidence::link);
    EXPECT_EQ(detector.calls[0].since, last_up_ns);
    // Still down: no second report. A read that cannot tell changes nothing either.
    now += period_ns;
    EXPECT_FALSE(poller->poll(now));
    port.link = LinkState::unknown;
    now += period_ns;
    EXPECT_FALSE(poller->poll(now));
    EXPECT_EQ(poller->state(0), LinkState::down);
    port.link = LinkState::up;
    now += period_ns;
    EXPECT_TRUE(poller->poll(now));
    ASSERT_EQ(detector.calls.size(), 2U) << test::describe(detector.calls);
    EXPECT_TRUE(detector.calls[1].up);
    EXPECT_EQ(detector.calls[1].since, now);
    EXPECT_EQ(poller->counters().changes, 2U);
}

TEST(PortLinkPoller, DoesNotCatchUpOnReadsMissedWhileTheLoopWasAway) {
    LinkOnlyTransport port;
    test::RecordingDetector detector;
    const auto poller = PortLinkPoller::open({{0, &port}}, detector, period_ns, start_ns);
    const Nanos late = start_ns + 100 * period_ns;
    poller->poll(late);
    const int reads = port.reads;
    EXPECT_FALSE(poller->poll(late + 1));
    EXPECT_FALSE(poller->poll(late + period_ns / 4));
    EXPECT_EQ(port.reads, reads);
}

}  // namespace
}  // namespace hb::policy
