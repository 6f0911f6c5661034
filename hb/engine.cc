#include "hb/engine.hh"

#include <sys/random.h>

#include <algorithm>
#include <limits>

#include "hb/assert.hh"
#include "hb/mac.hh"

namespace hb {

namespace {

constexpr std::array<std::string_view, drop_reason_count> drop_reason_names = {
    "oversize",         "truncated",     "bad_magic",         "bad_version",  "bad_length",
    "bad_kind",         "bad_field",     "other_cluster",     "bad_mac",      "unknown_key",
    "unsupported_kind", "own_beat",      "not_for_us",        "unknown_node", "wrong_network",
    "unknown_adapter",  "wrong_address", "stale_incarnation", "stale_seq",    "duplicate",
};

DropReason drop_reason_of(wire::DecodeError error) noexcept {
    // DecodeError's reasons follow `truncated` in DropReason, in the same order.
    return static_cast<DropReason>(static_cast<std::uint8_t>(DropReason::truncated) +
                                   static_cast<std::uint8_t>(error) - 1);
}
static_assert(static_cast<int>(DropReason::bad_field) - static_cast<int>(DropReason::truncated) ==
              static_cast<int>(wire::DecodeError::bad_field) -
                  static_cast<int>(wire::DecodeError::truncated));

std::uint32_t saturate_u32(Nanos value) noexcept {
    if (value <= 0) {
        return 0;
    }
    return value >= std::numeric_limits<std::uint32_t>::max()
               ? std::numeric_limits<std::uint32_t>::max()
               : static_cast<std::uint32_t>(value);
}

}  // namespace

std::string_view drop_reason_name(DropReason reason) noexcept {
    const auto index = static_cast<std::size_t>(reason);
    return index < drop_reason_names.size() ? drop_reason_names[index] : "unknown";
}

std::string_view path_state_name(PathState state) noexcept {
    switch (state) {
        case PathState::down:
            return "down";
        case PathState::init:
            return "init";
        case PathState::up:
            return "up";
    }
    return "unknown";
}

std::uint64_t EngineCounters::dropped_total() const noexcept {
    std::uint64_t total = 0;
    for (const std::uint64_t count : dropped) {
        total += count;
    }
    return total;
}

std::uint32_t random_incarnation() noexcept {
    std::uint32_t value = 0;
    while (value == 0) {
        if (getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
            value = static_cast<std::uint32_t>(monotonic_now()) | 1U;
        }
    }
    return value;
}

std::uint64_t Engine::beats_sent_on(PathIndex path) const noexcept {
    const std::uint32_t local = topology_.paths()[path].local;
    const NetworkIndex network = topology_.local_adapters()[local].network;
    return config_.networks[network].mode == NetworkMode::multicast ? locals_[local].tx_seq
                                                                    : paths_[path].tx_seq;
}

Engine::Engine(const ClusterConfig& config, Detector& detector, EngineOptions options)
    : config_(config),
      keys_(config.keys),
      topology_(config),
      detector_(detector),
      options_(options),
      incarnation_(options.incarnation != 0 ? options.incarnation : random_incarnation()),
      jitter_state_((static_cast<std::uint64_t>(incarnation_) << 32) | config.local_node | 1U),
      wheel_(1024, options.timer_resolution_ns, 0),
      locals_(topology_.local_adapters().size()),
      transports_(topology_.local_adapters().size(), nullptr),
      paths_(topology_.paths().size()),
      peers_(topology_.peers().size()),
      rx_burst_(std::max<std::size_t>(options.rx_burst, 1)),
      events_(std::max<std::size_t>(options.event_capacity, 16)) {
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        const LocalAdapter& adapter = topology_.local_adapters()[l];
        const Timing& timing = topology_.timing(adapter.network);
        LocalRuntime& local = locals_[l];
        local.tx_timer.id = l;
        local.interval_ns = timing.interval_ns;
        local.advertised = timing;
        const bool multicast = config_.networks[adapter.network].mode == NetworkMode::multicast;
        local.tx_batch.resize(multicast ? 1 : std::max<std::uint32_t>(adapter.path_count, 1));
    }
    derive_windows();
}

