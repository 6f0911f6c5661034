// The seam between the engine and the wire. One Transport per local adapter; the engine hands it
// batches of encoded datagrams and takes batches of received ones, both as fixed-size records.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hb/clock.hh"
#include "hb/model.hh"
#include "hb/wire.hh"

namespace hb {

struct RxRecord {
    Nanos rx_ns = 0;  // receive time on the monotonic clock (kernel stamp if any)
    Ipv4 src_address{};
    std::uint16_t src_port = 0;
    std::uint16_t length = 0;  // bytes received; > max_datagram means it was truncated
    std::array<std::uint8_t, wire::max_datagram> bytes{};
};

struct TxRecord {
    Ipv4 dst_address{};
    std::uint16_t dst_port = 0;
    std::uint16_t length = 0;
    std::array<std::uint8_t, wire::max_datagram> bytes{};
};

enum class LinkState : std::uint8_t { unknown, up, down };

struct TransportCounters {
    std::uint64_t rx_datagrams = 0;
    std::uint64_t tx_datagrams = 0;
    std::uint64_t tx_errors = 0;     // datagrams the transport could not send
    std::uint64_t rx_errors = 0;     // receive calls that failed with anything but "no data"
    std::uint64_t rx_truncated = 0;  // datagrams longer than max_datagram
};

class Transport {
public:
    virtual ~Transport() = default;

    // Receives at most out.size() datagrams without blocking; returns how many were written.
    virtual std::size_t receive(std::span<RxRecord> out) noexcept = 0;

    // Sends the batch; returns how many were handed to the wire. Failures are counted.
    virtual std::size_t send(std::span<const TxRecord> batch) noexcept = 0;

    // A file descriptor that becomes readable when receive() may return data, for run loops that
    // sleep; -1 when the transport must be polled.
    virtual int wait_fd() const noexcept { return -1; }

    // The link under this transport as the transport itself sees it (a DPDK port's link status),
    // read without blocking and cheap enough for every few milliseconds; `unknown` when the
    // transport cannot tell. Kernel sockets cannot: their interface's link comes from rtnetlink
    // (policy/link_watch.hh) instead.
    virtual LinkState link_state() const noexcept { return LinkState::unknown; }

    virtual TransportCounters counters() const noexcept = 0;
};

}  // namespace hb
