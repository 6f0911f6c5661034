// The DPDK transport on net_ring ports: datagrams cross byte for byte, ARP resolves, multicast
// reaches the group, malformed frames are dropped and counted (never a crash), a full TX ring is
// counted, nothing allocates on the data path, and open/close cycles return every mbuf.
#include <random>

#include "tests/dpdk/dpdk_test_support.hh"
#include "tests/support/allocation_counter.hh"
#include "transport/dpdk/dpdk_transport.hh"

namespace hb::transport {
namespace {

using frame::FrameKind;

constexpr Ipv4 ip_a{0xC6120101};  // 198.18.1.1
constexpr Ipv4 ip_b{0xC6120102};
constexpr Ipv4 group{0xE4120101};  // 228.18.1.1
constexpr std::uint16_t port = 4098;

std::unique_ptr<DpdkTransport> open_transport(DpdkOptions options) {
    auto opened = DpdkTransport::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) {
        ADD_FAILURE() << *error;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<DpdkTransport>>(opened));
}

TxRecord beat_to(Ipv4 address, std::uint8_t fill, std::uint16_t length = 100) {
    TxRecord record{.dst_address = address, .dst_port = port, .length = length};
    for (std::size_t i = 0; i < length; ++i) {
        record.bytes[i] = static_cast<std::uint8_t>(fill + i);
    }
    return record;
}

// Receives until `want` records arrived or 100 empty polls passed.
std::size_t receive_some(DpdkTransport& transport, std::span<RxRecord> out, std::size_t want) {
    std::size_t got = 0;
    for (int idle = 0; idle < 100 && got < want; ++idle) {
        got += transport.receive(out.subspan(got));
    }
    return got;
}

// Two transports on a pair of net_ring ports wired back to back (a cable), with the rings
// kept so a test can inject frames on b's receive side.
class DpdkPair : public ::testing::Test {
protected:
    void SetUp() override {
        HB_REQUIRE_EAL();
        cable_.make(std::to_string(serial_++));
    }
    void TearDown() override {
        if (!test::eal_error().empty()) {
            return;
        }
        cable_.drain();
        a_.reset();
        b_.reset();
        cable_.destroy();
    }
    DpdkOptions options_a() const {
        return {.port = "net_ring_" + cable_.name_a, .address = ip_a, .udp_port = port};
    }
    DpdkOptions options_b() const {
        return {.port = "net_ring_" + cable_.name_b, .address = ip_b, .udp_port = port};
    }
    void open_both(DpdkOptions a, DpdkOptions b) {
        a_ = open_transport(std::move(a));
        b_ = open_transport(std::move(b));
        ASSERT_NE(a_, nullptr);
        ASSERT_NE(b_, nullptr);
    }
    // Puts a frame (built by the test) on b's receive ring, as if it came off the wire.
    void inject_to_b(std::span<const std::uint8_t> bytes) {
        rte_mbuf* mbuf = rte_pktmbuf_alloc(injection_pool());
        ASSERT_NE(mbuf, nullptr);
        char* data = rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(bytes.size()));
        ASSERT_TRUE(data != nullptr || bytes.empty());
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<std::uint8_t*>(data));
        ASSERT_EQ(rte_ring_enqueue(cable_.a_to_b, mbuf), 0);
    }
    static rte_mempool* injection_pool() {
        static rte_mempool* pool =
            rte_pktmbuf_pool_create("hb_test_inject", 1023, 0, 0, 4096, SOCKET_ID_ANY);
        return pool;
    }
    frame::UdpFrameSpec spec_to_b() const {
        return {.dst_mac = b_->mac(),
                .src_mac = a_->mac(),
                .src_address = ip_a,
                .dst_address = ip_b,
                .src_port = port,
                .dst_port = port};
    }

    static inline int serial_ = 0;
    test::RingCable cable_;
    std::unique_ptr<DpdkTransport> a_;
    std::unique_ptr<DpdkTransport> b_;
};

