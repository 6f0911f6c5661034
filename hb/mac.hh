// The beat MAC: SipHash-2-4 with 128-bit output (libsodium's crypto_shorthash_siphashx24) keyed
// with a 128-bit key derived from the cluster key file. docs/design.md says why SipHash.
#pragma once

#include <cstdint>
#include <span>

#include "hb/model.hh"
#include "hb/wire.hh"

namespace hb {

// Derives the beat MAC key from the bytes of a cluster key file (BLAKE2b, domain-separated).
// The material must hold at least 16 bytes.
[[nodiscard]] MacKeyBytes derive_mac_key(std::span<const std::uint8_t> material) noexcept;

// Fills the MAC field of an encoded beat.
void mac_sign(const MacKeyBytes& key, std::span<std::uint8_t, wire::beat_size> beat) noexcept;

// True when the MAC field matches (constant time).
[[nodiscard]] bool mac_verify(const MacKeyBytes& key,
                              std::span<const std::uint8_t, wire::beat_size> beat) noexcept;

}  // namespace hb
