// The DPDK transport: one Ethernet port per adapter, beats carried in Ethernet/IPv4/UDP frames
// built by hand in mbufs, byte for byte what the UDP transport sends, so DPDK and kernel-UDP nodes
// heartbeat each other. ARP is answered and resolved here; multicast groups are joined with IGMPv2
// reports. Inline mode: receive() and send() run on the engine's thread (they share one TX queue).
// This header includes no DPDK header: the embedder needs no DPDK include paths.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "hb/transport.hh"
#include "transport/dpdk/frame.hh"
#include "transport/dpdk/neighbours.hh"
#include "transport/dpdk/tsc_clock.hh"

struct rte_mempool;
struct rte_mbuf;

namespace hb::transport {

struct StaticNeighbour {
    Ipv4 address;
    frame::MacAddress mac;
};

struct DpdkOptions {
    // The ethdev name ("net_ring_a", "0000:03:00.0"), or devargs the transport probes itself
    // ("net_af_packet0,iface=veth1") when no port has that name yet.
    std::string port;
    Ipv4 address{};
    std::uint16_t udp_port = default_port;
    NetworkMode mode = NetworkMode::unicast;
    Ipv4 group{};  // multicast only
    std::uint8_t ttl = 1;
    std::uint8_t tos = 0xC0;   // CS6, like the UDP transport
    bool udp_checksum = true;  // false: send 0 ("none"); received checksums are always verified
    std::uint16_t rx_descriptors = 512;
    std::uint16_t tx_descriptors = 512;
    std::vector<StaticNeighbour> neighbours;
    NeighbourOptions neighbour_options;
    Nanos igmp_report_interval_ns = 10 * nanos_per_s;  // multicast: unsolicited reports
};

// Every frame the transport did not deliver, by reason; read with DpdkTransport::dpdk_counters().
struct DpdkCounters {
    std::uint64_t rx_frames = 0;
    std::uint64_t rx_datagrams = 0;  // handed to the engine
    // Frames dropped by FrameKind: the malformed ones, and other hosts' traffic (other
    // ethertypes, protocols, ports). The udp and arp slots stay 0.
    std::array<std::uint64_t, frame::frame_kind_count> rx_dropped{};
    std::uint64_t rx_oversize = 0;    // frames longer than the receive scratch buffer
    std::uint64_t rx_truncated = 0;   // datagrams longer than wire::max_datagram (delivered cut)
    std::uint64_t rx_not_for_us = 0;  // another host's MAC or IP, or our own frame looped back
    std::uint64_t arp_requests_answered = 0;
    std::uint64_t arp_requests_sent = 0;
    std::uint64_t arp_replies_received = 0;
    std::uint64_t tx_datagrams = 0;
    std::uint64_t tx_no_mbuf = 0;
    std::uint64_t tx_ring_full = 0;  // frames the port's TX queue did not take (beats and ARP)
    std::uint64_t tx_unknown_neighbour = 0;
    std::uint64_t tx_build_failed = 0;
    std::uint64_t igmp_reports_sent = 0;
    NeighbourCounters neighbours;

    // Malformed frames (frame::is_malformed) and oversize ones: TransportCounters::rx_errors.
    std::uint64_t rx_malformed_total() const noexcept;
};

class DpdkTransport final : public Transport {
public:
    static constexpr std::size_t max_burst = 32;
    static constexpr std::size_t rx_scratch_size = 2048;  // longer frames are dropped, counted

    // Mbufs the transport's pool holds, fixed at open (see docs/dpdk.md): every RX descriptor
    // full, every TX descriptor still owned by the port, one burst in each direction in our
    // hands, and a burst of ARP/IGMP frames; rounded up to 2^k - 1 (the ring mempool's best size).
    static std::uint32_t mempool_size(const DpdkOptions& options) noexcept;

    // Needs eal::start() first. Failures name the port and the DPDK call.
    static std::variant<std::unique_ptr<DpdkTransport>, std::string> open(
        const DpdkOptions& options);

    // Shutdown order: drain RX and free what was received, stop the port, close it (the port is
    // released), remove the device if open() probed it, free the mempool.
    ~DpdkTransport() override;
    DpdkTransport(const DpdkTransport&) = delete;
    DpdkTransport& operator=(const DpdkTransport&) = delete;

