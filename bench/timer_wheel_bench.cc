// Timer wheel costs (DESIGN §11) at the detector's geometry (1024 slots of 100 µs) with 1 to 4096
// armed timers, one per path: re-arming a timer (what a beat does), a tick with nothing due, and
// the steady state of lazily re-armed expiry timers (each fires once per interval and is armed
// again one interval on, as the detector does for every path that is still beating).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/timer_wheel.hh"

namespace {

constexpr std::uint64_t seed = 0x6862'7768'6565'0001;
constexpr std::uint32_t slot_count = 1024;
constexpr hb::Nanos resolution_ns = 100 * hb::nanos_per_us;
constexpr hb::Nanos interval_ns = 10 * hb::nanos_per_ms;
constexpr hb::Nanos timeout_ns = 3 * interval_ns;
constexpr hb::Nanos start_ns = hb::nanos_per_s;

// (Re-)arms every timer at a deadline spread over one timeout, half a timeout after `now`.
void arm_spread(hb::TimerWheel& wheel, std::vector<hb::Timer>& timers, hb::Nanos now) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < timers.size(); ++i) {
        timers[i].id = static_cast<std::uint32_t>(i);
        const auto offset_ns =
            static_cast<hb::Nanos>(rng() % static_cast<std::uint64_t>(timeout_ns));
        wheel.arm(timers[i], now + timeout_ns / 2 + offset_ns);
    }
}

// A wheel with `count` timers armed by arm_spread at start_ns.
struct Armed {
    hb::TimerWheel wheel{slot_count, resolution_ns, start_ns};
    std::vector<hb::Timer> timers;

    explicit Armed(std::size_t count) : timers(count) { arm_spread(wheel, timers, start_ns); }
};

// A beat moves its path's deadline one timeout on from now: re-arming an armed timer.
void bm_wheel_rearm(benchmark::State& state) {
    const auto count = static_cast<std::size_t>(state.range(0));
    Armed armed(count);
    hb::TimerWheel& wheel = armed.wheel;
    std::vector<hb::Timer>& timers = armed.timers;
    hb::Nanos now = start_ns;
    const hb::Nanos step = interval_ns / static_cast<hb::Nanos>(count);
    std::size_t next = 0;
    for (auto _ : state) {
        now += step + 1;
        wheel.arm(timers[next], now + timeout_ns);
        next = next + 1 == count ? 0 : next + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (wheel.armed_count() != count) {
        state.SkipWithError("re-arming changed the number of armed timers");
    }
}

// A tick that finds nothing due: the common case between beats.
void bm_wheel_idle_advance(benchmark::State& state) {
    const auto count = static_cast<std::size_t>(state.range(0));
    Armed armed(count);
    hb::TimerWheel& wheel = armed.wheel;
    std::vector<hb::Timer>& timers = armed.timers;
    std::uint64_t fired = 0;
    hb::Nanos now = start_ns;
    hb::Nanos armed_at = start_ns;
    for (auto _ : state) {
        now += 1'000;  // 1 µs: never reaches the first deadline (half a timeout away)
        fired += wheel.advance(now, [](hb::Timer&) {});
        if (now > armed_at + timeout_ns / 4) {
            state.PauseTiming();  // move every deadline on before the clock reaches the first
            armed_at = now;
            arm_spread(wheel, timers, now);
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (fired != 0) {
        state.SkipWithError("a timer fired before its deadline");
    }
}

// Steady state: the clock moves in 100 µs ticks; every timer that comes due fires and is armed
// again one interval later. Items are timers fired; the time includes the ticks between them.
void bm_wheel_fire_rearm(benchmark::State& state) {
    const auto count = static_cast<std::size_t>(state.range(0));
    Armed armed(count);
    hb::TimerWheel& wheel = armed.wheel;
    hb::Nanos now = start_ns;
    std::uint64_t fired = 0;
    bool late = false;
    for (auto _ : state) {
        now += resolution_ns;
        fired += wheel.advance(now, [&](hb::Timer& timer) {
            late = late || timer.deadline > now;
            wheel.arm(timer, timer.deadline + interval_ns);
        });
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(fired));
    state.counters["fired_per_tick"] =
        static_cast<double>(fired) / static_cast<double>(state.iterations());
    if (late || wheel.armed_count() != count) {
        state.SkipWithError("a timer fired early or was lost");
    }
}

BENCHMARK(bm_wheel_rearm)->ArgName("timers")->RangeMultiplier(4)->Range(1, 4096);
BENCHMARK(bm_wheel_idle_advance)->ArgName("timers")->RangeMultiplier(4)->Range(1, 4096);
BENCHMARK(bm_wheel_fire_rearm)->ArgName("timers")->RangeMultiplier(4)->Range(1, 4096);

}  // namespace
