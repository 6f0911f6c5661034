// Tests of the v1 beat codec: the byte layout of docs/PROTOCOL.md, its test vectors, every reason
// a datagram is rejected, and robustness against corrupted or arbitrary input.
#include "hb/wire.hh"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "hb/mac.hh"
#include "tests/hb/wire_vectors.hh"

namespace hb::wire {
namespace {

using namespace test_vectors;

constexpr std::uint64_t seed = 0x6862'7769'7265'0001;  // fixed: failures replay

// Reads a little-endian field at a layout-table offset, independently of the codec's own helpers.
std::uint64_t read_le(const Bytes& bytes, std::size_t at, std::size_t size) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < size; ++i) {
        value |= static_cast<std::uint64_t>(bytes[at + i]) << (8 * i);
    }
    return value;
}

// A beat that decode() accepts, with every field drawn from the whole of its valid range.
Beat random_beat(std::mt19937_64& rng) {
    auto draw = [&rng](std::uint64_t low, std::uint64_t high) {
        return std::uniform_int_distribution<std::uint64_t>(low, high)(rng);
    };
    Beat beat;
    beat.kind = static_cast<Kind>(draw(1, 5));
    beat.flags = static_cast<std::uint16_t>(draw(0, 1) != 0 ? flags::leaving : 0);
    beat.cluster_id = rng();
    beat.src_node = static_cast<std::uint32_t>(draw(1, UINT32_MAX));
    beat.dst_node = static_cast<std::uint32_t>(draw(0, UINT32_MAX));
    beat.network = static_cast<std::uint16_t>(draw(0, UINT16_MAX));
    beat.src_adapter = static_cast<std::uint8_t>(draw(0, 31));
    beat.dst_adapter = draw(0, 3) == 0 ? any_adapter : static_cast<std::uint8_t>(draw(0, 31));
    beat.incarnation = static_cast<std::uint32_t>(draw(1, UINT32_MAX));
    beat.seq = draw(1, UINT64_MAX);
    beat.tx_time_ns = rng();
    beat.echo_seq = rng();
    beat.echo_tx_time_ns = rng();
    beat.echo_hold_ns = static_cast<std::uint32_t>(rng());
    beat.echo_node = static_cast<std::uint32_t>(rng());
    beat.echo_adapter = static_cast<std::uint8_t>(rng());
    beat.multiplier = static_cast<std::uint8_t>(draw(1, UINT8_MAX));
    beat.interval_us = static_cast<std::uint32_t>(draw(1, UINT32_MAX));
    beat.adapter_states = static_cast<std::uint32_t>(rng());
    beat.key_id = static_cast<std::uint8_t>(rng());
    return beat;
}

TEST(Wire, RoundTripsRandomBeats) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20'000; ++i) {
        const Beat beat = random_beat(rng);
        const Bytes bytes = encoded(beat);
        Beat decoded;
        ASSERT_EQ(decode(bytes, decoded), DecodeError::none) << "iteration " << i;
        ASSERT_EQ(decoded, beat) << "iteration " << i;
        ASSERT_EQ(encoded(decoded), bytes) << "iteration " << i;
    }
}

TEST(Wire, EncodeZeroesTheMacField) {
    Bytes bytes;
    bytes.fill(0xA5);
    encode(vector_unicast_beat(), bytes);
    for (std::size_t i = mac_offset; i < beat_size; ++i) {
        EXPECT_EQ(bytes[i], 0) << "byte " << i;
    }
}

