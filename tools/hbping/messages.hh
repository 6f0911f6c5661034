// hbping's PING and PONG: hb wire v1 headers (docs/PROTOCOL.md), signed with the cluster key when
// one is given, zero padding up to --size. A PONG echoes the PING (echo seq, tx time, hold), so
// the sender computes the round trip on its own clock as hb's beats do.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "hb/clock.hh"
#include "hb/model.hh"
#include "hb/wire.hh"

namespace hb::ping {

// hbping is no cluster node: it speaks as this node id, which no configuration may use.
inline constexpr NodeId ping_node = 0xFFFFFFFF;

// Reads a cluster key file as hbd does (hb/key_file.hh: the whole file, at least 16 bytes, private
// to its owner) and derives the MAC key. The message names --key-file and the path.
[[nodiscard]] std::variant<MacKey, std::string> load_key(const std::string& path);

struct Identity {
    std::uint64_t cluster_id = 0;
    std::uint32_t incarnation = 1;  // random per process, never 0
    std::optional<MacKey> key;
};

// Writes a PING of out.size() bytes (>= wire::beat_size).
void build_ping(const Identity& self, std::uint64_t seq, Nanos tx_ns, Nanos interval_ns,
                std::span<std::uint8_t> out) noexcept;
// Writes the PONG answering `ping` into out (the same size as the ping was).
void build_pong(const Identity& self, std::uint64_t seq, const wire::Beat& ping, Nanos hold_ns,
                std::span<std::uint8_t> out) noexcept;

enum class Check : std::uint8_t {
    ok,
    malformed,      // not a v1 header, or shorter than one
    other_kind,     // a valid header, but not the kind this side serves
    other_cluster,  // another --cluster-id
    bad_mac,        // the tag does not verify with our key, or we have none and it is signed
};

struct Checked {
    Check check = Check::malformed;
    wire::Beat beat;
    wire::DecodeError decode_error = wire::DecodeError::none;
};

// Decodes the first wire::beat_size bytes of a datagram (the rest is padding) and checks kind,
// cluster and MAC. Without a key, a non-zero tag is a mismatch too: the other side has a key.
[[nodiscard]] Checked check_message(const Identity& self, std::span<const std::uint8_t> datagram,
                                    wire::Kind expected) noexcept;

// The sender's test of a PONG that check_message decoded (ok or bad_mac): it must echo one of
// this run's pings, sent at the time it says. tx_times_ns[seq] is when ping seq went out (index 0
// is unused: seq 0 is never sent), so anything else is a reply to another run or a forgery.
[[nodiscard]] bool echoes_own_ping(const wire::Beat& pong,
                                   std::span<const Nanos> tx_times_ns) noexcept;
// The round trip of the ping a PONG received at rx_ns answers, less the time the receiver held
// it. Negative when the receiver claims a longer hold than the round trip (ResponderStats clamps).
[[nodiscard]] Nanos round_trip_ns(const wire::Beat& pong, Nanos rx_ns) noexcept;

}  // namespace hb::ping
