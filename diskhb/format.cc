// The disk heartbeat format v1: field-by-field little-endian codec and CRC32C.
#include "diskhb/format.hh"

#include <algorithm>
#include <array>
#include <cstring>

#include <boost/crc.hpp>

#include "hb/assert.hh"
#include "hb/mac.hh"

namespace hb::diskhb {

namespace {

template <typename T>
void put(std::span<std::uint8_t> out, std::size_t offset, T value) noexcept {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out[offset + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> (8 * i));
    }
}

template <typename T>
T get(std::span<const std::uint8_t> in, std::size_t offset) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        value |= static_cast<std::uint64_t>(in[offset + i]) << (8 * i);
    }
    return static_cast<T>(value);
}

using Castagnoli = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// CRC32C of several pieces of bytes taken one after the other.
using Pieces = std::span<const std::span<const std::uint8_t>>;
using CrcOf = std::uint32_t (*)(Pieces pieces) noexcept;

std::uint32_t crc_boost(Pieces pieces) noexcept {
    Castagnoli crc;
    for (const std::span<const std::uint8_t> piece : pieces) {
        crc.process_bytes(piece.data(), piece.size());
    }
    return crc.checksum();
}

#if defined(__x86_64__)
// SSE4.2's crc32 instruction computes CRC32C: eight bytes per instruction instead of one table
// look-up per byte (docs/results/2026-11-26-disk.md: 10 to 20 times faster on a slot).
[[gnu::target("sse4.2")]] std::uint32_t crc_sse42(Pieces pieces) noexcept {
    std::uint32_t crc = 0xFFFFFFFF;
    for (const std::span<const std::uint8_t> piece : pieces) {
        const std::uint8_t* bytes = piece.data();
        std::size_t size = piece.size();
        std::uint64_t wide = crc;
        for (; size >= 8; size -= 8, bytes += 8) {
            std::uint64_t word = 0;
            std::memcpy(&word, bytes, sizeof(word));  // little-endian host: the bytes in order
            wide = __builtin_ia32_crc32di(wide, word);
        }
        crc = static_cast<std::uint32_t>(wide);
        for (; size > 0; --size, ++bytes) {
            crc = __builtin_ia32_crc32qi(crc, *bytes);
        }
    }
    return crc ^ 0xFFFFFFFF;
}
#endif

CrcOf choose_crc() noexcept {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) {
        return crc_sse42;
    }
#endif
    return crc_boost;
}

const CrcOf crc_of = choose_crc();

// CRC of the sector with its 4-byte CRC field taken as zero.
std::uint32_t sector_crc(std::span<const std::uint8_t> sector, std::size_t crc_offset) noexcept {
    static constexpr std::array<std::uint8_t, 4> zero{};
    const std::array<std::span<const std::uint8_t>, 3> pieces = {
        sector.first(crc_offset), std::span<const std::uint8_t>(zero),
        sector.subspan(crc_offset + zero.size())};
    return crc_of(pieces);
}

bool all_zero(std::span<const std::uint8_t> bytes) noexcept {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

bool valid_header(const Header& header) noexcept {
    return header.slot_count >= 1 && header.slot_count <= max_slots &&
           valid_sector_size(header.sector_size) && header.interval_ns > 0 && header.multiplier > 0;
}

}  // namespace

std::string_view to_string(DecodeResult result) noexcept {
    switch (result) {
        case DecodeResult::ok:
            return "ok";
        case DecodeResult::empty:
            return "empty";
        case DecodeResult::bad_magic:
            return "bad_magic";
        case DecodeResult::bad_version:
            return "bad_version";
        case DecodeResult::bad_crc:
            return "bad_crc";
        case DecodeResult::torn:
            return "torn";
        case DecodeResult::wrong_cluster:
            return "wrong_cluster";
        case DecodeResult::wrong_node:
            return "wrong_node";
        case DecodeResult::bad_field:
            return "bad_field";
        case DecodeResult::bad_mac:
            return "bad_mac";
    }
    return "unknown";
}

std::uint32_t crc32c(std::span<const std::uint8_t> bytes) noexcept {
    return crc_of(Pieces(&bytes, 1));
}

std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes) noexcept {
    return crc_boost(Pieces(&bytes, 1));
}

