#include "transport/dpdk/dpdk_transport.hh"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

// DPDK's headers come in as system headers (meson: include_type 'system'), so their own
// -Wpedantic/-Wold-style-cast/-Wvolatile findings do not fail a -Werror build of this file.
#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "hb/assert.hh"
#include "transport/dpdk/eal.hh"

namespace hb::transport {

namespace {

constexpr Ipv4 limited_broadcast{0xFFFFFFFFU};

std::string dpdk_error(std::string_view what, const DpdkOptions& options, int code) {
    return std::string(what) + " on DPDK port \"" + options.port +
           "\": " + rte_strerror(code < 0 ? -code : code);
}

// A name no other pool in the process has (mempool names are global and short).
std::string next_mempool_name() {
    static std::atomic<std::uint32_t> serial{0};
    return "hb_pool_" + std::to_string(serial.fetch_add(1));
}

std::span<std::uint8_t> mbuf_bytes(rte_mbuf* mbuf, std::size_t length) noexcept {
    char* data = rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(length));
    if (data == nullptr) {
        return {};
    }
    return {reinterpret_cast<std::uint8_t*>(data), length};
}

std::uint64_t read_tsc() noexcept {
    return rte_rdtsc();
}

}  // namespace

std::uint64_t DpdkCounters::rx_malformed_total() const noexcept {
    std::uint64_t total = rx_oversize;
    for (std::size_t kind = 0; kind < rx_dropped.size(); ++kind) {
        if (frame::is_malformed(static_cast<frame::FrameKind>(kind))) {
            total += rx_dropped[kind];
        }
    }
    return total;
}

std::uint32_t DpdkTransport::mempool_size(const DpdkOptions& options) noexcept {
    const std::uint32_t needed = std::uint32_t{options.rx_descriptors} + options.tx_descriptors +
                                 3 * static_cast<std::uint32_t>(max_burst);
    return std::bit_ceil(needed + 1) - 1;
}

// Only open() constructs, once the EAL runs: rte_get_tsc_hz() is known from then on.
DpdkTransport::DpdkTransport(DpdkOptions options)
    : options_(std::move(options)),
      neighbours_(options_.neighbour_options),
      rx_clock_(rte_get_tsc_hz(), &read_tsc, &monotonic_now) {}