void Engine::derive_windows() noexcept {
    stall_threshold_ns_ = std::numeric_limits<Nanos>::max();
    for (LocalRuntime& local : locals_) {
        // While a longer interval waits (timing_changed), the shorter of the two rules.
        const Nanos sent_detection_ns = local.interval_ns * local.advertised.multiplier;
        stall_threshold_ns_ = std::min(
            {stall_threshold_ns_, local.advertised.detection_ns() / 2, sent_detection_ns / 2});
        local.hears_us_window_ns =
            std::max(local.advertised.detection_ns() + local.advertised.interval_ns,
                     sent_detection_ns + local.interval_ns);
    }
}

void Engine::timing_changed(NetworkIndex network, Nanos now) noexcept {
    const Timing& next = topology_.timing(network);
    HB_ASSERT(next.interval_ns > 0 && next.multiplier > 0);
    bool changed = false;
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        if (topology_.local_adapters()[l].network != network) {
            continue;
        }
        LocalRuntime& local = locals_[l];
        if (next == local.advertised && local.pending_interval_ns == 0) {
            continue;
        }
        changed = true;
        // Peers may still hold the timeout of any beat of the old timing: the longest of them
        // bounds how long they need to hear one beat of the new.
        const Nanos old_detection_ns = std::max(local.advertised.detection_ns(),
                                                local.interval_ns * local.advertised.multiplier);
        local.advertised = next;
        if (next.interval_ns <= local.interval_ns) {
            // Shorter gaps fit inside any timeout a peer holds: at once.
            local.interval_ns = next.interval_ns;
            local.pending_interval_ns = 0;
            const Nanos soonest = now + next_send_in(local.interval_ns);
            if (started_ && local.tx_timer.armed && local.tx_timer.deadline > soonest) {
                wheel_.arm(local.tx_timer, soonest);
            }
        } else {
            local.pending_interval_ns = next.interval_ns;
            local.pending_at_ns =
                std::max(local.pending_at_ns, now + old_detection_ns + local.interval_ns);
        }
    }
    if (!changed) {
        return;
    }
    ++counters_.timing_changes;
    derive_windows();
    detector_.on_timing_changed(network);
}

Engine::~Engine() = default;

void Engine::attach_transport(std::uint32_t local, Transport& transport) {
    HB_ASSERT(local < locals_.size());
    HB_ASSERT(!started_);
    locals_[local].transport = &transport;
    transports_[local] = &transport;
}

std::string Engine::start(Nanos now) {
    HB_ASSERT(!started_);
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        if (locals_[l].transport == nullptr) {
            return "local adapter " + std::to_string(l) + " has no transport";
        }
    }
    detector_.attach(topology_, now);
    for (LocalRuntime& local : locals_) {
        // The first beat goes out at once: peers learn of us without waiting an interval.
        wheel_.arm(local.tx_timer, now);
    }
    started_ = true;
    return {};
}

bool Engine::poll(Nanos now) noexcept {
    bool did_work = false;
    for (std::uint32_t l = 0; l < locals_.size(); ++l) {
        for (std::size_t burst = 0; burst < options_.max_bursts_per_poll; ++burst) {
            const std::size_t count = locals_[l].transport->receive(rx_burst_);
            for (std::size_t i = 0; i < count; ++i) {
                ingest(l, rx_burst_[i]);
            }
            did_work = did_work || count != 0;
            if (count < rx_burst_.size()) {
                break;
            }
        }
    }
    return tick(now) || did_work;
}

bool Engine::tick(Nanos now) noexcept {
    Nanos stalled_ns = 0;
    const std::uint32_t fired = wheel_.advance(now, [&](Timer& timer) {
        LocalRuntime& local = locals_[timer.id];
        stalled_ns = std::max(stalled_ns, now - timer.deadline);
        send_beats(timer.id, now, 0);
        if (local.pending_interval_ns != 0 && now >= local.pending_at_ns) {
            // Every peer has heard the longer timeout by now (timing_changed): widen the gaps.
            local.interval_ns = local.pending_interval_ns;
            local.pending_interval_ns = 0;
            derive_windows();
        }
        // Keep the cadence from when this beat was due, unless the loop fell a whole interval
        // behind: then from now.
        const Nanos gap = next_send_in(local.interval_ns);
        const Nanos next = timer.deadline + gap;
        wheel_.arm(timer, next <= now ? now + gap : next);
    });
    if (stalled_ns >= stall_threshold_ns_) {
        ++counters_.local_stalls;
        detector_.on_local_stall(now, stalled_ns);
    }
    const std::uint64_t emitted_before = counters_.events_emitted;
    detector_.tick(now, *this);
    return fired != 0 || counters_.events_emitted != emitted_before;
}

