#include "transport/dpdk/frame.hh"

#include <algorithm>
#include <limits>

#include "hb/assert.hh"

namespace hb::transport::frame {

namespace {

// Network byte order, field by field: frames are never cast to structs.
void put16(std::span<std::uint8_t> out, std::size_t at, std::uint16_t value) noexcept {
    out[at] = static_cast<std::uint8_t>(value >> 8);
    out[at + 1] = static_cast<std::uint8_t>(value);
}

void put32(std::span<std::uint8_t> out, std::size_t at, std::uint32_t value) noexcept {
    put16(out, at, static_cast<std::uint16_t>(value >> 16));
    put16(out, at + 2, static_cast<std::uint16_t>(value));
}

void put_mac(std::span<std::uint8_t> out, std::size_t at, const MacAddress& mac) noexcept {
    std::copy(mac.bytes.begin(), mac.bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
}

std::uint16_t get16(std::span<const std::uint8_t> in, std::size_t at) noexcept {
    return static_cast<std::uint16_t>((in[at] << 8) | in[at + 1]);
}

std::uint32_t get32(std::span<const std::uint8_t> in, std::size_t at) noexcept {
    return (static_cast<std::uint32_t>(get16(in, at)) << 16) | get16(in, at + 2);
}

MacAddress get_mac(std::span<const std::uint8_t> in, std::size_t at) noexcept {
    MacAddress mac;
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at), mac.bytes.size(), mac.bytes.begin());
    return mac;
}

std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t sum) noexcept {
    std::size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2) {
        sum += get16(bytes, i);
    }
    if (i < bytes.size()) {
        sum += static_cast<std::uint32_t>(bytes[i]) << 8;
    }
    return sum;
}

// The UDP pseudo-header (RFC 768): addresses, protocol and UDP length.
std::uint32_t pseudo_header_sum(Ipv4 src, Ipv4 dst, std::uint16_t udp_length) noexcept {
    return (src.value >> 16) + (src.value & 0xFFFFU) + (dst.value >> 16) + (dst.value & 0xFFFFU) +
           17U + udp_length;
}

void put_ethernet(std::span<std::uint8_t> out, const MacAddress& dst, const MacAddress& src,
                  std::uint16_t ethertype) noexcept {
    put_mac(out, 0, dst);
    put_mac(out, 6, src);
    put16(out, 12, ethertype);
}

constexpr std::uint8_t protocol_igmp = 2;
constexpr std::uint8_t protocol_udp = 17;

}  // namespace

bool MacAddress::is_broadcast() const noexcept {
    return *this == broadcast_mac;
}

bool MacAddress::is_zero() const noexcept {
    return *this == MacAddress{};
}

