#include "transport/dpdk/neighbours.hh"

#include "hb/assert.hh"

namespace hb::transport {

NeighbourTable::NeighbourTable(NeighbourOptions options)
    : options_(options), entries_(options.capacity) {
    HB_ASSERT(options_.capacity > 0);
    HB_ASSERT(options_.max_attempts > 0);
}

NeighbourTable::Entry* NeighbourTable::find(Ipv4 address) noexcept {
    for (Entry& entry : entries_) {
        if (entry.state != State::free && entry.address == address) {
            return &entry;
        }
    }
    return nullptr;
}

const NeighbourTable::Entry* NeighbourTable::find(Ipv4 address) const noexcept {
    for (const Entry& entry : entries_) {
        if (entry.state != State::free && entry.address == address) {
            return &entry;
        }
    }
    return nullptr;
}

NeighbourTable::Entry* NeighbourTable::allocate(Ipv4 address) noexcept {
    for (Entry& entry : entries_) {
        if (entry.state == State::free) {
            entry = Entry{.address = address};
            ++used_;
            return &entry;
        }
    }
    ++counters_.table_full;
    return nullptr;
}

bool NeighbourTable::add_static(Ipv4 address, const frame::MacAddress& mac) {
    Entry* entry = find(address);
    if (entry == nullptr) {
        entry = allocate(address);
    }
    if (entry == nullptr) {
        return false;
    }
    entry->mac = mac;
    entry->state = State::fixed;
    return true;
}

NeighbourTable::Resolution NeighbourTable::resolve(Ipv4 address, Nanos now) noexcept {
    Entry* entry = find(address);
    if (entry == nullptr) {
        entry = allocate(address);
        if (entry == nullptr) {
            return {};
        }
        entry->state = State::resolving;
        entry->attempts = 1;
        entry->last_request_ns = now;
        return {.send_request = true};
    }
    switch (entry->state) {
        case State::learned:
        case State::fixed:
            return {.mac = entry->mac};
        case State::resolving:
            if (now - entry->last_request_ns < options_.retry_interval_ns) {
                return {};
            }
            if (entry->attempts >= options_.max_attempts) {
                entry->state = State::failed;
                ++counters_.resolution_failures;
                return {};
            }
            ++entry->attempts;
            entry->last_request_ns = now;
            return {.send_request = true};
        case State::failed:
            if (now - entry->last_request_ns < options_.failed_hold_ns) {
                return {};
            }
            entry->state = State::resolving;
            entry->attempts = 1;
            entry->last_request_ns = now;
            return {.send_request = true};
        case State::free:
            break;
    }
    HB_ASSERT(false);
    return {};
}

void NeighbourTable::learn(Ipv4 address, const frame::MacAddress& mac, bool create) noexcept {
    if (address.is_unspecified() || address.is_multicast() || mac.is_multicast() || mac.is_zero()) {
        return;  // ARP probes and nonsense teach nothing
    }
    Entry* entry = find(address);
    if (entry == nullptr) {
        if (!create) {
            return;
        }
        entry = allocate(address);
        if (entry == nullptr) {
            return;
        }
    }
    if (entry->state == State::fixed) {
        return;
    }
    if (entry->state != State::learned || entry->mac != mac) {
        ++counters_.learned;
    }
    entry->mac = mac;
    entry->state = State::learned;
}

std::optional<frame::MacAddress> NeighbourTable::lookup(Ipv4 address) const noexcept {
    const Entry* entry = find(address);
    if (entry != nullptr && (entry->state == State::learned || entry->state == State::fixed)) {
        return entry->mac;
    }
    return std::nullopt;
}

}  // namespace hb::transport
