// The v1 beat: a fixed 112-byte header encoded field by field in little-endian order, the last 16
// bytes a keyed MAC over the first 96. docs/PROTOCOL.md is the normative description.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hb::wire {

inline constexpr std::uint16_t magic = 0x4248;  // bytes 'H' 'B'
inline constexpr std::uint8_t version = 1;
inline constexpr std::size_t beat_size = 112;
inline constexpr std::size_t mac_offset = 96;  // the MAC covers bytes [0, mac_offset)
inline constexpr std::size_t mac_size = 16;
// The id of the key the MAC was made with (0 when unauthenticated), covered by the MAC.
inline constexpr std::size_t key_id_offset = 74;
// Largest datagram a receiver keeps; anything longer is truncated by the transport and rejected.
inline constexpr std::size_t max_datagram = 128;
static_assert(mac_offset + mac_size == beat_size);
static_assert(beat_size <= max_datagram);

enum class Kind : std::uint8_t {
    beat = 1,
    probe = 2,
    probe_reply = 3,
    ping = 4,
    pong = 5,
};

namespace flags {
inline constexpr std::uint16_t leaving = 1U << 0;  // graceful stop: report NODE_LEFT, not NODE_DOWN
inline constexpr std::uint16_t known = leaving;    // bits a v1 receiver understands
}  // namespace flags

inline constexpr std::uint8_t any_adapter = 0xFF;

// A decoded header. Field meanings are in docs/PROTOCOL.md.
struct Beat {
    Kind kind = Kind::beat;
    std::uint16_t flags = 0;
    std::uint64_t cluster_id = 0;
    std::uint32_t src_node = 0;
    std::uint32_t dst_node = 0;  // 0 = every node on the network (multicast)
    std::uint16_t network = 0;
    std::uint8_t src_adapter = 0;
    std::uint8_t dst_adapter = any_adapter;
    std::uint32_t incarnation = 0;
    std::uint64_t seq = 0;
    std::uint64_t tx_time_ns = 0;       // sender's monotonic clock
    std::uint64_t echo_seq = 0;         // last beat received from echo_node on this path, 0 = none
    std::uint64_t echo_tx_time_ns = 0;  // that beat's tx_time_ns (the receiver's own clock)
    std::uint32_t echo_hold_ns = 0;     // how long the sender held it before this send (saturates)
    std::uint32_t echo_node = 0;
    std::uint8_t echo_adapter = 0;
    std::uint8_t multiplier = 0;  // advertised timing
    std::uint32_t interval_us = 0;
    std::uint32_t adapter_states = 0;  // bit i: the sender's adapter i is up
    std::uint8_t key_id = 0;           // the MacKey::id it is signed with; 0 when unsigned

    friend bool operator==(const Beat&, const Beat&) = default;
};

// Why a datagram was not accepted as a header. Every reason is counted by the receiver.
enum class DecodeError : std::uint8_t {
    none = 0,
    truncated,  // shorter than beat_size
    bad_magic,
    bad_version,
    bad_length,  // the header-length field does not match beat_size
    bad_kind,
    bad_field,  // reserved bytes set, unknown flags, zero seq/node/interval/multiplier
};

std::string_view to_string(DecodeError error) noexcept;

// Writes the header into out[0, mac_offset) and zeroes the MAC field. The beat must be one that
// decode() accepts (non-zero seq, known flags, ...): anything else is a programmer error and
// asserts.
void encode(const Beat& beat, std::span<std::uint8_t, beat_size> out) noexcept;

// Parses and checks the header of a received datagram (the MAC is checked separately). Checks run
// in the order of DecodeError's values; `out` is written only when the result is none.
[[nodiscard]] DecodeError decode(std::span<const std::uint8_t> datagram, Beat& out) noexcept;

}  // namespace hb::wire
