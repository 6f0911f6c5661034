// libFuzzer target for the DPDK transport's frame parser: any frame is classified without reading
// outside it; a UDP datagram's payload lies inside the frame and survives a rebuild and re-parse;
// an ARP packet rebuilds to the same message.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "hb/assert.hh"
#include "transport/dpdk/frame.hh"

namespace frame = hb::transport::frame;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::uint16_t port = 4098;
    const std::span<const std::uint8_t> bytes(data, size);
    frame::ParsedFrame parsed;
    const frame::FrameKind kind = frame::parse(bytes, port, parsed);
    HB_ASSERT(kind < frame::FrameKind::count);
    HB_ASSERT(frame::frame_kind_name(kind) != "unknown");

    if (kind == frame::FrameKind::udp) {
        const frame::UdpView& udp = parsed.udp;
        HB_ASSERT(udp.payload.data() >= data + frame::udp_overhead);
        HB_ASSERT(udp.payload.data() + udp.payload.size() <= data + size);
        HB_ASSERT(udp.dst_port == port);
        std::vector<std::uint8_t> again(frame::udp_overhead + udp.payload.size());
        const frame::UdpFrameSpec spec{.dst_mac = parsed.dst_mac,
                                       .src_mac = parsed.src_mac,
                                       .src_address = udp.src_address,
                                       .dst_address = udp.dst_address,
                                       .src_port = udp.src_port,
                                       .dst_port = udp.dst_port};
        HB_ASSERT(frame::build_udp(spec, udp.payload, again) == again.size());
        frame::ParsedFrame reparsed;
        HB_ASSERT(frame::parse(again, port, reparsed) == frame::FrameKind::udp);
        HB_ASSERT(reparsed.dst_mac == parsed.dst_mac && reparsed.src_mac == parsed.src_mac);
        HB_ASSERT(reparsed.udp.src_address == udp.src_address);
        HB_ASSERT(reparsed.udp.dst_address == udp.dst_address);
        HB_ASSERT(reparsed.udp.src_port == udp.src_port);
        HB_ASSERT(reparsed.udp.payload.size() == udp.payload.size());
        for (std::size_t i = 0; i < udp.payload.size(); ++i) {
            HB_ASSERT(reparsed.udp.payload[i] == udp.payload[i]);
        }
    } else if (kind == frame::FrameKind::arp) {
        std::vector<std::uint8_t> again(frame::min_frame_size);
        HB_ASSERT(frame::build_arp(parsed.dst_mac, parsed.src_mac, parsed.arp, again) ==
                  frame::min_frame_size);
        frame::ParsedFrame reparsed;
        HB_ASSERT(frame::parse(again, port, reparsed) == frame::FrameKind::arp);
        HB_ASSERT(reparsed.arp == parsed.arp);
    }
    return 0;
}
