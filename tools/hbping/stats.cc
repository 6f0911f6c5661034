// Statistics and reports of the hbping sender.
#include "tools/hbping/stats.hh"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "hb/assert.hh"

namespace hb::ping {

namespace {

double to_ms(double ns) {
    return ns / static_cast<double>(nanos_per_ms);
}

std::string rtt_lines(const std::optional<RttSummary>& summary, std::string_view indent) {
    if (!summary) {
        return fmt::format(
            "{0}round-trip min/avg/max/mdev = NA/NA/NA/NA ms\n"
            "{0}round-trip p50/p99/p99.9 = NA/NA/NA ms\n",
            indent);
    }
    return fmt::format(
        "{0}round-trip min/avg/max/mdev = {1:.3f}/{2:.3f}/{3:.3f}/{4:.3f} ms\n"
        "{0}round-trip p50/p99/p99.9 = {5:.3f}/{6:.3f}/{7:.3f} ms\n",
        indent, summary->min_ms, summary->avg_ms, summary->max_ms, summary->mdev_ms,
        summary->p50_ms, summary->p99_ms, summary->p999_ms);
}

std::string json_number(double value) {
    return fmt::format("{:.6f}", value);
}

std::string json_rtt(const std::optional<RttSummary>& summary) {
    if (!summary) {
        return "null";
    }
    return fmt::format(R"({{"min":{},"avg":{},"max":{},"mdev":{},"p50":{},"p99":{},"p99_9":{}}})",
                       json_number(summary->min_ms), json_number(summary->avg_ms),
                       json_number(summary->max_ms), json_number(summary->mdev_ms),
                       json_number(summary->p50_ms), json_number(summary->p99_ms),
                       json_number(summary->p999_ms));
}

}  // namespace

ResponderStats::ResponderStats(Ipv4 address, std::size_t expected) : address_(address) {
    seen_.reserve(expected + 1);
    rtts_ns_.reserve(expected);
}

Arrival ResponderStats::record(std::uint64_t seq, Nanos rtt_ns, Nanos hold_ns) {
    HB_ASSERT(seq != 0);
    if (seq >= seen_.size()) {
        seen_.resize(seq + 1, false);
    }
    if (seen_[seq]) {
        ++duplicates_;
        return Arrival::duplicate;
    }
    seen_[seq] = true;
    rtts_ns_.push_back(std::max<Nanos>(rtt_ns, 0));
    hold_total_ns_ += hold_ns;
    if (seq < highest_seq_) {
        ++reordered_;
        return Arrival::reordered;
    }
    highest_seq_ = seq;
    return Arrival::first;
}

Nanos nearest_rank(std::span<const Nanos> sorted_ns, double percent) {
    HB_ASSERT(!sorted_ns.empty());
    HB_ASSERT(percent > 0.0 && percent <= 100.0);
    // rank = ceil(p/100 * n), computed in integers of 0.001 % so that 99.9 % of 1000 samples is
    // exactly rank 999 (binary floating point would round 0.999 * 1000 up to 999.0000000001).
    const auto milli = static_cast<std::uint64_t>(std::llround(percent * 1000.0));
    const std::uint64_t n = sorted_ns.size();
    std::uint64_t rank = (milli * n + 100'000 - 1) / 100'000;
    rank = std::clamp<std::uint64_t>(rank, 1, n);
    return sorted_ns[rank - 1];
}

std::optional<RttSummary> summarize(std::span<const Nanos> rtts_ns) {
    if (rtts_ns.empty()) {
        return std::nullopt;
    }
    std::vector<Nanos> sorted(rtts_ns.begin(), rtts_ns.end());
    std::sort(sorted.begin(), sorted.end());
    const auto n = static_cast<double>(sorted.size());
    double sum = 0;
    for (const Nanos sample : sorted) {
        sum += static_cast<double>(sample);
    }
    const double mean = sum / n;
    // Two passes: the deviation of sub-millisecond samples loses nothing to cancellation.
    double squares = 0;
    for (const Nanos sample : sorted) {
        const double delta = static_cast<double>(sample) - mean;
        squares += delta * delta;
    }
    RttSummary summary;
    summary.min_ms = to_ms(static_cast<double>(sorted.front()));
    summary.max_ms = to_ms(static_cast<double>(sorted.back()));
    summary.avg_ms = to_ms(mean);
    summary.mdev_ms = to_ms(std::sqrt(squares / n));
    summary.p50_ms = to_ms(static_cast<double>(nearest_rank(sorted, 50.0)));
    summary.p99_ms = to_ms(static_cast<double>(nearest_rank(sorted, 99.0)));
    summary.p999_ms = to_ms(static_cast<double>(nearest_rank(sorted, 99.9)));
    return summary;
}

double loss_percent(std::uint64_t transmitted, std::uint64_t received) noexcept {
    if (transmitted == 0) {
        return 0.0;
    }
    const std::uint64_t lost = received >= transmitted ? 0 : transmitted - received;
    return 100.0 * static_cast<double>(lost) / static_cast<double>(transmitted);
}

Verdict judge(const SenderReport& report) {
    std::uint64_t bad_mac_replies = 0;
    for (const BadMac& bad : report.bad_mac) {
        bad_mac_replies += bad.replies;
    }
    if (bad_mac_replies != 0) {
        return {
            1, fmt::format("{} replies with a bad MAC (the cluster keys differ)", bad_mac_replies)};
    }
    if (report.responders.empty()) {
        return {1, "no reply"};
    }
    for (const ResponderStats& responder : report.responders) {
        const double loss = loss_percent(report.transmitted, responder.received());
        if (loss > report.max_loss_percent) {
            return {1, fmt::format("{:.1f}% loss from {} is above --max-loss {}%", loss,
                                   responder.address().to_string(), report.max_loss_percent)};
        }
    }
    return {0, ""};
}

std::string format_statistics(const SenderReport& report) {
    std::string out = fmt::format("\n--- {} statistics ---\n", report.target);
    if (report.responders.empty()) {
        out += fmt::format("{} packets transmitted, 0 packets received, {:.1f}% packet loss\n",
                           report.transmitted, loss_percent(report.transmitted, 0));
        out += rtt_lines(std::nullopt, "");
    }
    for (const ResponderStats& responder : report.responders) {
        out += fmt::format(
            "from {}: {} packets transmitted, {} packets received, {:.1f}% packet loss, "
            "{} duplicates, {} reordered\n",
            responder.address().to_string(), report.transmitted, responder.received(),
            loss_percent(report.transmitted, responder.received()), responder.duplicates(),
            responder.reordered());
        out += rtt_lines(summarize(responder.rtts_ns()), "  ");
    }
    for (const BadMac& bad : report.bad_mac) {
        out += fmt::format("replies with a bad MAC from {}: {} (its cluster key differs{})\n",
                           bad.address.to_string(), bad.replies,
                           report.authenticated ? " from --key-file" : "; give --key-file");
    }
    if (report.send_errors != 0) {
        out += fmt::format("{} pings could not be sent\n", report.send_errors);
    }
    if (report.malformed != 0 || report.foreign != 0) {
        out += fmt::format("ignored: {} malformed datagrams, {} replies to other pings\n",
                           report.malformed, report.foreign);
    }
    return out;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

std::string format_json(const SenderReport& report, const Verdict& verdict) {
    std::string responders;
    double worst_loss = report.responders.empty() ? 100.0 : 0.0;
    for (const ResponderStats& responder : report.responders) {
        const double loss = loss_percent(report.transmitted, responder.received());
        worst_loss = std::max(worst_loss, loss);
        const double hold_avg_ms = responder.received() == 0
                                       ? 0.0
                                       : to_ms(static_cast<double>(responder.hold_total_ns()) /
                                               static_cast<double>(responder.received()));
        responders += fmt::format(
            R"({}{{"address":{},"received":{},"loss_percent":{},"duplicates":{},"reordered":{},)"
            R"("rtt_ms":{},"hold_avg_ms":{}}})",
            responders.empty() ? "" : ",", json_string(responder.address().to_string()),
            responder.received(), json_number(loss), responder.duplicates(), responder.reordered(),
            json_rtt(summarize(responder.rtts_ns())), json_number(hold_avg_ms));
    }
    std::string bad_mac;
    for (const BadMac& bad : report.bad_mac) {
        bad_mac += fmt::format(R"({}{{"address":{},"replies":{}}})", bad_mac.empty() ? "" : ",",
                               json_string(bad.address.to_string()), bad.replies);
    }
    return fmt::format(
        R"({{"tool":"hbping","role":"sender","target":{},"multicast":{},"port":{},)"
        R"("interface":{},"source":{},"ttl":{},"size":{},"interval_s":{},"authenticated":{},)"
        R"("transmitted":{},"send_errors":{},"malformed":{},"foreign":{},"responders":[{}],)"
        R"("bad_mac":[{}],"worst_loss_percent":{},"max_loss_percent":{},"exit_status":{},)"
        R"("reason":{}}})",
        json_string(report.target), report.multicast, report.port, json_string(report.interface),
        json_string(report.source), report.ttl, report.size_bytes, json_number(report.interval_s),
        report.authenticated, report.transmitted, report.send_errors, report.malformed,
        report.foreign, responders, bad_mac, json_number(worst_loss),
        json_number(report.max_loss_percent), verdict.exit_status, json_string(verdict.reason));
}

}  // namespace hb::ping