Nanos Engine::next_send_in(Nanos interval_ns) noexcept {
    jitter_state_ ^= jitter_state_ << 13;
    jitter_state_ ^= jitter_state_ >> 7;
    jitter_state_ ^= jitter_state_ << 17;
    // 75 % plus a uniform share of the next 15 %, in 1/1024 steps.
    const Nanos share = static_cast<Nanos>(jitter_state_ % 154);
    return std::max<Nanos>(interval_ns * (768 + share) / 1024, 1);
}

Nanos Engine::next_deadline() const noexcept {
    return std::min(wheel_.next_deadline(), detector_.next_deadline());
}

void Engine::emit(const Event& event) noexcept {
    if (events_.push(event)) {
        ++counters_.events_emitted;
    } else {
        ++counters_.events_lost;
    }
}

void Engine::replace_keys(const KeySet& keys) noexcept {
    // Switching between authenticated and not is a restart, never a reload: it would let an
    // unauthenticated configuration slip in through a SIGHUP.
    HB_ASSERT(keys.empty() == keys_.empty());
    keys_ = keys;
}

bool Engine::PeerRuntime::was_previous(std::uint32_t value) const noexcept {
    return std::find(previous.begin(), previous.end(), value) != previous.end();
}

void Engine::fill_beat(wire::Beat& beat, std::uint32_t local, Nanos now,
                       std::uint16_t flags) const {
    const LocalAdapter& adapter = topology_.local_adapters()[local];
    const Timing& timing = locals_[local].advertised;
    beat = wire::Beat{};
    beat.kind = wire::Kind::beat;
    beat.flags = flags;
    beat.cluster_id = config_.cluster_id;
    beat.src_node = config_.local_node;
    beat.network = adapter.network;
    beat.src_adapter = adapter.adapter;
    beat.incarnation = incarnation_;
    beat.tx_time_ns = static_cast<std::uint64_t>(now);
    beat.multiplier = static_cast<std::uint8_t>(std::min<std::uint32_t>(timing.multiplier, 255));
    beat.interval_us =
        static_cast<std::uint32_t>(std::max<Nanos>(timing.interval_ns / nanos_per_us, 1));
    beat.adapter_states = detector_.local_adapter_states();
    beat.key_id = keys_.empty() ? 0 : keys_.signing().id;
}

void Engine::clear_echo(wire::Beat& beat) noexcept {
    beat.echo_seq = 0;
    beat.echo_tx_time_ns = 0;
    beat.echo_hold_ns = 0;
    beat.echo_node = 0;
    beat.echo_adapter = 0;
}

void Engine::set_echo(wire::Beat& beat, PathIndex path, Nanos now) const noexcept {
    const PathRuntime& runtime = paths_[path];
    if (runtime.echo_seq == 0) {
        return;
    }
    const Path& p = topology_.paths()[path];
    beat.echo_seq = runtime.echo_seq;
    beat.echo_tx_time_ns = runtime.echo_tx_time_ns;
    beat.echo_hold_ns = saturate_u32(now - runtime.echo_rx_ns);
    beat.echo_node = p.peer_node;
    beat.echo_adapter = p.peer_adapter;
}

std::size_t Engine::encode_into(const wire::Beat& beat, TxRecord& record) const noexcept {
    std::span<std::uint8_t, wire::beat_size> bytes{record.bytes.data(), wire::beat_size};
    wire::encode(beat, bytes);
    if (!keys_.empty()) {
        mac_sign(keys_.signing().bytes, bytes);
    }
    record.length = wire::beat_size;
    return wire::beat_size;
}

