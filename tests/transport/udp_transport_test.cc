// The kernel UDP transport on loopback: batched send and receive, source addresses, kernel
// receive stamps on the monotonic clock, truncation counted, errors as values.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "transport/udp/udp_transport.hh"

namespace hb::transport {
namespace {

constexpr std::uint16_t test_port = 40987;

std::unique_ptr<UdpTransport> open_on_loopback(const char* address) {
    auto opened = UdpTransport::open(
        UdpOptions{.ifname = "lo", .address = *Ipv4::parse(address), .port = test_port});
    if (auto* error = std::get_if<std::string>(&opened)) {
        ADD_FAILURE() << *error;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<UdpTransport>>(opened));
}

std::size_t receive_at_least(UdpTransport& transport, std::span<RxRecord> out, std::size_t want) {
    std::size_t got = 0;
    for (int attempt = 0; attempt < 200 && got < want; ++attempt) {
        got += transport.receive(out.subspan(got));
        if (got < want) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    return got;
}

class UdpTransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "binding a socket to a device (SO_BINDTODEVICE) needs root";
        }
    }
};

TEST_F(UdpTransportTest, ABatchArrivesWithSourceAddressAndMonotonicStamps) {
    auto a = open_on_loopback("127.0.0.1");
    auto b = open_on_loopback("127.0.0.2");
    ASSERT_TRUE(a && b);
    std::vector<TxRecord> batch(10);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i].dst_address = *Ipv4::parse("127.0.0.2");
        batch[i].dst_port = test_port;
        batch[i].length = wire::beat_size;
        batch[i].bytes.fill(static_cast<std::uint8_t>(i));
    }
    const Nanos before = monotonic_now();
    EXPECT_EQ(a->send(batch), batch.size());
    std::vector<RxRecord> received(16);
    ASSERT_EQ(receive_at_least(*b, received, batch.size()), batch.size());
    const Nanos after = monotonic_now();
    for (std::size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(received[i].src_address.to_string(), "127.0.0.1");
        EXPECT_EQ(received[i].src_port, test_port);
        EXPECT_EQ(received[i].length, wire::beat_size);
        EXPECT_EQ(received[i].bytes[0], static_cast<std::uint8_t>(i));
        EXPECT_GE(received[i].rx_ns, before);
        EXPECT_LE(received[i].rx_ns, after);
    }
    EXPECT_EQ(a->counters().tx_datagrams, batch.size());
    EXPECT_EQ(b->counters().rx_datagrams, batch.size());
    EXPECT_GE(b->wait_fd(), 0);
}

TEST_F(UdpTransportTest, AnOversizeDatagramIsMarkedAndCounted) {
    auto b = open_on_loopback("127.0.0.2");
    ASSERT_TRUE(b);
    const int raw = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(raw, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(test_port);
    inet_pton(AF_INET, "127.0.0.2", &to.sin_addr);
    std::array<std::uint8_t, 500> big{};
    ASSERT_EQ(sendto(raw, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(big.size()));
    close(raw);
    std::vector<RxRecord> received(4);
    ASSERT_EQ(receive_at_least(*b, received, 1), 1U);
    EXPECT_GT(received[0].length, wire::max_datagram);
    EXPECT_EQ(b->counters().rx_truncated, 1U);
}

TEST_F(UdpTransportTest, ReceiveWithoutDataReturnsNothingAtOnce) {
    auto b = open_on_loopback("127.0.0.3");
    ASSERT_TRUE(b);
    std::vector<RxRecord> received(4);
    EXPECT_EQ(b->receive(received), 0U);
    EXPECT_EQ(b->counters().rx_errors, 0U);
}

TEST_F(UdpTransportTest, UnsendableDatagramsAreCountedAndTheRestStillGoOut) {
    auto a = open_on_loopback("127.0.0.1");
    auto b = open_on_loopback("127.0.0.2");
    ASSERT_TRUE(a && b);
    std::vector<TxRecord> batch(3);
    for (TxRecord& record : batch) {
        record.dst_address = *Ipv4::parse("127.0.0.2");
        record.dst_port = test_port;
        record.length = wire::beat_size;
    }
    batch[0].dst_port = 0;  // the kernel refuses port 0
    EXPECT_EQ(a->send(batch), 2U);
    EXPECT_EQ(a->counters().tx_errors, 1U);
    std::vector<RxRecord> received(4);
    EXPECT_EQ(receive_at_least(*b, received, 2), 2U);
}

TEST_F(UdpTransportTest, OpenErrorsNameTheAdapter) {
    auto missing = UdpTransport::open(
        UdpOptions{.ifname = "nosuchif0", .address = *Ipv4::parse("127.0.0.9"), .port = test_port});
    ASSERT_TRUE(std::holds_alternative<std::string>(missing));
    EXPECT_NE(std::get<std::string>(missing).find("nosuchif0"), std::string::npos);

    auto bad_group = UdpTransport::open(UdpOptions{.ifname = "lo",
                                                   .address = *Ipv4::parse("127.0.0.9"),
                                                   .port = test_port,
                                                   .mode = NetworkMode::multicast,
                                                   .group = *Ipv4::parse("10.1.1.1")});
    ASSERT_TRUE(std::holds_alternative<std::string>(bad_group));
    EXPECT_NE(std::get<std::string>(bad_group).find("not a multicast address"), std::string::npos);
}

}  // namespace
}  // namespace hb::transport