// Every field lands at the offset and width of the layout table, little-endian.
TEST(Wire, FieldsSitAtTheirDocumentedOffsets) {
    Beat beat;
    beat.kind = Kind::probe_reply;
    beat.flags = flags::leaving;
    beat.cluster_id = 0x1122'3344'5566'7788;
    beat.src_node = 0x0A0B'0C0D;
    beat.dst_node = 0x1A1B'1C1D;
    beat.network = 0x2A2B;
    beat.src_adapter = 31;
    beat.dst_adapter = 30;
    beat.incarnation = 0x3A3B'3C3D;
    beat.seq = 0x4142'4344'4546'4748;
    beat.tx_time_ns = 0x5152'5354'5556'5758;
    beat.echo_seq = 0x6162'6364'6566'6768;
    beat.echo_tx_time_ns = 0x7172'7374'7576'7778;
    beat.echo_hold_ns = 0x8182'8384;
    beat.echo_node = 0x9192'9394;
    beat.echo_adapter = 0xA1;
    beat.multiplier = 0xB1;
    beat.interval_us = 0xC1C2'C3C4;
    beat.adapter_states = 0xD1D2'D3D4;
    beat.key_id = 0xE1;
    const Bytes bytes = encoded(beat);

    EXPECT_EQ(bytes[0], 'H');
    EXPECT_EQ(bytes[1], 'B');
    EXPECT_EQ(read_le(bytes, 0, 2), 0x4248U);
    EXPECT_EQ(read_le(bytes, 2, 1), 1U);
    EXPECT_EQ(read_le(bytes, 3, 1), 3U);
    EXPECT_EQ(read_le(bytes, 4, 2), 1U);
    EXPECT_EQ(read_le(bytes, 6, 2), 112U);
    EXPECT_EQ(read_le(bytes, 8, 8), beat.cluster_id);
    EXPECT_EQ(read_le(bytes, 16, 4), beat.src_node);
    EXPECT_EQ(read_le(bytes, 20, 4), beat.dst_node);
    EXPECT_EQ(read_le(bytes, 24, 2), beat.network);
    EXPECT_EQ(read_le(bytes, 26, 1), beat.src_adapter);
    EXPECT_EQ(read_le(bytes, 27, 1), beat.dst_adapter);
    EXPECT_EQ(read_le(bytes, 28, 4), beat.incarnation);
    EXPECT_EQ(read_le(bytes, 32, 8), beat.seq);
    EXPECT_EQ(read_le(bytes, 40, 8), beat.tx_time_ns);
    EXPECT_EQ(read_le(bytes, 48, 8), beat.echo_seq);
    EXPECT_EQ(read_le(bytes, 56, 8), beat.echo_tx_time_ns);
    EXPECT_EQ(read_le(bytes, 64, 4), beat.echo_hold_ns);
    EXPECT_EQ(read_le(bytes, 68, 4), beat.echo_node);
    EXPECT_EQ(read_le(bytes, 72, 1), beat.echo_adapter);
    EXPECT_EQ(read_le(bytes, 73, 1), beat.multiplier);
    EXPECT_EQ(read_le(bytes, 74, 1), beat.key_id);
    EXPECT_EQ(read_le(bytes, 75, 1), 0U);
    EXPECT_EQ(read_le(bytes, 76, 4), beat.interval_us);
    EXPECT_EQ(read_le(bytes, 80, 4), beat.adapter_states);
    EXPECT_EQ(read_le(bytes, 84, 8), 0U);
    EXPECT_EQ(read_le(bytes, 92, 4), 0U);
    EXPECT_EQ(read_le(bytes, 96, 8), 0U);
    EXPECT_EQ(read_le(bytes, 104, 8), 0U);
}

TEST(Wire, UnauthenticatedBeatVector) {
    const Bytes bytes = encoded(vector_unicast_beat());
    EXPECT_EQ(to_hex(bytes), vector_unicast_beat_hex);
    Beat decoded;
    ASSERT_EQ(decode(from_hex(vector_unicast_beat_hex), decoded), DecodeError::none);
    EXPECT_EQ(decoded, vector_unicast_beat());
}

TEST(Wire, AuthenticatedBeatVector) {
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    EXPECT_EQ(to_hex(key), "b141332d58e294c10e89c1548eabdea4");
    Bytes bytes = encoded(vector_signed_multicast_beat());
    mac_sign(key, bytes);
    EXPECT_EQ(to_hex(bytes), vector_signed_multicast_beat_hex);

    const std::vector<std::uint8_t> received = from_hex(vector_signed_multicast_beat_hex);
    ASSERT_EQ(received.size(), beat_size);
    EXPECT_TRUE(
        mac_verify(key, std::span<const std::uint8_t, beat_size>(received.data(), beat_size)));
    Beat decoded;
    ASSERT_EQ(decode(received, decoded), DecodeError::none);
    EXPECT_EQ(decoded, vector_signed_multicast_beat());
}

TEST(Wire, PingVector) {
    const Bytes bytes = encoded(vector_ping());
    EXPECT_EQ(to_hex(bytes), vector_ping_hex);
    Beat decoded;
    ASSERT_EQ(decode(from_hex(vector_ping_hex), decoded), DecodeError::none);
    EXPECT_EQ(decoded, vector_ping());
}

