// Micro-benchmarks of the DPDK transport on vdevs (no NIC, no hugepages): frame build and parse
// per call, the TX cost per beat on net_null (which frees what it is given), and the RX + parse
// rate of one core on net_ring (frames prepared outside the timed region). The EAL starts once in
// main() with --no-huge; not root: exit 77 (skip), with the reason.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hb/assert.hh"
#include "hb/wire.hh"
#include "transport/dpdk/dpdk_transport.hh"
#include "transport/dpdk/eal.hh"
#include "transport/dpdk/frame.hh"
#include "transport/dpdk/tsc_clock.hh"

namespace {

using hb::Ipv4;
using hb::transport::DpdkOptions;
using hb::transport::DpdkTransport;
namespace frame = hb::transport::frame;

constexpr Ipv4 local_address{0xC6120301};  // 198.18.3.1
constexpr Ipv4 peer_address{0xC6120302};
constexpr std::uint16_t udp_port = 4098;
const frame::MacAddress peer_mac{{0x02, 0x68, 0x62, 0x12, 0x03, 0x02}};

// A beat-sized payload with a fixed pattern (the transport does not look inside).
std::array<std::uint8_t, hb::wire::beat_size> beat_bytes() {
    std::array<std::uint8_t, hb::wire::beat_size> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<std::uint8_t>(0x5A ^ (i * 7));
    }
    return bytes;
}

frame::UdpFrameSpec spec_from_peer(const frame::MacAddress& local_mac, bool udp_checksum) {
    return {.dst_mac = local_mac,
            .src_mac = peer_mac,
            .src_address = peer_address,
            .dst_address = local_address,
            .src_port = udp_port,
            .dst_port = udp_port,
            .udp_checksum = udp_checksum};
}

std::unique_ptr<DpdkTransport> open_or_fail(benchmark::State& state, const DpdkOptions& options) {
    auto opened = DpdkTransport::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) {
        state.SkipWithError(error->c_str());
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<DpdkTransport>>(opened));
}