    std::size_t receive(std::span<RxRecord> out) noexcept override;
    std::size_t send(std::span<const TxRecord> batch) noexcept override;
    int wait_fd() const noexcept override { return -1; }
    // Starts or continues resolving `address` by ARP (a request goes out when one is due, under
    // the neighbour table's limits); true once its MAC is known. For a tool whose first datagram
    // must not be dropped while resolution runs (hbping): call receive() between calls, so the
    // reply is seen. Engine thread only, like send().
    bool resolve_neighbour(Ipv4 address) noexcept;
    // rte_eth_link_get_nowait (polled: no link-state interrupt is armed); for a port bound to a
    // kernel interface (rte_eth_dev_info.if_index), down too while that interface is not up and
    // running. Unknown when the driver cannot tell.
    LinkState link_state() const noexcept override;
    // rx_errors: malformed frames; tx_errors: frames not sent for any reason (beats, ARP, IGMP).
    TransportCounters counters() const noexcept override;
    DpdkCounters dpdk_counters() const noexcept;

    const DpdkOptions& options() const noexcept { return options_; }
    const frame::MacAddress& mac() const noexcept { return mac_; }
    std::uint16_t port_id() const noexcept { return port_id_; }
    const NeighbourTable& neighbours() const noexcept { return neighbours_; }
    std::uint32_t mempool_capacity() const noexcept { return mempool_size_; }
    std::uint32_t mempool_available() const noexcept;  // == capacity when nothing is in flight
    // The kernel interface the port is bound to (its ifindex), 0 for none.
    std::uint32_t host_ifindex() const noexcept { return host_ifindex_; }

private:
    explicit DpdkTransport(DpdkOptions options);
    void handle_arp(const frame::ParsedFrame& parsed, Nanos now) noexcept;
    bool queue_control(std::span<const std::uint8_t> frame) noexcept;
    void flush_control() noexcept;
    void send_arp_request(Ipv4 target) noexcept;
    void send_igmp_report() noexcept;
    std::size_t transmit(std::span<rte_mbuf*> frames) noexcept;

    DpdkOptions options_;
    NeighbourTable neighbours_;
    // Receive timestamps: one TSC read per burst, on the monotonic clock (rte_get_tsc_hz).
    TscClock rx_clock_;
    rte_mempool* mempool_ = nullptr;
    std::uint32_t mempool_size_ = 0;
    std::uint16_t port_id_ = 0;
    bool port_started_ = false;
    bool port_configured_ = false;
    bool device_probed_ = false;  // open() probed the device: the destructor removes it
    bool ip_checksum_offload_ = false;
    std::uint32_t host_ifindex_ = 0;
    int host_socket_fd_ = -1;  // for SIOCGIFFLAGS on the host interface
    frame::MacAddress mac_;
    frame::MacAddress group_mac_;
    std::uint16_t ip_id_ = 0;
    Nanos next_igmp_report_ns_ = 0;

    // Scratch sized once: the data path never allocates.
    std::array<rte_mbuf*, max_burst> rx_mbufs_{};
    std::array<rte_mbuf*, max_burst> tx_mbufs_{};
    std::array<rte_mbuf*, max_burst> control_mbufs_{};
    std::size_t control_count_ = 0;
    alignas(64) std::array<std::uint8_t, rx_scratch_size> rx_scratch_{};

    // Written only by the engine thread (inline mode), read from anywhere.
    struct Counter {
        std::atomic<std::uint64_t> value{0};
        void add(std::uint64_t n = 1) noexcept {
            value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        }
        std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
    };
    Counter rx_frames_;
    Counter rx_datagrams_;
    std::array<Counter, frame::frame_kind_count> rx_dropped_;
    Counter rx_oversize_;
    Counter rx_truncated_;
    Counter rx_not_for_us_;
    Counter arp_requests_answered_;
    Counter arp_requests_sent_;
    Counter arp_replies_received_;
    Counter tx_datagrams_;
    Counter tx_no_mbuf_;
    Counter tx_ring_full_;
    Counter tx_unknown_neighbour_;
    Counter tx_build_failed_;
    Counter igmp_reports_sent_;
};

}  // namespace hb::transport