TEST(Wire, ErrorNamesAreSnakeCase) {
    EXPECT_EQ(to_string(DecodeError::none), "none");
    EXPECT_EQ(to_string(DecodeError::truncated), "truncated");
    EXPECT_EQ(to_string(DecodeError::bad_magic), "bad_magic");
    EXPECT_EQ(to_string(DecodeError::bad_version), "bad_version");
    EXPECT_EQ(to_string(DecodeError::bad_length), "bad_length");
    EXPECT_EQ(to_string(DecodeError::bad_kind), "bad_kind");
    EXPECT_EQ(to_string(DecodeError::bad_field), "bad_field");
}

// Decodes `bytes` into a sentinel and checks that a rejection leaves the output untouched.
DecodeError decode_checked(std::span<const std::uint8_t> bytes) {
    const Beat sentinel = vector_ping();
    Beat out = sentinel;
    const DecodeError error = decode(bytes, out);
    if (error != DecodeError::none) {
        EXPECT_EQ(out, sentinel) << "a rejected datagram changed the output";
    }
    return error;
}

TEST(Wire, TruncatedDatagrams) {
    const Bytes valid = encoded(vector_unicast_beat());
    for (std::size_t size = 0; size < beat_size; ++size) {
        EXPECT_EQ(decode_checked(std::span(valid).first(size)), DecodeError::truncated)
            << "size " << size;
    }
    // Length is checked first, even when the bytes that are there are wrong too.
    Bytes garbage;
    garbage.fill(0xFF);
    EXPECT_EQ(decode_checked(std::span(garbage).first(beat_size - 1)), DecodeError::truncated);
}

TEST(Wire, BadMagic) {
    Bytes bytes = encoded(vector_unicast_beat());
    bytes[0] = 'B';
    bytes[1] = 'H';  // the magic stored big-endian
    EXPECT_EQ(decode_checked(bytes), DecodeError::bad_magic);
    bytes = encoded(vector_unicast_beat());
    bytes[1] ^= 0x80;
    bytes[2] = 9;  // a bad version too: magic is checked first
    EXPECT_EQ(decode_checked(bytes), DecodeError::bad_magic);
}

TEST(Wire, BadVersion) {
    for (const std::uint8_t version_byte : std::initializer_list<std::uint8_t>{0, 2, 255}) {
        Bytes bytes = encoded(vector_unicast_beat());
        bytes[2] = version_byte;
        bytes[6] = 0;  // a bad header length too: version is checked first
        EXPECT_EQ(decode_checked(bytes), DecodeError::bad_version) << int{version_byte};
    }
}

TEST(Wire, BadLengthField) {
    for (const std::uint16_t length :
         std::initializer_list<std::uint16_t>{0, 96, 111, 113, 128, 0x7000}) {
        Bytes bytes = encoded(vector_unicast_beat());
        bytes[6] = static_cast<std::uint8_t>(length);
        bytes[7] = static_cast<std::uint8_t>(length >> 8);
        bytes[3] = 0;  // a bad kind too: the length is checked first
        EXPECT_EQ(decode_checked(bytes), DecodeError::bad_length) << length;
    }
}

TEST(Wire, DatagramLongerThanTheHeaderIsBadLength) {
    const Bytes valid = encoded(vector_unicast_beat());
    for (std::size_t size = beat_size + 1; size <= max_datagram; ++size) {
        std::vector<std::uint8_t> datagram(valid.begin(), valid.end());
        datagram.resize(size, 0);
        EXPECT_EQ(decode_checked(datagram), DecodeError::bad_length) << "size " << size;
    }
}

TEST(Wire, BadKind) {
    for (const std::uint8_t kind : std::initializer_list<std::uint8_t>{0, 6, 7, 0x80, 255}) {
        Bytes bytes = encoded(vector_unicast_beat());
        bytes[3] = kind;
        bytes[16] = 0;  // src node 0, a bad field too: the kind is checked first
        bytes[17] = 0;
        EXPECT_EQ(decode_checked(bytes), DecodeError::bad_kind) << int{kind};
    }
    for (std::uint8_t kind = 1; kind <= 5; ++kind) {
        Bytes bytes = encoded(vector_unicast_beat());
        bytes[3] = kind;
        Beat decoded;
        ASSERT_EQ(decode(bytes, decoded), DecodeError::none) << int{kind};
        EXPECT_EQ(static_cast<std::uint8_t>(decoded.kind), kind);
    }
}

