// The beat MAC over libsodium: key derivation (BLAKE2b) and the SipHash-2-4 128-bit tag that
// fills bytes [mac_offset, beat_size) of an encoded beat.
#include "hb/mac.hh"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "hb/assert.hh"

namespace hb {

namespace {

// Changing this string changes every key: it is part of the v1 protocol (docs/PROTOCOL.md).
constexpr std::string_view mac_key_domain = "hb beat mac v1";
constexpr std::string_view key_id_domain = "hb key id v1";
constexpr std::string_view disk_key_domain = "hb disk mac v1";

static_assert(crypto_shorthash_siphashx24_BYTES == wire::mac_size);
static_assert(crypto_shorthash_siphashx24_KEYBYTES == std::tuple_size_v<MacKeyBytes>);
static_assert(crypto_generichash_BYTES_MIN <= std::tuple_size_v<MacKeyBytes>);

// sodium_init() picks the fastest implementations for this CPU; a function-local static runs it
// once, and afterwards each call costs one load of the guard.
void ensure_sodium() noexcept {
    static const bool initialised = sodium_init() >= 0;
    HB_ASSERT(initialised);
}

std::array<std::uint8_t, wire::mac_size> compute_tag(
    const MacKeyBytes& key, std::span<const std::uint8_t, wire::beat_size> beat) noexcept {
    std::array<std::uint8_t, wire::mac_size> tag{};
    // SipHash cannot fail; the return value is part of the generic shorthash API.
    const int rc =
        crypto_shorthash_siphashx24(tag.data(), beat.data(), wire::mac_offset, key.data());
    HB_ASSERT(rc == 0);
    return tag;
}

// BLAKE2b-128 of domain || material, keyed with `key` when it is not empty.
MacKeyBytes blake2b_128(std::span<const std::uint8_t> key, std::string_view domain,
                        std::span<const std::uint8_t> material) noexcept {
    ensure_sodium();
    MacKeyBytes out{};
    crypto_generichash_state state;
    int rc =
        crypto_generichash_init(&state, key.empty() ? nullptr : key.data(), key.size(), out.size());
    HB_ASSERT(rc == 0);
    rc = crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(domain.data()),
                                   domain.size());
    HB_ASSERT(rc == 0);
    rc = crypto_generichash_update(&state, material.data(), material.size());
    HB_ASSERT(rc == 0);
    rc = crypto_generichash_final(&state, out.data(), out.size());
    HB_ASSERT(rc == 0);
    // The state holds a copy of the key material.
    sodium_memzero(&state, sizeof state);
    return out;
}

}  // namespace

MacKeyBytes derive_mac_key(std::span<const std::uint8_t> material) noexcept {
    HB_ASSERT(material.size() >= std::tuple_size_v<MacKeyBytes>);
    return blake2b_128({}, mac_key_domain, material);
}

MacKey derive_key(std::span<const std::uint8_t> material) noexcept {
    MacKey key{.bytes = derive_mac_key(material), .id = 0};
    MacKeyBytes id_hash = blake2b_128({}, key_id_domain, material);
    key.id = id_hash[0];
    return key;
}

MacKey derive_disk_key(const MacKey& beat_key) noexcept {
    return MacKey{.bytes = blake2b_128(beat_key.bytes, disk_key_domain, {}), .id = beat_key.id};
}

void mac_sign(const MacKeyBytes& key, std::span<std::uint8_t, wire::beat_size> beat) noexcept {
    ensure_sodium();
    const auto tag = compute_tag(key, beat);
    std::copy(tag.begin(), tag.end(), beat.begin() + wire::mac_offset);
}

bool mac_verify(const MacKeyBytes& key,
                std::span<const std::uint8_t, wire::beat_size> beat) noexcept {
    ensure_sodium();
    const auto tag = compute_tag(key, beat);
    // Constant time, so a forger learns nothing from how long a rejection took.
    return sodium_memcmp(tag.data(), beat.data() + wire::mac_offset, wire::mac_size) == 0;
}

MacCheck mac_check(const KeySet& keys,
                   std::span<const std::uint8_t, wire::beat_size> beat) noexcept {
    HB_ASSERT(!keys.empty());
    const std::uint8_t id = beat[wire::key_id_offset];
    MacCheck result = MacCheck::unknown_key;
    // Ids are 8 bits, so two accepted keys may share one: each is tried, at most capacity MACs.
    for (const MacKey& key : keys.accepted()) {
        if (key.id != id) {
            continue;
        }
        if (mac_verify(key.bytes, beat)) {
            return MacCheck::ok;
        }
        result = MacCheck::bad_mac;
    }
    return result;
}

MacTag mac_tag(const MacKeyBytes& key, std::span<const std::uint8_t> bytes) noexcept {
    ensure_sodium();
    MacTag tag{};
    const int rc = crypto_shorthash_siphashx24(tag.data(), bytes.data(), bytes.size(), key.data());
    HB_ASSERT(rc == 0);
    return tag;
}

bool tag_equal(const MacTag& tag, std::span<const std::uint8_t> stored) noexcept {
    HB_ASSERT(stored.size() == tag.size());
    return sodium_memcmp(tag.data(), stored.data(), tag.size()) == 0;
}

}  // namespace hb
