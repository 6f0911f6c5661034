// Failure-detector cost alone (DESIGN §6, §11): policy::NodeDetector driven through the Detector
// interface on a manual clock, at 1, 64, 1024 and 4096 peers on two networks. Per state change (a
// peer's adapter, a node, a whole network failing and recovering), per tick with nothing to decide,
// and per beat (on_beat + tick) in steady state. Every benchmark checks the verdicts it caused.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/detector.hh"
#include "hb/topology.hh"
#include "policy/node_detector.hh"
#include "tests/support/test_cluster.hh"

namespace {

using namespace hb;

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
constexpr std::uint32_t network_count = 2;
constexpr std::uint32_t all_adapters_up = (std::uint32_t{1} << network_count) - 1;
constexpr std::size_t event_kind_count = static_cast<std::size_t>(EventKind::partition_healed) + 1;

double thread_cpu_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The median cost of one thread_cpu_seconds() interval with nothing in it.
double clock_overhead_s() noexcept {
    static const double overhead = [] {
        std::array<double, 1001> samples{};
        for (double& sample : samples) {
            const double start = thread_cpu_seconds();
            sample = thread_cpu_seconds() - start;
        }
        std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
        return samples[samples.size() / 2];
    }();
    return overhead;
}

enum class Phase { expire, settle, recover };

// Counts verdicts by kind; check() compares what arrived since the last check with what the
// benchmark caused.
class CountingSink final : public EventSink {
public:
    void emit(const Event& event) noexcept override {
        ++by_kind_[static_cast<std::size_t>(event.kind)];
        ++total_;
        last_kind_ = event.kind;
    }

    // Exactly `count` events since the last check, all of `kind`. Empty string when so.
    std::string check(EventKind kind, std::uint64_t count, const char* where) {
        const std::uint64_t got_total = total_ - checked_total_;
        const std::uint64_t got_kind = by_kind_[static_cast<std::size_t>(kind)] -
                                       checked_by_kind_[static_cast<std::size_t>(kind)];
        checked_total_ = total_;
        checked_by_kind_ = by_kind_;
        if (got_total == count && got_kind == count) {
            return {};
        }
        return std::string(where) + ": expected " + std::to_string(count) + " " +
               std::string(event_name(kind)) + ", got " + std::to_string(got_kind) + " of " +
               std::to_string(got_total) + " events (last " + std::string(event_name(last_kind_)) +
               ")";
    }
    std::string check_none(const char* where) { return check(EventKind::node_up, 0, where); }

private:
    std::array<std::uint64_t, event_kind_count> by_kind_{};
    std::array<std::uint64_t, event_kind_count> checked_by_kind_{};
    std::uint64_t total_ = 0;
    std::uint64_t checked_total_ = 0;
    EventKind last_kind_ = EventKind::node_up;
};

// The local node 1 and `peer_count` peers, each with one adapter on each of two networks: one
// path per (peer, network). Background rounds beat every path that is not silenced, once per
// interval, at whole intervals; faults are placed half an interval off that grid, so the ticks
// that decide them do no background work but what the real detector would do then anyway.
class Rig {
public:
    explicit Rig(std::uint32_t peer_count)
        : config_([peer_count] {
              ClusterConfig config = test::make_cluster_config(peer_count + 1, network_count,
                                                               NetworkMode::unicast, fast);
              config.local_node = 1;
              return config;
          }()),
          topology_(config_) {
        detector_.attach(topology_, clock_.now());
        const std::size_t path_count = topology_.paths().size();
        consecutive_.assign(path_count, 0);
        silent_.assign(path_count, false);
        next_round_ns_ = clock_.now() + fast.interval_ns;
    }

    // Every path up and every peer reported up once; past every grace window after NODE_UP.
    [[nodiscard]] std::string bring_up() {
        round();
        round();
        std::string error = sink_.check(EventKind::node_up, topology_.peers().size(), "bring-up");
        for (int i = 0; i < 6; ++i) {
            round();
        }
        return error.empty() ? sink_.check_none("after bring-up") : error;
    }

