// The operator's view of rejected input: what the engine dropped, by reason, logged at most once
// per period, so that a flood of forged or malformed datagrams costs one log line, not millions.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "hb/engine.hh"
#include "hb/runner.hh"

namespace hb::node {

// "bad_mac 5000 (latest from 198.18.1.9), truncated 12 (latest from 198.18.1.7)": the non-zero
// reasons of `dropped` (a difference of two counter snapshots), in DropReason order.
[[nodiscard]] std::string describe_drops(
    const std::array<std::uint64_t, drop_reason_count>& dropped,
    const std::array<Ipv4, drop_reason_count>& from);

class DropReporter final : public Poller {
public:
    using Log = std::function<void(std::string_view line)>;

    // Reads `counters` (the engine's, on the engine thread) at every poll; logs through `log`.
    DropReporter(const EngineCounters& counters, Nanos period_ns, Log log, Nanos now);

    int wait_fd() const noexcept override { return -1; }
    // Logs the drops since the last line when there are any and a period has passed since it
    // (the first drops at once). Never counts as work: it must not keep the loop awake.
    bool poll(Nanos now) noexcept override;

    std::uint64_t lines() const noexcept { return lines_; }

private:
    const EngineCounters& counters_;
    Nanos period_ns_;
    Log log_;
    std::array<std::uint64_t, drop_reason_count> reported_{};  // counters at the last line
    Nanos last_line_ns_;
    Nanos window_start_ns_;  // what the next line's counts are counted since
    std::uint64_t lines_ = 0;
};

}  // namespace hb::node
