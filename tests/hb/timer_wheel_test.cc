// The timer wheel fires exactly at the deadline, handles re-arming from callbacks, later turns of
// the wheel and large jumps of time.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "hb/timer_wheel.hh"

namespace hb {
namespace {

TEST(TimerWheel, FiresExactlyAtTheDeadlineNotOneNanosecondBefore) {
    TimerWheel wheel(64, 1000, 0);
    Timer timer;
    timer.id = 7;
    wheel.arm(timer, 12'345);
    std::vector<std::uint32_t> fired;
    const auto record = [&](Timer& t) { fired.push_back(t.id); };
    EXPECT_EQ(wheel.advance(12'344, record), 0U);
    EXPECT_TRUE(fired.empty());
    EXPECT_EQ(wheel.advance(12'345, record), 1U);
    ASSERT_EQ(fired.size(), 1U);
    EXPECT_EQ(fired[0], 7U);
    EXPECT_FALSE(timer.armed);
    EXPECT_EQ(wheel.armed_count(), 0U);
}

TEST(TimerWheel, TimersBeyondOneTurnWaitForTheirTurn) {
    TimerWheel wheel(64, 10, 0);  // one turn = 640 ns
    Timer near;
    Timer far;
    wheel.arm(near, 25);
    wheel.arm(far, 25 + 640 * 3);
    int fired = 0;
    const auto count = [&](Timer&) { ++fired; };
    wheel.advance(30, count);
    EXPECT_EQ(fired, 1);
    for (Nanos t = 40; t < 25 + 1920; t += 10) {
        wheel.advance(t, count);
    }
    EXPECT_EQ(fired, 1);
    wheel.advance(25 + 1920, count);
    EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, ACallbackMayReArmItsOwnTimer) {
    TimerWheel wheel(64, 100, 0);
    Timer periodic;
    wheel.arm(periodic, 100);
    int fired = 0;
    for (Nanos now = 0; now <= 1000; now += 50) {
        wheel.advance(now, [&](Timer& t) {
            ++fired;
            wheel.arm(t, t.deadline + 100);
        });
    }
    EXPECT_EQ(fired, 10);
    EXPECT_TRUE(periodic.armed);
    EXPECT_EQ(periodic.deadline, 1100);
}

TEST(TimerWheel, CancelAndReArm) {
    TimerWheel wheel(64, 100, 0);
    Timer a;
    Timer b;
    wheel.arm(a, 500);
    wheel.arm(b, 600);
    wheel.cancel(a);
    wheel.cancel(a);  // cancelling twice is harmless
    wheel.arm(b, 300);
    EXPECT_EQ(wheel.armed_count(), 1U);
    EXPECT_EQ(wheel.next_deadline(), 300);
    int fired = 0;
    wheel.advance(1000, [&](Timer&) { ++fired; });
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(wheel.next_deadline(), TimerWheel::never);
}

TEST(TimerWheel, ADeadlineAlreadyPastFiresOnTheNextAdvance) {
    TimerWheel wheel(64, 100, 0);
    wheel.advance(5000, [](Timer&) {});
    Timer late;
    wheel.arm(late, 10);
    int fired = 0;
    wheel.advance(5001, [&](Timer&) { ++fired; });
    EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, RandomScheduleFiresEveryTimerOnceAndNeverEarly) {
    std::mt19937_64 random(42);
    TimerWheel wheel(256, 1000, 0);
    std::vector<Timer> timers(2000);
    std::vector<int> fired(timers.size(), 0);
    for (std::uint32_t i = 0; i < timers.size(); ++i) {
        timers[i].id = i;
        wheel.arm(timers[i], static_cast<Nanos>(random() % 5'000'000));
    }
    Nanos now = 0;
    while (wheel.armed_count() != 0) {
        EXPECT_LE(wheel.next_deadline() - now, 5'000'000);
        now += static_cast<Nanos>(random() % 20'000);
        wheel.advance(now, [&](Timer& t) {
            EXPECT_LE(t.deadline, now);
            ++fired[t.id];
        });
    }
    for (const int count : fired) {
        EXPECT_EQ(count, 1);
    }
}

TEST(TimerWheel, ExactAfterAJumpOfSeveralTurns) {
    TimerWheel wheel(64, 100, 0);  // one turn = 6.4 us
    Timer a;
    Timer b;
    wheel.arm(a, 50'000);
    wheel.arm(b, 50'050);
    int fired = 0;
    wheel.advance(50'020, [&](Timer&) { ++fired; });  // jumps ~8 turns, lands inside their slot
    EXPECT_EQ(fired, 1);
    wheel.advance(50'049, [&](Timer&) { ++fired; });
    EXPECT_EQ(fired, 1);
    wheel.advance(50'050, [&](Timer&) { ++fired; });
    EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, ManySmallStepsFireEveryTimerOnTime) {
    std::mt19937_64 random(7);
    TimerWheel wheel(1024, 100'000, 0);
    std::vector<Timer> timers(3000);
    std::vector<Nanos> fired_at(timers.size(), -1);
    for (std::uint32_t i = 0; i < timers.size(); ++i) {
        timers[i].id = i;
        wheel.arm(timers[i], 1 + static_cast<Nanos>(random() % 200'000'000));
    }
    for (Nanos now = 0; now <= 200'000'000; now += 7'919) {
        wheel.advance(now, [&](Timer& t) { fired_at[t.id] = now; });
    }
    for (std::uint32_t i = 0; i < timers.size(); ++i) {
        ASSERT_GE(fired_at[i], timers[i].deadline) << i;
        ASSERT_LT(fired_at[i], timers[i].deadline + 7'919) << i;
    }
}

TEST(TimerWheel, NextDeadlineIsTheEarliest) {
    TimerWheel wheel(64, 100, 0);
    std::vector<Timer> timers(5);
    const Nanos deadlines[] = {9000, 150, 20'000, 151, 3000};
    for (std::size_t i = 0; i < timers.size(); ++i) {
        wheel.arm(timers[i], deadlines[i]);
    }
    EXPECT_EQ(wheel.next_deadline(), 150);
    wheel.advance(150, [](Timer&) {});
    EXPECT_EQ(wheel.next_deadline(), 151);
}

}  // namespace
}  // namespace hb
