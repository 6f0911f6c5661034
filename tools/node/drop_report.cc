// Rate-limited reporting of dropped datagrams (docs/security.md, Hostile input).
#include "tools/node/drop_report.hh"

#include <fmt/format.h>

#include <utility>

namespace hb::node {

std::string describe_drops(const std::array<std::uint64_t, drop_reason_count>& dropped,
                           const std::array<Ipv4, drop_reason_count>& from) {
    std::string out;
    for (std::size_t i = 0; i < drop_reason_count; ++i) {
        if (dropped[i] == 0) {
            continue;
        }
        out += fmt::format("{}{} {}", out.empty() ? "" : ", ",
                           drop_reason_name(static_cast<DropReason>(i)), dropped[i]);
        if (!from[i].is_unspecified()) {
            out += " (latest from " + from[i].to_string() + ")";
        }
    }
    return out;
}

DropReporter::DropReporter(const EngineCounters& counters, Nanos period_ns, Log log, Nanos now)
    : counters_(counters),
      period_ns_(period_ns),
      log_(std::move(log)),
      reported_(counters.dropped),
      // The first drops are worth a line at once.
      last_line_ns_(now - period_ns),
      window_start_ns_(now) {}

bool DropReporter::poll(Nanos now) noexcept {
    if (now - last_line_ns_ < period_ns_ || counters_.dropped == reported_) {
        return false;
    }
    std::array<std::uint64_t, drop_reason_count> since{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < drop_reason_count; ++i) {
        since[i] = counters_.dropped[i] - reported_[i];
        total += since[i];
    }
    const double seconds = static_cast<double>(now - window_start_ns_) / 1e9;
    try {
        log_(fmt::format("dropped {} datagrams in the last {:.1f} s: {}", total, seconds,
                         describe_drops(since, counters_.last_dropped_from)));
    } catch (...) {
        // Formatting can only fail for want of memory; a lost log line must not stop the node.
    }
    reported_ = counters_.dropped;
    last_line_ns_ = now;
    window_start_ns_ = now;
    ++lines_;
    return false;
}

}  // namespace hb::node