TEST(DpdkTransportOpen, ErrorsAreValues) {
    HB_REQUIRE_EAL();
    auto unknown = DpdkTransport::open({.port = "net_nonexistent_driver0", .address = ip_a});
    ASSERT_TRUE(std::holds_alternative<std::string>(unknown));
    EXPECT_NE(std::get<std::string>(unknown).find("net_nonexistent_driver0"), std::string::npos)
        << std::get<std::string>(unknown);
    auto empty = DpdkTransport::open({.port = "", .address = ip_a});
    EXPECT_TRUE(std::holds_alternative<std::string>(empty));
    auto bad_group = DpdkTransport::open(
        {.port = "x", .address = ip_a, .mode = NetworkMode::multicast, .group = ip_b});
    ASSERT_TRUE(std::holds_alternative<std::string>(bad_group));
    EXPECT_NE(std::get<std::string>(bad_group).find("not a multicast"), std::string::npos);
}

TEST(DpdkTransportOpen, MempoolFormula) {
    EXPECT_EQ(DpdkTransport::mempool_size({.rx_descriptors = 512, .tx_descriptors = 512}), 2047U);
    EXPECT_EQ(DpdkTransport::mempool_size({.rx_descriptors = 64, .tx_descriptors = 64}), 255U);
    EXPECT_EQ(DpdkTransport::mempool_size({.rx_descriptors = 128, .tx_descriptors = 31}), 255U);
}

TEST_F(DpdkPair, UnicastDatagramsCrossWithStaticNeighbours) {
    DpdkOptions a = options_a();
    open_both(a, options_b());
    // Restart a with b's MAC as a static entry: no ARP at all.
    a_.reset();
    test::remove_ring_port(cable_.name_a);
    ASSERT_GE(test::make_ring_port(cable_.name_a, cable_.b_to_a, cable_.a_to_b), 0);
    a.neighbours = {{.address = ip_b, .mac = b_->mac()}};
    a_ = open_transport(a);
    ASSERT_NE(a_, nullptr);

    const std::array<TxRecord, 3> batch{beat_to(ip_b, 1), beat_to(ip_b, 2, 128),
                                        beat_to(ip_b, 3, 1)};
    ASSERT_EQ(a_->send(batch), batch.size());
    std::array<RxRecord, 8> received{};
    const Nanos before = monotonic_now();
    ASSERT_EQ(receive_some(*b_, received, 3), 3U);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(received[i].src_address, ip_a);
        EXPECT_EQ(received[i].src_port, port);
        ASSERT_EQ(received[i].length, batch[i].length);
        EXPECT_TRUE(std::equal(batch[i].bytes.begin(), batch[i].bytes.begin() + batch[i].length,
                               received[i].bytes.begin()));
        EXPECT_GE(received[i].rx_ns, before);
        EXPECT_LE(received[i].rx_ns, monotonic_now());
    }
    EXPECT_EQ(a_->dpdk_counters().arp_requests_sent, 0U);
    EXPECT_EQ(a_->counters().tx_datagrams, 3U);
    EXPECT_EQ(b_->counters().rx_datagrams, 3U);
    EXPECT_EQ(b_->counters().rx_errors, 0U);
}

TEST_F(DpdkPair, ArpResolvesAndIsAnswered) {
    open_both(options_a(), options_b());
    const std::array<TxRecord, 1> beat{beat_to(ip_b, 9)};
    EXPECT_EQ(a_->send(beat), 0U);  // unknown neighbour: a request goes out instead
    EXPECT_EQ(a_->dpdk_counters().tx_unknown_neighbour, 1U);
    EXPECT_EQ(a_->dpdk_counters().arp_requests_sent, 1U);
    std::array<RxRecord, 4> received{};
    EXPECT_EQ(receive_some(*b_, received, 1), 0U);  // b answers the request
    EXPECT_EQ(b_->dpdk_counters().arp_requests_answered, 1U);
    EXPECT_EQ(b_->neighbours().lookup(ip_a), a_->mac());  // and learned the asker
    EXPECT_EQ(receive_some(*a_, received, 1), 0U);        // a learns b from the reply
    EXPECT_EQ(a_->dpdk_counters().arp_replies_received, 1U);
    EXPECT_EQ(a_->neighbours().lookup(ip_b), b_->mac());
    ASSERT_EQ(a_->send(beat), 1U);
    ASSERT_EQ(receive_some(*b_, received, 1), 1U);
    EXPECT_EQ(received[0].bytes[0], 9);
    // b replies without asking: it learned a from the request.
    const std::array<TxRecord, 1> back{beat_to(ip_a, 5)};
    EXPECT_EQ(b_->send(back), 1U);
    EXPECT_EQ(b_->dpdk_counters().arp_requests_sent, 0U);
}