std::variant<std::unique_ptr<DpdkTransport>, std::string> DpdkTransport::open(
    const DpdkOptions& options) {
    if (!eal::running()) {
        return "DPDK port \"" + options.port + "\": the DPDK EAL is not running (eal::start)";
    }
    if (options.port.empty()) {
        return std::string("a DPDK adapter needs a port (ethdev name, PCI address or devargs)");
    }
    if (options.mode == NetworkMode::multicast && !options.group.is_multicast()) {
        return "multicast group " + options.group.to_string() + " is not a multicast address";
    }
    if (options.rx_descriptors == 0 || options.tx_descriptors == 0) {
        return "DPDK port \"" + options.port + "\": descriptor counts must be positive";
    }
    std::unique_ptr<DpdkTransport> transport{new DpdkTransport(options)};
    for (const StaticNeighbour& neighbour : options.neighbours) {
        if (!transport->neighbours_.add_static(neighbour.address, neighbour.mac)) {
            return "DPDK port \"" + options.port + "\": more static neighbours than the table's " +
                   std::to_string(transport->neighbours_.capacity()) + " entries";
        }
    }

    // An existing port by name, or devargs to probe (hot-plug) a device and take its port.
    const std::string name = options.port.substr(0, options.port.find(','));
    std::uint16_t port_id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
        const int probed = rte_dev_probe(options.port.c_str());
        if (probed != 0) {
            return dpdk_error("rte_dev_probe", options, probed);
        }
        transport->device_probed_ = true;
        if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
            rte_eal_hotplug_remove("vdev", name.c_str());
            transport->device_probed_ = false;
            return "DPDK port \"" + options.port + "\": probing it created no port named " + name;
        }
    }
    transport->port_id_ = port_id;

    rte_eth_dev_info info{};
    if (const int result = rte_eth_dev_info_get(port_id, &info); result != 0) {
        return dpdk_error("rte_eth_dev_info_get", options, result);
    }
    if (info.if_index != 0) {
        // A port bound to a kernel interface (net_af_packet, net_tap): link_state() also reads
        // that interface's flags, through a socket of this network namespace made now.
        transport->host_ifindex_ = info.if_index;
        transport->host_socket_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (transport->host_socket_fd_ < 0) {
            return "DPDK port \"" + options.port +
                   "\": socket for reading its kernel interface's link: " + std::strerror(errno);
        }
    }
    const int socket =
        rte_eth_dev_socket_id(port_id) < 0 ? SOCKET_ID_ANY : rte_eth_dev_socket_id(port_id);

    // No per-lcore cache: one thread uses the pool, and a cache would hide mbufs from
    // rte_mempool_avail_count, which the leak test relies on.
    transport->mempool_size_ = mempool_size(options);
    transport->mempool_ =
        rte_pktmbuf_pool_create(next_mempool_name().c_str(), transport->mempool_size_, 0, 0,
                                RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (transport->mempool_ == nullptr) {
        return dpdk_error(
            "rte_pktmbuf_pool_create (" + std::to_string(transport->mempool_size_) + " mbufs)",
            options, rte_errno);
    }

    rte_eth_conf conf{};
    transport->ip_checksum_offload_ = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
    if (transport->ip_checksum_offload_) {
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    }
    if (const int result = rte_eth_dev_configure(port_id, 1, 1, &conf); result != 0) {
        return dpdk_error("rte_eth_dev_configure", options, result);
    }
    transport->port_configured_ = true;
    std::uint16_t rx_descriptors = options.rx_descriptors;
    std::uint16_t tx_descriptors = options.tx_descriptors;
    if (const int result =
            rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_descriptors, &tx_descriptors);
        result != 0) {
        return dpdk_error("rte_eth_dev_adjust_nb_rx_tx_desc", options, result);
    }
    if (rx_descriptors > options.rx_descriptors || tx_descriptors > options.tx_descriptors) {
        return "DPDK port \"" + options.port + "\" needs at least " +
               std::to_string(rx_descriptors) + " RX and " + std::to_string(tx_descriptors) +
               " TX descriptors: configure them, the mempool is sized from them";
    }
    if (const int result =
            rte_eth_rx_queue_setup(port_id, 0, rx_descriptors, static_cast<unsigned>(socket),
                                   nullptr, transport->mempool_);
        result != 0) {
        return dpdk_error("rte_eth_rx_queue_setup", options, result);
    }
    if (const int result = rte_eth_tx_queue_setup(port_id, 0, tx_descriptors,
                                                  static_cast<unsigned>(socket), nullptr);
        result != 0) {
        return dpdk_error("rte_eth_tx_queue_setup", options, result);
    }
    if (const int result = rte_eth_dev_start(port_id); result != 0) {
        return dpdk_error("rte_eth_dev_start", options, result);
    }
    transport->port_started_ = true;

    rte_ether_addr mac{};
    if (const int result = rte_eth_macaddr_get(port_id, &mac); result != 0) {
        return dpdk_error("rte_eth_macaddr_get", options, result);
    }
    std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), transport->mac_.bytes.begin());
    if (transport->mac_.is_zero()) {
        // Some vdevs (net_ring) have no address: take a locally administered one made from the
        // adapter's IPv4 address, unique on its subnet, and tell the port where it listens.
        transport->mac_ = frame::MacAddress{{0x02, 0x68, 0x62,
                                             static_cast<std::uint8_t>(options.address.value >> 16),
                                             static_cast<std::uint8_t>(options.address.value >> 8),
                                             static_cast<std::uint8_t>(options.address.value)}};
        std::copy(transport->mac_.bytes.begin(), transport->mac_.bytes.end(),
                  std::begin(mac.addr_bytes));
        rte_eth_dev_default_mac_addr_set(port_id, &mac);
    }
    if (options.mode == NetworkMode::multicast) {
        transport->group_mac_ = frame::multicast_mac(options.group);
        // A NIC filters group MACs it was not told about; vdevs may not support the call and
        // receive every frame anyway, so failure is not an error.
        rte_ether_addr group_mac{};
        std::copy(transport->group_mac_.bytes.begin(), transport->group_mac_.bytes.end(),
                  std::begin(group_mac.addr_bytes));
        if (rte_eth_dev_set_mc_addr_list(port_id, &group_mac, 1) != 0) {
            rte_eth_allmulticast_enable(port_id);
        }
        transport->send_igmp_report();
        transport->flush_control();
        transport->next_igmp_report_ns_ = monotonic_now() + options.igmp_report_interval_ns;
    }
    return transport;
}

