// libFuzzer target for the beat decoder: any datagram either is rejected with a reason or decodes
// to a beat that re-encodes to the same header bytes; MAC verification never misbehaves either.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hb/assert.hh"
#include "hb/mac.hh"
#include "hb/wire.hh"
#include "tests/fuzz/fuzz_key.hh"

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
    const bool authentic = hb::mac_verify(hb::fuzz::fuzz_key(), header);
    // Re-signing the re-encoded header must reproduce the received tag exactly when it verified.
    hb::mac_sign(hb::fuzz::fuzz_key(), again);
    bool same_tag = true;
    for (std::size_t i = hb::wire::mac_offset; i < hb::wire::beat_size; ++i) {
        same_tag = same_tag && again[i] == data[i];
    }
    HB_ASSERT(authentic == same_tag);
    return 0;
}