bool valid_sector_size(std::uint32_t sector_size) noexcept {
    return sector_size >= min_sector_size && sector_size <= max_sector_size &&
           (sector_size & (sector_size - 1)) == 0;
}

void encode_header(const Header& header, std::span<std::uint8_t> sector) noexcept {
    HB_ASSERT(valid_header(header));
    HB_ASSERT(sector.size() == header.sector_size);
    std::fill(sector.begin(), sector.end(), std::uint8_t{0});
    put<std::uint32_t>(sector, header_offset::magic, header_magic);
    put<std::uint16_t>(sector, header_offset::version, format_version);
    put<std::uint16_t>(sector, header_offset::flags,
                       header.authenticated ? header_flags::authenticated : std::uint16_t{0});
    put<std::uint64_t>(sector, header_offset::cluster_id, header.cluster_id);
    put<std::uint32_t>(sector, header_offset::slot_count, header.slot_count);
    put<std::uint32_t>(sector, header_offset::sector_size, header.sector_size);
    put<std::uint64_t>(sector, header_offset::interval_ns, header.interval_ns);
    put<std::uint32_t>(sector, header_offset::multiplier, header.multiplier);
    put<std::uint32_t>(sector, header_offset::crc, sector_crc(sector, header_offset::crc));
}

DecodeResult decode_header(std::span<const std::uint8_t> sector, Header& header) noexcept {
    if (sector.size() < min_sector_size) {
        return DecodeResult::bad_field;
    }
    if (all_zero(sector.first(min_sector_size))) {
        return DecodeResult::empty;
    }
    if (get<std::uint32_t>(sector, header_offset::magic) != header_magic) {
        return DecodeResult::bad_magic;
    }
    if (get<std::uint16_t>(sector, header_offset::version) != format_version) {
        return DecodeResult::bad_version;
    }
    const auto sector_size = get<std::uint32_t>(sector, header_offset::sector_size);
    if (!valid_sector_size(sector_size) || sector_size > sector.size()) {
        return DecodeResult::bad_field;
    }
    const std::span<const std::uint8_t> own = sector.first(sector_size);
    if (get<std::uint32_t>(own, header_offset::crc) != sector_crc(own, header_offset::crc)) {
        return DecodeResult::bad_crc;
    }
    Header decoded{
        .cluster_id = get<std::uint64_t>(own, header_offset::cluster_id),
        .slot_count = get<std::uint32_t>(own, header_offset::slot_count),
        .sector_size = sector_size,
        .interval_ns = get<Nanos>(own, header_offset::interval_ns),
        .multiplier = get<std::uint32_t>(own, header_offset::multiplier),
    };
    const auto flags = get<std::uint16_t>(own, header_offset::flags);
    decoded.authenticated = (flags & header_flags::authenticated) != 0;
    if (!valid_header(decoded) || (flags & ~header_flags::known) != 0 ||
        !all_zero(own.subspan(header_offset::end))) {
        return DecodeResult::bad_field;
    }
    header = decoded;
    return DecodeResult::ok;
}

void encode_slot(const Slot& slot, std::span<std::uint8_t> sector, const MacKey* key) noexcept {
    HB_ASSERT(valid_sector_size(static_cast<std::uint32_t>(sector.size())));
    HB_ASSERT(slot.node >= 1 && slot.node <= max_slots);
    HB_ASSERT(slot.state == SlotState::alive || slot.state == SlotState::leaving);
    HB_ASSERT(slot.seq != 0);
    std::fill(sector.begin(), sector.end(), std::uint8_t{0});
    put<std::uint32_t>(sector, slot_offset::magic, slot_magic);
    put<std::uint16_t>(sector, slot_offset::version, format_version);
    put<std::uint8_t>(sector, slot_offset::state, static_cast<std::uint8_t>(slot.state));
    put<std::uint64_t>(sector, slot_offset::cluster_id, slot.cluster_id);
    put<std::uint32_t>(sector, slot_offset::node, slot.node);
    put<std::uint32_t>(sector, slot_offset::adapter_states, slot.adapter_states);
    put<std::uint64_t>(sector, slot_offset::incarnation, slot.incarnation);
    put<std::uint64_t>(sector, slot_offset::seq, slot.seq);
    put<std::uint64_t>(sector, slot_offset::writer_nonce, slot.writer_nonce);
    std::copy(slot.message.begin(), slot.message.end(), sector.begin() + slot_offset::message);
    put<std::uint64_t>(sector, sector.size() - slot_offset::seq_copy_from_end, slot.seq);
    if (key != nullptr) {
        put<std::uint8_t>(sector, slot_offset::key_id, key->id);
        const MacTag tag = mac_tag(key->bytes, sector.first(slot_offset::crc));
        std::copy(tag.begin(), tag.end(), sector.begin() + slot_offset::mac);
    }
    put<std::uint32_t>(sector, slot_offset::crc, sector_crc(sector, slot_offset::crc));
}