TEST_F(DpdkPair, ResolveNeighbourAsksWithoutDroppingAnything) {
    open_both(options_a(), options_b());
    EXPECT_FALSE(a_->resolve_neighbour(ip_b));  // a request goes out, flushed at once
    EXPECT_FALSE(a_->resolve_neighbour(ip_b));  // not again before the retry interval
    EXPECT_EQ(a_->dpdk_counters().arp_requests_sent, 1U);
    EXPECT_EQ(a_->dpdk_counters().tx_unknown_neighbour, 0U);  // no datagram was lost to it
    std::array<RxRecord, 4> received{};
    EXPECT_EQ(receive_some(*b_, received, 1), 0U);  // b answers
    EXPECT_EQ(receive_some(*a_, received, 1), 0U);  // a learns b
    EXPECT_TRUE(a_->resolve_neighbour(ip_b));
    EXPECT_EQ(a_->dpdk_counters().arp_requests_sent, 1U);
    const std::array<TxRecord, 1> beat{beat_to(ip_b, 7)};
    ASSERT_EQ(a_->send(beat), 1U);  // the first datagram goes out
    ASSERT_EQ(receive_some(*b_, received, 1), 1U);
    EXPECT_EQ(received[0].bytes[0], 7);
}

TEST_F(DpdkPair, MulticastReachesTheGroupAndJoinsWithIgmp) {
    DpdkOptions a = options_a();
    DpdkOptions b = options_b();
    a.mode = b.mode = NetworkMode::multicast;
    a.group = b.group = group;
    open_both(a, b);
    EXPECT_EQ(a_->dpdk_counters().igmp_reports_sent, 1U);
    const std::array<TxRecord, 2> batch{beat_to(group, 1), beat_to(group, 2)};
    ASSERT_EQ(a_->send(batch), 2U);
    std::array<RxRecord, 4> received{};
    ASSERT_EQ(receive_some(*b_, received, 2), 2U);
    EXPECT_EQ(received[1].bytes[0], 2);
    // a's IGMP report reached b too: other traffic, not a broken frame.
    EXPECT_EQ(b_->dpdk_counters().rx_dropped[static_cast<std::size_t>(FrameKind::not_udp)], 1U);
    EXPECT_EQ(b_->counters().rx_errors, 0U);
}