    std::uint32_t path_count() const noexcept {
        return static_cast<std::uint32_t>(topology_.paths().size());
    }
    std::uint32_t peer_count() const noexcept {
        return static_cast<std::uint32_t>(topology_.peers().size());
    }
    PathIndex path_to(PeerIndex peer, NetworkIndex network) const noexcept {
        return topology_.find_path(network, topology_.peers()[peer].node,
                                   static_cast<AdapterIndex>(network));
    }
    std::vector<PathIndex> paths_on(NetworkIndex network) const {
        std::vector<PathIndex> out;
        for (PeerIndex peer = 0; peer < peer_count(); ++peer) {
            out.push_back(path_to(peer, network));
        }
        return out;
    }

    Nanos now() const noexcept { return clock_.now(); }
    Nanos next_round() const noexcept { return next_round_ns_; }
    const policy::NodeDetector& detector() const noexcept { return detector_; }
    CountingSink& sink() noexcept { return sink_; }

    void beat(PathIndex path) noexcept {
        ++consecutive_[path];
        detector_.on_beat(BeatObservation{.path = path,
                                          .rx_ns = clock_.now(),
                                          .peer_timeout_ns = fast.detection_ns(),
                                          .consecutive = consecutive_[path],
                                          .peer_adapter_states = all_adapters_up,
                                          .peer_tx_time_ns = static_cast<std::uint64_t>(now()),
                                          .peer_hears_us = true});
    }
    void set_now(Nanos t) noexcept { clock_.set(t); }
    void tick_at(Nanos t) noexcept {
        clock_.set(t);
        detector_.tick(t, sink_);
    }

    // One background round: every path not silenced beats, then the detector ticks.
    void round() noexcept {
        clock_.set(next_round_ns_);
        next_round_ns_ += fast.interval_ns;
        for (PathIndex p = 0; p < silent_.size(); ++p) {
            if (!silent_[p]) {
                beat(p);
            }
        }
        detector_.tick(clock_.now(), sink_);
    }
    void rounds_before(Nanos t) noexcept {
        while (next_round_ns_ < t) {
            round();
        }
    }

    // The victims' last beats, at `t` (after the background rounds before it); then silence.
    void last_beats(const std::vector<PathIndex>& victims, Nanos t) noexcept {
        rounds_before(t);
        clock_.set(t);
        for (const PathIndex p : victims) {
            beat(p);
        }
        detector_.tick(t, sink_);
        for (const PathIndex p : victims) {
            silent_[p] = true;
            consecutive_[p] = 0;  // the gap breaks the run of beats
        }
    }

    // The tick at `t`, alone, timed in this thread's CPU time (seconds): on a shared machine a
    // tick preempted by another process is not charged for the wait. The clock's own cost (a
    // system call, ~0.35 µs here) is measured once and taken off.
    double timed_tick(Nanos t, Phase phase) noexcept {
        rounds_before(t);
        clock_.set(t);
        const double start = thread_cpu_seconds();
        // One function per phase, so that `valgrind --tool=callgrind
        // --toggle-collect='*Rig::decide_*'` counts each phase's instructions apart.
        switch (phase) {
            case Phase::expire:
                decide_expire(t);
                break;
            case Phase::settle:
                decide_settle(t);
                break;
            case Phase::recover:
                decide_recover(t);
                break;
        }
        return thread_cpu_seconds() - start - clock_overhead_s();
    }

    // The victims beat again, `up_count` times at `t` (untimed: arrivals are the beat
    // benchmark's), and the tick that brings their paths up is timed.
    double timed_recovery(const std::vector<PathIndex>& victims, Nanos t) noexcept {
        rounds_before(t);
        clock_.set(t);
        for (const PathIndex p : victims) {
            silent_[p] = false;
            for (std::uint32_t i = 0; i < fast.up_count; ++i) {
                beat(p);
            }
        }
        return timed_tick(t, Phase::recover);
    }

    [[gnu::noinline]] void decide_expire(Nanos t) noexcept {
        detector_.tick(t, sink_);
        ++decided_[static_cast<std::size_t>(Phase::expire)];
    }
    [[gnu::noinline]] void decide_settle(Nanos t) noexcept {
        detector_.tick(t, sink_);
        ++decided_[static_cast<std::size_t>(Phase::settle)];
    }
    [[gnu::noinline]] void decide_recover(Nanos t) noexcept {
        detector_.tick(t, sink_);
        ++decided_[static_cast<std::size_t>(Phase::recover)];
    }

