// The MAC key the fuzz targets verify with: that of docs/PROTOCOL.md's signed vector (key
// material 00 01 .. 1f), so that signed inputs in the seed corpora carry a valid tag.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "hb/mac.hh"

namespace hb::fuzz {

inline const std::array<std::uint8_t, 32>& fuzz_key_material() noexcept {
    static const std::array<std::uint8_t, 32> material = [] {
        std::array<std::uint8_t, 32> bytes{};
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>(i);
        }
        return bytes;
    }();
    return material;
}

inline const MacKeyBytes& fuzz_key() noexcept {
    static const MacKeyBytes key = derive_mac_key(fuzz_key_material());
    return key;
}

// The same key with its key id, as a node holds it (hb::KeySet, hbping's identity).
inline const MacKey& fuzz_mac_key() noexcept {
    static const MacKey key = derive_key(fuzz_key_material());
    return key;
}

}  // namespace hb::fuzz
