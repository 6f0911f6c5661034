// Sequence-window arithmetic: loss, duplicates, reordering, replay, and RTT statistics.
#include <gtest/gtest.h>

#include "hb/path_tracker.hh"

namespace hb {
namespace {

using Arrival = PathTracker::Arrival;

TEST(PathTracker, InOrderBeatsCountNoLossAndBuildARun) {
    PathTracker tracker;
    for (std::uint64_t seq = 1; seq <= 10; ++seq) {
        EXPECT_EQ(tracker.record(seq, static_cast<Nanos>(seq)), Arrival::fresh);
    }
    EXPECT_EQ(tracker.received(), 10U);
    EXPECT_EQ(tracker.lost(), 0U);
    EXPECT_EQ(tracker.consecutive(), 10U);
    EXPECT_EQ(tracker.last_arrival_ns(), 10);
    EXPECT_DOUBLE_EQ(tracker.loss_ratio(), 0.0);
}

TEST(PathTracker, AGapIsLossAndBreaksTheRun) {
    PathTracker tracker;
    tracker.record(1, 1);
    tracker.record(2, 2);
    EXPECT_EQ(tracker.record(6, 6), Arrival::fresh);
    EXPECT_EQ(tracker.lost(), 3U);
    EXPECT_EQ(tracker.consecutive(), 1U);
    EXPECT_DOUBLE_EQ(tracker.loss_ratio(), 3.0 / 6.0);
}

TEST(PathTracker, ALateBeatInsideTheWindowIsReorderedAndUndoesItsLoss) {
    PathTracker tracker;
    tracker.record(1, 1);
    tracker.record(3, 3);
    EXPECT_EQ(tracker.lost(), 1U);
    EXPECT_EQ(tracker.record(2, 4), Arrival::reordered);
    EXPECT_EQ(tracker.lost(), 0U);
    EXPECT_EQ(tracker.reordered(), 1U);
    EXPECT_EQ(tracker.received(), 3U);
    // A late beat does not move the last arrival backwards, nor the newest sequence.
    EXPECT_EQ(tracker.last_arrival_ns(), 4);
    EXPECT_EQ(tracker.highest_seq(), 3U);
}

TEST(PathTracker, DuplicatesAreRecognisedAnywhereInTheWindow) {
    PathTracker tracker;
    for (std::uint64_t seq = 1; seq <= 40; ++seq) {
        tracker.record(seq, 0);
    }
    EXPECT_EQ(tracker.record(40, 0), Arrival::duplicate);
    EXPECT_EQ(tracker.record(1, 0), Arrival::duplicate);
    EXPECT_EQ(tracker.duplicates(), 2U);
    EXPECT_EQ(tracker.received(), 40U);
}

TEST(PathTracker, BeatsOlderThanTheWindowAreStale) {
    PathTracker tracker;
    tracker.record(1, 0);
    tracker.record(100, 0);
    EXPECT_EQ(tracker.record(100 - PathTracker::window, 0), Arrival::stale);
    EXPECT_EQ(tracker.record(100 - PathTracker::window + 1, 0), Arrival::reordered);
    EXPECT_EQ(tracker.record(0, 0), Arrival::stale);
    EXPECT_EQ(tracker.stale(), 2U);
}

TEST(PathTracker, AJumpBeyondTheWindowForgetsTheOldWindow) {
    PathTracker tracker;
    tracker.record(5, 0);
    tracker.record(5 + 1000, 0);
    EXPECT_EQ(tracker.lost(), 999U);
    EXPECT_EQ(tracker.record(5 + 999, 0), Arrival::reordered);
    EXPECT_EQ(tracker.lost(), 998U);
}

TEST(PathTracker, RoundTripStatistics) {
    PathTracker tracker;
    tracker.record_rtt(100);
    tracker.record_rtt(300);
    tracker.record_rtt(200);
    tracker.record_rtt(-5);
    EXPECT_EQ(tracker.rtt_samples(), 3U);
    EXPECT_EQ(tracker.rtt_rejected(), 1U);
    EXPECT_EQ(tracker.rtt_min_ns(), 100);
    EXPECT_EQ(tracker.rtt_max_ns(), 300);
    EXPECT_EQ(tracker.rtt_mean_ns(), 200);
    EXPECT_EQ(tracker.rtt_last_ns(), 200);
    // 100, then +(300-100)/8 = 125, then +(200-125)/8 = 134.
    EXPECT_EQ(tracker.rtt_smoothed_ns(), 134);
}

TEST(PathTracker, ResetStartsANewLife) {
    PathTracker tracker;
    tracker.record(50, 1);
    tracker.record_rtt(10);
    tracker.reset();
    EXPECT_FALSE(tracker.heard());
    EXPECT_EQ(tracker.record(1, 2), Arrival::fresh);
    EXPECT_EQ(tracker.lost(), 0U);
    EXPECT_EQ(tracker.rtt_samples(), 0U);
}

}  // namespace
}  // namespace hb
