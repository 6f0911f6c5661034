// The node's hostile-input and least-privilege pieces: rate-limited drop reports, the list of
// capabilities a node keeps, and a node refused without a key unless the settings allow it.
#include <gtest/gtest.h>
#include <linux/capability.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tools/node/drop_report.hh"
#include "tools/node/node.hh"
#include "tools/node/privileges.hh"

namespace hb::node {
namespace {

TEST(DropReporter, FirstDropsAtOnceThenAtMostOneLinePerPeriod) {
    EngineCounters counters;
    std::vector<std::string> lines;
    const Nanos period = 10 * nanos_per_s;
    Nanos now = nanos_per_s;
    DropReporter reporter(
        counters, period, [&](std::string_view line) { lines.emplace_back(line); }, now);
    EXPECT_FALSE(reporter.poll(now));
    EXPECT_TRUE(lines.empty()) << "nothing dropped, nothing said";

    const auto bad_mac = static_cast<std::size_t>(DropReason::bad_mac);
    const auto truncated = static_cast<std::size_t>(DropReason::truncated);
    counters.dropped[bad_mac] = 5;
    counters.last_dropped_from[bad_mac] = *Ipv4::parse("198.18.1.99");
    now += nanos_per_ms;
    EXPECT_FALSE(reporter.poll(now)) << "logging is never work that keeps the loop awake";
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_NE(lines[0].find("dropped 5 datagrams"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("bad_mac 5 (latest from 198.18.1.99)"), std::string::npos) << lines[0];

    // A flood: a million more within the period is not a line until the period has passed.
    for (int i = 0; i < 1000; ++i) {
        counters.dropped[bad_mac] += 1000;
        counters.dropped[truncated] += 1;
        now += period / 2000;
        static_cast<void>(reporter.poll(now));
    }
    EXPECT_EQ(lines.size(), 1U);
    now += period;
    static_cast<void>(reporter.poll(now));
    ASSERT_EQ(lines.size(), 2U);
    EXPECT_NE(lines[1].find("dropped 1001000 datagrams"), std::string::npos) << lines[1];
    EXPECT_NE(lines[1].find("truncated 1000"), std::string::npos) << lines[1];
    EXPECT_EQ(lines[1].find("bad_mac 5 "), std::string::npos) << "counts since the last line";
    EXPECT_EQ(reporter.lines(), 2U);
}

NodeSettings two_node_settings() {
    NodeSettings settings;
    settings.cluster.cluster_id = 7;
    settings.cluster.local_node = 1;
    settings.cluster.networks.push_back(NetworkConfig{.name = "net_a"});
    for (NodeId id = 1; id <= 2; ++id) {
        settings.cluster.nodes.push_back(NodeConfig{
            .id = id,
            .name = "n" + std::to_string(id),
            .adapters = {AdapterConfig{.network = 0,
                                       .ifname = "lo",
                                       .address = *Ipv4::parse("127.0.0." + std::to_string(id))}}});
    }
    return settings;
}

std::vector<int> kept(const NodeSettings& settings) {
    std::vector<int> out;
    for (const KeptCapability& capability : capabilities_needed(settings)) {
        EXPECT_FALSE(capability.why.empty());
        out.push_back(capability.capability);
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(Privileges, KeepsOnlyWhatRunningNeeds) {
    NodeSettings settings = two_node_settings();
    settings.process.realtime_priority = 0;
    settings.process.lock_memory = false;
    EXPECT_EQ(kept(settings), std::vector<int>{CAP_NET_ADMIN});
    settings.process.lock_memory = true;
    EXPECT_EQ(kept(settings), (std::vector<int>{CAP_NET_ADMIN, CAP_IPC_LOCK}));
    settings.process.realtime_priority = 10;
    EXPECT_EQ(kept(settings), (std::vector<int>{CAP_NET_ADMIN, CAP_IPC_LOCK, CAP_SYS_NICE}));
    // DPDK: what its guide lists for a running primary, IPC_LOCK once.
    settings.cluster.nodes[0].adapters[0].transport = TransportKind::dpdk;
    EXPECT_EQ(kept(settings), (std::vector<int>{CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK,
                                                CAP_SYS_RAWIO, CAP_SYS_NICE}));
}

TEST(NodeCreate, RefusesAKeylessNodeUnlessAllowed) {
    NodeSettings settings = two_node_settings();
    auto refused = Node::create(settings);
    ASSERT_TRUE(std::holds_alternative<std::string>(refused));
    EXPECT_NE(std::get<std::string>(refused).find("no cluster key"), std::string::npos);
}

TEST(DescribeKeys, NamesTheSigningKeyFirst) {
    KeySet keys;
    EXPECT_EQ(describe_keys(keys), "unauthenticated");
    ASSERT_TRUE(keys.add(MacKey{.bytes = {}, .id = 0x3a}));
    ASSERT_TRUE(keys.add(MacKey{.bytes = {1}, .id = 0x07}));
    EXPECT_EQ(describe_keys(keys), "signs with key 3a, accepts 3a, 07");
}

}  // namespace
}  // namespace hb::node
