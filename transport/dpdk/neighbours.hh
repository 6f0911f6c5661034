// The DPDK transport's ARP table: a fixed number of entries, sized at construction. Static
// entries come from the configuration and are never replaced; others are learned from ARP
// traffic or resolved on demand with a bounded number of requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "hb/clock.hh"
#include "hb/model.hh"
#include "transport/dpdk/frame.hh"

namespace hb::transport {

struct NeighbourOptions {
    std::size_t capacity = 64;
    Nanos retry_interval_ns = 100 * nanos_per_ms;  // between requests while resolving
    std::uint32_t max_attempts = 3;                // requests per resolution round
    // After a round without an answer, the next round starts no sooner than this: an absent
    // peer costs one short burst of requests per hold, not one per beat.
    Nanos failed_hold_ns = 1 * nanos_per_s;
};

struct NeighbourCounters {
    std::uint64_t table_full = 0;  // an address that had no room (lookups for it keep failing)
    std::uint64_t learned = 0;     // entries created or changed by ARP
    std::uint64_t resolution_failures = 0;  // rounds that ended without an answer
};

class NeighbourTable {
public:
    explicit NeighbourTable(NeighbourOptions options = {});

    // Adds or replaces a static entry; false when the table is full.
    [[nodiscard]] bool add_static(Ipv4 address, const frame::MacAddress& mac);

    // The answer for sending to `address` at `now`: the MAC when known; otherwise whether an ARP
    // request should go out now (the caller sends it). Starts a resolution when needed.
    struct Resolution {
        std::optional<frame::MacAddress> mac;
        bool send_request = false;
    };
    Resolution resolve(Ipv4 address, Nanos now) noexcept;

    // A MAC seen in ARP for `address`. `create` says whether an unknown address gets an entry
    // (RFC 826: when the packet was for us); known, non-static entries are always updated.
    void learn(Ipv4 address, const frame::MacAddress& mac, bool create) noexcept;

    std::optional<frame::MacAddress> lookup(Ipv4 address) const noexcept;
    std::size_t size() const noexcept { return used_; }
    std::size_t capacity() const noexcept { return entries_.size(); }
    const NeighbourCounters& counters() const noexcept { return counters_; }

private:
    enum class State : std::uint8_t { free, resolving, failed, learned, fixed };
    struct Entry {
        Ipv4 address;
        frame::MacAddress mac;
        State state = State::free;
        std::uint32_t attempts = 0;
        Nanos last_request_ns = 0;
    };
    Entry* find(Ipv4 address) noexcept;
    const Entry* find(Ipv4 address) const noexcept;
    Entry* allocate(Ipv4 address) noexcept;

    NeighbourOptions options_;
    std::vector<Entry> entries_;  // sized once: never grows
    std::size_t used_ = 0;
    NeighbourCounters counters_;
};

}  // namespace hb::transport
