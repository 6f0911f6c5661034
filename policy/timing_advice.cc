// Timing advice: the poller that applies the loss arithmetic (policy/timing.hh) to measured loss.
#include "policy/timing_advice.hh"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "hb/assert.hh"

namespace hb::policy {

PathAdvice advise(PathIndex path, std::uint64_t received, std::uint64_t lost, const Timing& timing,
                  const AdviceLimits& limits) noexcept {
    PathAdvice advice;
    advice.path = path;
    advice.samples = received + lost;
    advice.loss =
        advice.samples == 0 ? 0.0 : static_cast<double>(lost) / static_cast<double>(advice.samples);
    advice.multiplier = timing.multiplier;
    advice.false_per_day =
        false_expiries_per_day(advice.loss, timing.multiplier, timing.interval_ns);
    advice.advised_multiplier =
        multiplier_for(advice.loss, timing.interval_ns, limits.max_per_day, limits.ceiling);
    advice.too_tight = advice.false_per_day >= limits.max_per_day;
    return advice;
}

TimingAdvisor::TimingAdvisor(const Engine& engine, Report report, TimingAdvisorOptions options)
    : engine_(engine),
      report_(std::move(report)),
      options_(options),
      windows_(engine.topology().paths().size()),
      latest_(engine.topology().paths().size()) {
    HB_ASSERT(report_);
    HB_ASSERT(options_.period_ns > 0);
    HB_ASSERT(options_.min_samples >= 1);
    const Topology& topology = engine.topology();
    for (PathIndex path = 0; path < latest_.size(); ++path) {
        latest_[path].path = path;
        const Nanos interval_ns = topology.timing(topology.paths()[path].network).interval_ns;
        if (sample_period_ns_ == 0 || interval_ns < sample_period_ns_) {
            sample_period_ns_ = interval_ns;
        }
    }
    sample_period_ns_ = std::max<Nanos>(sample_period_ns_, 1);
}

bool TimingAdvisor::poll(Nanos now) noexcept {
    if (!started_) {
        started_ = true;
        for (PathIndex path = 0; path < windows_.size(); ++path) {
            restart_window(path, now);
        }
        next_sample_ns_ = now + sample_period_ns_;
        next_evaluation_ns_ = now + options_.period_ns;
        return false;
    }
    bool worked = false;
    if (now >= next_sample_ns_) {
        sample_states(now);
        next_sample_ns_ = now + sample_period_ns_;
        worked = true;
    }
    if (now < next_evaluation_ns_) {
        return worked;
    }
    for (PathIndex path = 0; path < windows_.size(); ++path) {
        evaluate(path, now);
    }
    ++evaluations_;
    next_evaluation_ns_ = now + options_.period_ns;
    return true;
}

void TimingAdvisor::sample_states(Nanos now) noexcept {
    const Topology& topology = engine_.topology();
    for (PathIndex path = 0; path < windows_.size(); ++path) {
        Window& window = windows_[path];
        if (engine_.path_state(path) != PathState::up) {
            if (!window.down) {
                window.down = true;
                window.down_since_ns = now;
            }
            continue;
        }
        if (window.down) {
            window.down = false;
            // Down this long means silent for twice the detection time: an outage. Random loss
            // at any rate worth advising on almost never loses 2k beats in a row.
            const Nanos outage_ns = topology.timing(topology.paths()[path].network).detection_ns();
            if (now - window.down_since_ns >= outage_ns) {
                restart_window(path, now);
            }
        }
    }
}

void TimingAdvisor::restart_window(PathIndex path, Nanos now) noexcept {
    const PathTracker& tracker = engine_.tracker(path);
    Window& window = windows_[path];
    window.received = tracker.received();
    window.lost = tracker.lost();
    window.start_ns = now;
}

void TimingAdvisor::evaluate(PathIndex path, Nanos now) noexcept {
    const PathTracker& tracker = engine_.tracker(path);
    Window& window = windows_[path];
    // A tracker that went backwards was reset (the peer restarted): start again. A path that is
    // down now is judged when it is back (sample_states decides whether that was an outage).
    // Either way a warning already given stays given.
    if (tracker.received() < window.received) {
        restart_window(path, now);
        return;
    }
    if (window.down || engine_.path_state(path) != PathState::up) {
        return;
    }
    const Timing& timing = engine_.topology().timing(engine_.topology().paths()[path].network);
    const std::uint64_t received = tracker.received() - window.received;
    // A reordered beat filling a gap counted in an earlier window lowers lost(): never below 0.
    const std::uint64_t lost = tracker.lost() > window.lost ? tracker.lost() - window.lost : 0;
    if (received + lost < options_.min_samples) {
        // Too few beats to trust (a slow interval): widen the window, unless the peer sent less
        // than half of what its timing promises, which is silence rather than loss.
        const auto promised = static_cast<Nanos>(2 * options_.min_samples) * timing.interval_ns;
        if (now - window.start_ns >= promised) {
            restart_window(path, now);
        }
        return;
    }
    PathAdvice advice = advise(path, received, lost, timing, options_.limits);
    advice.window_ns = now - window.start_ns;
    latest_[path] = advice;
    restart_window(path, now);
    if (!advice.too_tight) {
        window.warned = false;
        return;
    }
    if (window.warned) {
        return;
    }
    window.warned = true;
    ++warnings_;
    report_(advice, describe(advice));
}

std::string_view TimingAdvisor::describe(const PathAdvice& advice) noexcept {
    const Topology& topology = engine_.topology();
    const ClusterConfig& config = topology.config();
    const Path& path = topology.paths()[advice.path];
    const NodeConfig* local_node = config.find_node(topology.local_node());
    const NodeConfig* peer_node = config.find_node(path.peer_node);
    HB_ASSERT(local_node != nullptr && peer_node != nullptr);
    const LocalAdapter& local = topology.local_adapters()[path.local];
    const std::string_view local_name = topology.node_name(topology.local_node());
    const std::string_view peer_name = topology.node_name(path.peer_node);
    const std::string& local_ifname = local_node->adapters[local.adapter].ifname;
    const std::string& peer_ifname = peer_node->adapters[path.peer_adapter].ifname;
    const std::string& network = config.networks[path.network].name;
    const Timing& timing = topology.timing(path.network);

    const double max_per_day = options_.limits.max_per_day;
    char bound[32];
    if (max_per_day == 1.0) {
        std::snprintf(bound, sizeof bound, "one");
    } else {
        std::snprintf(bound, sizeof bound, "%g", max_per_day);
    }
    const bool reachable = false_expiries_per_day(advice.loss, advice.advised_multiplier,
                                                  timing.interval_ns) < max_per_day;
    const int length = std::snprintf(
        message_.data(), message_.size(),
        "path %.*s/%s -> %.*s/%s on %s: measured loss %.1f%% over %.1f s (%llu beats); "
        "at %g ms x %u that is ~%.0f false path expiries a day; %smultiplier %u would keep "
        "them under %s a day",
        static_cast<int>(local_name.size()), local_name.data(), local_ifname.c_str(),
        static_cast<int>(peer_name.size()), peer_name.data(), peer_ifname.c_str(), network.c_str(),
        advice.loss * 100.0,
        static_cast<double>(advice.window_ns) / static_cast<double>(nanos_per_s),
        static_cast<unsigned long long>(advice.samples),
        static_cast<double>(timing.interval_ns) / static_cast<double>(nanos_per_ms),
        advice.multiplier, advice.false_per_day, reachable ? "" : "not even ",
        advice.advised_multiplier, bound);
    HB_ASSERT(length > 0);
    const auto size = std::min(static_cast<std::size_t>(length), message_.size() - 1);
    return {message_.data(), size};
}

}  // namespace hb::policy
