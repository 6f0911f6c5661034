// hbping's pure parts on fixed inputs: statistics (percentiles, mdev, loss, duplicates,
// reordering), the verdict, the reports, option validation and the PING/PONG messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <vector>

#include "hb/mac.hh"
#include "tools/hbping/messages.hh"
#include "tools/hbping/options.hh"
#include "tools/hbping/stats.hh"

namespace hb::ping {
namespace {

constexpr Ipv4 peer{0xC6120102};   // 198.18.1.2
constexpr Ipv4 other{0xC6120103};  // 198.18.1.3

std::vector<Nanos> ms(std::initializer_list<Nanos> values) {
    std::vector<Nanos> out;
    for (const Nanos value : values) {
        out.push_back(value * nanos_per_ms);
    }
    return out;
}

// --- statistics ---------------------------------------------------------------------------

TEST(Stats, NearestRankPercentiles) {
    std::vector<Nanos> hundred;
    for (Nanos i = 1; i <= 100; ++i) {
        hundred.push_back(i);
    }
    EXPECT_EQ(nearest_rank(hundred, 50.0), 50);
    EXPECT_EQ(nearest_rank(hundred, 99.0), 99);
    EXPECT_EQ(nearest_rank(hundred, 99.9), 100);
    EXPECT_EQ(nearest_rank(hundred, 100.0), 100);

    std::vector<Nanos> thousand;
    for (Nanos i = 1; i <= 1000; ++i) {
        thousand.push_back(i);
    }
    EXPECT_EQ(nearest_rank(thousand, 99.9), 999);  // not 1000: exact rank arithmetic
    EXPECT_EQ(nearest_rank(thousand, 50.0), 500);

    const std::vector<Nanos> one{7};
    EXPECT_EQ(nearest_rank(one, 50.0), 7);
    EXPECT_EQ(nearest_rank(one, 99.9), 7);
    const std::vector<Nanos> four{1, 2, 3, 4};
    EXPECT_EQ(nearest_rank(four, 50.0), 2);
    EXPECT_EQ(nearest_rank(four, 99.0), 4);
}

TEST(Stats, SummaryOfFixedSamples) {
    // 2, 4, 4, 4, 5, 5, 7, 9 ms: mean 5, population deviation exactly 2.
    const std::vector<Nanos> samples = ms({9, 4, 5, 4, 2, 7, 4, 5});
    const std::optional<RttSummary> summary = summarize(samples);
    ASSERT_TRUE(summary);
    EXPECT_DOUBLE_EQ(summary->min_ms, 2.0);
    EXPECT_DOUBLE_EQ(summary->max_ms, 9.0);
    EXPECT_DOUBLE_EQ(summary->avg_ms, 5.0);
    EXPECT_DOUBLE_EQ(summary->mdev_ms, 2.0);
    EXPECT_DOUBLE_EQ(summary->p50_ms, 4.0);
    EXPECT_DOUBLE_EQ(summary->p99_ms, 9.0);
    EXPECT_DOUBLE_EQ(summary->p999_ms, 9.0);
}

TEST(Stats, SummaryOfNothingIsNa) {
    EXPECT_FALSE(summarize({}));
}

TEST(Stats, SubMillisecondDeviationKeepsItsDigits) {
    // Samples around 10 s with a 1 us spread: a one-pass sum of squares would cancel to noise.
    const std::vector<Nanos> samples{10 * nanos_per_s - 1000, 10 * nanos_per_s + 1000};
    EXPECT_NEAR(summarize(samples)->mdev_ms, 0.001, 1e-9);
}

TEST(Stats, LossPercent) {
    EXPECT_DOUBLE_EQ(loss_percent(10, 10), 0.0);
    EXPECT_DOUBLE_EQ(loss_percent(10, 7), 30.0);
    EXPECT_DOUBLE_EQ(loss_percent(3, 0), 100.0);
    EXPECT_DOUBLE_EQ(loss_percent(0, 0), 0.0);
    EXPECT_DOUBLE_EQ(loss_percent(4, 5), 0.0);  // never negative
}

TEST(Stats, DuplicatesAndReordering) {
    ResponderStats stats(peer, 8);
    EXPECT_EQ(stats.record(1, 10), Arrival::first);
    EXPECT_EQ(stats.record(3, 30), Arrival::first);
    EXPECT_EQ(stats.record(2, 20), Arrival::reordered);  // overtaken by 3
    EXPECT_EQ(stats.record(2, 21), Arrival::duplicate);  // its copy
    EXPECT_EQ(stats.record(3, 31), Arrival::duplicate);
    EXPECT_EQ(stats.record(5, 50), Arrival::first);    // 4 lost
    EXPECT_EQ(stats.record(100, 60), Arrival::first);  // beyond the reserve: grows
    EXPECT_EQ(stats.received(), 5U);
    EXPECT_EQ(stats.duplicates(), 2U);
    EXPECT_EQ(stats.reordered(), 1U);
    // Duplicates add no sample; the reordered reply does.
    const std::vector<Nanos> kept(stats.rtts_ns().begin(), stats.rtts_ns().end());
    EXPECT_EQ(kept, (std::vector<Nanos>{10, 30, 20, 50, 60}));
}

TEST(Stats, NegativeRoundTripClampsToZero) {
    ResponderStats stats(peer);
    stats.record(1, -5);
    EXPECT_EQ(stats.rtts_ns()[0], 0);
}

SenderReport report_with(std::uint64_t transmitted, std::initializer_list<std::uint64_t> seqs) {
    SenderReport report;
    report.target = "227.1.1.1";
    report.transmitted = transmitted;
    report.max_loss_percent = 0;
    if (seqs.size() != 0) {
        ResponderStats& stats = report.responders.emplace_back(peer);
        for (const std::uint64_t seq : seqs) {
            stats.record(seq, static_cast<Nanos>(seq) * nanos_per_ms);
        }
    }
    return report;
}

TEST(Verdict, AllRepliesPass) {
    EXPECT_EQ(judge(report_with(3, {1, 2, 3})).exit_status, 0);
}

TEST(Verdict, NoReplyFailsWhateverTheThreshold) {
    SenderReport report = report_with(3, {});
    report.max_loss_percent = 100;
    const Verdict verdict = judge(report);
    EXPECT_EQ(verdict.exit_status, 1);
    EXPECT_EQ(verdict.reason, "no reply");
}

TEST(Verdict, LossAgainstTheThreshold) {
    SenderReport report = report_with(4, {1, 2, 4});  // 25 % lost
    EXPECT_EQ(judge(report).exit_status, 1);
    report.max_loss_percent = 25;
    EXPECT_EQ(judge(report).exit_status, 0);  // "above" the threshold fails, equal passes
    report.max_loss_percent = 24.9;
    EXPECT_EQ(judge(report).exit_status, 1);
}

TEST(Verdict, OneLossyResponderOfTwoFails) {
    SenderReport report = report_with(2, {1, 2});
    report.responders.emplace_back(other).record(1, 1);
    const Verdict verdict = judge(report);
    EXPECT_EQ(verdict.exit_status, 1);
    EXPECT_NE(verdict.reason.find("198.18.1.3"), std::string::npos);
}

TEST(Verdict, BadMacFails) {
    SenderReport report = report_with(2, {1, 2});
    report.bad_mac.push_back(BadMac{other, 2});
    EXPECT_EQ(judge(report).exit_status, 1);
}

TEST(Report, TextPerResponderAndNa) {
    SenderReport report = report_with(3, {1, 2});
    report.responders.emplace_back(other).record(1, 2 * nanos_per_ms);
    const std::string text = format_statistics(report);
    EXPECT_NE(text.find("--- 227.1.1.1 statistics ---"), std::string::npos) << text;
    EXPECT_NE(text.find("from 198.18.1.2: 3 packets transmitted, 2 packets received, 33.3% "
                        "packet loss, 0 duplicates, 0 reordered"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("round-trip min/avg/max/mdev = 1.000/1.500/2.000/0.500 ms"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("from 198.18.1.3: 3 packets transmitted, 1 packets received"),
              std::string::npos)
        << text;

    const std::string silent = format_statistics(report_with(5, {}));
    EXPECT_NE(silent.find("5 packets transmitted, 0 packets received, 100.0% packet loss"),
              std::string::npos)
        << silent;
    EXPECT_NE(silent.find("round-trip min/avg/max/mdev = NA/NA/NA/NA ms"), std::string::npos);
    EXPECT_NE(silent.find("round-trip p50/p99/p99.9 = NA/NA/NA ms"), std::string::npos);
}

TEST(Report, JsonHasNullRttWithoutSamples) {
    const SenderReport report = report_with(2, {});
    const std::string json = format_json(report, judge(report));
    EXPECT_NE(json.find(R"("responders":[])"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("exit_status":1)"), std::string::npos) << json;
    const SenderReport answered = report_with(2, {2, 1});
    const std::string full = format_json(answered, judge(answered));
    EXPECT_NE(full.find(R"("reordered":1)"), std::string::npos) << full;
    EXPECT_NE(full.find(R"("p99_9":2.000000)"), std::string::npos) << full;
}

TEST(Report, JsonStringsAreEscaped) {
    EXPECT_EQ(json_string("a\"b\\c\n"), R"("a\"b\\c\u000a")");
}

// --- options --------------------------------------------------------------------------------

std::string error_of(const RawArguments& raw, bool with_dpdk = dpdk_built) {
    const auto result = validate(raw, with_dpdk);
    return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : "";
}

RawArguments sender() {
    RawArguments raw;
    raw.sender = true;
    return raw;
}

TEST(Options, Defaults) {
    const auto result = validate(sender());
    ASSERT_TRUE(std::holds_alternative<Options>(result)) << std::get<std::string>(result);
    const Options& options = std::get<Options>(result);
    EXPECT_EQ(options.role, Role::sender);
    EXPECT_EQ(options.address, default_group);
    EXPECT_EQ(options.port, 4098);
    EXPECT_EQ(options.ttl, 1);
    EXPECT_EQ(options.interval_ns, nanos_per_s);
    EXPECT_EQ(options.size_bytes, 112U);
    EXPECT_DOUBLE_EQ(options.max_loss_percent, 100.0);

    RawArguments receiver;
    receiver.receiver = true;
    EXPECT_EQ(std::get<Options>(validate(receiver)).ttl, 64);
}

TEST(Options, CountMakesAnyLossFail) {
    RawArguments raw = sender();
    raw.count = "5";
    EXPECT_DOUBLE_EQ(std::get<Options>(validate(raw)).max_loss_percent, 0.0);
    raw.max_loss = "12.5";
    EXPECT_DOUBLE_EQ(std::get<Options>(validate(raw)).max_loss_percent, 12.5);
}

TEST(Options, GoodValues) {
    RawArguments raw = sender();
    raw.address = "198.18.1.2";
    raw.interval = "0.001";
    raw.deadline = "2.5";
    raw.size = "65507";
    raw.ttl = "255";
    raw.port = "65535";
    raw.interface = "eth1";
    raw.transport = "udp";
    raw.cluster_id = "18446744073709551615";
    const auto result = validate(raw);
    ASSERT_TRUE(std::holds_alternative<Options>(result)) << std::get<std::string>(result);
    const Options& options = std::get<Options>(result);
    EXPECT_EQ(options.interval_ns, nanos_per_ms);
    EXPECT_EQ(options.deadline_ns, 2500 * nanos_per_ms);
    EXPECT_EQ(options.size_bytes, 65507U);
    EXPECT_EQ(options.ttl, 255);
    EXPECT_EQ(options.cluster_id, 18446744073709551615ULL);
}

TEST(Options, EveryBadValueIsNamed) {
    const std::vector<std::pair<std::optional<std::string> RawArguments::*, std::string>> fields{
        {&RawArguments::count, "-c"},
        {&RawArguments::port, "-p"},
        {&RawArguments::ttl, "-t"},
        {&RawArguments::interval, "-i"},
        {&RawArguments::size, "--size"},
        {&RawArguments::deadline, "-w"},
        {&RawArguments::address, "-a"},
        {&RawArguments::max_loss, "--max-loss"},
        {&RawArguments::interface, "-I"},
        {&RawArguments::cluster_id, "--cluster-id"},
        {&RawArguments::transport, "--transport"},
    };
    const std::vector<std::string> bad{"x", "", "-1", " 1", "1 ", "+1", "1e3", "inf", "nan"};
    for (const auto& [field, name] : fields) {
        for (const std::string& value : bad) {
            // Some strings are valid for a few fields: an interface may be called "x" or "inf".
            if (name == "-I" && !value.empty() && value.find(' ') == std::string::npos) {
                continue;
            }
            RawArguments raw = sender();
            raw.*field = value;
            const std::string error = error_of(raw);
            EXPECT_EQ(error.rfind(name + ": expected ", 0), 0U)
                << name << " \"" << value << "\": " << error;
            EXPECT_NE(error.find("got \"" + value + "\""), std::string::npos) << error;
        }
    }
}

TEST(Options, RangeLimits) {
    const std::vector<std::pair<std::optional<std::string> RawArguments::*, std::string>> cases{
        {&RawArguments::count, "0"},
        {&RawArguments::port, "0"},
        {&RawArguments::port, "65536"},
        {&RawArguments::ttl, "0"},
        {&RawArguments::ttl, "256"},
        {&RawArguments::interval, "0.0009"},
        {&RawArguments::interval, "86401"},
        {&RawArguments::size, "111"},
        {&RawArguments::size, "65508"},
        {&RawArguments::deadline, "0"},
        {&RawArguments::max_loss, "100.1"},
        {&RawArguments::address, "0.0.0.0"},
        {&RawArguments::address, "255.255.255.255"},
        {&RawArguments::interface, "sixteen-chars-xx"},
    };
    for (const auto& [field, value] : cases) {
        RawArguments raw = sender();
        raw.*field = value;
        EXPECT_NE(error_of(raw).find("got \"" + value + "\""), std::string::npos) << value;
    }
}

TEST(Options, RolesAndExclusions) {
    EXPECT_NE(error_of(RawArguments{}).find("give -r"), std::string::npos);
    RawArguments both = sender();
    both.receiver = true;
    EXPECT_NE(error_of(both).find("exclude"), std::string::npos);
    RawArguments receiver;
    receiver.receiver = true;
    receiver.max_loss = "5";
    EXPECT_NE(error_of(receiver).find("--max-loss applies to the sender"), std::string::npos);
    RawArguments group = sender();
    group.address = "227.1.1.1";
    group.caa_group = "";
    EXPECT_NE(error_of(group).find("-a and --caa-group exclude each other"), std::string::npos);
}

// A valid DPDK sender's arguments; the DPDK rules are checked as a build with DPDK would, and
// the refusal as a build without it would, whatever this build is.
RawArguments dpdk_sender() {
    RawArguments raw = sender();
    raw.transport = "dpdk";
    raw.dpdk_port = "net_af_packet0,iface=eth1";
    raw.source = "198.18.1.1";
    raw.address = "198.18.1.2";
    return raw;
}

TEST(Options, DpdkInABuildWithoutIt) {
    EXPECT_EQ(error_of(dpdk_sender(), false),
              "--transport dpdk: this build has no DPDK transport (libdpdk was not found when it "
              "was configured)");
    RawArguments raw = sender();
    raw.transport = "dpdk";
    EXPECT_NE(error_of(raw, false).find("this build has no DPDK transport"), std::string::npos);
}

TEST(Options, DpdkGoodValues) {
    RawArguments raw = dpdk_sender();
    raw.size = "128";
    raw.eal_args = "  --no-huge -m 32\t--file-prefix=x ";
    const auto result = validate(raw, true);
    ASSERT_TRUE(std::holds_alternative<Options>(result)) << std::get<std::string>(result);
    const Options& options = std::get<Options>(result);
    EXPECT_EQ(options.path, Path::dpdk);
    EXPECT_EQ(options.dpdk_port, "net_af_packet0,iface=eth1");
    EXPECT_EQ(options.source, Ipv4::parse("198.18.1.1"));
    EXPECT_EQ(options.size_bytes, 128U);
    EXPECT_EQ(options.eal_args,
              (std::vector<std::string>{"--no-huge", "-m", "32", "--file-prefix=x"}));
    raw.eal_args.reset();  // the defaults are filled in at run time
    EXPECT_TRUE(std::get<Options>(validate(raw, true)).eal_args.empty());
    // A receiver, and the kernel path's default.
    raw.sender = false;
    raw.receiver = true;
    raw.address = "227.1.1.1";
    EXPECT_TRUE(std::holds_alternative<Options>(validate(raw, true)));
    EXPECT_EQ(std::get<Options>(validate(sender(), true)).path, Path::udp);
}

TEST(Options, DpdkDefaultEalArguments) {
    const std::vector<std::string> args = default_eal_args(4242);
    EXPECT_NE(std::find(args.begin(), args.end(), "--no-huge"), args.end());
    EXPECT_NE(std::find(args.begin(), args.end(), "--file-prefix=hbping_4242"), args.end());
    EXPECT_NE(default_eal_args(1), args);  // one prefix per process
}

TEST(Options, DpdkBadValuesAreNamed) {
    const std::vector<
        std::pair<std::string, std::pair<std::optional<std::string> RawArguments::*, std::string>>>
        cases{
            {"--port: expected a DPDK port", {&RawArguments::dpdk_port, ""}},
            {"--port: expected a DPDK port", {&RawArguments::dpdk_port, "4098"}},
            {"--port: expected a DPDK port", {&RawArguments::dpdk_port, "net_af_packet0, iface=x"}},
            {"--source: expected the DPDK port's unicast IPv4 address",
             {&RawArguments::source, "198.18.1"}},
            {"--source: expected the DPDK port's unicast IPv4 address",
             {&RawArguments::source, "227.1.1.1"}},
            {"--source: expected the DPDK port's unicast IPv4 address",
             {&RawArguments::source, "0.0.0.0"}},
            {"--eal-args: expected EAL arguments", {&RawArguments::eal_args, " "}},
        };
    for (const auto& [message, change] : cases) {
        RawArguments raw = dpdk_sender();
        raw.*change.first = change.second;
        const std::string error = error_of(raw, true);
        EXPECT_EQ(error.rfind(message, 0), 0U) << error;
        EXPECT_NE(error.find("got \"" + change.second + "\""), std::string::npos) << error;
    }
}

TEST(Options, DpdkRules) {
    RawArguments raw = dpdk_sender();
    raw.dpdk_port.reset();
    EXPECT_EQ(error_of(raw, true).rfind("--transport dpdk needs --port DEVARGS", 0), 0U);
    raw = dpdk_sender();
    raw.source.reset();
    EXPECT_EQ(error_of(raw, true).rfind("--transport dpdk needs --source ADDR", 0), 0U);
    raw = dpdk_sender();
    raw.interface = "eth1";
    EXPECT_EQ(error_of(raw, true).rfind("-I names a kernel interface", 0), 0U);
    raw = dpdk_sender();
    raw.size = "129";
    EXPECT_EQ(error_of(raw, true),
              "--size 129: the DPDK path carries datagrams of at most 128 bytes (the transport's "
              "record size)");
    // The DPDK options without --transport dpdk.
    for (const auto field :
         {&RawArguments::dpdk_port, &RawArguments::source, &RawArguments::eal_args}) {
        raw = sender();
        raw.*field = "x";
        EXPECT_NE(error_of(raw, true).find("applies to --transport dpdk"), std::string::npos);
    }
}

TEST(Options, CaaGroup) {
    EXPECT_EQ(caa_group_of(*Ipv4::parse("198.18.1.2")), *Ipv4::parse("228.18.1.2"));
    EXPECT_EQ(caa_group_of(*Ipv4::parse("10.250.3.4")), *Ipv4::parse("228.250.3.4"));
    RawArguments raw = sender();
    raw.caa_group = "198.18.7.9";
    const Options options = std::get<Options>(validate(raw));
    EXPECT_TRUE(options.caa_group);
    EXPECT_EQ(options.caa_base, Ipv4::parse("198.18.7.9"));
    EXPECT_FALSE(options.address);
    raw.caa_group = "228.1.1.1";
    EXPECT_NE(error_of(raw).find("--caa-group: expected"), std::string::npos);
}

// --- messages -------------------------------------------------------------------------------

TEST(Messages, PongEchoesThePingAndPaddingIsIgnored) {
    const Identity sender_identity{.cluster_id = 9, .incarnation = 11, .key = std::nullopt};
    const Identity receiver_identity{.cluster_id = 9, .incarnation = 22, .key = std::nullopt};
    std::vector<std::uint8_t> ping(300, 0xAA);
    build_ping(sender_identity, 5, 123'456, nanos_per_s, ping);
    EXPECT_EQ(ping[299], 0);  // padding zeroed
    const Checked at_receiver = check_message(receiver_identity, ping, wire::Kind::ping);
    ASSERT_EQ(at_receiver.check, Check::ok);
    EXPECT_EQ(at_receiver.beat.seq, 5U);
    EXPECT_EQ(at_receiver.beat.tx_time_ns, 123'456U);

    std::vector<std::uint8_t> pong(300);
    build_pong(receiver_identity, 1, at_receiver.beat, 700, pong);
    const Checked at_sender = check_message(sender_identity, pong, wire::Kind::pong);
    ASSERT_EQ(at_sender.check, Check::ok);
    EXPECT_EQ(at_sender.beat.echo_seq, 5U);
    EXPECT_EQ(at_sender.beat.echo_tx_time_ns, 123'456U);
    EXPECT_EQ(at_sender.beat.echo_hold_ns, 700U);
    EXPECT_EQ(at_sender.beat.echo_node, ping_node);

    EXPECT_EQ(check_message(sender_identity, ping, wire::Kind::pong).check, Check::other_kind);
    const Identity elsewhere{.cluster_id = 10, .incarnation = 1, .key = std::nullopt};
    EXPECT_EQ(check_message(elsewhere, ping, wire::Kind::ping).check, Check::other_cluster);
    EXPECT_EQ(check_message(receiver_identity, std::span(ping).first(111), wire::Kind::ping).check,
              Check::malformed);
}

TEST(Messages, KeysMustMatchBothWays) {
    std::array<std::uint8_t, 32> material{};
    const MacKey key_a = derive_key(material);
    material[0] = 1;
    const MacKey key_b = derive_key(material);
    const Identity a{.cluster_id = 0, .incarnation = 1, .key = key_a};
    const Identity b{.cluster_id = 0, .incarnation = 2, .key = key_b};
    const Identity none{.cluster_id = 0, .incarnation = 3, .key = std::nullopt};
    std::array<std::uint8_t, wire::beat_size> signed_ping{};
    build_ping(a, 1, 1, nanos_per_s, signed_ping);
    EXPECT_EQ(check_message(a, signed_ping, wire::Kind::ping).check, Check::ok);
    EXPECT_EQ(check_message(b, signed_ping, wire::Kind::ping).check, Check::bad_mac);
    EXPECT_EQ(check_message(none, signed_ping, wire::Kind::ping).check, Check::bad_mac);
    std::array<std::uint8_t, wire::beat_size> plain_ping{};
    build_ping(none, 1, 1, nanos_per_s, plain_ping);
    EXPECT_EQ(check_message(none, plain_ping, wire::Kind::ping).check, Check::ok);
    EXPECT_EQ(check_message(a, plain_ping, wire::Kind::ping).check, Check::bad_mac);
    // The same key under another id (a forged id byte) fails too: the id is covered by the MAC.
    MacKey renamed = key_a;
    renamed.id = static_cast<std::uint8_t>(key_a.id + 1);
    const Identity c{.cluster_id = 0, .incarnation = 4, .key = renamed};
    EXPECT_EQ(check_message(c, signed_ping, wire::Kind::ping).check, Check::bad_mac);
}

TEST(Messages, OnlyEchoesOfThisRunsPingsAreReplies) {
    const Identity sender{.cluster_id = 9, .incarnation = 11, .key = std::nullopt};
    const Identity receiver{.cluster_id = 9, .incarnation = 22, .key = std::nullopt};
    // Pings 1 and 2 of this run went out at 1000 and 2000; index 0 stands for no ping.
    const std::vector<Nanos> tx_times_ns = {0, 1000, 2000};
    const auto pong_for = [&](std::uint64_t seq, Nanos tx_ns, Nanos hold_ns) {
        std::array<std::uint8_t, wire::beat_size> ping{};
        build_ping(sender, seq, tx_ns, nanos_per_s, ping);
        const Checked received = check_message(receiver, ping, wire::Kind::ping);
        EXPECT_EQ(received.check, Check::ok);
        std::array<std::uint8_t, wire::beat_size> pong{};
        build_pong(receiver, 1, received.beat, hold_ns, pong);
        const Checked answered = check_message(sender, pong, wire::Kind::pong);
        EXPECT_EQ(answered.check, Check::ok);
        return answered.beat;
    };
    EXPECT_TRUE(echoes_own_ping(pong_for(1, 1000, 0), tx_times_ns));
    EXPECT_TRUE(echoes_own_ping(pong_for(2, 2000, 0), tx_times_ns));
    EXPECT_FALSE(echoes_own_ping(pong_for(2, 2001, 0), tx_times_ns));  // another run's time
    EXPECT_FALSE(echoes_own_ping(pong_for(3, 3000, 0), tx_times_ns));  // not sent (yet)
    EXPECT_FALSE(
        echoes_own_ping(pong_for(1, 1000, 0), std::span<const Nanos>(tx_times_ns).first(1)));
    wire::Beat echoing_zero = pong_for(1, 1000, 0);
    echoing_zero.echo_seq = 0;  // seq 0 is never sent (decodable: a PONG may echo nothing)
    echoing_zero.echo_tx_time_ns = 0;
    EXPECT_FALSE(echoes_own_ping(echoing_zero, tx_times_ns));
    wire::Beat from_a_node = pong_for(1, 1000, 0);
    from_a_node.echo_node = 7;  // a PONG answering a cluster node's PING, not hbping's
    EXPECT_FALSE(echoes_own_ping(from_a_node, tx_times_ns));

    // The receiver's hold is taken off; a hold longer than the round trip goes negative.
    EXPECT_EQ(round_trip_ns(pong_for(2, 2000, 300), 5000), 2700);
    EXPECT_EQ(round_trip_ns(pong_for(2, 2000, 4000), 5000), -1000);
    const Nanos hold_max_ns = std::numeric_limits<std::uint32_t>::max();
    EXPECT_EQ(round_trip_ns(pong_for(2, 2000, hold_max_ns + 5), 2000), -hold_max_ns);
}

TEST(Messages, LoadKeyRefusesShortAndMissingFiles) {
    const auto missing = load_key("/nonexistent/hbping.key");
    ASSERT_TRUE(std::holds_alternative<std::string>(missing));
    EXPECT_NE(std::get<std::string>(missing).find("cannot be read"), std::string::npos);
    const auto directory = load_key("/");
    EXPECT_TRUE(std::holds_alternative<std::string>(directory));
}

}  // namespace
}  // namespace hb::ping
