// Tests of the beat MAC: key derivation, signing and verification, and the authenticated test
// vector of docs/PROTOCOL.md.
#include "hb/mac.hh"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "hb/wire.hh"
#include "tests/hb/wire_vectors.hh"

namespace hb {
namespace {

using namespace wire::test_vectors;

constexpr std::uint64_t seed = 0x6862'6d61'6300'0001;  // fixed: failures replay

std::vector<std::uint8_t> random_bytes(std::mt19937_64& rng, std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (auto& byte : bytes) {
        byte = static_cast<std::uint8_t>(rng());
    }
    return bytes;
}

wire::Beat sample_beat(std::uint64_t seq) {
    wire::Beat beat;
    beat.cluster_id = 0x5EED;
    beat.src_node = 4;
    beat.dst_node = 6;
    beat.incarnation = 99;
    beat.seq = seq;
    beat.tx_time_ns = seq * 100'000'000;
    beat.multiplier = 5;
    beat.interval_us = 100'000;
    beat.adapter_states = 1;
    return beat;
}

TEST(Mac, SignedBeatsVerify) {
    std::mt19937_64 rng(seed);
    for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
        const MacKeyBytes key = derive_mac_key(random_bytes(rng, 32));
        Bytes bytes = encoded(sample_beat(seq));
        mac_sign(key, bytes);
        ASSERT_TRUE(mac_verify(key, bytes)) << "seq " << seq;
    }
}

TEST(Mac, TagIsSipHashX24OfTheHeader) {
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    Bytes bytes = encoded(sample_beat(7));
    mac_sign(key, bytes);
    std::array<std::uint8_t, crypto_shorthash_siphashx24_BYTES> expected{};
    ASSERT_EQ(
        crypto_shorthash_siphashx24(expected.data(), bytes.data(), wire::mac_offset, key.data()),
        0);
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), bytes.begin() + wire::mac_offset));
}

TEST(Mac, SigningTouchesOnlyTheMacField) {
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    const Bytes unsigned_bytes = encoded(sample_beat(3));
    Bytes bytes = unsigned_bytes;
    mac_sign(key, bytes);
    EXPECT_TRUE(
        std::equal(bytes.begin(), bytes.begin() + wire::mac_offset, unsigned_bytes.begin()));
    EXPECT_FALSE(std::all_of(bytes.begin() + wire::mac_offset, bytes.end(),
                             [](std::uint8_t byte) { return byte == 0; }));
    // Signing again (e.g. a retransmission) gives the same tag: the MAC never covers itself.
    Bytes again = bytes;
    mac_sign(key, again);
    EXPECT_EQ(again, bytes);
}

TEST(Mac, WrongKeyFails) {
    std::mt19937_64 rng(seed + 1);
    const MacKeyBytes key = derive_mac_key(random_bytes(rng, 32));
    const MacKeyBytes other = derive_mac_key(random_bytes(rng, 32));
    ASSERT_NE(key, other);
    Bytes bytes = encoded(sample_beat(1));
    mac_sign(key, bytes);
    EXPECT_FALSE(mac_verify(other, bytes));
    // A key differing from the right one in a single bit fails as well.
    for (std::size_t bit = 0; bit < key.size() * 8; ++bit) {
        MacKeyBytes near = key;
        near[bit / 8] = static_cast<std::uint8_t>(near[bit / 8] ^ (1U << (bit % 8)));
        ASSERT_FALSE(mac_verify(near, bytes)) << "key bit " << bit;
    }
}

TEST(Mac, UnauthenticatedBeatFailsWhenAKeyIsConfigured) {
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    const Bytes bytes = encoded(sample_beat(1));  // zero tag
    EXPECT_FALSE(mac_verify(key, bytes));
}

TEST(Mac, AnyBitFlipFailsVerification) {
    std::mt19937_64 rng(seed + 2);
    const MacKeyBytes key = derive_mac_key(random_bytes(rng, 64));
    Bytes bytes = encoded(sample_beat(123'456));
    mac_sign(key, bytes);
    ASSERT_TRUE(mac_verify(key, bytes));
    for (std::size_t bit = 0; bit < wire::beat_size * 8; ++bit) {
        Bytes flipped = bytes;
        flipped[bit / 8] = static_cast<std::uint8_t>(flipped[bit / 8] ^ (1U << (bit % 8)));
        ASSERT_FALSE(mac_verify(key, flipped)) << "bit " << bit;
    }
}

TEST(Mac, KeyDerivationIsDeterministic) {
    std::mt19937_64 rng(seed + 3);
    for (int i = 0; i < 100; ++i) {
        const std::vector<std::uint8_t> material = random_bytes(rng, 16 + rng() % 200);
        ASSERT_EQ(derive_mac_key(material), derive_mac_key(material));
    }
}

TEST(Mac, DifferentMaterialGivesDifferentKeys) {
    std::mt19937_64 rng(seed + 4);
    const std::vector<std::uint8_t> material = random_bytes(rng, 32);
    const MacKeyBytes key = derive_mac_key(material);
    for (std::size_t at = 0; at < material.size(); ++at) {
        std::vector<std::uint8_t> changed = material;
        changed[at] = static_cast<std::uint8_t>(changed[at] ^ 1);
        ASSERT_NE(derive_mac_key(changed), key) << "byte " << at;
    }
    // A longer or shorter key file is different material, even with a common prefix.
    std::vector<std::uint8_t> longer = material;
    longer.push_back(0);
    EXPECT_NE(derive_mac_key(longer), key);
    EXPECT_NE(derive_mac_key(std::span(material).first(16)), key);
}

// The key is BLAKE2b-128 of the domain string followed by the material, and therefore differs from
// the plain hash of the material that another use of the same key file might compute.
TEST(Mac, KeyDerivationIsDomainSeparated) {
    const auto material = vector_key_material();
    const MacKeyBytes key = derive_mac_key(material);

    MacKeyBytes plain{};
    ASSERT_EQ(crypto_generichash(plain.data(), plain.size(), material.data(), material.size(),
                                 nullptr, 0),
              0);
    EXPECT_NE(key, plain);

    constexpr std::string_view domain = "hb beat mac v1";
    std::vector<std::uint8_t> prefixed(domain.begin(), domain.end());
    prefixed.insert(prefixed.end(), material.begin(), material.end());
    MacKeyBytes expected{};
    ASSERT_EQ(crypto_generichash(expected.data(), expected.size(), prefixed.data(), prefixed.size(),
                                 nullptr, 0),
              0);
    EXPECT_EQ(key, expected);
}

// docs/PROTOCOL.md, "Test vectors", vector 2.
TEST(Mac, AuthenticatedVector) {
    const MacKeyBytes key = derive_mac_key(vector_key_material());
    EXPECT_EQ(to_hex(key), "b141332d58e294c10e89c1548eabdea4");

    Bytes bytes = encoded(vector_signed_multicast_beat());
    mac_sign(key, bytes);
    EXPECT_EQ(to_hex(std::span(bytes).subspan(wire::mac_offset)),
              "b3be285eef7165831cd086ed0d32a03f");
    EXPECT_EQ(to_hex(bytes), vector_signed_multicast_beat_hex);
    EXPECT_TRUE(mac_verify(key, bytes));
}

TEST(MacDeathTest, MaterialShorterThanAKeyAsserts) {
    const std::array<std::uint8_t, 15> too_short{};
    EXPECT_DEATH(static_cast<void>(derive_mac_key(too_short)), "assertion failed");
}

}  // namespace
}  // namespace hb