void Engine::send_beats(std::uint32_t local, Nanos now, std::uint16_t flags) noexcept {
    LocalRuntime& runtime = locals_[local];
    if (muted()) {
        ++counters_.beats_muted;
        return;
    }
    const LocalAdapter& adapter = topology_.local_adapters()[local];
    const NetworkConfig& network = config_.networks[adapter.network];
    std::size_t count = 0;
    wire::Beat beat;
    if (network.mode == NetworkMode::multicast) {
        fill_beat(beat, local, now, flags);
        beat.dst_node = 0;
        beat.dst_adapter = wire::any_adapter;
        beat.seq = ++runtime.tx_seq;
        // One datagram serves every peer, so each beat echoes one of them in turn.
        for (std::uint32_t tried = 0; tried < adapter.path_count; ++tried) {
            const PathIndex path = adapter.first_path + runtime.echo_cursor;
            runtime.echo_cursor = (runtime.echo_cursor + 1) % adapter.path_count;
            if (paths_[path].echo_seq != 0) {
                set_echo(beat, path, now);
                break;
            }
        }
        TxRecord& record = runtime.tx_batch[0];
        record.dst_address = network.group;
        record.dst_port = network.port;
        encode_into(beat, record);
        count = 1;
    } else {
        // The header is the same for every path but for destination, sequence and echo.
        fill_beat(beat, local, now, flags);
        for (std::uint32_t i = 0; i < adapter.path_count; ++i) {
            const PathIndex path = adapter.first_path + i;
            const Path& p = topology_.paths()[path];
            clear_echo(beat);
            beat.dst_node = p.peer_node;
            beat.dst_adapter = p.peer_adapter;
            beat.seq = ++paths_[path].tx_seq;
            set_echo(beat, path, now);
            TxRecord& record = runtime.tx_batch[count++];
            record.dst_address = p.peer_address;
            record.dst_port = network.port;
            encode_into(beat, record);
        }
    }
    if (count == 0) {
        return;
    }
    const std::size_t sent = runtime.transport->send({runtime.tx_batch.data(), count});
    counters_.beats_sent += sent;
    counters_.send_failures += count - std::min(sent, count);
}

void Engine::answer_ping(std::uint32_t local, const wire::Beat& ping,
                         const RxRecord& record) noexcept {
    // hbping's PINGs are answered on the heartbeat socket itself, so `hbping -s` checks the live
    // path (DESIGN §8). The PONG echoes the PING's sequence and send time, and how long it was
    // held here, so the sender measures the round trip on its own clock.
    if (muted()) {
        ++counters_.beats_muted;
        return;
    }
    const Nanos now = monotonic_now();
    wire::Beat pong;
    fill_beat(pong, local, now, 0);
    pong.kind = wire::Kind::pong;
    pong.dst_node = ping.src_node;
    pong.seq = ++locals_[local].pongs_sent;
    pong.echo_seq = ping.seq;
    pong.echo_tx_time_ns = ping.tx_time_ns;
    pong.echo_hold_ns = saturate_u32(now - record.rx_ns);
    pong.echo_node = ping.src_node;
    pong.echo_adapter = ping.src_adapter;
    TxRecord& reply = pong_record_;
    reply.dst_address = record.src_address;
    reply.dst_port = record.src_port;
    encode_into(pong, reply);
    const bool sent = locals_[local].transport->send({&reply, 1}) == 1;
    counters_.pings_answered += sent ? 1 : 0;
    counters_.send_failures += sent ? 0 : 1;
}

void Engine::leave(Nanos now, std::uint32_t copies) noexcept {
    for (std::uint32_t c = 0; c < copies; ++c) {
        for (std::uint32_t l = 0; l < locals_.size(); ++l) {
            send_beats(l, now, wire::flags::leaving);
        }
    }
}

void Engine::restart_peer(PeerIndex peer, std::uint32_t incarnation, Nanos rx_ns) noexcept {
    PeerRuntime& runtime = peers_[peer];
    std::copy_backward(runtime.previous.begin(), runtime.previous.end() - 1,
                       runtime.previous.end());
    runtime.previous[0] = runtime.incarnation;
    runtime.incarnation = incarnation;
    for (const PathIndex path : topology_.peers()[peer].paths) {
        PathRuntime& p = paths_[path];
        p.tracker.reset();
        p.echo_seq = 0;
        p.echo_tx_time_ns = 0;
        p.echo_rx_ns = 0;
    }
    ++counters_.restarts_seen;
    detector_.on_peer_restart(peer, rx_ns);
}

