// The DPDK transport's neighbour table on a manual clock: static entries win, ARP teaches,
// resolution sends a bounded number of requests, and a full table refuses instead of growing.
#include <gtest/gtest.h>

#include "transport/dpdk/neighbours.hh"

namespace hb::transport {
namespace {

constexpr frame::MacAddress mac_1{{0x02, 0, 0, 0, 0, 1}};
constexpr frame::MacAddress mac_2{{0x02, 0, 0, 0, 0, 2}};
constexpr Ipv4 ip_1{0x0A000001};
constexpr Ipv4 ip_2{0x0A000002};
constexpr Ipv4 ip_3{0x0A000003};

constexpr NeighbourOptions options{.capacity = 2,
                                   .retry_interval_ns = 100 * nanos_per_ms,
                                   .max_attempts = 3,
                                   .failed_hold_ns = 1 * nanos_per_s};

TEST(DpdkNeighbours, StaticEntriesResolveAndAreNeverRelearned) {
    NeighbourTable table(options);
    ASSERT_TRUE(table.add_static(ip_1, mac_1));
    EXPECT_EQ(table.resolve(ip_1, 0).mac, mac_1);
    table.learn(ip_1, mac_2, true);
    EXPECT_EQ(table.lookup(ip_1), mac_1);
    EXPECT_EQ(table.counters().learned, 0U);
}

TEST(DpdkNeighbours, ResolutionSendsBoundedRequestsThenHoldsOff) {
    NeighbourTable table(options);
    Nanos now = 1000;
    auto first = table.resolve(ip_2, now);
    EXPECT_FALSE(first.mac);
    EXPECT_TRUE(first.send_request);
    // Within the retry interval: no second request however often the engine sends.
    EXPECT_FALSE(table.resolve(ip_2, now + 50 * nanos_per_ms).send_request);
    int requests = 1;
    for (int step = 1; step <= 10; ++step) {
        requests += table.resolve(ip_2, now + step * 100 * nanos_per_ms).send_request ? 1 : 0;
    }
    EXPECT_EQ(requests, 3);
    EXPECT_EQ(table.counters().resolution_failures, 1U);
    // After the hold, a new round starts.
    now += 3 * nanos_per_s;
    EXPECT_TRUE(table.resolve(ip_2, now).send_request);
    // The answer arrives: resolved from then on.
    table.learn(ip_2, mac_2, false);
    EXPECT_EQ(table.resolve(ip_2, now + 1).mac, mac_2);
    EXPECT_EQ(table.counters().learned, 1U);
}

TEST(DpdkNeighbours, LearnCreatesOnlyWhenAsked) {
    NeighbourTable table(options);
    table.learn(ip_1, mac_1, false);
    EXPECT_FALSE(table.lookup(ip_1));
    EXPECT_EQ(table.size(), 0U);
    table.learn(ip_1, mac_1, true);
    EXPECT_EQ(table.lookup(ip_1), mac_1);
    table.learn(ip_1, mac_2, false);  // a changed MAC (a replaced NIC) is followed
    EXPECT_EQ(table.lookup(ip_1), mac_2);
    EXPECT_EQ(table.counters().learned, 2U);
}

TEST(DpdkNeighbours, NonsenseTeachesNothing) {
    NeighbourTable table(options);
    table.learn(Ipv4{}, mac_1, true);               // ARP probe
    table.learn(ip_1, frame::broadcast_mac, true);  // multicast MAC
    table.learn(ip_1, frame::MacAddress{}, true);   // zero MAC
    table.learn(Ipv4{0xE4000001}, mac_1, true);     // multicast IP
    EXPECT_EQ(table.size(), 0U);
}

TEST(DpdkNeighbours, AFullTableRefusesAndCounts) {
    NeighbourTable table(options);
    ASSERT_TRUE(table.add_static(ip_1, mac_1));
    table.learn(ip_2, mac_2, true);
    EXPECT_FALSE(table.add_static(ip_3, mac_1));
    const auto resolution = table.resolve(ip_3, 0);
    EXPECT_FALSE(resolution.mac);
    EXPECT_FALSE(resolution.send_request);
    table.learn(ip_3, mac_1, true);
    EXPECT_FALSE(table.lookup(ip_3));
    EXPECT_EQ(table.counters().table_full, 3U);
    EXPECT_EQ(table.size(), table.capacity());
}

}  // namespace
}  // namespace hb::transport
