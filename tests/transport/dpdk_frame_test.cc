// The DPDK transport's frames without a port: what is built parses back to the same fields, every
// malformed frame is classified with its own reason, and checksums match independent sums.
#include <gtest/gtest.h>

#include <vector>

#include "transport/dpdk/frame.hh"

namespace hb::transport::frame {
namespace {

constexpr MacAddress mac_a{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};
constexpr MacAddress mac_b{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0B}};
constexpr Ipv4 ip_a{0xC6120101};  // 198.18.1.1
constexpr Ipv4 ip_b{0xC6120102};  // 198.18.1.2
constexpr std::uint16_t port = 4098;

std::vector<std::uint8_t> payload_bytes(std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
    }
    return bytes;
}

UdpFrameSpec spec() {
    return UdpFrameSpec{.dst_mac = mac_b,
                        .src_mac = mac_a,
                        .src_address = ip_a,
                        .dst_address = ip_b,
                        .src_port = 40000,
                        .dst_port = port,
                        .ip_id = 0x1234};
}

std::vector<std::uint8_t> udp_frame(std::size_t payload_size = 100,
                                    const UdpFrameSpec& frame_spec = spec()) {
    const std::vector<std::uint8_t> payload = payload_bytes(payload_size);
    std::vector<std::uint8_t> out(udp_overhead + payload_size);
    EXPECT_EQ(build_udp(frame_spec, payload, out), out.size());
    return out;
}

// Written independently of frame.cc: a plain 32-bit sum of big-endian words, folded.
std::uint16_t folded_sum(const std::vector<std::uint8_t>& bytes) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < bytes.size(); i += 2) {
        sum += (std::uint64_t{bytes[i]} << 8) + (i + 1 < bytes.size() ? bytes[i + 1] : 0U);
    }
    while (sum > 0xFFFF) {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(sum);
}

void set_ip_checksum(std::vector<std::uint8_t>& frame) {
    frame[24] = 0;
    frame[25] = 0;
    const std::span<const std::uint8_t> ip(frame.data() + 14, 20);
    const std::uint16_t checksum = internet_checksum(ip);
    frame[24] = static_cast<std::uint8_t>(checksum >> 8);
    frame[25] = static_cast<std::uint8_t>(checksum);
}

void clear_udp_checksum(std::vector<std::uint8_t>& frame) {
    frame[40] = 0;
    frame[41] = 0;
}

FrameKind parse_kind(const std::vector<std::uint8_t>& frame) {
    ParsedFrame parsed;
    return parse(frame, port, parsed);
}

TEST(DpdkFrame, MulticastMacKeepsTheLow23Bits) {
    EXPECT_EQ(multicast_mac(Ipv4{0xE4120101}),  // 228.18.1.1
              (MacAddress{{0x01, 0x00, 0x5E, 0x12, 0x01, 0x01}}));
    EXPECT_EQ(multicast_mac(Ipv4{0xEFFFFFFA}),  // 239.255.255.250: bit 23 is dropped
              (MacAddress{{0x01, 0x00, 0x5E, 0x7F, 0xFF, 0xFA}}));
    EXPECT_TRUE(multicast_mac(Ipv4{0xE0000001}).is_multicast());
    EXPECT_TRUE(broadcast_mac.is_broadcast());
    EXPECT_FALSE(mac_a.is_multicast());
}

TEST(DpdkFrame, InternetChecksumMatchesAPublishedHeader) {
    // The IPv4 header of RFC 1071-style worked examples: 45 00 00 73 ... checksum b861.
    const std::vector<std::uint8_t> header{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
                                           0x00, 0x40, 0x11, 0x00, 0x00, 0xC0, 0xA8,
                                           0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7};
    EXPECT_EQ(internet_checksum(header), 0xB861);
}

