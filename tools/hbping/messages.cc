// Building and checking hbping's PING and PONG.
#include "tools/hbping/messages.hh"

#include <algorithm>
#include <limits>

#include "hb/assert.hh"
#include "hb/key_file.hh"
#include "hb/mac.hh"

namespace hb::ping {

namespace {

// Encodes the header, zeroes the padding and signs the header when there is a key.
void finish(const Identity& self, const wire::Beat& beat, std::span<std::uint8_t> out) noexcept {
    HB_ASSERT(out.size() >= wire::beat_size);
    const std::span<std::uint8_t, wire::beat_size> header = out.first<wire::beat_size>();
    wire::Beat signed_beat = beat;
    signed_beat.key_id = self.key ? self.key->id : 0;
    wire::encode(signed_beat, header);
    std::fill(out.begin() + wire::beat_size, out.end(), std::uint8_t{0});
    if (self.key) {
        mac_sign(self.key->bytes, header);
    }
}

}  // namespace

std::variant<MacKey, std::string> load_key(const std::string& path) {
    auto loaded = load_key_file(path);
    if (auto* problem = std::get_if<std::string>(&loaded)) {
        return "--key-file \"" + path + "\": " + *problem;
    }
    return std::get<MacKey>(loaded);
}

namespace {

// The fields a PING and a PONG fill alike.
wire::Beat message(const Identity& self, wire::Kind kind, std::uint64_t seq) noexcept {
    wire::Beat beat;
    beat.kind = kind;
    beat.cluster_id = self.cluster_id;
    beat.src_node = ping_node;
    beat.incarnation = self.incarnation;
    beat.seq = seq;
    beat.multiplier = 1;
    return beat;
}

}  // namespace

void build_ping(const Identity& self, std::uint64_t seq, Nanos tx_ns, Nanos interval_ns,
                std::span<std::uint8_t> out) noexcept {
    wire::Beat ping = message(self, wire::Kind::ping, seq);
    ping.tx_time_ns = static_cast<std::uint64_t>(tx_ns);
    const Nanos interval_us =
        std::clamp<Nanos>(interval_ns / nanos_per_us, 1, std::numeric_limits<std::uint32_t>::max());
    ping.interval_us = static_cast<std::uint32_t>(interval_us);
    finish(self, ping, out);
}

void build_pong(const Identity& self, std::uint64_t seq, const wire::Beat& ping, Nanos hold_ns,
                std::span<std::uint8_t> out) noexcept {
    wire::Beat pong = message(self, wire::Kind::pong, seq);
    pong.dst_node = ping.src_node;
    pong.tx_time_ns = static_cast<std::uint64_t>(monotonic_now());
    pong.echo_seq = ping.seq;
    pong.echo_tx_time_ns = ping.tx_time_ns;
    pong.echo_hold_ns = static_cast<std::uint32_t>(
        std::clamp<Nanos>(hold_ns, 0, std::numeric_limits<std::uint32_t>::max()));
    pong.echo_node = ping.src_node;
    pong.echo_adapter = ping.src_adapter;
    pong.interval_us = ping.interval_us;
    finish(self, pong, out);
}

Checked check_message(const Identity& self, std::span<const std::uint8_t> datagram,
                      wire::Kind expected) noexcept {
    Checked result;
    if (datagram.size() < wire::beat_size) {
        result.decode_error = wire::DecodeError::truncated;
        return result;
    }
    const std::span<const std::uint8_t, wire::beat_size> header = datagram.first<wire::beat_size>();
    result.decode_error = wire::decode(header, result.beat);
    if (result.decode_error != wire::DecodeError::none) {
        result.check = Check::malformed;
    } else if (result.beat.kind != expected) {
        result.check = Check::other_kind;
    } else if (result.beat.cluster_id != self.cluster_id) {
        result.check = Check::other_cluster;
    } else if (self.key) {
        result.check =
            header[wire::key_id_offset] == self.key->id && mac_verify(self.key->bytes, header)
                ? Check::ok
                : Check::bad_mac;
    } else {
        const auto tag = header.subspan<wire::mac_offset, wire::mac_size>();
        const bool signed_tag =
            std::any_of(tag.begin(), tag.end(), [](std::uint8_t b) { return b != 0; });
        result.check = signed_tag ? Check::bad_mac : Check::ok;
    }
    return result;
}

bool echoes_own_ping(const wire::Beat& pong, std::span<const Nanos> tx_times_ns) noexcept {
    return pong.echo_node == ping_node && pong.echo_seq != 0 &&
           pong.echo_seq < tx_times_ns.size() &&
           static_cast<Nanos>(pong.echo_tx_time_ns) == tx_times_ns[pong.echo_seq];
}

Nanos round_trip_ns(const wire::Beat& pong, Nanos rx_ns) noexcept {
    // echo_tx_time_ns is one of our own send times (echoes_own_ping), so nothing here overflows:
    // the hold is at most 2^32 - 1 ns.
    return rx_ns - static_cast<Nanos>(pong.echo_tx_time_ns) - static_cast<Nanos>(pong.echo_hold_ns);
}

}  // namespace hb::ping