DpdkTransport::~DpdkTransport() {
    if (port_started_) {
        // Frames already received belong to our pool: take them back before the port stops.
        for (int round = 0; round < 1024; ++round) {
            const std::uint16_t count = rte_eth_rx_burst(port_id_, 0, rx_mbufs_.data(),
                                                         static_cast<std::uint16_t>(max_burst));
            if (count == 0) {
                break;
            }
            rte_pktmbuf_free_bulk(rx_mbufs_.data(), count);
        }
        rte_eth_tx_done_cleanup(port_id_, 0, 0);
        rte_eth_dev_stop(port_id_);
    }
    if (port_configured_) {
        rte_eth_dev_close(port_id_);  // releases the port and frees the mbufs its rings held
    }
    if (device_probed_) {
        const std::string name = options_.port.substr(0, options_.port.find(','));
        if (rte_eal_hotplug_remove("vdev", name.c_str()) != 0) {
            rte_eal_hotplug_remove("pci", name.c_str());
        }
    }
    if (mempool_ != nullptr) {
        rte_mempool_free(mempool_);
    }
    if (host_socket_fd_ >= 0) {
        ::close(host_socket_fd_);
    }
}

LinkState DpdkTransport::link_state() const noexcept {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id_, &link) != 0) {
        return LinkState::unknown;  // the driver has no link_update: it cannot tell
    }
    if (link.link_status == RTE_ETH_LINK_DOWN) {
        return LinkState::down;
    }
    if (host_ifindex_ == 0) {
        return LinkState::up;
    }
    // Some drivers of ports bound to a kernel interface report the port's own state only (DPDK
    // 22.11's net_af_packet: up from start to stop, whatever the interface's carrier), so the
    // interface decides too: up and running (RFC 2863 operstate up), as rtnetlink would say.
    ifreq request{};
    request.ifr_ifindex = static_cast<int>(host_ifindex_);
    if (::ioctl(host_socket_fd_, SIOCGIFNAME, &request) != 0) {
        return errno == ENODEV ? LinkState::down : LinkState::unknown;  // ENODEV: it is gone
    }
    if (::ioctl(host_socket_fd_, SIOCGIFFLAGS, &request) != 0) {
        return errno == ENODEV ? LinkState::down : LinkState::unknown;
    }
    const auto flags = static_cast<unsigned>(static_cast<unsigned short>(request.ifr_flags));
    const bool running = (flags & IFF_UP) != 0 && (flags & IFF_RUNNING) != 0;
    return running ? LinkState::up : LinkState::down;
}

std::uint32_t DpdkTransport::mempool_available() const noexcept {
    return mempool_ == nullptr ? 0 : rte_mempool_avail_count(mempool_);
}

std::size_t DpdkTransport::receive(std::span<RxRecord> out) noexcept {
    const std::size_t want = std::min(out.size(), max_burst);
    if (want == 0) {
        return 0;
    }
    const std::uint16_t received =
        rte_eth_rx_burst(port_id_, 0, rx_mbufs_.data(), static_cast<std::uint16_t>(want));
    if (received == 0) {
        return 0;
    }
    // One stamp per burst, taken as the burst returns. The TSC read is cheaper than a
    // clock_gettime; hardware stamps would be better still (docs/dpdk.md, Receive timestamps).
    const Nanos now = rx_clock_.now();
    rx_frames_.add(received);
    std::size_t delivered = 0;
    for (std::uint16_t i = 0; i < received; ++i) {
        rte_mbuf* mbuf = rx_mbufs_[i];
        const std::uint32_t length = rte_pktmbuf_pkt_len(mbuf);
        if (length > rx_scratch_.size()) {
            rx_oversize_.add();
            continue;
        }
        const auto* data =
            static_cast<const std::uint8_t*>(rte_pktmbuf_read(mbuf, 0, length, rx_scratch_.data()));
        HB_ASSERT(data != nullptr);
        frame::ParsedFrame parsed;
        const frame::FrameKind kind = frame::parse({data, length}, options_.udp_port, parsed);
        if (kind != frame::FrameKind::runt && parsed.src_mac == mac_) {
            rx_not_for_us_.add();  // our own frame, looped back by the port or the switch
            continue;
        }
        if (kind == frame::FrameKind::arp) {
            handle_arp(parsed, now);
            continue;
        }
        if (kind != frame::FrameKind::udp) {
            rx_dropped_[static_cast<std::size_t>(kind)].add();
            continue;
        }
        const bool group = options_.mode == NetworkMode::multicast;
        const bool mac_ok = parsed.dst_mac == mac_ || (group && parsed.dst_mac == group_mac_);
        const bool ip_ok = parsed.udp.dst_address == options_.address ||
                           (group && parsed.udp.dst_address == options_.group);
        if (!mac_ok || !ip_ok) {
            rx_not_for_us_.add();
            continue;
        }
        // A peer that beats at us is on the link: refresh (never create) its entry.
        neighbours_.learn(parsed.udp.src_address, parsed.src_mac, false);
        RxRecord& record = out[delivered++];
        record.rx_ns = now;
        record.src_address = parsed.udp.src_address;
        record.src_port = parsed.udp.src_port;
        const std::span<const std::uint8_t> payload = parsed.udp.payload;
        const std::size_t kept = std::min(payload.size(), record.bytes.size());
        std::copy_n(payload.begin(), kept, record.bytes.begin());
        if (payload.size() > record.bytes.size()) {
            record.length = static_cast<std::uint16_t>(wire::max_datagram + 1);
            rx_truncated_.add();
        } else {
            record.length = static_cast<std::uint16_t>(payload.size());
        }
    }
    rte_pktmbuf_free_bulk(rx_mbufs_.data(), received);
    flush_control();
    rx_datagrams_.add(delivered);
    return delivered;
}

