// libFuzzer target for the beat decoder: any datagram either is rejected with a reason or decodes
// to a beat that re-encodes to the same header bytes; MAC verification never misbehaves either.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hb/assert.hh"
#include "hb/mac.hh"
#include "hb/wire.hh"

namespace {

// A fixed key (that of docs/PROTOCOL.md's signed vector), so the seed corpus reaches a valid MAC.
const hb::MacKeyBytes& fuzz_key() noexcept {
    static const hb::MacKeyBytes key = [] {
        std::array<std::uint8_t, 32> material{};
        for (std::size_t i = 0; i < material.size(); ++i) {
            material[i] = static_cast<std::uint8_t>(i);
        }
        return hb::derive_mac_key(material);
    }();
    return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> datagram(data, size);
    hb::wire::Beat beat;
    const hb::wire::DecodeError error = hb::wire::decode(datagram, beat);
    HB_ASSERT(!hb::wire::to_string(error).empty());
    if (error != hb::wire::DecodeError::none) {
        return 0;
    }
    HB_ASSERT(size == hb::wire::beat_size);

    std::array<std::uint8_t, hb::wire::beat_size> again{};
    hb::wire::encode(beat, again);
    for (std::size_t i = 0; i < hb::wire::mac_offset; ++i) {
        HB_ASSERT(again[i] == data[i]);
    }
    hb::wire::Beat decoded_again;
    HB_ASSERT(hb::wire::decode(again, decoded_again) == hb::wire::DecodeError::none);
    HB_ASSERT(decoded_again == beat);

    const std::span<const std::uint8_t, hb::wire::beat_size> header(data, hb::wire::beat_size);
    const bool authentic = hb::mac_verify(fuzz_key(), header);
    // Re-signing the re-encoded header must reproduce the received tag exactly when it verified.
    hb::mac_sign(fuzz_key(), again);
    bool same_tag = true;
    for (std::size_t i = hb::wire::mac_offset; i < hb::wire::beat_size; ++i) {
        same_tag = same_tag && again[i] == data[i];
    }
    HB_ASSERT(authentic == same_tag);
    return 0;
}
