// What an hbping sender learned, per responder: arrivals classified as first, duplicate or
// reordered, round-trip samples and their summary, and the report in text (mping's style) and
// JSON. Pure values: the unit tests feed fixed inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hb/clock.hh"
#include "hb/model.hh"

namespace hb::ping {

enum class Arrival : std::uint8_t { first, reordered, duplicate };

// Replies from one responder, by the seq of the ping they answer (1..transmitted).
class ResponderStats {
public:
    explicit ResponderStats(Ipv4 address, std::size_t expected = 0);

    // A reply to ping `seq` with round trip `rtt_ns`. A duplicate's sample is not kept; a
    // reordered reply (lower seq than one already seen) is counted and its sample kept.
    Arrival record(std::uint64_t seq, Nanos rtt_ns, Nanos hold_ns = 0);

    Ipv4 address() const noexcept { return address_; }
    std::uint64_t received() const noexcept { return rtts_ns_.size(); }
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    std::uint64_t reordered() const noexcept { return reordered_; }
    std::span<const Nanos> rtts_ns() const noexcept { return rtts_ns_; }
    Nanos hold_total_ns() const noexcept { return hold_total_ns_; }

private:
    Ipv4 address_;
    std::vector<bool> seen_;  // index seq
    std::uint64_t highest_seq_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t reordered_ = 0;
    Nanos hold_total_ns_ = 0;
    std::vector<Nanos> rtts_ns_;
};

struct RttSummary {
    double min_ms = 0;
    double avg_ms = 0;
    double max_ms = 0;
    double mdev_ms = 0;  // population standard deviation, as ping's mdev
    double p50_ms = 0;
    double p99_ms = 0;
    double p999_ms = 0;
};

// nullopt without samples (printed as NA). Percentiles use the nearest-rank method: the smallest
// sample with at least p % of the samples at or below it.
[[nodiscard]] std::optional<RttSummary> summarize(std::span<const Nanos> rtts_ns);
[[nodiscard]] Nanos nearest_rank(std::span<const Nanos> sorted_ns, double percent);

// (transmitted - received) / transmitted in percent; 0 when nothing was transmitted.
[[nodiscard]] double loss_percent(std::uint64_t transmitted, std::uint64_t received) noexcept;

struct BadMac {
    Ipv4 address;
    std::uint64_t replies = 0;
};

// Everything the sender prints at the end.
struct SenderReport {
    std::string target;  // the group or peer, as given
    bool multicast = false;
    std::uint16_t port = default_port;
    std::string interface;
    std::string source;
    unsigned ttl = 1;
    std::size_t size_bytes = 0;
    double interval_s = 1;
    bool authenticated = false;
    double max_loss_percent = 100;
    std::uint64_t transmitted = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t malformed = 0;  // datagrams that are not a v1 PONG
    std::uint64_t foreign = 0;    // PONGs to pings this run did not send
    std::vector<ResponderStats> responders;
    std::vector<BadMac> bad_mac;
};

struct Verdict {
    int exit_status = 0;  // 0 all good, 1 the check failed
    std::string reason;   // empty when good
};

// 1 when nothing came back, when a responder's loss is above max_loss_percent, or when any reply
// failed the MAC; 0 otherwise.
[[nodiscard]] Verdict judge(const SenderReport& report);

// The "--- ADDR statistics ---" block.
[[nodiscard]] std::string format_statistics(const SenderReport& report);
// One JSON document (docs/hbping.md describes its fields).
[[nodiscard]] std::string format_json(const SenderReport& report, const Verdict& verdict);

[[nodiscard]] std::string json_string(std::string_view text);

}  // namespace hb::ping
