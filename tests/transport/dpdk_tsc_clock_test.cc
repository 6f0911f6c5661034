// The TSC receive clock: exact at its anchor, following a TSC whose real rate differs from the
// nominal one after the first re-anchoring, never moving backwards, and, on this machine's real
// TSC, inside the bracket of two CLOCK_MONOTONIC reads around each conversion.
#include <gtest/gtest.h>
#include <x86intrin.h>

#include <cstdlib>

#include "transport/dpdk/tsc_clock.hh"

namespace hb::transport {
namespace {

// A simulated machine: a TSC running at `real_hz` while the nominal rate says `nominal_hz`.
struct FakeMachine {
    static inline Nanos monotonic_ns = 5 * nanos_per_s;
    static inline double real_hz = 3e9;
    static std::uint64_t tsc() noexcept {
        return static_cast<std::uint64_t>(static_cast<double>(monotonic_ns) * real_hz / 1e9);
    }
    static Nanos monotonic() noexcept { return monotonic_ns; }
};

constexpr std::uint64_t nominal_hz = 3'000'000'000;

TEST(DpdkTscClock, ExactAtTheAnchorAndLinearWithinAPeriod) {
    FakeMachine::monotonic_ns = 5 * nanos_per_s;
    FakeMachine::real_hz = 3e9;
    TscClock clock(nominal_hz, &FakeMachine::tsc, &FakeMachine::monotonic);
    EXPECT_EQ(clock.anchors(), 1U);
    EXPECT_EQ(clock.now(), 5 * nanos_per_s);
    FakeMachine::monotonic_ns += 250 * nanos_per_ms;
    EXPECT_NEAR(static_cast<double>(clock.now()), static_cast<double>(FakeMachine::monotonic_ns),
                1.0);
    // A reading from before the anchor converts backwards, not to a huge unsigned wrap.
    EXPECT_NEAR(static_cast<double>(clock.to_monotonic(FakeMachine::tsc() - 3'000'000)),
                static_cast<double>(FakeMachine::monotonic_ns - nanos_per_ms), 1.0);
}

TEST(DpdkTscClock, LearnsTheRealRateAtReanchoringAndStaysClose) {
    FakeMachine::monotonic_ns = 5 * nanos_per_s;
    FakeMachine::real_hz = 3e9 * (1.0 + 200e-6);  // 200 ppm faster than nominal
    TscClock clock(nominal_hz, &FakeMachine::tsc, &FakeMachine::monotonic, 100 * nanos_per_ms);
    // Before the first re-anchoring (after 1 ms) the nominal rate is used: 200 ppm of 1 ms.
    FakeMachine::monotonic_ns += 990 * nanos_per_us;
    EXPECT_NEAR(static_cast<double>(clock.now()), static_cast<double>(FakeMachine::monotonic_ns),
                250.0);
    EXPECT_EQ(clock.anchors(), 1U);
    Nanos previous = clock.now();
    for (int step = 0; step < 50; ++step) {
        FakeMachine::monotonic_ns += 7 * nanos_per_ms;
        const Nanos now = clock.now();
        EXPECT_GE(now, previous);
        previous = now;
    }
    EXPECT_GE(clock.anchors(), 3U);
    EXPECT_NEAR(static_cast<double>(clock.tsc_hz()), FakeMachine::real_hz, 3e9 * 1e-6);
    // With the measured rate the error within a period is the rounding of the fake TSC.
    FakeMachine::monotonic_ns += 30 * nanos_per_ms;
    EXPECT_NEAR(static_cast<double>(clock.now()), static_cast<double>(FakeMachine::monotonic_ns),
                10.0);
}

TEST(DpdkTscClock, NeverMovesBackwardsWhenTheRateDrops) {
    FakeMachine::monotonic_ns = 5 * nanos_per_s;
    FakeMachine::real_hz = 3e9;
    TscClock clock(nominal_hz * 2, &FakeMachine::tsc, &FakeMachine::monotonic, 10 * nanos_per_ms);
    // A nominal rate twice the real one: the first period (1 ms of nominal ticks, 2 ms of real
    // time) runs at half speed, then the measured rate takes over; the values returned never
    // decrease, though the clock catches up with a step.
    Nanos previous = clock.now();
    for (int step = 0; step < 100; ++step) {
        FakeMachine::monotonic_ns += 3 * nanos_per_ms;
        const Nanos now = clock.now();
        ASSERT_GE(now, previous) << "step " << step;
        previous = now;
    }
    EXPECT_NEAR(static_cast<double>(previous), static_cast<double>(FakeMachine::monotonic_ns),
                10.0);
}

std::uint64_t real_tsc() noexcept {
    return __rdtsc();
}

Nanos real_monotonic() noexcept {
    return monotonic_now();
}

// The real TSC, with the nominal rate measured over 100 ms (DPDK reads it from the CPU or measures
// it the same way): each conversion falls between a monotonic read before and one after it. The
// margin covers the rate error before the first re-anchoring and a preempted anchor read; a
// pause of this process only widens the bracket, so the check does not depend on the load.
TEST(DpdkTscClock, RealTscAgreesWithTheMonotonicClock) {
    const Nanos start_ns = monotonic_now();
    const std::uint64_t start_tsc = __rdtsc();
    Nanos elapsed_ns = 0;
    while (elapsed_ns < 100 * nanos_per_ms) {
        elapsed_ns = monotonic_now() - start_ns;
    }
    const std::uint64_t hz = static_cast<std::uint64_t>(static_cast<double>(__rdtsc() - start_tsc) *
                                                        1e9 / static_cast<double>(elapsed_ns));
    TscClock clock(hz, &real_tsc, &real_monotonic, 5 * nanos_per_ms);
    constexpr Nanos margin_ns = 200 * nanos_per_us;
    int checked = 0;
    const Nanos end_ns = monotonic_now() + 60 * nanos_per_ms;
    while (monotonic_now() < end_ns) {
        const Nanos before = monotonic_now();
        const Nanos converted = clock.now();
        const Nanos after = monotonic_now();
        ASSERT_GE(converted, before - margin_ns);
        ASSERT_LE(converted, after + margin_ns);
        ++checked;
    }
    EXPECT_GT(checked, 100);
    EXPECT_GE(clock.anchors(), 2U);
}

}  // namespace
}  // namespace hb::transport
