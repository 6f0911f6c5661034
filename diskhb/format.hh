// The disk heartbeat format v1 (DESIGN §5, docs/PROTOCOL.md §8): a header in sector 0 and one slot
// per node in sector 1+i, encoded field by field in little-endian order and protected by CRC32C.
// Decoding never trusts the bytes: any input yields a result, never a crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "hb/clock.hh"
#include "hb/model.hh"

namespace hb::diskhb {

inline constexpr std::uint32_t header_magic = 0x48444248;  // bytes 'H' 'B' 'D' 'H'
inline constexpr std::uint32_t slot_magic = 0x53444248;    // bytes 'H' 'B' 'D' 'S'
inline constexpr std::uint16_t format_version = 1;
inline constexpr std::uint32_t max_slots = 255;  // node ids 1..255
inline constexpr std::size_t message_size = 64;
// Sector sizes a disk may have: what BLKSSZGET reports on the devices hb supports.
inline constexpr std::uint32_t min_sector_size = 512;
inline constexpr std::uint32_t max_sector_size = 4096;

// Byte offsets in the header sector; the rest of the sector is reserved (zero).
namespace header_offset {
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t version = 4;
inline constexpr std::size_t flags = 6;  // 2 bytes: header_flags
inline constexpr std::size_t cluster_id = 8;
inline constexpr std::size_t slot_count = 16;
inline constexpr std::size_t sector_size = 20;
inline constexpr std::size_t interval_ns = 24;
inline constexpr std::size_t multiplier = 32;
inline constexpr std::size_t crc = 36;
inline constexpr std::size_t end = 40;
}  // namespace header_offset

namespace header_flags {
// Every slot carries a MAC made with the cluster key; readers refuse slots whose MAC fails.
inline constexpr std::uint16_t authenticated = 1U << 0;
inline constexpr std::uint16_t known = authenticated;
}  // namespace header_flags

// Byte offsets in a slot sector. The copy of seq sits in the sector's last 8 bytes, whatever its
// size; everything between `end` and it is reserved (zero).
namespace slot_offset {
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t version = 4;
inline constexpr std::size_t state = 6;
inline constexpr std::size_t key_id = 7;  // the MacKey::id of the MAC; 0 on unauthenticated disks
inline constexpr std::size_t cluster_id = 8;
inline constexpr std::size_t node = 16;
inline constexpr std::size_t adapter_states = 20;
inline constexpr std::size_t incarnation = 24;
inline constexpr std::size_t seq = 32;
inline constexpr std::size_t writer_nonce = 40;
inline constexpr std::size_t message = 48;
inline constexpr std::size_t crc = 112;
// SipHash-2-4-128 over bytes [0, crc) with the disk key (hb/mac.hh); zero when unauthenticated.
// Under the CRC, so a torn write is still told from a forgery.
inline constexpr std::size_t mac = 116;
inline constexpr std::size_t mac_size = 16;
inline constexpr std::size_t end = 132;
inline constexpr std::size_t seq_copy_from_end = 8;
}  // namespace slot_offset
static_assert(slot_offset::message + message_size == slot_offset::crc);
static_assert(slot_offset::mac + slot_offset::mac_size == slot_offset::end);
static_assert(slot_offset::end + slot_offset::seq_copy_from_end <= min_sector_size);

struct Header {
    std::uint64_t cluster_id = 0;
    std::uint32_t slot_count = 0;   // 1..max_slots
    std::uint32_t sector_size = 0;  // min_sector_size..max_sector_size, a power of two
    // The disk timing every node of the cluster uses (interval_ns > 0, multiplier > 0).
    Nanos interval_ns = 0;
    std::uint32_t multiplier = 0;
    bool authenticated = false;  // header_flags::authenticated: slots carry a MAC

    friend bool operator==(const Header&, const Header&) = default;
};

enum class SlotState : std::uint8_t { alive = 1, leaving = 2 };

struct Slot {
    std::uint64_t cluster_id = 0;
    NodeId node = 0;  // 1..max_slots, and the slot's position says which
    std::uint64_t incarnation = 0;
    std::uint64_t seq = 0;  // advances with every write
    SlotState state = SlotState::alive;
    std::uint64_t writer_nonce = 0;  // random per writing process: two writers differ
    std::uint32_t adapter_states = 0;
    std::array<std::uint8_t, message_size> message{};  // reserved for fencing requests: zero in v1
    std::uint8_t key_id = 0;  // decoded: the id of the key that signed it (0 when unsigned)

    friend bool operator==(const Slot&, const Slot&) = default;
};

enum class DecodeResult : std::uint8_t {
    ok = 0,
    empty,          // all zero: never written
    bad_magic,      // not an hb header or slot
    bad_version,    // another format version
    bad_crc,        // CRC mismatch that is not a torn write
    torn,           // CRC mismatch with the head's seq different from the tail's copy
    wrong_cluster,  // intact, but written by a node of another cluster
    wrong_node,     // intact, but its node id is not that of its position
    bad_field,      // intact, but a value v1 does not allow (state, counts, reserved bytes)
    bad_mac,        // intact, but not signed with an accepted key (authenticated disks)
};
std::string_view to_string(DecodeResult result) noexcept;

// CRC32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF) of `bytes`: with SSE4.2's crc32
// instruction where the CPU has it, else Boost.CRC's table (crc32c_portable, the reference).
[[nodiscard]] std::uint32_t crc32c(std::span<const std::uint8_t> bytes) noexcept;
[[nodiscard]] std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes) noexcept;

[[nodiscard]] bool valid_sector_size(std::uint32_t sector_size) noexcept;

// Fills `sector` (the header's sector size) entirely. The header must be valid.
void encode_header(const Header& header, std::span<std::uint8_t> sector) noexcept;
// Checks in order: empty, bad_magic, bad_version, bad_crc, bad_field. `sector` may be any
// length of at least min_sector_size; the CRC covers the sector size the header names, which
// must fit in `sector` (else bad_field).
[[nodiscard]] DecodeResult decode_header(std::span<const std::uint8_t> sector,
                                         Header& header) noexcept;

// Fills `sector` (a valid sector size) entirely. The slot's node and state must be valid. With a
// key (a disk key, hb::derive_disk_key) the slot is signed; without, its MAC and key id are zero.
void encode_slot(const Slot& slot, std::span<std::uint8_t> sector,
                 const MacKey* key = nullptr) noexcept;
// Checks in order: empty, bad_magic, bad_version, torn / bad_crc, bad_field, bad_mac (with keys:
// the disk keys of an authenticated disk), wrong_cluster, wrong_node. Without keys, a slot that
// carries a MAC or key id is bad_field. `slot` is written only for ok.
[[nodiscard]] DecodeResult decode_slot(std::span<const std::uint8_t> sector,
                                       std::uint64_t cluster_id, NodeId node, Slot& slot,
                                       const KeySet* keys = nullptr) noexcept;

}  // namespace hb::diskhb