TEST(DpdkFrame, BuiltUdpFrameParsesBackToItsFields) {
    const std::vector<std::uint8_t> payload = payload_bytes(100);
    const std::vector<std::uint8_t> frame = udp_frame();
    ASSERT_EQ(frame.size(), 142U);
    // Ethernet, then IPv4: version/IHL, CS6, total length, id, DF, TTL 1, UDP.
    EXPECT_EQ(frame[12], 0x08);
    EXPECT_EQ(frame[13], 0x00);
    EXPECT_EQ(frame[14], 0x45);
    EXPECT_EQ(frame[15], 0xC0);
    EXPECT_EQ((frame[16] << 8) | frame[17], 128);
    EXPECT_EQ((frame[18] << 8) | frame[19], 0x1234);
    EXPECT_EQ(frame[20], 0x40);
    EXPECT_EQ(frame[22], 1);
    EXPECT_EQ(frame[23], 17);

    ParsedFrame parsed;
    ASSERT_EQ(parse(frame, port, parsed), FrameKind::udp);
    EXPECT_EQ(parsed.dst_mac, mac_b);
    EXPECT_EQ(parsed.src_mac, mac_a);
    EXPECT_EQ(parsed.udp.src_address, ip_a);
    EXPECT_EQ(parsed.udp.dst_address, ip_b);
    EXPECT_EQ(parsed.udp.src_port, 40000);
    EXPECT_EQ(parsed.udp.dst_port, port);
    ASSERT_EQ(parsed.udp.payload.size(), payload.size());
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), parsed.udp.payload.begin()));
}

TEST(DpdkFrame, ChecksumsAgreeWithAnIndependentSum) {
    const std::vector<std::uint8_t> frame = udp_frame(101);  // odd length: the padded last word
    const std::vector<std::uint8_t> ip(frame.begin() + 14, frame.begin() + 34);
    EXPECT_EQ(folded_sum(ip), 0xFFFF);
    std::vector<std::uint8_t> pseudo(frame.begin() + 26, frame.begin() + 34);  // addresses
    pseudo.insert(pseudo.end(), {0x00, 17, frame[38], frame[39]});
    pseudo.insert(pseudo.end(), frame.begin() + 34, frame.end());
    if (pseudo.size() % 2 != 0) {
        pseudo.push_back(0);
    }
    EXPECT_EQ(folded_sum(pseudo), 0xFFFF);
}

TEST(DpdkFrame, ChecksumsCanBeLeftToThePortOrOmitted) {
    UdpFrameSpec no_checksums = spec();
    no_checksums.ip_checksum = false;
    no_checksums.udp_checksum = false;
    std::vector<std::uint8_t> frame = udp_frame(100, no_checksums);
    EXPECT_EQ(frame[24], 0);
    EXPECT_EQ(frame[25], 0);
    EXPECT_EQ(frame[40], 0);
    EXPECT_EQ(frame[41], 0);
    EXPECT_EQ(parse_kind(frame), FrameKind::bad_ip_checksum);
    set_ip_checksum(frame);                        // what an offloading port does
    EXPECT_EQ(parse_kind(frame), FrameKind::udp);  // UDP checksum 0: none, accepted
}

TEST(DpdkFrame, BuildRefusesATooSmallBuffer) {
    const std::vector<std::uint8_t> payload = payload_bytes(100);
    std::vector<std::uint8_t> out(udp_overhead + 99);
    EXPECT_EQ(build_udp(spec(), payload, out), 0U);
    std::vector<std::uint8_t> small(min_frame_size - 1);
    EXPECT_EQ(build_arp(broadcast_mac, mac_a, ArpMessage{}, small), 0U);
    EXPECT_EQ(build_igmp_report(mac_a, ip_a, Ipv4{0xE4120101}, small), 0U);
}

TEST(DpdkFrame, TrailingPaddingIsAccepted) {
    std::vector<std::uint8_t> frame = udp_frame(4);
    ASSERT_LT(frame.size(), min_frame_size);
    frame.resize(min_frame_size, 0);
    ParsedFrame parsed;
    ASSERT_EQ(parse(frame, port, parsed), FrameKind::udp);
    EXPECT_EQ(parsed.udp.payload.size(), 4U);
}

