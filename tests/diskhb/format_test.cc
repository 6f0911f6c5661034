// The disk format v1: CRC32C's check value, the test vectors of docs/PROTOCOL.md §8, round trips
// at both sector sizes, and every kind of damage told apart; no input makes the decoder misbehave.
#include "diskhb/format.hh"

#include <gtest/gtest.h>

#include "hb/mac.hh"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hb::diskhb {
namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes.push_back(
            static_cast<std::uint8_t>(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return bytes;
}

// docs/PROTOCOL.md §8.6: the bytes shown; every other byte of the 512-byte sector is zero.
constexpr std::string_view header_vector =
    "4842444801000000efcdab8967452301"
    "040000000002000000e1f50500000000"
    "05000000fd56ab860000000000000000";
constexpr std::string_view slot_vector_head =
    "4842445301000100efcdab8967452301"
    "02000000030000008877665544332211"
    "2a000000000000005a5a5a5aa5a5a5a5"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "636b1534000000000000000000000000";
constexpr std::string_view slot_vector_tail = "2a00000000000000";  // bytes 504..511

// The authenticated slot of docs/PROTOCOL.md §8.6: vector_slot signed with the disk key of the
// key file holding the bytes 0x00..0x1F (key id f2). Bytes 0..143 shown; bytes 504..511 as above.
constexpr std::string_view signed_slot_vector_head =
    "48424453010001f2efcdab8967452301"
    "02000000030000008877665544332211"
    "2a000000000000005a5a5a5aa5a5a5a5"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "00000000000000000000000000000000"
    "572fb50454aee4f18ef81e5360645b38"
    "2caaa84a000000000000000000000000";

// A 512-byte slot sector of the vectors: `head`, zeroes, and the copy of seq in bytes 504..511.
std::vector<std::uint8_t> slot_sector_of(std::string_view head) {
    std::vector<std::uint8_t> sector = from_hex(head);
    sector.resize(504, 0);
    const std::vector<std::uint8_t> tail = from_hex(slot_vector_tail);
    sector.insert(sector.end(), tail.begin(), tail.end());
    return sector;
}

MacKey vector_disk_key() {
    std::array<std::uint8_t, 32> material{};
    for (std::size_t i = 0; i < material.size(); ++i) {
        material[i] = static_cast<std::uint8_t>(i);
    }
    return derive_disk_key(derive_key(material));
}

KeySet key_set(std::initializer_list<MacKey> keys) {
    KeySet set;
    for (const MacKey& key : keys) {
        EXPECT_TRUE(set.add(key));
    }
    return set;
}

const Header vector_header{.cluster_id = 0x0123456789ABCDEF,
                           .slot_count = 4,
                           .sector_size = 512,
                           .interval_ns = 100 * nanos_per_ms,
                           .multiplier = 5};
const Slot vector_slot{.cluster_id = 0x0123456789ABCDEF,
                       .node = 2,
                       .incarnation = 0x1122334455667788,
                       .seq = 42,
                       .state = SlotState::alive,
                       .writer_nonce = 0xA5A5A5A55A5A5A5A,
                       .adapter_states = 0x3,
                       .message = {}};

Slot sample_slot(NodeId node = 2) {
    Slot slot = vector_slot;
    slot.node = node;
    slot.state = SlotState::leaving;
    for (std::size_t i = 0; i < slot.message.size(); ++i) {
        slot.message[i] = static_cast<std::uint8_t>(i * 7);
    }
    return slot;
}

TEST(DiskFormat, Crc32cCheckValue) {
    constexpr std::string_view check = "123456789";
    EXPECT_EQ(crc32c({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}),
              0xE3069283u);
    EXPECT_EQ(crc32c({}), 0u);
    EXPECT_EQ(crc32c_portable({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}),
              0xE3069283u);
}

// The fast path (SSE4.2 where the CPU has it) and Boost.CRC agree at every length and alignment.
TEST(DiskFormat, Crc32cBackendsAgree) {
    std::mt19937_64 random(7);
    std::vector<std::uint8_t> bytes(4096 + 16);
    for (auto& byte : bytes) {
        byte = static_cast<std::uint8_t>(random());
    }
    for (std::size_t offset = 0; offset < 9; ++offset) {
        for (const std::size_t size : {0, 1, 7, 8, 9, 63, 116, 512, 4095, 4096}) {
            const std::span<const std::uint8_t> piece(bytes.data() + offset, size);
            EXPECT_EQ(crc32c(piece), crc32c_portable(piece)) << offset << "+" << size;
        }
    }
}

TEST(DiskFormat, HeaderVector) {
    std::vector<std::uint8_t> sector(512);
    encode_header(vector_header, sector);
    std::vector<std::uint8_t> expected = from_hex(header_vector);
    expected.resize(512, 0);
    EXPECT_EQ(sector, expected);
    Header decoded;
    ASSERT_EQ(decode_header(expected, decoded), DecodeResult::ok);
    EXPECT_EQ(decoded, vector_header);
}

TEST(DiskFormat, SlotVector) {
    std::vector<std::uint8_t> sector(512);
    encode_slot(vector_slot, sector);
    const std::vector<std::uint8_t> expected = slot_sector_of(slot_vector_head);
    ASSERT_EQ(expected.size(), 512u);
    EXPECT_EQ(sector, expected);
    Slot decoded;
    ASSERT_EQ(decode_slot(expected, vector_slot.cluster_id, 2, decoded), DecodeResult::ok);
    EXPECT_EQ(decoded, vector_slot);
}

TEST(DiskFormat, AuthenticatedSlotVector) {
    const MacKey key = vector_disk_key();
    EXPECT_EQ(key.id, 0xF2);
    std::vector<std::uint8_t> sector(512);
    encode_slot(vector_slot, sector, &key);
    const std::vector<std::uint8_t> expected = slot_sector_of(signed_slot_vector_head);
    EXPECT_EQ(sector, expected);
    const KeySet keys = key_set({key});
    Slot decoded;
    ASSERT_EQ(decode_slot(expected, vector_slot.cluster_id, 2, decoded, &keys), DecodeResult::ok);
    Slot with_id = vector_slot;
    with_id.key_id = 0xF2;
    EXPECT_EQ(decoded, with_id);
}

// Anyone who can write the disk can write a slot with a valid CRC; only a key holder one with a
// valid MAC. Readers of an authenticated disk refuse everything else, and the CRC still tells a
// torn write from a forgery.
TEST(DiskFormat, AuthenticatedSlotsRefuseForgeries) {
    const MacKey key = vector_disk_key();
    const std::array<std::uint8_t, 32> other_material{9};
    const MacKey other = derive_disk_key(derive_key(other_material));
    const KeySet keys = key_set({key});
    Slot out;
    std::vector<std::uint8_t> sector(512);

    encode_slot(vector_slot, sector);  // unsigned: what a writer without the key produces
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &keys), DecodeResult::bad_mac);
    encode_slot(vector_slot, sector, &other);
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &keys), DecodeResult::bad_mac);
    MacKey renamed = other;
    renamed.id = key.id;  // the right id on the wrong key
    encode_slot(vector_slot, sector, &renamed);
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &keys), DecodeResult::bad_mac);

    // A rollover: either key is accepted.
    const KeySet both = key_set({other, key});
    encode_slot(vector_slot, sector, &key);
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &both), DecodeResult::ok);
    encode_slot(vector_slot, sector, &other);
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &both), DecodeResult::ok);

    // A reader without keys refuses a signed slot rather than ignore what it cannot check.
    encode_slot(vector_slot, sector, &key);
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out), DecodeResult::bad_field);

    // Changing a covered byte and fixing the CRC (what a forger without the key can do) fails
    // the MAC; a torn write is still torn.
    encode_slot(vector_slot, sector, &key);
    sector[slot_offset::seq] ^= 1;
    sector[sector.size() - 8] ^= 1;
    const std::uint32_t crc = [&] {
        std::vector<std::uint8_t> copy = sector;
        std::fill_n(copy.begin() + slot_offset::crc, 4, std::uint8_t{0});
        return crc32c(copy);
    }();
    for (int i = 0; i < 4; ++i) {
        sector[slot_offset::crc + static_cast<std::size_t>(i)] =
            static_cast<std::uint8_t>(crc >> (8 * i));
    }
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &keys), DecodeResult::bad_mac);
    encode_slot(vector_slot, sector, &key);
    sector[sector.size() - 8] ^= 1;  // the tail of another write
    EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out, &keys), DecodeResult::torn);
}