TEST_F(DpdkPair, MalformedFramesAreDroppedAndCounted) {
    open_both(options_a(), options_b());
    const std::vector<std::uint8_t> payload(100, 0xAB);
    std::vector<std::uint8_t> good(frame::udp_overhead + payload.size());
    ASSERT_EQ(frame::build_udp(spec_to_b(), payload, good), good.size());
    auto mutated = [&](auto change) {
        std::vector<std::uint8_t> bytes = good;
        change(bytes);
        return bytes;
    };
    inject_to_b(std::vector<std::uint8_t>(good.begin(), good.begin() + 10));  // runt
    inject_to_b(mutated([](auto& f) { f[12] = 0x86, f[13] = 0xDD; }));        // IPv6
    inject_to_b(mutated([](auto& f) { f[14] = 0x46; }));                      // options
    inject_to_b(mutated([](auto& f) { f[22] ^= 0x01; }));                     // IP checksum
    inject_to_b(mutated([](auto& f) { f[60] ^= 0x01; }));                     // UDP checksum
    inject_to_b(mutated([](auto& f) { f[37] ^= 0x01; }));                     // port
    inject_to_b(std::vector<std::uint8_t>(good.begin(), good.end() - 1));     // cut
    inject_to_b(mutated([](auto& f) {  // a first fragment, its header checksum right
        f[20] = 0x20;
        f[24] = f[25] = 0;
        const std::uint16_t checksum = frame::internet_checksum({f.data() + 14, 20});
        f[24] = static_cast<std::uint8_t>(checksum >> 8);
        f[25] = static_cast<std::uint8_t>(checksum);
    }));
    inject_to_b(good);  // the good one still gets through
    std::vector<std::uint8_t> other_host = good;
    other_host[5] ^= 0x01;  // another MAC
    inject_to_b(other_host);
    std::vector<std::uint8_t> large(frame::udp_overhead + 1000);  // kept, counted truncated
    ASSERT_EQ(frame::build_udp(spec_to_b(), std::vector<std::uint8_t>(1000, 0x55), large),
              large.size());
    inject_to_b(large);
    inject_to_b(std::vector<std::uint8_t>(3000, 0x11));  // longer than the scratch buffer

    std::array<RxRecord, 32> received{};
    ASSERT_EQ(receive_some(*b_, received, 2), 2U);
    EXPECT_EQ(received[0].length, 100U);
    EXPECT_EQ(received[1].length, wire::max_datagram + 1);
    const DpdkCounters counters = b_->dpdk_counters();
    auto dropped = [&](FrameKind kind) {
        return counters.rx_dropped[static_cast<std::size_t>(kind)];
    };
    EXPECT_EQ(counters.rx_frames, 12U);
    EXPECT_EQ(dropped(FrameKind::fragment), 1U);
    EXPECT_EQ(dropped(FrameKind::runt), 1U);
    EXPECT_EQ(dropped(FrameKind::wrong_ethertype), 1U);
    EXPECT_EQ(dropped(FrameKind::ip_options), 1U);
    EXPECT_EQ(dropped(FrameKind::bad_ip_checksum), 1U);
    EXPECT_EQ(dropped(FrameKind::bad_udp_checksum), 1U);
    EXPECT_EQ(dropped(FrameKind::wrong_port), 1U);
    EXPECT_EQ(dropped(FrameKind::bad_length), 1U);
    EXPECT_EQ(counters.rx_not_for_us, 1U);
    EXPECT_EQ(counters.rx_truncated, 1U);
    EXPECT_EQ(counters.rx_oversize, 1U);
    // runt, options, both checksums, fragment, length, oversize: not IPv6, port or other host
    EXPECT_EQ(b_->counters().rx_errors, 7U);
    EXPECT_EQ(b_->counters().rx_datagrams, 2U);
    EXPECT_EQ(rte_mempool_avail_count(injection_pool()), 1023U);  // every mbuf was freed
}

TEST_F(DpdkPair, RandomFramesNeverCrashAndAreAllAccountedFor) {
    open_both(options_a(), options_b());
    std::mt19937_64 random(5);
    std::array<RxRecord, 32> received{};
    std::uint64_t delivered = 0;
    const std::vector<std::uint8_t> payload(64, 0x42);
    std::vector<std::uint8_t> good(frame::udp_overhead + payload.size());
    ASSERT_EQ(frame::build_udp(spec_to_b(), payload, good), good.size());
    for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < 16; ++i) {
            // Half start from a good frame with a few bytes flipped, half are pure noise.
            std::vector<std::uint8_t> bytes;
            if (random() % 2 == 0) {
                bytes = good;
                for (int flips = 1 + static_cast<int>(random() % 3); flips > 0; --flips) {
                    bytes[random() % bytes.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
                }
                bytes.resize(random() % 4 == 0 ? random() % bytes.size() : bytes.size());
            } else {
                bytes.resize(random() % 300);
                for (auto& byte : bytes) {
                    byte = static_cast<std::uint8_t>(random());
                }
            }
            inject_to_b(bytes);
        }
        delivered += receive_some(*b_, received, 16);
    }
    const DpdkCounters counters = b_->dpdk_counters();
    std::uint64_t accounted = counters.rx_datagrams + counters.rx_not_for_us +
                              counters.rx_oversize + counters.arp_requests_answered +
                              counters.arp_replies_received;
    for (const std::uint64_t count : counters.rx_dropped) {
        accounted += count;
    }
    EXPECT_EQ(counters.rx_frames, 200U * 16U);
    EXPECT_EQ(accounted, counters.rx_frames);
    EXPECT_EQ(delivered, counters.rx_datagrams);
    EXPECT_GT(counters.rx_malformed_total(), 0U);
    EXPECT_EQ(rte_mempool_avail_count(injection_pool()), 1023U);
}