    bool all_down(const std::vector<PathIndex>& paths) const noexcept {
        for (const PathIndex p : paths) {
            if (detector_.path_state(p) != PathState::down) {
                return false;
            }
        }
        return true;
    }

private:
    ClusterConfig config_;
    Topology topology_;
    policy::NodeDetector detector_;
    CountingSink sink_;
    ManualClock clock_;
    Nanos next_round_ns_ = 0;
    std::vector<std::uint32_t> consecutive_;
    std::vector<bool> silent_;
    // Ticks timed, by phase. Counting after the tick keeps each decide_*() distinct (the
    // compiler would fold three identical bodies into one) and not a tail call (which callgrind's
    // --toggle-collect cannot follow out of).
    std::array<std::uint64_t, 3> decided_{};
};

constexpr Nanos half_interval = fast.interval_ns / 2;
constexpr Nanos timeout = fast.interval_ns * fast.multiplier;
constexpr Nanos settle = 2 * fast.interval_ns;  // DetectorOptions' default: two intervals

enum class Fault { remote_adapter, node, node_staggered, network };

// Seconds spent in the timed ticks of one fault cycle, by phase.
struct CycleTimes {
    double expire = 0;   // the ticks where the victims' paths expire
    double settle = 0;   // the tick where the settle window ends
    double recover = 0;  // the tick where the victims' paths come back up
};

// One fault and its recovery, starting at the next background round R. The victims' last beats
// are at R + interval/2 (their paths expire at R + interval/2 + timeout); a partial failure is
// classified when the settle window ends, 2 intervals later; they beat again an interval after.
std::string run_cycle(Rig& rig, Fault fault, std::uint64_t cycle, CycleTimes& times) {
    const Nanos r = rig.next_round();
    const auto peer = static_cast<PeerIndex>(cycle % rig.peer_count());
    const auto network = static_cast<NetworkIndex>(cycle % network_count);
    const Nanos last_ns = r + half_interval;
    const Nanos expire_ns = last_ns + timeout;
    const Nanos settle_ns = expire_ns + settle;
    const Nanos recover_ns = settle_ns + fast.interval_ns;
    CountingSink& sink = rig.sink();
    std::string error;
    std::vector<PathIndex> victims;
    EventKind down_kind = EventKind::node_down;
    EventKind up_kind = EventKind::node_up;

    switch (fault) {
        case Fault::remote_adapter:
            victims = {rig.path_to(peer, network)};
            down_kind = EventKind::remote_adapter_down;
            up_kind = EventKind::remote_adapter_up;
            break;
        case Fault::node:
        case Fault::node_staggered:
            victims = {rig.path_to(peer, 0), rig.path_to(peer, 1)};
            break;
        case Fault::network:
            victims = rig.paths_on(network);
            down_kind = EventKind::network_down;
            up_kind = EventKind::network_up;
            break;
    }

    if (fault == Fault::node_staggered) {
        // The node's last beat on network 0 was lost: that path expires 2 ms before the other,
        // which arms a settle window the NODE_DOWN then makes moot (the tick still runs).
        constexpr Nanos early = 2 * nanos_per_ms;
        rig.last_beats({victims[0]}, last_ns - early);
        rig.last_beats({victims[1]}, last_ns);
        times.expire += rig.timed_tick(expire_ns - early, Phase::expire);
        error = sink.check_none("first path expired");
        times.expire += rig.timed_tick(expire_ns, Phase::expire);
        if (error.empty()) {
            error = sink.check(EventKind::node_down, 1, "second path expired");
        }
        if (error.empty() && rig.detector().next_deadline() > settle_ns - early) {
            error = "no settle window armed";
        }
        times.settle += rig.timed_tick(settle_ns - early, Phase::settle);
        if (error.empty()) {
            error = sink.check_none("settle window ended");
        }
    } else {
        rig.last_beats(victims, last_ns);
        times.expire += rig.timed_tick(expire_ns, Phase::expire);
        if (!rig.all_down(victims)) {
            return "the victims' paths did not expire";
        }
        if (fault == Fault::node) {
            error = sink.check(EventKind::node_down, 1, "paths expired");
        } else {
            error = sink.check_none("paths expired");
            if (error.empty() && rig.detector().next_deadline() > settle_ns) {
                error = "no settle window armed";
            }
            times.settle += rig.timed_tick(settle_ns, Phase::settle);
            if (error.empty()) {
                error = sink.check(down_kind, 1, "settle window ended");
            }
        }
    }
    times.recover += rig.timed_recovery(victims, recover_ns);
    if (error.empty()) {
        error = sink.check(up_kind, 1, "recovery");
    }
    return error;
}

void bm_detector_fault(benchmark::State& state, Fault fault) {
    Rig rig(static_cast<std::uint32_t>(state.range(0)));
    if (const std::string error = rig.bring_up(); !error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    std::uint64_t cycle = 0;
    CycleTimes total;
    for (auto _ : state) {
        CycleTimes times;
        const std::string error = run_cycle(rig, fault, cycle++, times);
        if (!error.empty()) {
            state.SkipWithError(error.c_str());
            return;
        }
        state.SetIterationTime(times.expire + times.settle + times.recover);
        total.expire += times.expire;
        total.settle += times.settle;
        total.recover += times.recover;
    }
    // Two verdicts per cycle: the failure's and the recovery's.
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2));
    const auto per_cycle_ns = [](double seconds) {
        return benchmark::Counter(seconds * 1e9, benchmark::Counter::kAvgIterations);
    };
    state.counters["expire_ns"] = per_cycle_ns(total.expire);
    state.counters["settle_ns"] = per_cycle_ns(total.settle);
    state.counters["recover_ns"] = per_cycle_ns(total.recover);
    state.counters["paths"] = fault == Fault::network          ? rig.peer_count()
                              : fault == Fault::remote_adapter ? 1
                                                               : 2;
}

