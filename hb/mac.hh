// The beat MAC: SipHash-2-4 with 128-bit output (libsodium's crypto_shorthash_siphashx24) keyed
// with a 128-bit key derived from the cluster key file. docs/design.md says why SipHash.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "hb/model.hh"
#include "hb/wire.hh"

namespace hb {

// Derives the beat MAC key from the bytes of a cluster key file (BLAKE2b, domain-separated).
// The material must hold at least 16 bytes.
[[nodiscard]] MacKeyBytes derive_mac_key(std::span<const std::uint8_t> material) noexcept;

// The key and its id (BLAKE2b of the material under another domain, first byte): the same key
// file gives the same id on every node, so operators compare ids, never keys.
[[nodiscard]] MacKey derive_key(std::span<const std::uint8_t> material) noexcept;

// The disk heartbeat's key for a cluster key: a separate key (BLAKE2b keyed with the beat key),
// so a disk slot can never be replayed as a beat or the other way round. Keeps the id.
[[nodiscard]] MacKey derive_disk_key(const MacKey& beat_key) noexcept;

// Fills the MAC field of an encoded beat (whose key id field the encoder already set).
void mac_sign(const MacKeyBytes& key, std::span<std::uint8_t, wire::beat_size> beat) noexcept;

// True when the MAC field matches (constant time).
[[nodiscard]] bool mac_verify(const MacKeyBytes& key,
                              std::span<const std::uint8_t, wire::beat_size> beat) noexcept;

enum class MacCheck : std::uint8_t {
    ok,
    unknown_key,  // no accepted key has the beat's key id (a rollover step missed, or a stranger)
    bad_mac,      // a key with that id exists, and the tag is not its tag
};

// Checks an encoded beat against every accepted key whose id it names. The set must not be empty.
[[nodiscard]] MacCheck mac_check(const KeySet& keys,
                                 std::span<const std::uint8_t, wire::beat_size> beat) noexcept;

// A 128-bit tag over any bytes (the disk slot's MAC), and its constant-time comparison.
using MacTag = std::array<std::uint8_t, wire::mac_size>;
[[nodiscard]] MacTag mac_tag(const MacKeyBytes& key, std::span<const std::uint8_t> bytes) noexcept;
[[nodiscard]] bool tag_equal(const MacTag& tag, std::span<const std::uint8_t> stored) noexcept;

}  // namespace hb