// Each rule of the bad_field group, broken alone on an otherwise valid beat.
TEST(Wire, BadFields) {
    struct Case {
        const char* what;
        std::size_t at;
        std::vector<std::uint8_t> value;
    };
    const std::vector<Case> cases = {
        {"unknown flag bit 1", 4, {0x02, 0x00}}, {"unknown flag bit 15", 4, {0x00, 0x80}},
        {"src node 0", 16, {0, 0, 0, 0}},        {"src adapter 32", 26, {32}},
        {"src adapter 0xff", 26, {0xFF}},        {"dst adapter 32", 27, {32}},
        {"dst adapter 0xfe", 27, {0xFE}},        {"incarnation 0", 28, {0, 0, 0, 0}},
        {"seq 0", 32, {0, 0, 0, 0, 0, 0, 0, 0}}, {"multiplier 0", 73, {0}},
        {"reserved byte 75", 75, {1}},           {"reserved byte 75 high", 75, {0x80}},
        {"interval 0", 76, {0, 0, 0, 0}},
    };
    for (const Case& c : cases) {
        Bytes bytes = encoded(vector_unicast_beat());
        std::copy(c.value.begin(), c.value.end(), bytes.begin() + static_cast<long>(c.at));
        EXPECT_EQ(decode_checked(bytes), DecodeError::bad_field) << c.what;
    }
    for (std::size_t at = 84; at < mac_offset; ++at) {
        Bytes bytes = encoded(vector_unicast_beat());
        bytes[at] = 1;
        EXPECT_EQ(decode_checked(bytes), DecodeError::bad_field) << "reserved byte " << at;
    }
}

// The limits of the bad_field rules are themselves valid.
TEST(Wire, FieldLimitsAreAccepted) {
    Beat beat = vector_unicast_beat();
    beat.src_adapter = 31;
    beat.dst_adapter = 31;
    beat.src_node = UINT32_MAX;
    beat.multiplier = UINT8_MAX;
    beat.interval_us = 1;
    beat.seq = UINT64_MAX;
    beat.incarnation = UINT32_MAX;
    Beat decoded;
    ASSERT_EQ(decode(encoded(beat), decoded), DecodeError::none);
    EXPECT_EQ(decoded, beat);
    beat.dst_adapter = any_adapter;
    beat.dst_node = 0;
    ASSERT_EQ(decode(encoded(beat), decoded), DecodeError::none);
    EXPECT_EQ(decoded, beat);
}

// Every byte of the header is meaningful: changing any one of them either changes the decoded beat
// or gets the datagram rejected. The MAC bytes are left to mac_verify, which must then fail.
TEST(Wire, EverySingleByteCorruptionIsSeen) {
    std::mt19937_64 rng(seed + 1);
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    for (int round = 0; round < 4; ++round) {
        const Beat original = round == 0 ? vector_unicast_beat() : random_beat(rng);
        Bytes valid = encoded(original);
        mac_sign(key, valid);
        for (std::size_t at = 0; at < beat_size; ++at) {
            for (unsigned delta = 1; delta <= 0xFF; ++delta) {
                Bytes corrupt = valid;
                corrupt[at] = static_cast<std::uint8_t>(corrupt[at] ^ delta);
                Beat decoded;
                const DecodeError error = decode(corrupt, decoded);
                if (at < mac_offset) {
                    ASSERT_TRUE(error != DecodeError::none || decoded != original)
                        << "byte " << at << " xor " << delta;
                } else {
                    ASSERT_EQ(error, DecodeError::none) << "byte " << at;
                    ASSERT_EQ(decoded, original) << "byte " << at;
                }
                ASSERT_FALSE(mac_verify(key, corrupt)) << "byte " << at << " xor " << delta;
            }
        }
    }
}

// Arbitrary datagrams never crash the decoder, and whatever it accepts re-encodes to the same
// header bytes.
TEST(Wire, ArbitraryDatagramsAreHandled) {
    std::mt19937_64 rng(seed + 2);
    const Bytes valid = encoded(vector_unicast_beat());
    int accepted = 0;
    for (int i = 0; i < 100'000; ++i) {
        std::vector<std::uint8_t> datagram;
        if (i % 2 == 0) {
            // Mostly-valid headers reach the field checks; pure noise would stop at the magic.
            datagram.assign(valid.begin(), valid.end());
            const auto flips = 1 + rng() % 4;
            for (std::uint64_t f = 0; f < flips; ++f) {
                datagram[rng() % beat_size] = static_cast<std::uint8_t>(rng());
            }
        } else {
            datagram.resize(rng() % (max_datagram + 1));
            for (auto& byte : datagram) {
                byte = static_cast<std::uint8_t>(rng());
            }
        }
        Beat decoded;
        if (decode(datagram, decoded) == DecodeError::none) {
            ++accepted;
            const Bytes again = encoded(decoded);
            ASSERT_TRUE(std::equal(again.begin(), again.begin() + mac_offset, datagram.begin()))
                << "iteration " << i;
        }
    }
    // The mutated-header half must exercise the success path, or the check above proved nothing.
    EXPECT_GT(accepted, 1000);
}