void DpdkTransport::handle_arp(const frame::ParsedFrame& parsed, Nanos now) noexcept {
    (void)now;
    const frame::ArpMessage& arp = parsed.arp;
    const bool for_us = arp.target_address == options_.address;
    neighbours_.learn(arp.sender_address, arp.sender_mac, for_us);
    if (!for_us) {
        rx_not_for_us_.add();
        return;
    }
    if (arp.operation == frame::arp_reply) {
        arp_replies_received_.add();
        return;
    }
    const frame::ArpMessage reply{.operation = frame::arp_reply,
                                  .sender_mac = mac_,
                                  .sender_address = options_.address,
                                  .target_mac = arp.sender_mac,
                                  .target_address = arp.sender_address};
    std::array<std::uint8_t, frame::min_frame_size> bytes{};
    const std::size_t length = frame::build_arp(arp.sender_mac, mac_, reply, bytes);
    HB_ASSERT(length == bytes.size());
    if (queue_control(bytes)) {
        arp_requests_answered_.add();
    }
}

void DpdkTransport::send_arp_request(Ipv4 target) noexcept {
    const frame::ArpMessage request{.operation = frame::arp_request,
                                    .sender_mac = mac_,
                                    .sender_address = options_.address,
                                    .target_mac = {},
                                    .target_address = target};
    std::array<std::uint8_t, frame::min_frame_size> bytes{};
    const std::size_t length = frame::build_arp(frame::broadcast_mac, mac_, request, bytes);
    HB_ASSERT(length == bytes.size());
    if (queue_control(bytes)) {
        arp_requests_sent_.add();
    }
}

void DpdkTransport::send_igmp_report() noexcept {
    std::array<std::uint8_t, frame::min_frame_size> bytes{};
    const std::size_t length =
        frame::build_igmp_report(mac_, options_.address, options_.group, bytes);
    HB_ASSERT(length == bytes.size());
    if (queue_control(bytes)) {
        igmp_reports_sent_.add();
    }
}

bool DpdkTransport::queue_control(std::span<const std::uint8_t> bytes) noexcept {
    if (control_count_ == control_mbufs_.size()) {
        flush_control();
    }
    rte_mbuf* mbuf = rte_pktmbuf_alloc(mempool_);
    if (mbuf == nullptr) {
        tx_no_mbuf_.add();
        return false;
    }
    const std::span<std::uint8_t> data = mbuf_bytes(mbuf, bytes.size());
    if (data.empty()) {
        rte_pktmbuf_free(mbuf);
        tx_build_failed_.add();
        return false;
    }
    std::copy(bytes.begin(), bytes.end(), data.begin());
    control_mbufs_[control_count_++] = mbuf;
    return true;
}

void DpdkTransport::flush_control() noexcept {
    if (control_count_ != 0) {
        transmit({control_mbufs_.data(), control_count_});
        control_count_ = 0;
    }
}

std::size_t DpdkTransport::transmit(std::span<rte_mbuf*> frames) noexcept {
    const std::uint16_t sent =
        rte_eth_tx_burst(port_id_, 0, frames.data(), static_cast<std::uint16_t>(frames.size()));
    // The port owns what it took; the rest is still ours to free.
    if (sent < frames.size()) {
        rte_pktmbuf_free_bulk(frames.data() + sent, static_cast<unsigned>(frames.size() - sent));
        tx_ring_full_.add(frames.size() - sent);
    }
    return sent;
}

bool DpdkTransport::resolve_neighbour(Ipv4 address) noexcept {
    const NeighbourTable::Resolution resolution = neighbours_.resolve(address, monotonic_now());
    if (resolution.mac) {
        return true;
    }
    if (resolution.send_request) {
        send_arp_request(address);
        flush_control();
    }
    return false;
}

