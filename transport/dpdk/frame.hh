// Ethernet/IPv4/UDP, ARP and IGMPv2 frames built and parsed by hand for the DPDK transport. Pure
// C++ on byte spans (no DPDK headers), so every rule is unit-tested and fuzzed without a port.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "hb/model.hh"

namespace hb::transport::frame {

struct MacAddress {
    std::array<std::uint8_t, 6> bytes{};

    bool is_multicast() const noexcept { return (bytes[0] & 0x01U) != 0; }  // broadcast too
    bool is_broadcast() const noexcept;
    bool is_zero() const noexcept;
    friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

inline constexpr MacAddress broadcast_mac{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};

// The Ethernet address of an IPv4 multicast group: 01:00:5e and the group's low 23 bits.
MacAddress multicast_mac(Ipv4 group) noexcept;

inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_arp = 0x0806;
inline constexpr std::size_t ethernet_header_size = 14;
inline constexpr std::size_t ipv4_header_size = 20;  // without options: the only form accepted
inline constexpr std::size_t udp_header_size = 8;
inline constexpr std::size_t udp_overhead =
    ethernet_header_size + ipv4_header_size + udp_header_size;
inline constexpr std::size_t arp_frame_size = ethernet_header_size + 28;
inline constexpr std::size_t min_frame_size = 60;  // Ethernet minimum without the FCS
// IGMPv2 report: IPv4 header with the 4-byte Router Alert option, then 8 bytes of IGMP; padded
// to the Ethernet minimum like ARP (vdevs and veths do not pad short frames).
inline constexpr std::size_t igmp_report_size = ethernet_header_size + 24 + 8;

struct UdpFrameSpec {
    MacAddress dst_mac;
    MacAddress src_mac;
    Ipv4 src_address;
    Ipv4 dst_address;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint8_t ttl = 1;
    std::uint8_t tos = 0xC0;  // CS6, as the UDP transport sets
    std::uint16_t ip_id = 0;
    bool ip_checksum = true;   // false: left 0 for the port to fill (offload)
    bool udp_checksum = true;  // false: 0, "no checksum" in IPv4
};

// Writes the frame into `out`; returns its length, or 0 when `out` is too small or the payload
// cannot fit a single IPv4 datagram.
std::size_t build_udp(const UdpFrameSpec& spec, std::span<const std::uint8_t> payload,
                      std::span<std::uint8_t> out) noexcept;

inline constexpr std::uint16_t arp_request = 1;
inline constexpr std::uint16_t arp_reply = 2;

struct ArpMessage {
    std::uint16_t operation = arp_request;
    MacAddress sender_mac;
    Ipv4 sender_address;
    MacAddress target_mac;  // zero in a request
    Ipv4 target_address;
    friend bool operator==(const ArpMessage&, const ArpMessage&) = default;
};

// An ARP frame (padded to the Ethernet minimum); returns its length or 0 when `out` is too small.
std::size_t build_arp(const MacAddress& dst_mac, const MacAddress& src_mac,
                      const ArpMessage& message, std::span<std::uint8_t> out) noexcept;

// An IGMPv2 membership report for `group`, sent to the group (RFC 2236) with TTL 1 and the
// Router Alert option, padded; returns its length or 0 when `out` is too small.
std::size_t build_igmp_report(const MacAddress& src_mac, Ipv4 src_address, Ipv4 group,
                              std::span<std::uint8_t> out) noexcept;

// What a received frame is. Everything after `arp` is a reason to drop it.
enum class FrameKind : std::uint8_t {
    udp,              // a UDP datagram to the expected port: ParsedFrame::udp is filled
    arp,              // a well-formed Ethernet/IPv4 ARP packet: ParsedFrame::arp is filled
    runt,             // shorter than the headers it announces
    wrong_ethertype,  // neither IPv4 nor ARP (VLAN tags included)
    bad_ip_header,    // IP version is not 4 or the header length is below 20 bytes
    not_udp,          // another IP protocol (checked before options: IGMP has them)
    ip_options,       // a UDP datagram with header options: never sent by peers, so dropped
    bad_ip_checksum,
    fragment,  // MF set or a fragment offset: beats always fit one datagram
    wrong_port,
    bad_length,  // IP total length or UDP length disagree with each other or with the frame
    bad_udp_checksum,
    bad_arp,  // ARP for another hardware or protocol type, or an unknown operation
    count,
};
inline constexpr std::size_t frame_kind_count = static_cast<std::size_t>(FrameKind::count);
std::string_view frame_kind_name(FrameKind kind) noexcept;
// Whether `kind` means a broken frame, as opposed to a good one or other hosts' traffic
// (another ethertype, protocol or port) that a shared link normally carries.
bool is_malformed(FrameKind kind) noexcept;

struct UdpView {
    Ipv4 src_address;
    Ipv4 dst_address;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::span<const std::uint8_t> payload;  // points into the parsed frame
};

struct ParsedFrame {
    MacAddress dst_mac;  // filled whenever the Ethernet header is complete
    MacAddress src_mac;
    UdpView udp;     // when FrameKind::udp
    ArpMessage arp;  // when FrameKind::arp
};

// Classifies `frame` (Ethernet without the FCS; trailing padding after the IP datagram is allowed)
// for a receiver listening on UDP port `port`. Checksums are verified here, in software.
FrameKind parse(std::span<const std::uint8_t> frame, std::uint16_t port, ParsedFrame& out) noexcept;

// The Internet checksum (RFC 1071) of `bytes` folded into `sum`; exposed for tests.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes,
                                std::uint32_t sum = 0) noexcept;

}  // namespace hb::transport::frame
