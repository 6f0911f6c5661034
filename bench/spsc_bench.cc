// The SPSC rings between threads (DESIGN §11, STYLE rule 6) as hb uses them:
// boost::lockfree::spsc_queue of receive records, one record at a time (ThreadedRunner's receive
// thread to the engine thread) and in bursts of 32 (the DPDK lcore's rings). On one thread (the
// operations' own cost, cache-hot) and across two threads (a producer and a consumer, each
// spinning when the ring is full or empty: throughput including the cache lines' travel).
#include <benchmark/benchmark.h>

#include <array>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>

#include "hb/transport.hh"

namespace {

// ThreadedRunner's item and its default capacity.
struct Item {
    std::uint32_t local = 0;
    hb::RxRecord record;
};
constexpr std::size_t capacity = 8192;
constexpr std::size_t burst = 32;  // DpdkTransport::max_burst

Item make_item(std::uint64_t seq) {
    Item item;
    item.local = static_cast<std::uint32_t>(seq & 1);
    item.record.rx_ns = static_cast<hb::Nanos>(seq);
    item.record.length = 112;
    item.record.bytes[0] = static_cast<std::uint8_t>(seq);
    return item;
}

void bm_spsc_push_pop_one(benchmark::State& state) {
    auto queue = std::make_unique<boost::lockfree::spsc_queue<Item>>(capacity);
    const Item in = make_item(1);
    Item out;
    std::uint64_t popped = 0;
    for (auto _ : state) {
        queue->push(in);
        popped += queue->pop(out) ? 1 : 0;
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sizeof(Item)));
    if (popped != static_cast<std::uint64_t>(state.iterations()) || out.record.rx_ns != 1) {
        state.SkipWithError("a record was lost or changed");
    }
}

void bm_spsc_push_pop_burst(benchmark::State& state) {
    auto queue = std::make_unique<boost::lockfree::spsc_queue<hb::RxRecord>>(capacity);
    std::array<hb::RxRecord, burst> in{};
    std::array<hb::RxRecord, burst> out{};
    for (std::size_t i = 0; i < burst; ++i) {
        in[i] = make_item(i).record;
    }
    std::uint64_t moved = 0;
    for (auto _ : state) {
        queue->push(in.data(), in.size());
        moved += queue->pop(out.data(), out.size());
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * burst));
    if (moved != static_cast<std::uint64_t>(state.iterations()) * burst ||
        out[burst - 1].rx_ns != in[burst - 1].rx_ns) {
        state.SkipWithError("a record was lost or changed");
    }
}

// Two threads: thread 0 produces, thread 1 consumes, one item per iteration each (Google
// Benchmark runs both for the same number of iterations, so every item pushed is popped).
// Sequence numbers are checked on the consumer side: order and completeness.
boost::lockfree::spsc_queue<Item>* shared_queue = nullptr;

void bm_spsc_cross_thread(benchmark::State& state) {
    if (state.thread_index() == 0) {
        shared_queue = new boost::lockfree::spsc_queue<Item>(capacity);
    }
    // The timed loop starts on a barrier of all threads, after this set-up.
    std::uint64_t seq = 0;
    bool in_order = true;
    for (auto _ : state) {
        if (state.thread_index() == 0) {
            const Item item = make_item(++seq);
            while (!shared_queue->push(item)) {
            }
        } else {
            Item item;
            while (!shared_queue->pop(item)) {
            }
            in_order = in_order && item.record.rx_ns == static_cast<hb::Nanos>(++seq);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (!in_order) {
        state.SkipWithError("records arrived out of order or were lost");
    }
    if (state.thread_index() == 0) {
        // The timed loop ends on a barrier: the consumer is done with the ring.
        delete shared_queue;
        shared_queue = nullptr;
    }
}

BENCHMARK(bm_spsc_push_pop_one);
BENCHMARK(bm_spsc_push_pop_burst);
BENCHMARK(bm_spsc_cross_thread)->Threads(2)->UseRealTime();

}  // namespace
