// Forgets the kernel's neighbour (ARP) entries of peers on an interface whose link came back, so
// that the next beat to each resolves its address at once instead of waiting out a failed
// entry's retry timer (net.ipv4.neigh.<if>.retrans_time_ms, 1 s by default; docs/linkwatch.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>

#include "hb/model.hh"

struct mnl_socket;

namespace hb::policy {

struct NeighbourFlushCounters {
    std::uint64_t requests = 0;   // RTM_DELNEIGH sent
    std::uint64_t forgotten = 0;  // the kernel had an entry and deleted it
    std::uint64_t absent = 0;     // no entry to delete (ENOENT): nothing was waiting
    std::uint64_t errors = 0;     // any other failure (sendto, an error reply)
};

class NeighbourFlush {
public:
    // A non-blocking NETLINK_ROUTE socket for requests; everything is allocated here.
    [[nodiscard]] static std::variant<std::unique_ptr<NeighbourFlush>, std::string> open();
    ~NeighbourFlush();
    NeighbourFlush(const NeighbourFlush&) = delete;
    NeighbourFlush& operator=(const NeighbourFlush&) = delete;

    // Deletes the IPv4 neighbour entries of `addresses` on interface `ifindex` and reads the
    // kernel's answers (rtnetlink answers before sendto returns). Never allocates, never blocks.
    void forget(int ifindex, std::span<const Ipv4> addresses) noexcept;
    const NeighbourFlushCounters& counters() const noexcept { return counters_; }

private:
    NeighbourFlush() = default;
    void read_answers() noexcept;

    mnl_socket* socket_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t sequence_ = 0;
    std::unique_ptr<char[]> buffer_;
    NeighbourFlushCounters counters_;
};

}  // namespace hb::policy
