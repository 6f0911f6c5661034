// Rule 3's judging logic (DESIGN §6, local adapter health): readings of an interface's rx_packets
// and their times are injected, so every boundary is exact.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "policy/traffic_watch.hh"

namespace hb::policy {
namespace {

using Verdict = InboundJudge::Verdict;

constexpr Nanos interval_ns = 20 * nanos_per_ms;
constexpr Nanos window_ns = 5 * interval_ns;  // 20 ms × 5
constexpr Nanos start_ns = 1000 * nanos_per_s;
constexpr int ifindex = 7;

// A judge that has taken its baseline reading (`rx_packets` at the start).
InboundJudge started(std::uint64_t rx_packets = 1000) {
    InboundJudge judge(window_ns, start_ns);
    EXPECT_EQ(judge.observe(ifindex, rx_packets, start_ns), Verdict::none);
    return judge;
}

TEST(InboundJudge, StartsUpWithTheWindowCountedFromTheStart) {
    const InboundJudge judge(window_ns, start_ns);
    EXPECT_TRUE(judge.up());
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    EXPECT_EQ(judge.down_at_ns(), start_ns + window_ns);
    EXPECT_EQ(judge.ifindex(), 0);
}

TEST(InboundJudge, FirstReadingIsABaselineNotMovement) {
    InboundJudge judge(window_ns, start_ns);
    // However large, the first value says nothing about when those packets came.
    EXPECT_EQ(judge.observe(ifindex, 123456789, start_ns + interval_ns), Verdict::none);
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    EXPECT_EQ(judge.ifindex(), ifindex);
    EXPECT_EQ(judge.rx_packets(), 123456789U);
    EXPECT_EQ(judge.resets(), 0U);
}

TEST(InboundJudge, DownExactlyAfterTheWindowWithoutChangeNotBefore) {
    InboundJudge judge = started();
    for (Nanos t = start_ns + interval_ns; t < start_ns + window_ns; t += interval_ns) {
        EXPECT_EQ(judge.observe(ifindex, 1000, t), Verdict::none) << (t - start_ns);
    }
    // One nanosecond short of the window is still up.
    EXPECT_EQ(judge.observe(ifindex, 1000, start_ns + window_ns - 1), Verdict::none);
    EXPECT_TRUE(judge.up());
    EXPECT_EQ(judge.observe(ifindex, 1000, start_ns + window_ns), Verdict::went_down);
    EXPECT_FALSE(judge.up());
    // The evidence begins where the counter last moved: here, never since the start.
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    EXPECT_EQ(judge.down_at_ns(), InboundJudge::never);
    // Down is reported once.
    EXPECT_EQ(judge.observe(ifindex, 1000, start_ns + 2 * window_ns), Verdict::none);
    EXPECT_FALSE(judge.up());
}

TEST(InboundJudge, EveryMovementRestartsTheWindow) {
    InboundJudge judge = started();
    std::uint64_t rx = 1000;
    Nanos t = start_ns;
    for (int i = 0; i < 50; ++i) {
        t += interval_ns;
        rx += 1;  // one packet per interval is enough
        EXPECT_EQ(judge.observe(ifindex, rx, t), Verdict::none);
        EXPECT_EQ(judge.last_moved_ns(), t);
    }
    const Nanos last_moved = t;
    EXPECT_EQ(judge.down_at_ns(), last_moved + window_ns);
    EXPECT_EQ(judge.observe(ifindex, rx, last_moved + window_ns - 1), Verdict::none);
    EXPECT_EQ(judge.observe(ifindex, rx, last_moved + window_ns), Verdict::went_down);
    EXPECT_EQ(judge.last_moved_ns(), last_moved);
}

TEST(InboundJudge, UpAtTheFirstChangeThenAFreshWindow) {
    InboundJudge judge = started();
    ASSERT_EQ(judge.observe(ifindex, 1000, start_ns + window_ns), Verdict::went_down);
    const Nanos back = start_ns + window_ns + 3 * interval_ns + 17;
    EXPECT_EQ(judge.observe(ifindex, 1000, back - interval_ns), Verdict::none);
    EXPECT_EQ(judge.observe(ifindex, 1001, back), Verdict::came_up);
    EXPECT_TRUE(judge.up());
    EXPECT_EQ(judge.last_moved_ns(), back);  // a recovery's since_ns: when it was seen
    EXPECT_EQ(judge.down_at_ns(), back + window_ns);
    EXPECT_EQ(judge.observe(ifindex, 1001, back + window_ns - 1), Verdict::none);
    EXPECT_EQ(judge.observe(ifindex, 1001, back + window_ns), Verdict::went_down);
    EXPECT_EQ(judge.last_moved_ns(), back);
}

TEST(InboundJudge, LateReadingAfterAStallJudgesOnWhatArrivedMeanwhile) {
    InboundJudge judge = started();
    // The node did not run for ten windows, but packets kept arriving: the counter shows them.
    const Nanos late = start_ns + 10 * window_ns;
    EXPECT_EQ(judge.observe(ifindex, 5000, late), Verdict::none);
    EXPECT_TRUE(judge.up());
    EXPECT_EQ(judge.last_moved_ns(), late);
    // Nothing arrived during the next stall: down at once, with the silence measured.
    EXPECT_EQ(judge.observe(ifindex, 5000, late + 3 * window_ns), Verdict::went_down);
    EXPECT_EQ(judge.last_moved_ns(), late);
}

TEST(InboundJudge, ResetToZeroIsANewBaselineNotMovement) {
    InboundJudge judge = started();
    // A driver cleared its statistics: nothing shows packets since.
    EXPECT_EQ(judge.observe(ifindex, 0, start_ns + interval_ns), Verdict::none);
    EXPECT_EQ(judge.resets(), 1U);
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    EXPECT_EQ(judge.rx_packets(), 0U);
    // The window still runs from the last real movement.
    EXPECT_EQ(judge.observe(ifindex, 0, start_ns + window_ns), Verdict::went_down);
    // Counting from the new baseline.
    EXPECT_EQ(judge.observe(ifindex, 1, start_ns + window_ns + interval_ns), Verdict::came_up);
}

TEST(InboundJudge, CounterThatWentBackButShowsPacketsMoved) {
    InboundJudge judge = started(std::numeric_limits<std::uint32_t>::max() - 3);
    // A 32-bit counter (IFLA_STATS on an old kernel) wrapped: packets came.
    EXPECT_EQ(judge.observe(ifindex, 5, start_ns + interval_ns), Verdict::none);
    EXPECT_EQ(judge.resets(), 1U);
    EXPECT_EQ(judge.last_moved_ns(), start_ns + interval_ns);
    // And a 64-bit one at its very end, should it ever get there.
    InboundJudge wide = started(std::numeric_limits<std::uint64_t>::max());
    ASSERT_EQ(
        wide.observe(ifindex, std::numeric_limits<std::uint64_t>::max(), start_ns + window_ns),
        Verdict::went_down);
    EXPECT_EQ(wide.observe(ifindex, 2, start_ns + window_ns + interval_ns), Verdict::came_up);
    EXPECT_EQ(wide.resets(), 1U);
}

TEST(InboundJudge, AnotherDeviceUnderTheNameIsANewBaseline) {
    InboundJudge judge = started(1000);
    // The interface was recreated (a new ifindex): its counter, even if higher, is its own.
    EXPECT_EQ(judge.observe(ifindex + 1, 50000, start_ns + interval_ns), Verdict::none);
    EXPECT_EQ(judge.resets(), 1U);
    EXPECT_EQ(judge.ifindex(), ifindex + 1);
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    EXPECT_EQ(judge.observe(ifindex + 1, 50001, start_ns + 2 * interval_ns), Verdict::none);
    EXPECT_EQ(judge.last_moved_ns(), start_ns + 2 * interval_ns);
}

TEST(InboundJudge, AbsentInterfaceIsSilence) {
    InboundJudge judge = started();
    EXPECT_EQ(judge.absent(start_ns + interval_ns), Verdict::none);
    EXPECT_EQ(judge.ifindex(), 0);
    EXPECT_EQ(judge.absent(start_ns + window_ns), Verdict::went_down);
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
    // It comes back: the first reading is a baseline, the next packet brings it up.
    const Nanos back = start_ns + 2 * window_ns;
    EXPECT_EQ(judge.observe(ifindex + 1, 3, back), Verdict::none);
    EXPECT_FALSE(judge.up());
    EXPECT_EQ(judge.resets(), 0U);  // a baseline after absence is not a reset
    EXPECT_EQ(judge.observe(ifindex + 1, 4, back + interval_ns), Verdict::came_up);
    EXPECT_EQ(judge.last_moved_ns(), back + interval_ns);
}

TEST(InboundJudge, NeverSeenInterfaceGoesDownAfterOneWindowFromTheStart) {
    InboundJudge judge(window_ns, start_ns);
    EXPECT_EQ(judge.absent(start_ns), Verdict::none);
    EXPECT_EQ(judge.absent(start_ns + window_ns - 1), Verdict::none);
    EXPECT_EQ(judge.absent(start_ns + window_ns), Verdict::went_down);
    EXPECT_EQ(judge.last_moved_ns(), start_ns);
}

TEST(InboundJudgeDeathTest, ReadingsGoingBackInTimeAreABug) {
    InboundJudge judge = started();
    EXPECT_DEATH((void)judge.observe(ifindex, 1001, start_ns - 1), "last_reading");
}

}  // namespace
}  // namespace hb::policy
