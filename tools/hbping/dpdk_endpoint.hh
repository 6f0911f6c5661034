// hbping over a DPDK port (built only with libdpdk): the transport's inline mode, busy-polled on
// hbping's thread. The EAL starts with the port and stops with it; this header includes no DPDK
// header (dpdk_transport.hh includes none either).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "hb/transport.hh"
#include "tools/hbping/endpoint.hh"

namespace hb::transport {
class DpdkTransport;
}

namespace hb::ping {

struct DpdkSpec {
    std::vector<std::string> eal_args;
    std::string port;  // an ethdev name or devargs ("net_af_packet0,iface=eth1")
    Ipv4 address;      // the port's own IPv4 address (--source)
    std::uint16_t udp_port = 0;
    std::uint8_t ttl = 1;
    std::optional<Ipv4> group;  // joined (multicast MAC, IGMP reports) when set
};

class DpdkEndpoint final : public Endpoint {
public:
    // Starts the EAL and opens the port; the error names the step that failed.
    static std::variant<std::unique_ptr<DpdkEndpoint>, std::string> open(const DpdkSpec& spec);

    // Closes the port, stops the EAL and removes its runtime directory.
    ~DpdkEndpoint() override;
    DpdkEndpoint(const DpdkEndpoint&) = delete;
    DpdkEndpoint& operator=(const DpdkEndpoint&) = delete;

    // ttl is always -1: the transport's records do not carry the IPv4 header.
    std::optional<Datagram> receive(std::span<std::uint8_t> buffer) noexcept override;
    // To a unicast address not yet resolved: resolves it first, for at most resolve_wait_ns
    // (errno EHOSTUNREACH when that fails; ENOBUFS when the port did not take the frame).
    bool send_to(Ipv4 address, std::uint16_t port,
                 std::span<const std::uint8_t> bytes) noexcept override;
    // Busy-polls the port (it has no file descriptor to sleep on), letting signals in at times.
    bool wait(Nanos until, const sigset_t& wait_mask) override;
    void prepare(Ipv4 destination, Nanos until) override;
    std::size_t max_datagram() const noexcept override;

    static constexpr Nanos resolve_wait_ns = nanos_per_s;

private:
    DpdkEndpoint() = default;
    // One receive burst into the queue; how many records it added.
    std::size_t poll() noexcept;
    bool resolve(Ipv4 address, Nanos until) noexcept;

    std::unique_ptr<transport::DpdkTransport> transport_;
    std::string runtime_directory_;
    std::vector<RxRecord> burst_;
    std::vector<RxRecord> queue_;  // received, not yet taken by receive()
    std::size_t head_ = 0;
};

}  // namespace hb::ping
