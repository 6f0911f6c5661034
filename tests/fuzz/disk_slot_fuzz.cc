// libFuzzer target for the disk slot and header decoders: any sector either is refused with a
// reason or decodes to a slot (header) that re-encodes to exactly the same bytes; a torn verdict
// always has the two copies of seq disagreeing.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "diskhb/format.hh"
#include "hb/assert.hh"
#include "hb/mac.hh"

namespace {

// The cluster id and position of docs/PROTOCOL.md §8.6's vectors, so the seed corpus decodes.
constexpr std::uint64_t fuzz_cluster = 0x0123456789ABCDEF;
constexpr hb::NodeId fuzz_node = 2;

// The disk key of the signed slot vector (docs/PROTOCOL.md §8.6), so that corpus decodes as ok.
const hb::KeySet& fuzz_keys() noexcept {
    static const hb::KeySet keys = [] {
        std::array<std::uint8_t, 32> material{};
        for (std::size_t i = 0; i < material.size(); ++i) {
            material[i] = static_cast<std::uint8_t>(i);
        }
        hb::KeySet set;
        HB_ASSERT(set.add(hb::derive_disk_key(hb::derive_key(material))));
        return set;
    }();
    return keys;
}

std::uint64_t seq_at(std::span<const std::uint8_t> sector, std::size_t offset) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        value |= static_cast<std::uint64_t>(sector[offset + i]) << (8 * i);
    }
    return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace disk = hb::diskhb;
    // Inputs up to 512 bytes fill a 512-byte sector, longer ones a 4096-byte one (zero-padded).
    const std::size_t sector_size = size <= 512 ? 512 : 4096;
    std::vector<std::uint8_t> sector(sector_size, 0);
    for (std::size_t i = 0; i < size && i < sector_size; ++i) {
        sector[i] = data[i];
    }

    // The fast CRC32C and the portable one agree on any bytes.
    const std::span<const std::uint8_t> input(data, size);
    HB_ASSERT(disk::crc32c(input) == disk::crc32c_portable(input));

    disk::Slot slot;
    const disk::DecodeResult result = disk::decode_slot(sector, fuzz_cluster, fuzz_node, slot);
    HB_ASSERT(disk::to_string(result) != "unknown");
    if (result == disk::DecodeResult::torn) {
        HB_ASSERT(seq_at(sector, disk::slot_offset::seq) !=
                  seq_at(sector, sector_size - disk::slot_offset::seq_copy_from_end));
    }
    if (result == disk::DecodeResult::ok) {
        std::vector<std::uint8_t> again(sector_size);
        disk::encode_slot(slot, again);
        HB_ASSERT(again == sector);
    }

    // An authenticated reader: a slot it accepts re-signs to exactly the same bytes.
    disk::Slot signed_slot;
    const disk::DecodeResult signed_result =
        disk::decode_slot(sector, fuzz_cluster, fuzz_node, signed_slot, &fuzz_keys());
    HB_ASSERT(disk::to_string(signed_result) != "unknown");
    if (signed_result == disk::DecodeResult::ok) {
        HB_ASSERT(result != disk::DecodeResult::ok);  // never valid both signed and unsigned
        std::vector<std::uint8_t> again(sector_size);
        disk::encode_slot(signed_slot, again, &fuzz_keys().signing());
        HB_ASSERT(again == sector);
    }

    disk::Header header;
    const disk::DecodeResult header_result = disk::decode_header(sector, header);
    HB_ASSERT(disk::to_string(header_result) != "unknown");
    if (header_result == disk::DecodeResult::ok) {
        HB_ASSERT(header.sector_size <= sector_size);
        std::vector<std::uint8_t> again(header.sector_size);
        disk::encode_header(header, again);
        HB_ASSERT(std::equal(again.begin(), again.end(), sector.begin()));
    }
    return 0;
}
