// Engine cost per beat: validate, record and judge one received beat, plus the engine's share of
// ticking and sending (in steady state every received beat is matched by one sent), at 1, 64
// and 1024 peers, with and without the MAC, ticking after every beat or once per receive burst
// of 32 (as the run loops do when beats queue up).
#include <benchmark/benchmark.h>

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
    std::optional<MacKeyBytes> key;
    if (authenticated) {
        const std::array<std::uint8_t, 32> material{42};
        key = derive_mac_key(material);
    }
    ClusterConfig config =
        test::make_cluster_config(peer_count + 1, 1, NetworkMode::unicast, fast, key);
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

    // Beats from every peer, round-robin, each echoing our beats so the paths come up.
    const std::uint32_t beats_per_peer =
        static_cast<std::uint32_t>((min_batch + peer_count - 1) / peer_count);
    std::vector<RxRecord> batch(static_cast<std::size_t>(peer_count) * beats_per_peer);
    std::uint64_t next_seq = 1;
    const Nanos step_ns = fast.interval_ns / peer_count;
    const auto fill_batch = [&] {
        std::size_t i = 0;
        for (std::uint32_t round = 0; round < beats_per_peer; ++round, ++next_seq) {
            for (NodeId peer = 2; peer <= peer_count + 1; ++peer, ++i) {
                wire::Beat beat;
                beat.cluster_id = config.cluster_id;
                beat.src_node = peer;
                beat.dst_node = 1;
                beat.incarnation = 1000 + peer;
                beat.seq = next_seq;
                beat.tx_time_ns = static_cast<std::uint64_t>(now);
                beat.echo_seq = 1;
                beat.echo_node = 1;
                beat.echo_adapter = 0;
                beat.echo_tx_time_ns =
                    static_cast<std::uint64_t>(now + static_cast<Nanos>(i) * step_ns);
                beat.multiplier = 3;
                beat.interval_us = 10'000;
                RxRecord& record = batch[i];
                record.src_address = test::address_of(peer, 0);
                record.src_port = default_port;
                record.length = wire::beat_size;
                std::span<std::uint8_t, wire::beat_size> bytes{record.bytes.data(),
                                                               wire::beat_size};
                wire::encode(beat, bytes);
                if (key) {
                    mac_sign(*key, bytes);
                }
            }
        }
    };
    fill_batch();
    std::size_t cursor = 0;
    for (auto _ : state) {
        if (cursor + burst > batch.size()) {
            state.PauseTiming();
            fill_batch();
            cursor = 0;
            state.ResumeTiming();
        }
        for (std::size_t b = 0; b < burst; ++b) {
            now += step_ns;
            RxRecord& record = batch[cursor++];
            record.rx_ns = now;
            engine.ingest(0, record);
        }
        engine.tick(now);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    const EngineCounters& counters = engine.counters();
    state.counters["dropped"] = static_cast<double>(counters.dropped_total());
    state.counters["events_lost"] = static_cast<double>(counters.events_lost);
    if (counters.dropped_total() != 0) {
        state.SkipWithError("beats were dropped: the benchmark's beats are malformed");
    }
}

BENCHMARK(bm_engine_ingest_tick)
    ->ArgNames({"peers", "mac", "burst"})
    ->ArgsProduct({{1, 64, 1024}, {0, 1}, {1, 32}});

}  // namespace
