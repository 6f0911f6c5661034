// libFuzzer target for what hbping does with datagrams it receives: the sender's PONG checks
// (check_message, echoes_own_ping, round_trip_ns) into per-responder statistics and both reports,
// and the receiver's PING check and the PONG it answers with, which must check at the sender.
//
// Input: one flags byte (bit 0: the sender has the fuzz key, bit 1: the receiver has it), then
// datagrams, each a 16-bit little-endian length (at most max_datagram_bytes) and its bytes; the
// last one takes what is left. The sender has sent pings 1..pings_sent at seq × 1 s, so a PONG
// echoing seq s with tx time s × 1 s is a reply of this run (tests/fuzz/corpus/hbping_reply/).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hb/assert.hh"
#include "tests/fuzz/fuzz_key.hh"
#include "tools/hbping/messages.hh"
#include "tools/hbping/stats.hh"

namespace {

namespace ping = hb::ping;
namespace wire = hb::wire;

constexpr std::uint64_t fuzz_cluster = 0x0123456789ABCDEF;
constexpr std::uint64_t pings_sent = 8;
constexpr std::size_t max_datagram_bytes = 2048;
constexpr hb::Ipv4 responder_address{0xC6120102};  // 198.18.1.2

std::optional<hb::MacKey> key_if(bool keyed) {
    return keyed ? std::optional<hb::MacKey>(hb::fuzz::fuzz_mac_key()) : std::nullopt;
}

// The receiver's side: a PING it accepts (or answers despite a bad MAC) gets a PONG of the same
// size that the receiver's own identity, as a sender, accepts with every echo field intact.
void answer(const ping::Identity& receiver, std::span<const std::uint8_t> datagram) {
    const ping::Checked checked = ping::check_message(receiver, datagram, wire::Kind::ping);
    HB_ASSERT((checked.check == ping::Check::malformed) ==
              (checked.decode_error != wire::DecodeError::none));
    if (checked.check != ping::Check::ok && checked.check != ping::Check::bad_mac) {
        return;
    }
    HB_ASSERT(checked.beat.kind == wire::Kind::ping && checked.beat.cluster_id == fuzz_cluster);
    std::vector<std::uint8_t> pong(datagram.size(), 0xAA);
    ping::build_pong(receiver, 1, checked.beat, 1000, pong);
    const ping::Checked back = ping::check_message(receiver, pong, wire::Kind::pong);
    HB_ASSERT(back.check == ping::Check::ok);
    HB_ASSERT(back.beat.echo_seq == checked.beat.seq);
    HB_ASSERT(back.beat.echo_tx_time_ns == checked.beat.tx_time_ns);
    HB_ASSERT(back.beat.echo_node == checked.beat.src_node);
    HB_ASSERT(back.beat.echo_hold_ns == 1000);
    HB_ASSERT(std::all_of(pong.begin() + wire::beat_size, pong.end(),
                          [](std::uint8_t byte) { return byte == 0; }));
}

void check_summary(const ping::ResponderStats& stats) {
    const std::optional<ping::RttSummary> summary = ping::summarize(stats.rtts_ns());
    HB_ASSERT(summary.has_value() == (stats.received() != 0));
    if (!summary) {
        return;
    }
    HB_ASSERT(summary->min_ms >= 0);
    HB_ASSERT(summary->min_ms <= summary->p50_ms && summary->p50_ms <= summary->p99_ms);
    HB_ASSERT(summary->p99_ms <= summary->p999_ms && summary->p999_ms <= summary->max_ms);
    // The mean of values in [min, max] lies there too, up to rounding.
    const double slack = 1e-9 * std::max(1.0, summary->max_ms);
    HB_ASSERT(summary->avg_ms >= summary->min_ms - slack);
    HB_ASSERT(summary->avg_ms <= summary->max_ms + slack);
    HB_ASSERT(std::isfinite(summary->mdev_ms) && summary->mdev_ms >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const ping::Identity sender{
        .cluster_id = fuzz_cluster, .incarnation = 11, .key = key_if((data[0] & 1) != 0)};
    const ping::Identity receiver{
        .cluster_id = fuzz_cluster, .incarnation = 22, .key = key_if((data[0] & 2) != 0)};
    std::vector<hb::Nanos> tx_times_ns{0};  // index seq, as the sender keeps them
    for (std::uint64_t seq = 1; seq <= pings_sent; ++seq) {
        tx_times_ns.push_back(static_cast<hb::Nanos>(seq) * hb::nanos_per_s);
    }

    ping::SenderReport report;
    report.target = responder_address.to_string();
    report.transmitted = pings_sent;
    report.authenticated = sender.key.has_value();
    ping::ResponderStats stats(responder_address, pings_sent);
    hb::Nanos rx_ns = 100 * hb::nanos_per_s;
    std::size_t at = 1;
    while (at < size) {
        std::size_t length = size - at;
        if (length >= 2) {
            length = std::min<std::size_t>(data[at] | (data[at + 1] << 8), max_datagram_bytes);
            at += 2;
            length = std::min(length, size - at);
        }
        const std::span<const std::uint8_t> datagram(data + at, length);
        at += length;
        rx_ns += hb::nanos_per_ms;

        answer(receiver, datagram);

        const ping::Checked checked = ping::check_message(sender, datagram, wire::Kind::pong);
        HB_ASSERT((checked.check == ping::Check::malformed) ==
                  (checked.decode_error != wire::DecodeError::none));
        if (checked.check != ping::Check::ok && checked.check != ping::Check::bad_mac) {
            ++report.malformed;
            continue;
        }
        const wire::Beat& pong = checked.beat;
        HB_ASSERT(pong.kind == wire::Kind::pong && pong.cluster_id == fuzz_cluster);
        if (!ping::echoes_own_ping(pong, tx_times_ns)) {
            ++report.foreign;
            continue;
        }
        HB_ASSERT(pong.echo_seq >= 1 && pong.echo_seq <= pings_sent);
        if (checked.check == ping::Check::bad_mac) {
            if (report.bad_mac.empty()) {
                report.bad_mac.push_back({responder_address, 0});
            }
            ++report.bad_mac.front().replies;
            continue;
        }
        const hb::Nanos rtt_ns = ping::round_trip_ns(pong, rx_ns);
        HB_ASSERT(rtt_ns <= rx_ns - static_cast<hb::Nanos>(pong.echo_tx_time_ns));
        const std::uint64_t duplicates = stats.duplicates();
        const ping::Arrival arrival = stats.record(pong.echo_seq, rtt_ns, pong.echo_hold_ns);
        HB_ASSERT((arrival == ping::Arrival::duplicate) == (stats.duplicates() == duplicates + 1));
    }

    HB_ASSERT(stats.received() <= pings_sent);
    for (const hb::Nanos sample : stats.rtts_ns()) {
        HB_ASSERT(sample >= 0);
    }
    check_summary(stats);
    const double loss = ping::loss_percent(report.transmitted, stats.received());
    HB_ASSERT(loss >= 0 && loss <= 100);
    report.responders.push_back(stats);
    const ping::Verdict verdict = ping::judge(report);
    HB_ASSERT(verdict.exit_status == 0 || verdict.exit_status == 1);
    HB_ASSERT(verdict.reason.empty() == (verdict.exit_status == 0));
    HB_ASSERT(!ping::format_statistics(report).empty());
    const std::string json = ping::format_json(report, verdict);
    HB_ASSERT(json.front() == '{' && json.back() == '}');
    return 0;
}