std::size_t DpdkTransport::send(std::span<const TxRecord> batch) noexcept {
    const Nanos now = monotonic_now();
    if (options_.mode == NetworkMode::multicast && now >= next_igmp_report_ns_) {
        send_igmp_report();
        next_igmp_report_ns_ = now + options_.igmp_report_interval_ns;
    }
    std::size_t sent = 0;
    std::size_t pending = 0;
    for (const TxRecord& record : batch) {
        HB_ASSERT(record.length <= record.bytes.size());
        frame::MacAddress dst_mac;
        if (record.dst_address.is_multicast()) {
            dst_mac = frame::multicast_mac(record.dst_address);
        } else if (record.dst_address == limited_broadcast) {
            dst_mac = frame::broadcast_mac;
        } else {
            const NeighbourTable::Resolution resolution =
                neighbours_.resolve(record.dst_address, now);
            if (!resolution.mac) {
                tx_unknown_neighbour_.add();
                if (resolution.send_request) {
                    send_arp_request(record.dst_address);
                }
                continue;
            }
            dst_mac = *resolution.mac;
        }
        rte_mbuf* mbuf = rte_pktmbuf_alloc(mempool_);
        if (mbuf == nullptr) {
            tx_no_mbuf_.add();
            continue;
        }
        const std::size_t length = frame::udp_overhead + record.length;
        const std::span<std::uint8_t> data = mbuf_bytes(mbuf, length);
        const frame::UdpFrameSpec spec{.dst_mac = dst_mac,
                                       .src_mac = mac_,
                                       .src_address = options_.address,
                                       .dst_address = record.dst_address,
                                       .src_port = options_.udp_port,
                                       .dst_port = record.dst_port,
                                       .ttl = options_.ttl,
                                       .tos = options_.tos,
                                       .ip_id = ip_id_++,
                                       .ip_checksum = !ip_checksum_offload_,
                                       .udp_checksum = options_.udp_checksum};
        if (data.empty() ||
            frame::build_udp(spec, {record.bytes.data(), record.length}, data) != length) {
            rte_pktmbuf_free(mbuf);
            tx_build_failed_.add();
            continue;
        }
        if (ip_checksum_offload_) {
            mbuf->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
            mbuf->l2_len = frame::ethernet_header_size;
            mbuf->l3_len = frame::ipv4_header_size;
        }
        tx_mbufs_[pending++] = mbuf;
        if (pending == tx_mbufs_.size()) {
            sent += transmit({tx_mbufs_.data(), pending});
            pending = 0;
        }
    }
    if (pending != 0) {
        sent += transmit({tx_mbufs_.data(), pending});
    }
    flush_control();
    tx_datagrams_.add(sent);
    return sent;
}

DpdkCounters DpdkTransport::dpdk_counters() const noexcept {
    DpdkCounters counters{
        .rx_frames = rx_frames_.get(),
        .rx_datagrams = rx_datagrams_.get(),
        .rx_dropped = {},
        .rx_oversize = rx_oversize_.get(),
        .rx_truncated = rx_truncated_.get(),
        .rx_not_for_us = rx_not_for_us_.get(),
        .arp_requests_answered = arp_requests_answered_.get(),
        .arp_requests_sent = arp_requests_sent_.get(),
        .arp_replies_received = arp_replies_received_.get(),
        .tx_datagrams = tx_datagrams_.get(),
        .tx_no_mbuf = tx_no_mbuf_.get(),
        .tx_ring_full = tx_ring_full_.get(),
        .tx_unknown_neighbour = tx_unknown_neighbour_.get(),
        .tx_build_failed = tx_build_failed_.get(),
        .igmp_reports_sent = igmp_reports_sent_.get(),
        .neighbours = neighbours_.counters(),
    };
    for (std::size_t kind = 0; kind < counters.rx_dropped.size(); ++kind) {
        counters.rx_dropped[kind] = rx_dropped_[kind].get();
    }
    return counters;
}

TransportCounters DpdkTransport::counters() const noexcept {
    const DpdkCounters counters = dpdk_counters();
    // tx_errors counts every frame not sent, ARP and IGMP included (they are rare).
    return TransportCounters{
        .rx_datagrams = counters.rx_datagrams,
        .tx_datagrams = counters.tx_datagrams,
        .tx_errors = counters.tx_no_mbuf + counters.tx_ring_full + counters.tx_unknown_neighbour +
                     counters.tx_build_failed,
        .rx_errors = counters.rx_malformed_total(),
        .rx_truncated = counters.rx_truncated,
    };
}

}  // namespace hb::transport