// A tick with nothing to decide, every 100 µs (the wheel's resolution): the cost of asking. The
// background rounds between ticks are untimed; path timers come due on the rounds' grid, so their
// lazy re-arming falls in the rounds, and it is counted in the beat benchmark, where beats are
// spread over the interval as they are on a real network.
void bm_detector_idle_tick(benchmark::State& state) {
    Rig rig(static_cast<std::uint32_t>(state.range(0)));
    if (const std::string error = rig.bring_up(); !error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    constexpr Nanos step = 100 * nanos_per_us;
    Nanos tick_ns = rig.now() + step / 2;  // off the rounds' grid
    for (auto _ : state) {
        rig.tick_at(tick_ns);
        tick_ns += step;
        if (rig.next_round() < tick_ns) {
            state.PauseTiming();
            rig.round();
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (const std::string error = rig.sink().check_none("idle ticks"); !error.empty()) {
        state.SkipWithError(error.c_str());
    } else if (rig.detector().counters().path_down != 0) {
        state.SkipWithError("a path expired while every path was beating");
    }
}

// Steady state: beats arrive round-robin over every path, each path once per interval, and the
// detector ticks after every `burst` of them.
void bm_detector_beat(benchmark::State& state) {
    Rig rig(static_cast<std::uint32_t>(state.range(0)));
    if (const std::string error = rig.bring_up(); !error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    const auto burst = static_cast<std::uint32_t>(state.range(1));
    const std::uint32_t path_count = rig.path_count();
    const Nanos step = fast.interval_ns / path_count;
    Nanos now = rig.now();
    PathIndex next = 0;
    for (auto _ : state) {
        for (std::uint32_t b = 0; b < burst; ++b) {
            now += step;
            rig.set_now(now);
            rig.beat(next);
            next = next + 1 == path_count ? 0 : next + 1;
        }
        rig.tick_at(now);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    if (const std::string error = rig.sink().check_none("steady beats"); !error.empty()) {
        state.SkipWithError(error.c_str());
    } else if (rig.detector().counters().path_down != 0) {
        state.SkipWithError("a path expired while every path was beating");
    }
}

BENCHMARK_CAPTURE(bm_detector_fault, remote_adapter, Fault::remote_adapter)
    ->ArgName("peers")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(4096)
    ->UseManualTime();
BENCHMARK_CAPTURE(bm_detector_fault, node, Fault::node)
    ->ArgName("peers")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(4096)
    ->UseManualTime();
BENCHMARK_CAPTURE(bm_detector_fault, node_staggered, Fault::node_staggered)
    ->ArgName("peers")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(4096)
    ->UseManualTime();
BENCHMARK_CAPTURE(bm_detector_fault, network, Fault::network)
    ->ArgName("peers")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(4096)
    ->UseManualTime();
BENCHMARK(bm_detector_idle_tick)->ArgName("peers")->Arg(1)->Arg(64)->Arg(1024)->Arg(4096);
BENCHMARK(bm_detector_beat)
    ->ArgNames({"peers", "burst"})
    ->ArgsProduct({{1, 64, 1024, 4096}, {1, 32}});

}  // namespace
