// Encoder and decoder of the v1 beat header. Fields are written and read one at a time with
// explicit little-endian shifts, so the bytes depend neither on the host's byte order nor on the
// layout or padding of struct Beat.
#include "hb/wire.hh"

#include <algorithm>

#include "hb/assert.hh"
#include "hb/model.hh"

namespace hb::wire {

namespace {

// Offsets of docs/PROTOCOL.md's layout table; the static_asserts below tie each one to the end of
// the field before it, so a resized field cannot silently overlap its neighbour.
namespace offset {
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t version = 2;
inline constexpr std::size_t kind = 3;
inline constexpr std::size_t flags = 4;
inline constexpr std::size_t header_length = 6;
inline constexpr std::size_t cluster_id = 8;
inline constexpr std::size_t src_node = 16;
inline constexpr std::size_t dst_node = 20;
inline constexpr std::size_t network = 24;
inline constexpr std::size_t src_adapter = 26;
inline constexpr std::size_t dst_adapter = 27;
inline constexpr std::size_t incarnation = 28;
inline constexpr std::size_t seq = 32;
inline constexpr std::size_t tx_time_ns = 40;
inline constexpr std::size_t echo_seq = 48;
inline constexpr std::size_t echo_tx_time_ns = 56;
inline constexpr std::size_t echo_hold_ns = 64;
inline constexpr std::size_t echo_node = 68;
inline constexpr std::size_t echo_adapter = 72;
inline constexpr std::size_t multiplier = 73;
inline constexpr std::size_t key_id = 74;
inline constexpr std::size_t reserved_a = 75;
inline constexpr std::size_t interval_us = 76;
inline constexpr std::size_t adapter_states = 80;
inline constexpr std::size_t reserved_b = 84;
}  // namespace offset

inline constexpr std::size_t reserved_a_size = 1;
inline constexpr std::size_t reserved_b_size = 12;

static_assert(offset::version == offset::magic + 2);
static_assert(offset::kind == offset::version + 1);
static_assert(offset::flags == offset::kind + 1);
static_assert(offset::header_length == offset::flags + 2);
static_assert(offset::cluster_id == offset::header_length + 2);
static_assert(offset::src_node == offset::cluster_id + 8);
static_assert(offset::dst_node == offset::src_node + 4);
static_assert(offset::network == offset::dst_node + 4);
static_assert(offset::src_adapter == offset::network + 2);
static_assert(offset::dst_adapter == offset::src_adapter + 1);
static_assert(offset::incarnation == offset::dst_adapter + 1);
static_assert(offset::seq == offset::incarnation + 4);
static_assert(offset::tx_time_ns == offset::seq + 8);
static_assert(offset::echo_seq == offset::tx_time_ns + 8);
static_assert(offset::echo_tx_time_ns == offset::echo_seq + 8);
static_assert(offset::echo_hold_ns == offset::echo_tx_time_ns + 8);
static_assert(offset::echo_node == offset::echo_hold_ns + 4);
static_assert(offset::echo_adapter == offset::echo_node + 4);
static_assert(offset::multiplier == offset::echo_adapter + 1);
static_assert(offset::key_id == offset::multiplier + 1 && offset::key_id == key_id_offset);
static_assert(offset::reserved_a == offset::key_id + 1);
static_assert(offset::interval_us == offset::reserved_a + reserved_a_size);
static_assert(offset::adapter_states == offset::interval_us + 4);
static_assert(offset::reserved_b == offset::adapter_states + 4);
static_assert(mac_offset == offset::reserved_b + reserved_b_size);
// The adapter fields and the state bitmap assume at most 32 adapters per node.
static_assert(max_adapters_per_node == 32);
static_assert(any_adapter >= max_adapters_per_node);

constexpr std::uint8_t first_kind = static_cast<std::uint8_t>(Kind::beat);
constexpr std::uint8_t last_kind = static_cast<std::uint8_t>(Kind::pong);

// Written out rather than looped, and constexpr so they inline: GCC then merges each into a single
// move (plus a byte swap on big-endian hosts), which it does not do for the loops at -O2.
constexpr void store_u8(std::uint8_t* out, std::size_t at, std::uint8_t value) noexcept {
    out[at] = value;
}

constexpr void store_u16(std::uint8_t* out, std::size_t at, std::uint16_t value) noexcept {
    out[at] = static_cast<std::uint8_t>(value);
    out[at + 1] = static_cast<std::uint8_t>(value >> 8);
}

constexpr void store_u32(std::uint8_t* out, std::size_t at, std::uint32_t value) noexcept {
    out[at] = static_cast<std::uint8_t>(value);
    out[at + 1] = static_cast<std::uint8_t>(value >> 8);
    out[at + 2] = static_cast<std::uint8_t>(value >> 16);
    out[at + 3] = static_cast<std::uint8_t>(value >> 24);
}

constexpr void store_u64(std::uint8_t* out, std::size_t at, std::uint64_t value) noexcept {
    store_u32(out, at, static_cast<std::uint32_t>(value));
    store_u32(out, at + 4, static_cast<std::uint32_t>(value >> 32));
}

constexpr std::uint8_t load_u8(const std::uint8_t* in, std::size_t at) noexcept {
    return in[at];
}

constexpr std::uint16_t load_u16(const std::uint8_t* in, std::size_t at) noexcept {
    return static_cast<std::uint16_t>(in[at] | (in[at + 1] << 8));
}

constexpr std::uint32_t load_u32(const std::uint8_t* in, std::size_t at) noexcept {
    return static_cast<std::uint32_t>(in[at]) | (static_cast<std::uint32_t>(in[at + 1]) << 8) |
           (static_cast<std::uint32_t>(in[at + 2]) << 16) |
           (static_cast<std::uint32_t>(in[at + 3]) << 24);
}

constexpr std::uint64_t load_u64(const std::uint8_t* in, std::size_t at) noexcept {
    return static_cast<std::uint64_t>(load_u32(in, at)) |
           (static_cast<std::uint64_t>(load_u32(in, at + 4)) << 32);
}

constexpr bool reserved_zero(const std::uint8_t* in) noexcept {
    static_assert(reserved_a_size == 1 && reserved_b_size == 8 + 4);
    return load_u8(in, offset::reserved_a) == 0 && load_u64(in, offset::reserved_b) == 0 &&
           load_u32(in, offset::reserved_b + 8) == 0;
}

constexpr bool valid_dst_adapter(std::uint8_t adapter) noexcept {
    return adapter == any_adapter || adapter < max_adapters_per_node;
}

}  // namespace

std::string_view to_string(DecodeError error) noexcept {
    switch (error) {
        case DecodeError::none:
            return "none";
        case DecodeError::truncated:
            return "truncated";
        case DecodeError::bad_magic:
            return "bad_magic";
        case DecodeError::bad_version:
            return "bad_version";
        case DecodeError::bad_length:
            return "bad_length";
        case DecodeError::bad_kind:
            return "bad_kind";
        case DecodeError::bad_field:
            return "bad_field";
    }
    return "unknown";
}

void encode(const Beat& beat, std::span<std::uint8_t, beat_size> out) noexcept {
    // A beat this node would reject itself is a bug in whoever filled it in, not an input error.
    HB_ASSERT((beat.flags & ~flags::known) == 0);
    HB_ASSERT(beat.src_node != 0);
    HB_ASSERT(beat.src_adapter < max_adapters_per_node);
    HB_ASSERT(valid_dst_adapter(beat.dst_adapter));
    HB_ASSERT(beat.incarnation != 0);
    HB_ASSERT(beat.seq != 0);
    HB_ASSERT(beat.multiplier != 0);
    HB_ASSERT(beat.interval_us != 0);
    const auto kind = static_cast<std::uint8_t>(beat.kind);
    HB_ASSERT(kind >= first_kind && kind <= last_kind);

    std::uint8_t* const p = out.data();
    store_u16(p, offset::magic, magic);
    store_u8(p, offset::version, version);
    store_u8(p, offset::kind, kind);
    store_u16(p, offset::flags, beat.flags);
    store_u16(p, offset::header_length, static_cast<std::uint16_t>(beat_size));
    store_u64(p, offset::cluster_id, beat.cluster_id);
    store_u32(p, offset::src_node, beat.src_node);
    store_u32(p, offset::dst_node, beat.dst_node);
    store_u16(p, offset::network, beat.network);
    store_u8(p, offset::src_adapter, beat.src_adapter);
    store_u8(p, offset::dst_adapter, beat.dst_adapter);
    store_u32(p, offset::incarnation, beat.incarnation);
    store_u64(p, offset::seq, beat.seq);
    store_u64(p, offset::tx_time_ns, beat.tx_time_ns);
    store_u64(p, offset::echo_seq, beat.echo_seq);
    store_u64(p, offset::echo_tx_time_ns, beat.echo_tx_time_ns);
    store_u32(p, offset::echo_hold_ns, beat.echo_hold_ns);
    store_u32(p, offset::echo_node, beat.echo_node);
    store_u8(p, offset::echo_adapter, beat.echo_adapter);
    store_u8(p, offset::multiplier, beat.multiplier);
    store_u8(p, offset::key_id, beat.key_id);
    std::fill_n(p + offset::reserved_a, reserved_a_size, std::uint8_t{0});
    store_u32(p, offset::interval_us, beat.interval_us);
    store_u32(p, offset::adapter_states, beat.adapter_states);
    std::fill_n(p + offset::reserved_b, reserved_b_size, std::uint8_t{0});
    // An unsigned beat carries a zero tag; mac_sign overwrites it when the cluster has a key.
    std::fill_n(p + mac_offset, mac_size, std::uint8_t{0});
}

DecodeError decode(std::span<const std::uint8_t> datagram, Beat& out) noexcept {
    if (datagram.size() < beat_size) {
        return DecodeError::truncated;
    }
    const std::uint8_t* const p = datagram.data();
    if (load_u16(p, offset::magic) != magic) {
        return DecodeError::bad_magic;
    }
    if (load_u8(p, offset::version) != version) {
        return DecodeError::bad_version;
    }
    // v1 has one header size; trailing bytes would be unauthenticated, so they are refused too.
    if (load_u16(p, offset::header_length) != beat_size || datagram.size() != beat_size) {
        return DecodeError::bad_length;
    }
    const std::uint8_t kind = load_u8(p, offset::kind);
    if (kind < first_kind || kind > last_kind) {
        return DecodeError::bad_kind;
    }

    Beat beat;
    beat.kind = static_cast<Kind>(kind);
    beat.flags = load_u16(p, offset::flags);
    beat.cluster_id = load_u64(p, offset::cluster_id);
    beat.src_node = load_u32(p, offset::src_node);
    beat.dst_node = load_u32(p, offset::dst_node);
    beat.network = load_u16(p, offset::network);
    beat.src_adapter = load_u8(p, offset::src_adapter);
    beat.dst_adapter = load_u8(p, offset::dst_adapter);
    beat.incarnation = load_u32(p, offset::incarnation);
    beat.seq = load_u64(p, offset::seq);
    beat.tx_time_ns = load_u64(p, offset::tx_time_ns);
    beat.echo_seq = load_u64(p, offset::echo_seq);
    beat.echo_tx_time_ns = load_u64(p, offset::echo_tx_time_ns);
    beat.echo_hold_ns = load_u32(p, offset::echo_hold_ns);
    beat.echo_node = load_u32(p, offset::echo_node);
    beat.echo_adapter = load_u8(p, offset::echo_adapter);
    beat.multiplier = load_u8(p, offset::multiplier);
    beat.interval_us = load_u32(p, offset::interval_us);
    beat.adapter_states = load_u32(p, offset::adapter_states);
    beat.key_id = load_u8(p, offset::key_id);

    // Unknown flags and non-zero reserved bytes mean a newer sender whose meaning v1 cannot know:
    // refusing them keeps a later version from being misread as this one.
    const bool fields_ok = (beat.flags & ~flags::known) == 0 && beat.src_node != 0 &&
                           beat.src_adapter < max_adapters_per_node &&
                           valid_dst_adapter(beat.dst_adapter) && beat.incarnation != 0 &&
                           beat.seq != 0 && beat.multiplier != 0 && beat.interval_us != 0 &&
                           reserved_zero(p);
    if (!fields_ok) {
        return DecodeError::bad_field;
    }
    out = beat;
    return DecodeError::none;
}

}  // namespace hb::wire