TEST(DiskFormat, HeaderSaysAuthenticated) {
    std::vector<std::uint8_t> sector(512);
    Header header = vector_header;
    header.authenticated = true;
    encode_header(header, sector);
    EXPECT_EQ(sector[header_offset::flags], header_flags::authenticated);
    Header decoded;
    ASSERT_EQ(decode_header(sector, decoded), DecodeResult::ok);
    EXPECT_TRUE(decoded.authenticated);
    EXPECT_EQ(decoded, header);
}

class DiskFormatSectors : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(DiskFormatSectors, RoundTrips) {
    const std::uint32_t size = GetParam();
    std::vector<std::uint8_t> sector(size);
    Header header = vector_header;
    header.sector_size = size;
    header.slot_count = max_slots;
    encode_header(header, sector);
    Header decoded_header;
    ASSERT_EQ(decode_header(sector, decoded_header), DecodeResult::ok);
    EXPECT_EQ(decoded_header, header);

    for (const NodeId node : {NodeId{1}, NodeId{2}, max_slots}) {
        const Slot slot = sample_slot(node);
        encode_slot(slot, sector);
        EXPECT_EQ(sector[size - 8], 42);  // the copy of seq closes the sector
        Slot decoded;
        ASSERT_EQ(decode_slot(sector, slot.cluster_id, node, decoded), DecodeResult::ok);
        EXPECT_EQ(decoded, slot);
    }
}