TEST(DpdkFrame, EveryMalformedFrameHasItsReason) {
    const std::vector<std::uint8_t> good = udp_frame();
    ASSERT_EQ(parse_kind(good), FrameKind::udp);

    EXPECT_EQ(parse_kind({}), FrameKind::runt);
    EXPECT_EQ(parse_kind(std::vector<std::uint8_t>(good.begin(), good.begin() + 13)),
              FrameKind::runt);
    EXPECT_EQ(parse_kind(std::vector<std::uint8_t>(good.begin(), good.begin() + 30)),
              FrameKind::runt);  // IPv4 header cut
    EXPECT_EQ(parse_kind(std::vector<std::uint8_t>(good.begin(), good.begin() + 36)),
              FrameKind::runt);  // UDP header cut
    EXPECT_EQ(parse_kind(std::vector<std::uint8_t>(good.begin(), good.end() - 1)),
              FrameKind::bad_length);  // payload cut

    auto mutated = [&](auto change) {
        std::vector<std::uint8_t> frame = good;
        change(frame);
        return parse_kind(frame);
    };
    EXPECT_EQ(mutated([](auto& f) { f[12] = 0x86, f[13] = 0xDD; }), FrameKind::wrong_ethertype);
    EXPECT_EQ(mutated([](auto& f) { f[12] = 0x81, f[13] = 0x00; }), FrameKind::wrong_ethertype);
    EXPECT_EQ(mutated([](auto& f) { f[14] = 0x65, set_ip_checksum(f); }), FrameKind::bad_ip_header);
    EXPECT_EQ(mutated([](auto& f) { f[14] = 0x44, set_ip_checksum(f); }), FrameKind::bad_ip_header);
    EXPECT_EQ(mutated([](auto& f) { f[14] = 0x46; }), FrameKind::ip_options);
    EXPECT_EQ(mutated([](auto& f) { f[22] = 2; }), FrameKind::bad_ip_checksum);  // TTL changed
    EXPECT_EQ(mutated([](auto& f) { f[20] = 0x20, set_ip_checksum(f); }), FrameKind::fragment);
    EXPECT_EQ(mutated([](auto& f) { f[20] = 0x40, f[21] = 0x01, set_ip_checksum(f); }),
              FrameKind::fragment);
    EXPECT_EQ(mutated([](auto& f) { f[23] = 6, set_ip_checksum(f); }), FrameKind::not_udp);
    EXPECT_EQ(mutated([](auto& f) { f[37] = 0x03; }), FrameKind::wrong_port);
    EXPECT_EQ(mutated([](auto& f) { f[39] = static_cast<std::uint8_t>(f[39] - 1); }),
              FrameKind::bad_length);  // UDP length below the IP payload
    EXPECT_EQ(
        mutated([](auto& f) { f[17] = static_cast<std::uint8_t>(f[17] + 1), set_ip_checksum(f); }),
        FrameKind::bad_length);  // IP total length beyond the frame
    EXPECT_EQ(mutated([](auto& f) { f[16] = 0, f[17] = 20, set_ip_checksum(f); }),
              FrameKind::bad_length);  // IP total length leaves no room for UDP
    EXPECT_EQ(mutated([](auto& f) { f[60] ^= 0x01; }), FrameKind::bad_udp_checksum);
    EXPECT_EQ(mutated([](auto& f) { f[60] ^= 0x01, clear_udp_checksum(f); }), FrameKind::udp);
}

TEST(DpdkFrame, ArpRequestAndReplyRoundTrip) {
    const ArpMessage request{.operation = arp_request,
                             .sender_mac = mac_a,
                             .sender_address = ip_a,
                             .target_mac = {},
                             .target_address = ip_b};
    std::vector<std::uint8_t> frame(min_frame_size);
    ASSERT_EQ(build_arp(broadcast_mac, mac_a, request, frame), min_frame_size);
    EXPECT_EQ(frame[12], 0x08);
    EXPECT_EQ(frame[13], 0x06);
    ParsedFrame parsed;
    ASSERT_EQ(parse(frame, port, parsed), FrameKind::arp);
    EXPECT_EQ(parsed.arp, request);
    EXPECT_TRUE(parsed.dst_mac.is_broadcast());

    const ArpMessage reply{.operation = arp_reply,
                           .sender_mac = mac_b,
                           .sender_address = ip_b,
                           .target_mac = mac_a,
                           .target_address = ip_a};
    ASSERT_EQ(build_arp(mac_a, mac_b, reply, frame), min_frame_size);
    ASSERT_EQ(parse(frame, port, parsed), FrameKind::arp);
    EXPECT_EQ(parsed.arp, reply);
    EXPECT_EQ(parsed.dst_mac, mac_a);
    // An ARP packet without the Ethernet padding is still whole.
    frame.resize(arp_frame_size);
    EXPECT_EQ(parse(frame, port, parsed), FrameKind::arp);
}