TEST_F(DpdkPair, AFullTxRingIsCountedAndFreesItsMbufs) {
    // A short cable: b's receive ring holds 64 frames, the rest must be refused and counted.
    test::drain_ring(cable_.a_to_b);
    a_.reset();
    rte_ring* short_ring = test::make_ring("short" + cable_.name_a, 64);
    ASSERT_NE(short_ring, nullptr);
    test::remove_ring_port(cable_.name_a);
    ASSERT_GE(test::make_ring_port(cable_.name_a, cable_.b_to_a, short_ring), 0);
    DpdkOptions a = options_a();
    a.mode = NetworkMode::multicast;
    a.group = group;
    a_ = open_transport(a);
    ASSERT_NE(a_, nullptr);
    std::vector<TxRecord> batch(100, beat_to(group, 1));
    const std::size_t sent = a_->send(batch);
    EXPECT_EQ(sent, 62U);  // a ring of 64 holds 63, one of them the IGMP report
    EXPECT_EQ(a_->dpdk_counters().tx_ring_full, batch.size() - sent);
    EXPECT_EQ(a_->counters().tx_errors, batch.size() - sent);
    test::drain_ring(short_ring);
    EXPECT_EQ(a_->mempool_available(), a_->mempool_capacity());
    a_.reset();
    rte_ring_free(short_ring);
}

TEST_F(DpdkPair, TheDataPathDoesNotAllocate) {
    open_both(options_a(), options_b());
    std::array<RxRecord, 32> received{};
    // Warm up: ARP both ways.
    const std::array<TxRecord, 4> to_b{beat_to(ip_b, 1), beat_to(ip_b, 2), beat_to(ip_b, 3),
                                       beat_to(ip_b, 4)};
    const std::array<TxRecord, 4> to_a{beat_to(ip_a, 1), beat_to(ip_a, 2), beat_to(ip_a, 3),
                                       beat_to(ip_a, 4)};
    a_->send(to_b);
    receive_some(*b_, received, 1);
    receive_some(*a_, received, 1);
    const std::uint64_t before = test::allocations.load();
    std::size_t moved = 0;
    for (int round = 0; round < 1000; ++round) {
        moved += a_->send(to_b);
        moved += b_->receive(received);
        moved += b_->send(to_a);
        moved += a_->receive(received);
    }
    const std::uint64_t after = test::allocations.load();
    EXPECT_EQ(after, before);
    EXPECT_EQ(moved, 1000U * 16U);
}

// One port whose TX ring is its own RX ring: every frame comes back, so a cycle can prove that
// the pool is full again before the transport closes, and that nothing grows across cycles.
TEST(DpdkTransportLifetime, OpenCloseCyclesLeakNothing) {
    HB_REQUIRE_EAL();
    test::loop_port_cycles("loop", 30, [](const std::string& loop_port) {
        {
            auto transport = open_transport({.port = loop_port,
                                             .address = ip_a,
                                             .udp_port = port,
                                             .mode = NetworkMode::multicast,
                                             .group = group});
            ASSERT_NE(transport, nullptr);
            std::vector<TxRecord> batch(40, beat_to(group, 7));
            EXPECT_EQ(transport->send(batch), batch.size());
            EXPECT_LT(transport->mempool_available(), transport->mempool_capacity());
            std::array<RxRecord, 32> received{};
            for (int i = 0; i < 10; ++i) {
                EXPECT_EQ(transport->receive(received), 0U);  // our own frames: dropped
            }
            EXPECT_EQ(transport->dpdk_counters().rx_not_for_us, batch.size() + 1);
            EXPECT_EQ(transport->mempool_available(), transport->mempool_capacity());
            // Leave frames in flight: the destructor must take them back before the pool goes.
            EXPECT_EQ(transport->send(batch), batch.size());
        }
    });
}

}  // namespace
}  // namespace hb::transport

int main(int argc, char** argv) {
    return hb::test::dpdk_main(argc, argv, "transport");
}