TEST_P(DiskFormatSectors, EveryDamageIsToldApart) {
    const std::uint32_t size = GetParam();
    const Slot slot = sample_slot();
    std::vector<std::uint8_t> good(size);
    encode_slot(slot, good);
    Slot out;
    const auto decode = [&](const std::vector<std::uint8_t>& sector,
                            std::uint64_t cluster = 0x0123456789ABCDEF,
                            NodeId node = 2) { return decode_slot(sector, cluster, node, out); };

    EXPECT_EQ(decode(std::vector<std::uint8_t>(size, 0)), DecodeResult::empty);

    std::vector<std::uint8_t> sector = good;
    sector[0] ^= 0xFF;
    EXPECT_EQ(decode(sector), DecodeResult::bad_magic);

    sector = good;
    sector[slot_offset::version] = 2;
    EXPECT_EQ(decode(sector), DecodeResult::bad_version);

    sector = good;
    sector[slot_offset::message + 9] ^= 0x10;  // one bit anywhere under the CRC
    EXPECT_EQ(decode(sector), DecodeResult::bad_crc);
    sector = good;
    sector[size / 2] = 1;  // in the reserved middle
    EXPECT_EQ(decode(sector), DecodeResult::bad_crc);

    // A torn write: the head of seq 43 over the tail of seq 42.
    Slot newer = slot;
    newer.seq = 43;
    std::vector<std::uint8_t> next(size);
    encode_slot(newer, next);
    std::copy(good.end() - 8, good.end(), next.end() - 8);
    EXPECT_EQ(decode(next), DecodeResult::torn);
    // The other way round (old head, new tail) is torn too.
    sector = good;
    encode_slot(newer, next);
    std::copy(next.end() - 8, next.end(), sector.end() - 8);
    EXPECT_EQ(decode(sector), DecodeResult::torn);

    EXPECT_EQ(decode(good, 0x0123456789ABCDEE), DecodeResult::wrong_cluster);
    EXPECT_EQ(decode(good, 0x0123456789ABCDEF, 3), DecodeResult::wrong_node);
    EXPECT_EQ(decode(good), DecodeResult::ok);
    EXPECT_EQ(out, slot);
}

