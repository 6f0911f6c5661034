// Timing advice (DESIGN §6): the false path expiries that measured random loss implies for a
// network's interval × multiplier, and a poller that warns when the timing is too tight for it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "hb/clock.hh"
#include "hb/engine.hh"
#include "hb/model.hh"
#include "hb/runner.hh"
#include "hb/topology.hh"
#include "policy/timing.hh"

namespace hb::policy {

// A loss ratio measured over fewer beats than this is not trusted: at 5 % loss, 200 beats put the
// estimate's standard error near 1.5 points, enough to tell 1 % from 5 % but not 5 % from 6 %,
// and the advised multiplier moves by at most one over that range (docs/timing.md).
inline constexpr std::uint64_t min_loss_samples = 200;

// One path's verdict over one measurement window.
struct PathAdvice {
    PathIndex path = 0;
    double loss = 0.0;                     // lost / (received + lost) over the window
    double false_per_day = 0.0;            // implied by `loss` at the current timing
    std::uint32_t multiplier = 0;          // the network's current multiplier
    std::uint32_t advised_multiplier = 0;  // multiplier_for(loss, ...)
    bool too_tight = false;                // false_per_day >= the allowed rate
    std::uint64_t samples = 0;             // beats the peer sent in the window (received + lost)
    Nanos window_ns = 0;                   // how long the window was
};

struct AdviceLimits {
    double max_per_day = 1.0;
    std::uint32_t ceiling = 255;
};

// The advice for `received` and `lost` beats counted over a window, at `timing`.
PathAdvice advise(PathIndex path, std::uint64_t received, std::uint64_t lost, const Timing& timing,
                  const AdviceLimits& limits = {}) noexcept;

struct TimingAdvisorOptions {
    Nanos period_ns = 10 * nanos_per_s;  // how often paths are evaluated
    std::uint64_t min_samples = min_loss_samples;
    AdviceLimits limits{};
};

// Evaluates every path of an engine once a period, on the engine thread. Loss is measured over
// the last window only (counter deltas), so a long clean history cannot mask a new problem; a
// window is extended until it holds `min_samples` beats. The report callback is called once when
// a path becomes too tight, and again only after the condition has cleared and come back.
// Path states are sampled once an interval so that an outage (a path down for longer than its
// detection time) starts a new window when it ends: its gap of sequence numbers is an outage,
// not random loss, while the short expiries that random loss itself causes stay measured.
class TimingAdvisor final : public Poller {
public:
    using Report = std::function<void(const PathAdvice& advice, std::string_view message)>;

    // The engine must outlive the advisor; its topology is read here, so the engine must exist
    // (it need not have started). Allocates its per-path state here, never in poll().
    TimingAdvisor(const Engine& engine, Report report, TimingAdvisorOptions options = {});

    int wait_fd() const noexcept override { return -1; }
    // Nothing until the period is over; then one evaluation of every path. The first call only
    // starts the windows.
    bool poll(Nanos now) noexcept override;

    // The newest evaluated advice of every path, indexed by PathIndex (samples == 0: none yet).
    std::span<const PathAdvice> advice() const noexcept { return latest_; }
    std::uint64_t evaluations() const noexcept { return evaluations_; }
    std::uint64_t warnings() const noexcept { return warnings_; }

private:
    struct Window {
        std::uint64_t received = 0;  // tracker counters at the window's start
        std::uint64_t lost = 0;
        Nanos start_ns = 0;
        Nanos down_since_ns = 0;  // first sampled not up, while `down`
        bool down = false;
        bool warned = false;
    };

    void sample_states(Nanos now) noexcept;
    void evaluate(PathIndex path, Nanos now) noexcept;
    void restart_window(PathIndex path, Nanos now) noexcept;
    std::string_view describe(const PathAdvice& advice) noexcept;

    const Engine& engine_;
    Report report_;
    TimingAdvisorOptions options_;
    std::vector<Window> windows_;
    std::vector<PathAdvice> latest_;
    std::array<char, 512> message_{};  // formatted in place: reporting allocates nothing here
    Nanos sample_period_ns_ = 0;       // the shortest interval of any path
    Nanos next_sample_ns_ = 0;
    Nanos next_evaluation_ns_ = 0;
    bool started_ = false;
    std::uint64_t evaluations_ = 0;
    std::uint64_t warnings_ = 0;
};

}  // namespace hb::policy