TEST(DpdkFrame, MalformedArpIsRejected) {
    std::vector<std::uint8_t> good(min_frame_size);
    ASSERT_EQ(build_arp(broadcast_mac, mac_a, ArpMessage{.sender_mac = mac_a}, good),
              min_frame_size);
    auto mutated = [&](auto change) {
        std::vector<std::uint8_t> frame = good;
        change(frame);
        return parse_kind(frame);
    };
    EXPECT_EQ(mutated([](auto& f) { f.resize(arp_frame_size - 1); }), FrameKind::runt);
    EXPECT_EQ(mutated([](auto& f) { f[15] = 6; }), FrameKind::bad_arp);     // hardware type
    EXPECT_EQ(mutated([](auto& f) { f[16] = 0x86; }), FrameKind::bad_arp);  // protocol type
    EXPECT_EQ(mutated([](auto& f) { f[18] = 8; }), FrameKind::bad_arp);     // hardware length
    EXPECT_EQ(mutated([](auto& f) { f[19] = 16; }), FrameKind::bad_arp);    // protocol length
    EXPECT_EQ(mutated([](auto& f) { f[21] = 3; }), FrameKind::bad_arp);     // RARP request
}

TEST(DpdkFrame, IgmpReportGoesToTheGroupWithRouterAlert) {
    const Ipv4 group{0xE4120101};
    std::vector<std::uint8_t> frame(min_frame_size);
    ASSERT_EQ(build_igmp_report(mac_a, ip_a, group, frame), min_frame_size);
    EXPECT_EQ(MacAddress({frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]}),
              multicast_mac(group));
    EXPECT_EQ(frame[14], 0x46);
    EXPECT_EQ(frame[22], 1);     // TTL
    EXPECT_EQ(frame[23], 2);     // IGMP
    EXPECT_EQ(frame[34], 0x94);  // Router Alert
    EXPECT_EQ(folded_sum({frame.begin() + 14, frame.begin() + 38}), 0xFFFF);
    const std::vector<std::uint8_t> igmp(frame.begin() + 38, frame.begin() + igmp_report_size);
    EXPECT_EQ(igmp[0], 0x16);
    EXPECT_EQ(folded_sum(igmp), 0xFFFF);
    EXPECT_EQ((std::vector<std::uint8_t>(igmp.begin() + 4, igmp.end())),
              (std::vector<std::uint8_t>{0xE4, 0x12, 0x01, 0x01}));
    // The receive path takes it for other traffic, not for a broken beat.
    EXPECT_EQ(parse_kind(frame), FrameKind::not_udp);
    EXPECT_FALSE(is_malformed(FrameKind::not_udp));
}

TEST(DpdkFrame, OnlyBrokenFramesAreMalformed) {
    EXPECT_FALSE(is_malformed(FrameKind::udp));
    EXPECT_FALSE(is_malformed(FrameKind::arp));
    EXPECT_FALSE(is_malformed(FrameKind::wrong_ethertype));
    EXPECT_FALSE(is_malformed(FrameKind::wrong_port));
    EXPECT_TRUE(is_malformed(FrameKind::runt));
    EXPECT_TRUE(is_malformed(FrameKind::bad_udp_checksum));
    EXPECT_TRUE(is_malformed(FrameKind::fragment));
}

TEST(DpdkFrame, EveryKindHasAName) {
    for (std::size_t kind = 0; kind < frame_kind_count; ++kind) {
        EXPECT_NE(frame_kind_name(static_cast<FrameKind>(kind)), "unknown");
    }
}

}  // namespace
}  // namespace hb::transport::frame