INSTANTIATE_TEST_SUITE_P(SectorSizes, DiskFormatSectors, ::testing::Values(512u, 4096u));

// Fields a v1 writer never produces are refused even under a valid CRC.
TEST(DiskFormat, BadFieldsUnderAValidCrc) {
    std::vector<std::uint8_t> sector(512);
    const auto reseal = [&] {
        for (std::size_t i = 0; i < 4; ++i) {
            sector[slot_offset::crc + i] = 0;
        }
        const std::uint32_t crc = crc32c(sector);
        for (std::size_t i = 0; i < 4; ++i) {
            sector[slot_offset::crc + i] = static_cast<std::uint8_t>(crc >> (8 * i));
        }
    };
    Slot out;
    // The key id and the MAC of an unauthenticated slot are zero, like reserved bytes.
    for (const std::size_t offset :
         {slot_offset::state, slot_offset::key_id, slot_offset::mac,
          slot_offset::mac + slot_offset::mac_size - 1, std::size_t{300}}) {
        encode_slot(vector_slot, sector);
        sector[offset] = 9;
        reseal();
        EXPECT_EQ(decode_slot(sector, vector_slot.cluster_id, 2, out), DecodeResult::bad_field)
            << "offset " << offset;
    }

    Header header;
    std::vector<std::uint8_t> head(512);
    encode_header(vector_header, head);
    head[header_offset::slot_count] = 0;  // zero slots
    head[header_offset::crc] ^= 1;
    EXPECT_EQ(decode_header(head, header), DecodeResult::bad_crc);
    EXPECT_EQ(decode_header(std::vector<std::uint8_t>(512, 0), header), DecodeResult::empty);
    encode_header(vector_header, head);
    head[1] = 0;
    EXPECT_EQ(decode_header(head, header), DecodeResult::bad_magic);
    encode_header(vector_header, head);
    head[header_offset::version] = 7;
    EXPECT_EQ(decode_header(head, header), DecodeResult::bad_version);
    encode_header(vector_header, head);
    head[header_offset::sector_size + 1] = 0x10;  // 4096 + 512: not a power of two
    EXPECT_EQ(decode_header(head, header), DecodeResult::bad_field);
    encode_header(vector_header, head);
    head[header_offset::flags] = 0x02;  // a flag v1 does not know
    head[header_offset::crc] = 0;
    head[header_offset::crc + 1] = 0;
    head[header_offset::crc + 2] = 0;
    head[header_offset::crc + 3] = 0;
    const std::uint32_t crc = crc32c(head);
    for (std::size_t i = 0; i < 4; ++i) {
        head[header_offset::crc + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    }
    EXPECT_EQ(decode_header(head, header), DecodeResult::bad_field);
}

// Random bytes, and valid sectors with random damage, always decode to a result.
TEST(DiskFormat, AnyBytesYieldAResult) {
    std::mt19937_64 random(20261126);
    std::vector<std::uint8_t> sector(512);
    std::array<std::uint64_t, 9> seen{};
    for (int round = 0; round < 20000; ++round) {
        if (round % 2 == 0) {
            for (auto& byte : sector) {
                byte = static_cast<std::uint8_t>(random());
            }
        } else {
            encode_slot(sample_slot(), sector);
            sector[random() % sector.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
        }
        Slot slot;
        Header header;
        const DecodeResult result = decode_slot(sector, vector_slot.cluster_id, 2, slot);
        ++seen[static_cast<std::size_t>(result)];
        EXPECT_NE(to_string(result), "unknown");
        EXPECT_NE(decode_header(sector, header), DecodeResult::ok);
    }
    EXPECT_GT(seen[static_cast<std::size_t>(DecodeResult::bad_magic)], 0u);
    EXPECT_GT(seen[static_cast<std::size_t>(DecodeResult::bad_crc)], 0u);
    EXPECT_GT(seen[static_cast<std::size_t>(DecodeResult::torn)], 0u);
    EXPECT_EQ(seen[static_cast<std::size_t>(DecodeResult::ok)], 0u);
}

}  // namespace
}  // namespace hb::diskhb
