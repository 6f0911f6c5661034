// An in-memory network for tests: transports that deliver datagrams to each other by address
// (unicast) or to every member of a group (multicast), with links that can be cut one way or both.
// No sockets, no threads: delivery happens when the receiver polls.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "hb/transport.hh"

namespace hb::test {

class FakeNetwork;

class FakeTransport final : public Transport {
public:
    FakeTransport(FakeNetwork& network, Ipv4 address, std::uint16_t port)
        : network_(network), address_(address), port_(port) {}

    std::size_t receive(std::span<RxRecord> out) noexcept override {
        std::size_t count = 0;
        // A datagram arrives when its receive time has come, not when it was sent.
        while (count < out.size() && head_ != tail_ &&
               (clock_ns == nullptr || inbox_[head_ % inbox_.size()].rx_ns <= *clock_ns)) {
            out[count++] = inbox_[head_ % inbox_.size()];
            ++head_;
        }
        counters_.rx_datagrams += count;
        return count;
    }
    std::size_t send(std::span<const TxRecord> batch) noexcept override;
    TransportCounters counters() const noexcept override { return counters_; }

    Ipv4 address() const noexcept { return address_; }
    std::uint16_t port() const noexcept { return port_; }
    // A full inbox drops, as a socket buffer does; the ring is allocated once, here.
    void deliver(const RxRecord& record) noexcept {
        if (tail_ - head_ == inbox_.size()) {
            ++counters_.rx_errors;
            return;
        }
        inbox_[tail_ % inbox_.size()] = record;
        ++tail_;
    }
    std::size_t pending() const noexcept { return tail_ - head_; }
    // Time stamped on datagrams sent from here (the sender's "now"); tests set it.
    Nanos* clock_ns = nullptr;

private:
    FakeNetwork& network_;
    Ipv4 address_;
    std::uint16_t port_;
    std::vector<RxRecord> inbox_ = std::vector<RxRecord>(1024);
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    TransportCounters counters_;
};

class FakeNetwork {
public:
    // Latency added to every datagram's receive stamp.
    Nanos latency_ns = 0;
    // Seeded impairments of every delivery: random loss, and extra delay uniform in
    // [0, jitter_ns] (the inbox is FIFO, so jitter delays without reordering).
    double loss = 0.0;
    Nanos jitter_ns = 0;
    std::mt19937_64 random{1};

    void attach(FakeTransport& transport) { members_[transport.address().value] = &transport; }
    void detach(FakeTransport& transport) {
        members_.erase(transport.address().value);
        for (auto& [group, members] : groups_) {
            members.erase(transport.address().value);
        }
    }
    void join(Ipv4 group, FakeTransport& transport) {
        groups_[group.value][transport.address().value] = &transport;
    }

    // Drops everything from `from` to `to` until restored.
    void cut(Ipv4 from, Ipv4 to) { cut_.insert({from.value, to.value}); }
    void restore(Ipv4 from, Ipv4 to) { cut_.erase({from.value, to.value}); }
    void cut_both(Ipv4 a, Ipv4 b) {
        cut(a, b);
        cut(b, a);
    }
    void restore_all() { cut_.clear(); }

    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;

    void route(const FakeTransport& from, const TxRecord& record, Nanos tx_ns) {
        RxRecord rx;
        rx.rx_ns = tx_ns + latency_ns;
        rx.src_address = from.address();
        rx.src_port = from.port();
        rx.length = record.length;
        std::copy(record.bytes.begin(), record.bytes.end(), rx.bytes.begin());
        if (record.dst_address.is_multicast()) {
            const auto group = groups_.find(record.dst_address.value);
            if (group == groups_.end()) {
                ++dropped;
                return;
            }
            for (const auto& [address, member] : group->second) {
                if (member != &from) {
                    hand_to(*member, from, rx);
                }
            }
            return;
        }
        const auto found = members_.find(record.dst_address.value);
        if (found != members_.end()) {
            hand_to(*found->second, from, rx);
        } else {
            ++dropped;
        }
    }

private:
    void hand_to(FakeTransport& to, const FakeTransport& from, const RxRecord& rx) {
        if (cut_.contains({from.address().value, to.address().value})) {
            ++dropped;
            return;
        }
        if (loss > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(random) < loss) {
            ++dropped;
            return;
        }
        ++delivered;
        if (jitter_ns > 0) {
            RxRecord late = rx;
            late.rx_ns += std::uniform_int_distribution<Nanos>(0, jitter_ns)(random);
            to.deliver(late);
            return;
        }
        to.deliver(rx);
    }

    std::map<std::uint32_t, FakeTransport*> members_;
    // Members by address, never by pointer: delivery order draws the loss and jitter, and a
    // seed must replay the same run whatever addresses the heap hands out.
    std::map<std::uint32_t, std::map<std::uint32_t, FakeTransport*>> groups_;
    std::set<std::pair<std::uint32_t, std::uint32_t>> cut_;
};

inline std::size_t FakeTransport::send(std::span<const TxRecord> batch) noexcept {
    for (const TxRecord& record : batch) {
        network_.route(*this, record, clock_ns != nullptr ? *clock_ns : 0);
    }
    counters_.tx_datagrams += batch.size();
    return batch.size();
}

}  // namespace hb::test
