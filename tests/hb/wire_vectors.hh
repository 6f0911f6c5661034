// The test vectors of docs/PROTOCOL.md and the small byte helpers the codec and MAC tests share.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hb/wire.hh"

namespace hb::wire::test_vectors {

using Bytes = std::array<std::uint8_t, beat_size>;

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (const std::uint8_t byte : bytes) {
        text.push_back(digits[byte >> 4]);
        text.push_back(digits[byte & 0xF]);
    }
    return text;
}

inline std::vector<std::uint8_t> from_hex(std::string_view text) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
        bytes.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    }
    return bytes;
}

inline Bytes encoded(const Beat& beat) {
    Bytes bytes{};
    encode(beat, bytes);
    return bytes;
}

// The three vectors of docs/PROTOCOL.md, section "Test vectors".
inline Beat vector_unicast_beat() {
    Beat beat;
    beat.kind = Kind::beat;
    beat.cluster_id = 0x0123'4567'89AB'CDEF;
    beat.src_node = 1;
    beat.dst_node = 2;
    beat.network = 0;
    beat.src_adapter = 0;
    beat.dst_adapter = 0;
    beat.incarnation = 0x1A2B'3C4D;
    beat.seq = 42;
    beat.tx_time_ns = 5'000'000'000;
    beat.echo_seq = 17;
    beat.echo_tx_time_ns = 4'900'000'000;
    beat.echo_hold_ns = 250'000;
    beat.echo_node = 2;
    beat.echo_adapter = 0;
    beat.multiplier = 5;
    beat.interval_us = 100'000;
    beat.adapter_states = 0x3;
    return beat;
}

inline constexpr std::string_view vector_unicast_beat_hex =
    "4842010100007000efcdab8967452301"
    "0100000002000000000000004d3c2b1a"
    "2a0000000000000000f2052a01000000"
    "11000000000000000011102401000000"
    "90d003000200000000050000a0860100"
    "03000000000000000000000000000000"
    "00000000000000000000000000000000";

inline Beat vector_signed_multicast_beat() {
    Beat beat;
    beat.kind = Kind::beat;
    beat.flags = flags::leaving;
    beat.cluster_id = 0xC1A5'7E12'0000'0001;
    beat.src_node = 3;
    beat.dst_node = 0;
    beat.network = 1;
    beat.src_adapter = 1;
    beat.dst_adapter = any_adapter;
    beat.incarnation = 0xDEAD'BEEF;
    beat.seq = 1;
    beat.tx_time_ns = 123'456'789;
    beat.echo_seq = 7;
    beat.echo_tx_time_ns = 120'000'000;
    beat.echo_hold_ns = UINT32_MAX;
    beat.echo_node = 5;
    beat.echo_adapter = 2;
    beat.multiplier = 3;
    beat.interval_us = 50'000;
    beat.adapter_states = 0x5;
    beat.key_id = 0xF2;  // the id of vector_key_material's key
    return beat;
}

inline constexpr std::string_view vector_signed_multicast_beat_hex =
    "484201010100700001000000127ea5c1"
    "0300000000000000010001ffefbeadde"
    "010000000000000015cd5b0700000000"
    "0700000000000000000e270700000000"
    "ffffffff050000000203f20050c30000"
    "05000000000000000000000000000000"
    "b3be285eef7165831cd086ed0d32a03f";

inline Beat vector_ping() {
    Beat beat;
    beat.kind = Kind::ping;
    beat.cluster_id = 0x0123'4567'89AB'CDEF;
    beat.src_node = 7;
    beat.dst_node = 9;
    beat.network = 2;
    beat.src_adapter = 0;
    beat.dst_adapter = any_adapter;
    beat.incarnation = 1;
    beat.seq = 1;
    beat.tx_time_ns = 1000;
    beat.multiplier = 1;
    beat.interval_us = 1'000'000;
    beat.adapter_states = 0x1;
    return beat;
}

inline constexpr std::string_view vector_ping_hex =
    "4842010400007000efcdab8967452301"
    "0700000009000000020000ff01000000"
    "0100000000000000e803000000000000"
    "00000000000000000000000000000000"
    "00000000000000000001000040420f00"
    "01000000000000000000000000000000"
    "00000000000000000000000000000000";

// Key-file material of the signed vector: the bytes 0x00, 0x01, ..., 0x1f.
inline std::array<std::uint8_t, 32> vector_key_material() {
    std::array<std::uint8_t, 32> material{};
    for (std::size_t i = 0; i < material.size(); ++i) {
        material[i] = static_cast<std::uint8_t>(i);
    }
    return material;
}

}  // namespace hb::wire::test_vectors