MacAddress multicast_mac(Ipv4 group) noexcept {
    return MacAddress{{0x01, 0x00, 0x5E, static_cast<std::uint8_t>((group.value >> 16) & 0x7FU),
                       static_cast<std::uint8_t>(group.value >> 8),
                       static_cast<std::uint8_t>(group.value)}};
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t sum) noexcept {
    sum = sum_words(bytes, sum);
    while ((sum >> 16) != 0) {
        sum = (sum & 0xFFFFU) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

std::size_t build_udp(const UdpFrameSpec& spec, std::span<const std::uint8_t> payload,
                      std::span<std::uint8_t> out) noexcept {
    const std::size_t length = udp_overhead + payload.size();
    if (length > out.size() || payload.size() > std::numeric_limits<std::uint16_t>::max() -
                                                    ipv4_header_size - udp_header_size) {
        return 0;
    }
    put_ethernet(out, spec.dst_mac, spec.src_mac, ethertype_ipv4);

    const std::span<std::uint8_t> ip = out.subspan(ethernet_header_size, ipv4_header_size);
    const auto ip_length =
        static_cast<std::uint16_t>(ipv4_header_size + udp_header_size + payload.size());
    ip[0] = 0x45;  // version 4, 20-byte header
    ip[1] = spec.tos;
    put16(ip, 2, ip_length);
    put16(ip, 4, spec.ip_id);
    put16(ip, 6, 0x4000);  // don't fragment
    ip[8] = spec.ttl;
    ip[9] = protocol_udp;
    put16(ip, 10, 0);
    put32(ip, 12, spec.src_address.value);
    put32(ip, 16, spec.dst_address.value);
    if (spec.ip_checksum) {
        put16(ip, 10, internet_checksum(ip));
    }

    const std::span<std::uint8_t> udp =
        out.subspan(ethernet_header_size + ipv4_header_size, udp_header_size + payload.size());
    const auto udp_length = static_cast<std::uint16_t>(udp_header_size + payload.size());
    put16(udp, 0, spec.src_port);
    put16(udp, 2, spec.dst_port);
    put16(udp, 4, udp_length);
    put16(udp, 6, 0);
    std::copy(payload.begin(), payload.end(), udp.begin() + udp_header_size);
    if (spec.udp_checksum) {
        std::uint16_t checksum = internet_checksum(
            udp, pseudo_header_sum(spec.src_address, spec.dst_address, udp_length));
        // A computed 0 is sent as all ones: 0 on the wire means "no checksum".
        put16(udp, 6, checksum == 0 ? 0xFFFF : checksum);
    }
    return length;
}

std::size_t build_arp(const MacAddress& dst_mac, const MacAddress& src_mac,
                      const ArpMessage& message, std::span<std::uint8_t> out) noexcept {
    if (out.size() < min_frame_size) {
        return 0;
    }
    put_ethernet(out, dst_mac, src_mac, ethertype_arp);
    const std::span<std::uint8_t> arp = out.subspan(ethernet_header_size);
    put16(arp, 0, 1);  // Ethernet
    put16(arp, 2, ethertype_ipv4);
    arp[4] = 6;
    arp[5] = 4;
    put16(arp, 6, message.operation);
    put_mac(arp, 8, message.sender_mac);
    put32(arp, 14, message.sender_address.value);
    put_mac(arp, 18, message.target_mac);
    put32(arp, 24, message.target_address.value);
    std::fill(out.begin() + arp_frame_size, out.begin() + min_frame_size, std::uint8_t{0});
    return min_frame_size;
}

std::size_t build_igmp_report(const MacAddress& src_mac, Ipv4 src_address, Ipv4 group,
                              std::span<std::uint8_t> out) noexcept {
    if (out.size() < min_frame_size) {
        return 0;
    }
    put_ethernet(out, multicast_mac(group), src_mac, ethertype_ipv4);
    const std::span<std::uint8_t> ip = out.subspan(ethernet_header_size, 24);
    ip[0] = 0x46;  // 24-byte header: Router Alert
    ip[1] = 0xC0;
    put16(ip, 2, 24 + 8);
    put16(ip, 4, 0);
    put16(ip, 6, 0x4000);
    ip[8] = 1;
    ip[9] = protocol_igmp;
    put16(ip, 10, 0);
    put32(ip, 12, src_address.value);
    put32(ip, 16, group.value);
    put32(ip, 20, 0x94040000);  // Router Alert (RFC 2113), value 0
    put16(ip, 10, internet_checksum(ip));
    const std::span<std::uint8_t> igmp = out.subspan(ethernet_header_size + 24, 8);
    igmp[0] = 0x16;  // IGMPv2 membership report
    igmp[1] = 0;
    put16(igmp, 2, 0);
    put32(igmp, 4, group.value);
    put16(igmp, 2, internet_checksum(igmp));
    std::fill(out.begin() + igmp_report_size, out.begin() + min_frame_size, std::uint8_t{0});
    return min_frame_size;
}

std::string_view frame_kind_name(FrameKind kind) noexcept {
    switch (kind) {
        case FrameKind::udp:
            return "udp";
        case FrameKind::arp:
            return "arp";
        case FrameKind::runt:
            return "runt";
        case FrameKind::wrong_ethertype:
            return "wrong_ethertype";
        case FrameKind::bad_ip_header:
            return "bad_ip_header";
        case FrameKind::ip_options:
            return "ip_options";
        case FrameKind::bad_ip_checksum:
            return "bad_ip_checksum";
        case FrameKind::fragment:
            return "fragment";
        case FrameKind::not_udp:
            return "not_udp";
        case FrameKind::wrong_port:
            return "wrong_port";
        case FrameKind::bad_length:
            return "bad_length";
        case FrameKind::bad_udp_checksum:
            return "bad_udp_checksum";
        case FrameKind::bad_arp:
            return "bad_arp";
        case FrameKind::count:
            break;
    }
    return "unknown";
}

bool is_malformed(FrameKind kind) noexcept {
    switch (kind) {
        case FrameKind::udp:
        case FrameKind::arp:
        case FrameKind::wrong_ethertype:
        case FrameKind::not_udp:
        case FrameKind::wrong_port:
        case FrameKind::count:
            return false;
        case FrameKind::runt:
        case FrameKind::bad_ip_header:
        case FrameKind::ip_options:
        case FrameKind::bad_ip_checksum:
        case FrameKind::fragment:
        case FrameKind::bad_length:
        case FrameKind::bad_udp_checksum:
        case FrameKind::bad_arp:
            return true;
    }
    return false;
}

FrameKind parse(std::span<const std::uint8_t> frame, std::uint16_t port,
                ParsedFrame& out) noexcept {
    if (frame.size() < ethernet_header_size) {
        return FrameKind::runt;
    }
    out.dst_mac = get_mac(frame, 0);
    out.src_mac = get_mac(frame, 6);
    const std::uint16_t ethertype = get16(frame, 12);
    const std::span<const std::uint8_t> body = frame.subspan(ethernet_header_size);

    if (ethertype == ethertype_arp) {
        if (body.size() < arp_frame_size - ethernet_header_size) {
            return FrameKind::runt;
        }
        const std::uint16_t operation = get16(body, 6);
        if (get16(body, 0) != 1 || get16(body, 2) != ethertype_ipv4 || body[4] != 6 ||
            body[5] != 4 || (operation != arp_request && operation != arp_reply)) {
            return FrameKind::bad_arp;
        }
        out.arp = ArpMessage{.operation = operation,
                             .sender_mac = get_mac(body, 8),
                             .sender_address = Ipv4{get32(body, 14)},
                             .target_mac = get_mac(body, 18),
                             .target_address = Ipv4{get32(body, 24)}};
        return FrameKind::arp;
    }
    if (ethertype != ethertype_ipv4) {
        return FrameKind::wrong_ethertype;
    }
    if (body.size() < ipv4_header_size) {
        return FrameKind::runt;
    }
    if ((body[0] >> 4) != 4 || (body[0] & 0x0FU) < 5) {
        return FrameKind::bad_ip_header;
    }
    // Other protocols are someone else's traffic (IGMP carries options by rule): not malformed.
    if (body[9] != protocol_udp) {
        return FrameKind::not_udp;
    }
    if ((body[0] & 0x0FU) != 5) {
        return FrameKind::ip_options;
    }
    const std::span<const std::uint8_t> ip = body.first(ipv4_header_size);
    if (internet_checksum(ip) != 0) {
        return FrameKind::bad_ip_checksum;
    }
    if ((get16(ip, 6) & 0x3FFFU) != 0) {  // MF or an offset (DF alone is fine)
        return FrameKind::fragment;
    }
    const std::uint16_t ip_length = get16(ip, 2);
    if (ip_length < ipv4_header_size + udp_header_size || ip_length > body.size()) {
        return body.size() < ipv4_header_size + udp_header_size ? FrameKind::runt
                                                                : FrameKind::bad_length;
    }
    const std::span<const std::uint8_t> udp =
        body.subspan(ipv4_header_size, ip_length - ipv4_header_size);
    if (get16(udp, 2) != port) {
        return FrameKind::wrong_port;
    }
    if (get16(udp, 4) != udp.size()) {
        return FrameKind::bad_length;
    }
    const Ipv4 src{get32(ip, 12)};
    const Ipv4 dst{get32(ip, 16)};
    if (get16(udp, 6) != 0 &&
        internet_checksum(
            udp, pseudo_header_sum(src, dst, static_cast<std::uint16_t>(udp.size()))) != 0) {
        return FrameKind::bad_udp_checksum;
    }
    out.udp = UdpView{.src_address = src,
                      .dst_address = dst,
                      .src_port = get16(udp, 0),
                      .dst_port = port,
                      .payload = udp.subspan(udp_header_size)};
    HB_ASSERT(out.udp.payload.data() + out.udp.payload.size() <= frame.data() + frame.size());
    return FrameKind::udp;
}

}  // namespace hb::transport::frame