// Copies field by field, so the padding of `to` keeps whatever bytes it held.
void assign_fields(Beat& to, const Beat& from) {
    to.kind = from.kind;
    to.flags = from.flags;
    to.cluster_id = from.cluster_id;
    to.src_node = from.src_node;
    to.dst_node = from.dst_node;
    to.network = from.network;
    to.src_adapter = from.src_adapter;
    to.dst_adapter = from.dst_adapter;
    to.incarnation = from.incarnation;
    to.seq = from.seq;
    to.tx_time_ns = from.tx_time_ns;
    to.echo_seq = from.echo_seq;
    to.echo_tx_time_ns = from.echo_tx_time_ns;
    to.echo_hold_ns = from.echo_hold_ns;
    to.echo_node = from.echo_node;
    to.echo_adapter = from.echo_adapter;
    to.multiplier = from.multiplier;
    to.interval_us = from.interval_us;
    to.adapter_states = from.adapter_states;
    to.key_id = from.key_id;
}

// Two beats with equal fields but different bytes in their padding, written into output buffers
// with different prior contents, encode to the same 112 bytes.
TEST(Wire, EncodingIgnoresStructPaddingAndPriorBufferContents) {
    // The test is only meaningful while Beat has padding, which it does (e.g. after kind).
    constexpr std::size_t field_bytes =
        sizeof(Beat::kind) + sizeof(Beat::flags) + sizeof(Beat::cluster_id) +
        sizeof(Beat::src_node) + sizeof(Beat::dst_node) + sizeof(Beat::network) +
        sizeof(Beat::src_adapter) + sizeof(Beat::dst_adapter) + sizeof(Beat::incarnation) +
        sizeof(Beat::seq) + sizeof(Beat::tx_time_ns) + sizeof(Beat::echo_seq) +
        sizeof(Beat::echo_tx_time_ns) + sizeof(Beat::echo_hold_ns) + sizeof(Beat::echo_node) +
        sizeof(Beat::echo_adapter) + sizeof(Beat::multiplier) + sizeof(Beat::interval_us) +
        sizeof(Beat::adapter_states) + sizeof(Beat::key_id);
    static_assert(sizeof(Beat) > field_bytes);
    std::mt19937_64 rng(seed + 3);
    for (int i = 0; i < 100; ++i) {
        const Beat beat = random_beat(rng);
        alignas(Beat) unsigned char storage_zero[sizeof(Beat)];
        alignas(Beat) unsigned char storage_ones[sizeof(Beat)];
        std::memset(storage_zero, 0x00, sizeof storage_zero);
        std::memset(storage_ones, 0xFF, sizeof storage_ones);
        Beat* const in_zero = new (storage_zero) Beat;
        Beat* const in_ones = new (storage_ones) Beat;
        assign_fields(*in_zero, beat);
        assign_fields(*in_ones, beat);
        ASSERT_EQ(*in_zero, *in_ones);

        Bytes out_zero;
        Bytes out_ones;
        out_zero.fill(0x00);
        out_ones.fill(0xFF);
        encode(*in_zero, out_zero);
        encode(*in_ones, out_ones);
        ASSERT_EQ(out_zero, out_ones) << "iteration " << i;
        ASSERT_EQ(out_zero, encoded(beat)) << "iteration " << i;
    }
}

// Building a beat that this node would itself reject is a programmer error and stops the process.
TEST(WireDeathTest, EncodingAnInvalidBeatAsserts) {
    Beat beat = vector_unicast_beat();
    beat.seq = 0;
    Bytes bytes{};
    EXPECT_DEATH(encode(beat, bytes), "assertion failed");
    beat = vector_unicast_beat();
    beat.flags = 0x8000;
    EXPECT_DEATH(encode(beat, bytes), "assertion failed");
}

}  // namespace
}  // namespace hb::wire