// Arg: 1 with the UDP checksum, 0 without (IPv4's "none").
void BM_FrameBuildUdp(benchmark::State& state) {
    const auto payload = beat_bytes();
    const frame::UdpFrameSpec spec = spec_from_peer(frame::MacAddress{}, state.range(0) != 0);
    std::array<std::uint8_t, frame::udp_overhead + hb::wire::beat_size> out{};
    for (auto _ : state) {
        benchmark::DoNotOptimize(frame::build_udp(spec, payload, out));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameBuildUdp)->Arg(1)->Arg(0);

// Arg as above: a received UDP checksum is verified, a zero one is not.
void BM_FrameParseUdp(benchmark::State& state) {
    const auto payload = beat_bytes();
    std::array<std::uint8_t, frame::udp_overhead + hb::wire::beat_size> bytes{};
    HB_ASSERT(frame::build_udp(spec_from_peer(frame::MacAddress{}, state.range(0) != 0), payload,
                               bytes) == bytes.size());
    frame::ParsedFrame parsed;
    for (auto _ : state) {
        benchmark::DoNotOptimize(bytes.data());
        const frame::FrameKind kind = frame::parse(bytes, udp_port, parsed);
        benchmark::DoNotOptimize(kind);
        benchmark::DoNotOptimize(parsed);
    }
    HB_ASSERT(frame::parse(bytes, udp_port, parsed) == frame::FrameKind::udp);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameParseUdp)->Arg(1)->Arg(0);

// The receive stamp, once per burst: the TSC clock against the clock_gettime it replaces.
std::uint64_t read_tsc() noexcept {
    return rte_rdtsc();
}

void BM_RxStampTscClock(benchmark::State& state) {
    hb::transport::TscClock clock(rte_get_tsc_hz(), &read_tsc, &hb::monotonic_now);
    for (auto _ : state) {
        benchmark::DoNotOptimize(clock.now());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RxStampTscClock);

void BM_RxStampMonotonicNow(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(hb::monotonic_now());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RxStampMonotonicNow);

// send() of a batch of beats to a static neighbour on net_null: mbuf alloc, frame build with the
// UDP checksum, TX burst, the driver's free. Arg: beats per send() call. Items: beats.
void BM_TxBeatNetNull(benchmark::State& state) {
    const std::string port = "net_null_tx" + std::to_string(state.range(0)) + ",no-rx=1";
    auto transport = open_or_fail(state, {.port = port,
                                          .address = local_address,
                                          .udp_port = udp_port,
                                          .neighbours = {{peer_address, peer_mac}}});
    if (!transport) {
        return;
    }
    hb::TxRecord record{.dst_address = peer_address, .dst_port = udp_port};
    const auto payload = beat_bytes();
    std::copy(payload.begin(), payload.end(), record.bytes.begin());
    record.length = static_cast<std::uint16_t>(payload.size());
    const std::vector<hb::TxRecord> batch(static_cast<std::size_t>(state.range(0)), record);
    std::size_t sent = 0;
    for (auto _ : state) {
        sent += transport->send(batch);
    }
    HB_ASSERT(sent == state.iterations() * batch.size());  // nothing dropped: all was measured
    HB_ASSERT(transport->mempool_available() == transport->mempool_capacity());
    state.SetItemsProcessed(static_cast<std::int64_t>(sent));
}
BENCHMARK(BM_TxBeatNetNull)->Arg(1)->Arg(8)->Arg(32);

// receive() on a net_ring port whose RX ring is refilled, outside the timed region, with frames
// from a peer (UDP checksum on): RX burst, parse with checksums, copy into RxRecords, free.
// Items: frames, so items_per_second is the rate of one core. Arg: records per receive() call.
void BM_RxParseNetRing(benchmark::State& state) {
    constexpr unsigned ring_size = 4096;
    static int serial = 0;
    const std::string suffix = std::to_string(serial++);
    rte_ring* rx = rte_ring_create(("bench_rx" + suffix).c_str(), ring_size, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* tx = rte_ring_create(("bench_tx" + suffix).c_str(), 64, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
    HB_ASSERT(rx != nullptr && tx != nullptr);
    const std::string name = "bench_rx" + suffix;
    HB_ASSERT(rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, SOCKET_ID_ANY) >= 0);
    {
        auto transport = open_or_fail(
            state, {.port = "net_ring_" + name, .address = local_address, .udp_port = udp_port});
        if (!transport) {
            return;
        }
        // Frames held with an extra reference: receive() frees one, the refill adds it back, so
        // the same mbufs (as many as the ring holds, not one hot cache line) go round.
        rte_mempool* pool = rte_pktmbuf_pool_create(("bench_pool" + suffix).c_str(), ring_size, 0,
                                                    0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        HB_ASSERT(pool != nullptr);
        std::vector<rte_mbuf*> frames(ring_size - 1);
        const auto payload = beat_bytes();
        std::uint16_t ip_id = 0;
        for (rte_mbuf*& mbuf : frames) {
            mbuf = rte_pktmbuf_alloc(pool);
            HB_ASSERT(mbuf != nullptr);
            const std::size_t length = frame::udp_overhead + payload.size();
            auto* data = reinterpret_cast<std::uint8_t*>(
                rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(length)));
            frame::UdpFrameSpec spec = spec_from_peer(transport->mac(), true);
            spec.ip_id = ip_id++;
            HB_ASSERT(frame::build_udp(spec, payload, {data, length}) == length);
        }
        const auto refill = [&] {
            for (rte_mbuf* mbuf : frames) {
                rte_mbuf_refcnt_update(mbuf, 1);
            }
            HB_ASSERT(rte_ring_enqueue_bulk(rx, reinterpret_cast<void* const*>(frames.data()),
                                            static_cast<unsigned>(frames.size()),
                                            nullptr) == frames.size());
        };
        std::vector<hb::RxRecord> out(static_cast<std::size_t>(state.range(0)));
        std::size_t received = 0;
        std::size_t in_ring = 0;  // frames the timed loop may still take
        for (auto _ : state) {
            if (in_ring < out.size()) {
                state.PauseTiming();
                while (rte_ring_count(rx) != 0) {
                    transport->receive(out);
                }
                refill();
                in_ring = frames.size();
                state.ResumeTiming();
            }
            const std::size_t count = transport->receive(out);
            received += count;
            in_ring -= count;
        }
        HB_ASSERT(transport->dpdk_counters().rx_malformed_total() == 0);
        HB_ASSERT(transport->dpdk_counters().rx_not_for_us == 0);
        state.SetItemsProcessed(static_cast<std::int64_t>(received));
        // Leave nothing of this pool behind in the ring, then drop our own references.
        while (rte_ring_count(rx) != 0) {
            transport->receive(out);
        }
        rte_pktmbuf_free_bulk(frames.data(), static_cast<unsigned>(frames.size()));
        transport.reset();
        rte_mempool_free(pool);
    }
    rte_eal_hotplug_remove("vdev", ("net_ring_" + name).c_str());
    rte_ring_free(rx);
    rte_ring_free(tx);
}
BENCHMARK(BM_RxParseNetRing)->Arg(32);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    if (geteuid() != 0) {
        std::fprintf(stderr, "dpdk_bench: skipped: not root (the EAL needs it even --no-huge)\n");
        return 77;
    }
    const std::vector<std::string> args{"--no-huge",
                                        "-m",
                                        "128",
                                        "--no-pci",
                                        "--no-telemetry",
                                        "--log-level=lib.eal:error",
                                        "--file-prefix=hb_bench_" + std::to_string(getpid())};
    if (const std::string error = hb::transport::eal::start(args); !error.empty()) {
        std::fprintf(stderr, "dpdk_bench: skipped: the EAL cannot start: %s\n", error.c_str());
        return 77;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    const std::string runtime_directory = hb::transport::eal::runtime_directory();
    hb::transport::eal::stop();
    std::error_code ignored;  // this process's own prefix
    std::filesystem::remove_all(runtime_directory, ignored);
    return 0;
}
