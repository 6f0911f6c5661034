// Engine cost per beat: validate, record and judge one received beat, plus the engine's share of
// ticking and sending (in steady state every received beat is matched by one sent), at 1, 64
// and 1024 peers on one network and 1024 peers on two, with and without the MAC, ticking after
// every beat or once per receive burst of 32 (as the run loops do when beats queue up).
#include <benchmark/benchmark.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "hb/engine.hh"
#include "hb/mac.hh"
#include "policy/node_detector.hh"
#include "tests/support/test_cluster.hh"

namespace {

using namespace hb;

constexpr Timing fast{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};
// Beats are pre-encoded in batches of at least this many, so refilling (untimed) is rare.
constexpr std::size_t min_batch = 1 << 16;

// A transport that takes every beat and delivers nothing: the engine's own cost alone.
class NullTransport final : public Transport {
public:
    std::size_t receive(std::span<RxRecord>) noexcept override { return 0; }
    std::size_t send(std::span<const TxRecord> batch) noexcept override { return batch.size(); }
    TransportCounters counters() const noexcept override { return {}; }
};

void bm_engine_ingest_tick(benchmark::State& state) {
    const auto peer_count = static_cast<std::uint32_t>(state.range(0));
    const bool authenticated = state.range(1) != 0;
    const auto burst = static_cast<std::size_t>(state.range(2));
    const auto network_count = static_cast<std::uint32_t>(state.range(3));
    std::optional<MacKey> key;
    if (authenticated) {
        const std::array<std::uint8_t, 32> material{42};
        key = derive_key(material);
    }
    ClusterConfig config =
        test::make_cluster_config(peer_count + 1, network_count, NetworkMode::unicast, fast, key);
    config.local_node = 1;
    policy::NodeDetector detector;
    Engine engine(config, detector, EngineOptions{.incarnation = 1});
    std::vector<NullTransport> transports(network_count);
    for (std::uint32_t local = 0; local < network_count; ++local) {
        engine.attach_transport(local, transports[local]);
    }
    Nanos now = nanos_per_s;
    if (!engine.start(now).empty()) {
        state.SkipWithError("engine did not start");
        return;
    }

    // Beats from every peer on every network, round-robin (peer by peer, its networks in turn),
    // each echoing our beats so the paths come up, and each reporting all its adapters up.
    const std::uint32_t path_count = peer_count * network_count;
    const std::uint32_t beats_per_path =
        static_cast<std::uint32_t>((min_batch + path_count - 1) / path_count);
    std::vector<RxRecord> batch(static_cast<std::size_t>(path_count) * beats_per_path);
    std::uint64_t next_seq = 1;
    const Nanos step_ns = fast.interval_ns / path_count;
    const std::uint32_t all_adapters_up = (std::uint32_t{1} << network_count) - 1;
    const auto fill_batch = [&] {
        std::size_t i = 0;
        for (std::uint32_t round = 0; round < beats_per_path; ++round, ++next_seq) {
            for (NodeId peer = 2; peer <= peer_count + 1; ++peer) {
                for (NetworkIndex network = 0; network < network_count; ++network, ++i) {
                    wire::Beat beat;
                    beat.cluster_id = config.cluster_id;
                    beat.src_node = peer;
                    beat.dst_node = 1;
                    beat.network = static_cast<std::uint16_t>(network);
                    beat.src_adapter = static_cast<std::uint8_t>(network);
                    beat.incarnation = 1000 + peer;
                    beat.seq = next_seq;
                    beat.tx_time_ns = static_cast<std::uint64_t>(now);
                    beat.echo_seq = 1;
                    beat.echo_node = 1;
                    beat.echo_adapter = static_cast<std::uint8_t>(network);
                    beat.echo_tx_time_ns =
                        static_cast<std::uint64_t>(now + static_cast<Nanos>(i) * step_ns);
                    beat.multiplier = 3;
                    beat.interval_us = 10'000;
                    beat.adapter_states = all_adapters_up;
                    beat.key_id = key ? key->id : 0;
                    RxRecord& record = batch[i];
                    record.src_address = test::address_of(peer, network);
                    record.src_port = default_port;
                    record.length = wire::beat_size;
                    std::span<std::uint8_t, wire::beat_size> bytes{record.bytes.data(),
                                                                   wire::beat_size};
                    wire::encode(beat, bytes);
                    if (key) {
                        mac_sign(key->bytes, bytes);
                    }
                }
            }
        }
    };
    fill_batch();
    std::size_t cursor = 0;
    const auto ingest_burst = [&] {
        for (std::size_t b = 0; b < burst; ++b) {
            now += step_ns;
            const auto local = static_cast<std::uint32_t>(cursor % network_count);
            RxRecord& record = batch[cursor++];
            record.rx_ns = now;
            engine.ingest(local, record);
        }
        engine.tick(now);
    };
    // Untimed warm-up: every path comes up and every peer is reported up. Each NODE_UP is a
    // classification pass over all peers, so at 1024 peers bringing the cluster up costs tens of
    // milliseconds: timed, it would be charged to the first beats of the run.
    while (cursor < 3 * static_cast<std::size_t>(path_count)) {
        ingest_burst();
    }
    std::uint64_t node_up = 0;
    Event event;
    while (engine.next_event(event)) {
        node_up += event.kind == EventKind::node_up ? 1 : 0;
    }
    if (node_up != peer_count) {
        state.SkipWithError("the warm-up did not bring every peer up");
        return;
    }

    for (auto _ : state) {
        if (cursor + burst > batch.size()) {
            state.PauseTiming();
            fill_batch();
            cursor = 0;
            state.ResumeTiming();
        }
        ingest_burst();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    const EngineCounters& counters = engine.counters();
    state.counters["dropped"] = static_cast<double>(counters.dropped_total());
    state.counters["events_lost"] = static_cast<double>(counters.events_lost);
    if (counters.dropped_total() != 0) {
        state.SkipWithError("beats were dropped: the benchmark's beats are malformed");
        return;
    }
    // Steady beats must yield no verdict at all: a detector that classified them as failures
    // would be measuring its failure handling, not the beat path.
    std::uint64_t events = 0;
    EventKind last_kind = EventKind::node_up;
    while (engine.next_event(event)) {
        ++events;
        last_kind = event.kind;
    }
    state.counters["events"] = static_cast<double>(events);
    if (counters.events_lost != 0 || events != 0) {
        const std::string error = "steady beats yielded " + std::to_string(events) +
                                  " events (last " + std::string(event_name(last_kind)) + ")";
        state.SkipWithError(error.c_str());
    }
}

// What a flood costs the engine per datagram (docs/security.md, Floods): bursts of 32 received
// datagrams, each either random garbage (forged = 0) or a well-formed beat of the cluster that
// names a live peer and the cluster's key id with a random tag (forged = 1: a full MAC each).
void bm_engine_ingest_hostile(benchmark::State& state) {
    const bool forged = state.range(0) != 0;
    constexpr std::size_t burst = 32;
    const std::array<std::uint8_t, 32> material{42};
    const MacKey key = derive_key(material);
    ClusterConfig config = test::make_cluster_config(3, 1, NetworkMode::unicast, fast, key);
    config.local_node = 1;
    policy::NodeDetector detector;
    Engine engine(config, detector, EngineOptions{.incarnation = 1});
    NullTransport transport;
    engine.attach_transport(0, transport);
    Nanos now = nanos_per_s;
    if (!engine.start(now).empty()) {
        state.SkipWithError("engine did not start");
        return;
    }
    std::mt19937_64 rng(7);
    std::vector<RxRecord> batch(4096);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        RxRecord& record = batch[i];
        record.src_address = *Ipv4::parse("198.18.1.99");
        record.src_port = 40000;
        if (!forged) {
            record.length = static_cast<std::uint16_t>(1 + rng() % wire::max_datagram);
            for (std::uint8_t& byte : record.bytes) {
                byte = static_cast<std::uint8_t>(rng());
            }
            continue;
        }
        wire::Beat beat;
        beat.cluster_id = config.cluster_id;
        beat.src_node = 2;
        beat.dst_node = 1;
        beat.dst_adapter = 0;
        beat.incarnation = static_cast<std::uint32_t>(rng()) | 1U;
        beat.seq = i + 1;
        beat.multiplier = 3;
        beat.interval_us = 10'000;
        beat.key_id = key.id;
        record.length = wire::beat_size;
        std::span<std::uint8_t, wire::beat_size> bytes{record.bytes.data(), wire::beat_size};
        wire::encode(beat, bytes);
        for (std::size_t at = wire::mac_offset; at < wire::beat_size; ++at) {
            bytes[at] = static_cast<std::uint8_t>(rng());
        }
    }
    std::size_t cursor = 0;
    for (auto _ : state) {
        for (std::size_t b = 0; b < burst; ++b) {
            RxRecord& record = batch[cursor];
            cursor = (cursor + 1) % batch.size();
            record.rx_ns = now;
            engine.ingest(0, record);
        }
        now += 10 * nanos_per_us;
        engine.tick(now);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    const EngineCounters& counters = engine.counters();
    state.counters["bad_mac"] = static_cast<double>(counters.dropped_for(DropReason::bad_mac));
    if (counters.beats_accepted != 0) {
        state.SkipWithError("a hostile datagram was accepted");
    }
}

BENCHMARK(bm_engine_ingest_hostile)->ArgName("forged")->Arg(0)->Arg(1);

BENCHMARK(bm_engine_ingest_tick)
    ->ArgNames({"peers", "mac", "burst", "networks"})
    ->ArgsProduct({{1, 64, 1024}, {0, 1}, {1, 32}, {1}});
BENCHMARK(bm_engine_ingest_tick)
    ->ArgNames({"peers", "mac", "burst", "networks"})
    ->ArgsProduct({{1024}, {0, 1}, {1, 32}, {2}});

}  // namespace