void Engine::ingest(std::uint32_t local, const RxRecord& record) noexcept {
    HB_ASSERT(local < locals_.size());
    const Ipv4 from = record.src_address;
    if (record.length > wire::max_datagram) {
        drop(DropReason::oversize, from);
        return;
    }
    wire::Beat beat;
    const std::span<const std::uint8_t> datagram{record.bytes.data(), record.length};
    if (const wire::DecodeError error = wire::decode(datagram, beat);
        error != wire::DecodeError::none) {
        drop(drop_reason_of(error), from);
        return;
    }
    if (beat.cluster_id != config_.cluster_id) {
        drop(DropReason::other_cluster, from);
        return;
    }
    // Authenticity before anything else is believed: nothing below changes state for a datagram
    // that a key holder did not send (a forged restart or a replayed beat included).
    if (!keys_.empty()) {
        const MacCheck check = mac_check(keys_, std::span<const std::uint8_t, wire::beat_size>{
                                                    record.bytes.data(), wire::beat_size});
        if (check != MacCheck::ok) {
            drop(check == MacCheck::unknown_key ? DropReason::unknown_key : DropReason::bad_mac,
                 from);
            return;
        }
    }
    if (beat.kind == wire::Kind::ping) {
        answer_ping(local, beat, record);
        return;
    }
    if (beat.kind != wire::Kind::beat) {
        drop(DropReason::unsupported_kind, from);
        return;
    }
    if (beat.src_node == config_.local_node) {
        drop(DropReason::own_beat, from);
        return;
    }
    const LocalAdapter& adapter = topology_.local_adapters()[local];
    if ((beat.dst_node != 0 && beat.dst_node != config_.local_node) ||
        (beat.dst_adapter != wire::any_adapter && beat.dst_adapter != adapter.adapter)) {
        drop(DropReason::not_for_us, from);
        return;
    }
    const PeerIndex peer = topology_.peer_of(beat.src_node);
    if (peer == Topology::none) {
        drop(DropReason::unknown_node, from);
        return;
    }
    if (beat.network != adapter.network) {
        drop(DropReason::wrong_network, from);
        return;
    }
    const PathIndex path = topology_.find_path(local, beat.src_node, beat.src_adapter);
    if (path == Topology::none) {
        drop(DropReason::unknown_adapter, from);
        return;
    }
    if (record.src_address != topology_.paths()[path].peer_address) {
        drop(DropReason::wrong_address, from);
        return;
    }

    PeerRuntime& peer_runtime = peers_[peer];
    if (beat.incarnation != peer_runtime.incarnation) {
        if (peer_runtime.incarnation != 0 && peer_runtime.was_previous(beat.incarnation)) {
            drop(DropReason::stale_incarnation, from);
            return;
        }
        if (peer_runtime.incarnation == 0) {
            peer_runtime.incarnation = beat.incarnation;
        } else {
            restart_peer(peer, beat.incarnation, record.rx_ns);
        }
    }

    PathRuntime& runtime = paths_[path];
    const PathTracker::Arrival arrival = runtime.tracker.record(beat.seq, record.rx_ns);
    if (arrival == PathTracker::Arrival::stale) {
        drop(DropReason::stale_seq, from);
        return;
    }
    if (arrival == PathTracker::Arrival::duplicate) {
        drop(DropReason::duplicate, from);
        return;
    }
    ++counters_.beats_accepted;
    if (arrival == PathTracker::Arrival::fresh) {
        runtime.echo_seq = beat.seq;
        runtime.echo_tx_time_ns = beat.tx_time_ns;
        runtime.echo_rx_ns = record.rx_ns;
    }

    // The echo carries one of our own send times: the round trip and the proof that the peer
    // hears us are both judged on our clock alone.
    bool peer_hears_us = false;
    if (beat.echo_seq != 0 && beat.echo_node == config_.local_node &&
        beat.echo_adapter == adapter.adapter) {
        const Nanos since_sent = record.rx_ns - static_cast<Nanos>(beat.echo_tx_time_ns);
        runtime.tracker.record_rtt(since_sent - static_cast<Nanos>(beat.echo_hold_ns));
        peer_hears_us = since_sent >= 0 && since_sent <= locals_[local].hears_us_window_ns;
    }

    const Nanos peer_interval_ns = static_cast<Nanos>(beat.interval_us) * nanos_per_us;
    detector_.on_beat(BeatObservation{
        .path = path,
        .rx_ns = record.rx_ns,
        .peer_timeout_ns = peer_interval_ns * beat.multiplier,
        .peer_interval_ns = peer_interval_ns,
        .consecutive = runtime.tracker.consecutive(),
        .path_received = runtime.tracker.received(),
        .path_lost = runtime.tracker.lost(),
        .peer_adapter_states = beat.adapter_states,
        .peer_tx_time_ns = beat.tx_time_ns,
        .peer_hears_us = peer_hears_us,
        .leaving = (beat.flags & wire::flags::leaving) != 0,
    });
}

}  // namespace hb
