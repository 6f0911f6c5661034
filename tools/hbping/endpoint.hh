// Where hbping's datagrams come in and go out: the kernel's UDP sockets (SocketEndpoint,
// ping_socket.hh) or a DPDK port (DpdkEndpoint, dpdk_endpoint.hh, in builds with DPDK). The
// receiver and the sender see only this.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "hb/clock.hh"
#include "hb/model.hh"

namespace hb::ping {

struct Datagram {
    Ipv4 src_address;
    std::uint16_t src_port = 0;
    std::size_t length = 0;  // bytes received; more than the buffer means truncated
    int ttl = -1;            // as received; -1 when the path cannot tell (DPDK: see docs/hbping.md)
};

class Endpoint {
public:
    virtual ~Endpoint() = default;

    // One datagram into `buffer` without blocking; nullopt when none is waiting.
    virtual std::optional<Datagram> receive(std::span<std::uint8_t> buffer) noexcept = 0;
    // Sends one datagram; false, errno set, when it could not be sent.
    virtual bool send_to(Ipv4 address, std::uint16_t port,
                         std::span<const std::uint8_t> bytes) noexcept = 0;
    // Waits until a datagram may be waiting (true), `until` (monotonic) passes or a signal of
    // those `wait_mask` lets through arrives (false). Signals are delivered only in here.
    virtual bool wait(Nanos until, const sigset_t& wait_mask) = 0;
    // Before the first datagram to `destination`: whatever makes it go out at once (the DPDK
    // port resolves a unicast peer by ARP), at most until `until`. Kernel sockets need nothing.
    virtual void prepare(Ipv4 destination, Nanos until) {
        static_cast<void>(destination);
        static_cast<void>(until);
    }
    // The largest datagram it can send.
    virtual std::size_t max_datagram() const noexcept = 0;
};

}  // namespace hb::ping
