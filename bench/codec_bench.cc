// Micro-benchmarks of the beat codec and MAC: the per-beat cost on the send path (encode, sign) and
// the receive path (verify, decode), alone and combined.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "hb/assert.hh"
#include "hb/mac.hh"
#include "hb/wire.hh"

namespace {

using Bytes = std::array<std::uint8_t, hb::wire::beat_size>;

constexpr std::uint64_t seed = 0x6862'6265'6e63'0001;
// Enough distinct beats that the branch predictor cannot learn one, few enough to stay in L1.
constexpr std::size_t beat_count = 64;

hb::wire::Beat random_beat(std::mt19937_64& rng) {
    hb::wire::Beat beat;
    beat.kind = static_cast<hb::wire::Kind>(1 + rng() % 5);
    beat.flags = static_cast<std::uint16_t>(rng() % 2 == 0 ? hb::wire::flags::leaving : 0);
    beat.cluster_id = rng();
    beat.src_node = 1 + static_cast<std::uint32_t>(rng() % 1000);
    beat.dst_node = static_cast<std::uint32_t>(rng() % 1000);
    beat.network = static_cast<std::uint16_t>(rng() % 4);
    beat.src_adapter = static_cast<std::uint8_t>(rng() % 32);
    beat.dst_adapter = static_cast<std::uint8_t>(rng() % 32);
    beat.incarnation = 1 + static_cast<std::uint32_t>(rng() % 0xFFFF'FFFE);
    beat.seq = 1 + rng() % (1ULL << 40);
    beat.tx_time_ns = rng();
    beat.echo_seq = rng();
    beat.echo_tx_time_ns = rng();
    beat.echo_hold_ns = static_cast<std::uint32_t>(rng());
    beat.echo_node = static_cast<std::uint32_t>(rng() % 1000);
    beat.echo_adapter = static_cast<std::uint8_t>(rng() % 32);
    beat.multiplier = static_cast<std::uint8_t>(1 + rng() % 10);
    beat.interval_us = 1 + static_cast<std::uint32_t>(rng() % 1'000'000);
    beat.adapter_states = static_cast<std::uint32_t>(rng());
    return beat;
}

struct Fixture {
    hb::MacKeyBytes key{};
    std::vector<hb::wire::Beat> beats;
    std::vector<Bytes> unsigned_bytes;
    std::vector<Bytes> signed_bytes;

    Fixture() {
        std::mt19937_64 rng(seed);
        std::array<std::uint8_t, 32> material{};
        for (auto& byte : material) {
            byte = static_cast<std::uint8_t>(rng());
        }
        key = hb::derive_mac_key(material);
        for (std::size_t i = 0; i < beat_count; ++i) {
            beats.push_back(random_beat(rng));
            Bytes bytes{};
            hb::wire::encode(beats.back(), bytes);
            unsigned_bytes.push_back(bytes);
            hb::mac_sign(key, bytes);
            signed_bytes.push_back(bytes);
        }
    }
};

const Fixture& fixture() {
    static const Fixture instance;
    return instance;
}

void bm_encode(benchmark::State& state) {
    const Fixture& f = fixture();
    Bytes out{};
    std::size_t i = 0;
    for (auto _ : state) {
        hb::wire::encode(f.beats[i], out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
        i = (i + 1) % beat_count;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_encode);

void bm_decode(benchmark::State& state) {
    const Fixture& f = fixture();
    hb::wire::Beat beat;
    std::size_t i = 0;
    for (auto _ : state) {
        const hb::wire::DecodeError error = hb::wire::decode(f.unsigned_bytes[i], beat);
        benchmark::DoNotOptimize(error);
        benchmark::DoNotOptimize(beat);
        i = (i + 1) % beat_count;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_decode);

void bm_encode_sign(benchmark::State& state) {
    const Fixture& f = fixture();
    Bytes out{};
    std::size_t i = 0;
    for (auto _ : state) {
        hb::wire::encode(f.beats[i], out);
        hb::mac_sign(f.key, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
        i = (i + 1) % beat_count;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_encode_sign);

void bm_verify_decode(benchmark::State& state) {
    const Fixture& f = fixture();
    hb::wire::Beat beat;
    std::size_t i = 0;
    for (auto _ : state) {
        const bool authentic = hb::mac_verify(f.key, f.signed_bytes[i]);
        const hb::wire::DecodeError error = hb::wire::decode(f.signed_bytes[i], beat);
        benchmark::DoNotOptimize(authentic);
        benchmark::DoNotOptimize(error);
        benchmark::DoNotOptimize(beat);
        i = (i + 1) % beat_count;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_verify_decode);

// One beat's whole trip through both ends, without the network in between.
void bm_encode_sign_verify_decode(benchmark::State& state) {
    const Fixture& f = fixture();
    Bytes wire_bytes{};
    hb::wire::Beat beat;
    std::size_t i = 0;
    for (auto _ : state) {
        hb::wire::encode(f.beats[i], wire_bytes);
        hb::mac_sign(f.key, wire_bytes);
        benchmark::ClobberMemory();
        const bool authentic = hb::mac_verify(f.key, wire_bytes);
        const hb::wire::DecodeError error = hb::wire::decode(wire_bytes, beat);
        benchmark::DoNotOptimize(authentic);
        benchmark::DoNotOptimize(error);
        benchmark::DoNotOptimize(beat);
        i = (i + 1) % beat_count;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_encode_sign_verify_decode);

}  // namespace