DecodeResult decode_slot(std::span<const std::uint8_t> sector, std::uint64_t cluster_id,
                         NodeId node, Slot& slot, const KeySet* keys) noexcept {
    HB_ASSERT(valid_sector_size(static_cast<std::uint32_t>(sector.size())));
    if (all_zero(sector)) {
        return DecodeResult::empty;
    }
    if (get<std::uint32_t>(sector, slot_offset::magic) != slot_magic) {
        return DecodeResult::bad_magic;
    }
    if (get<std::uint16_t>(sector, slot_offset::version) != format_version) {
        return DecodeResult::bad_version;
    }
    const auto seq = get<std::uint64_t>(sector, slot_offset::seq);
    if (get<std::uint32_t>(sector, slot_offset::crc) != sector_crc(sector, slot_offset::crc)) {
        // A write that reached the device only in part leaves the head of one write and the tail
        // of another: the two copies of seq then disagree. Other damage rarely does.
        const std::size_t tail = sector.size() - slot_offset::seq_copy_from_end;
        return get<std::uint64_t>(sector, tail) != seq ? DecodeResult::torn : DecodeResult::bad_crc;
    }
    const auto state = get<std::uint8_t>(sector, slot_offset::state);
    const std::size_t tail = sector.size() - slot_offset::seq_copy_from_end;
    const auto written_node = get<std::uint32_t>(sector, slot_offset::node);
    if ((state != static_cast<std::uint8_t>(SlotState::alive) &&
         state != static_cast<std::uint8_t>(SlotState::leaving)) ||
        seq == 0 || get<std::uint64_t>(sector, tail) != seq || written_node == 0 ||
        written_node > max_slots ||
        !all_zero(sector.subspan(slot_offset::end, tail - slot_offset::end))) {
        return DecodeResult::bad_field;
    }
    const auto key_id = get<std::uint8_t>(sector, slot_offset::key_id);
    const auto stored_mac = sector.subspan(slot_offset::mac, slot_offset::mac_size);
    if (keys == nullptr) {
        if (key_id != 0 || !all_zero(stored_mac)) {
            return DecodeResult::bad_field;
        }
    } else {
        // Anyone who can write the disk can write a valid CRC; only a key holder a valid MAC.
        bool authentic = false;
        for (const MacKey& key : keys->accepted()) {
            if (key.id == key_id &&
                tag_equal(mac_tag(key.bytes, sector.first(slot_offset::crc)), stored_mac)) {
                authentic = true;
                break;
            }
        }
        if (!authentic) {
            return DecodeResult::bad_mac;
        }
    }
    if (get<std::uint64_t>(sector, slot_offset::cluster_id) != cluster_id) {
        return DecodeResult::wrong_cluster;
    }
    if (written_node != node) {
        return DecodeResult::wrong_node;
    }
    slot.cluster_id = cluster_id;
    slot.node = written_node;
    slot.incarnation = get<std::uint64_t>(sector, slot_offset::incarnation);
    slot.seq = seq;
    slot.state = static_cast<SlotState>(state);
    slot.writer_nonce = get<std::uint64_t>(sector, slot_offset::writer_nonce);
    slot.adapter_states = get<std::uint32_t>(sector, slot_offset::adapter_states);
    std::copy_n(sector.begin() + slot_offset::message, message_size, slot.message.begin());
    slot.key_id = key_id;
    return DecodeResult::ok;
}

}  // namespace hb::diskhb
