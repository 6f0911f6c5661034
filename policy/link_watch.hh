// The link watch: local adapter health from rtnetlink link events (DESIGN §6 rule 1, the
// poll_uplink-style check), the interfaces' rx counters, and whether an interface reports carrier
// at all (which decides whether rule 3's inbound-traffic check joins in; see docs/inbound.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace hb::policy {

enum class LinkState : std::uint8_t { unknown, up, down, missing };

[[nodiscard]] const char* to_string(LinkState state) noexcept;

// One watched interface as the kernel last described it. `state` is `up` only when the interface
// is administratively up (IFF_UP), has carrier (IFF_LOWER_UP) and its RFC 2863 operstate is UP or
// UNKNOWN: many virtual devices (tun, loopback) never leave UNKNOWN, while DOWN, LOWERLAYERDOWN,
// DORMANT, TESTING and NOTPRESENT all mean no traffic will pass. `missing` means no interface of
// that name exists in this network namespace; its other fields are then zero but operstate, which
// is IF_OPER_NOTPRESENT. `unknown` is never seen after open().
struct LinkStatus {
    LinkState state = LinkState::unknown;
    bool admin_up = false;
    bool carrier = false;          // IFF_LOWER_UP
    std::uint8_t operstate = 0;    // IF_OPER_*
    int ifindex = 0;               // 0 while missing
    std::uint64_t rx_packets = 0;  // IFLA_STATS64 (IFLA_STATS on kernels without it)
    std::uint64_t rx_bytes = 0;
};

// True when the interface exists but does not report carrier state at all: RFC 2863 operstate
// UNKNOWN (tun, dummy and other virtual devices without carrier reporting). Its link state then
// says little, and DESIGN §6 rule 3 (the inbound-traffic check) has to tell.
[[nodiscard]] bool has_no_carrier_state(const LinkStatus& status) noexcept;

struct LinkChange {
    std::uint32_t index;  // position in the names given to open()
    LinkState old_state;
    LinkState new_state;
};

struct LinkWatchCounters {
    std::uint64_t events = 0;         // RTM_NEWLINK/RTM_DELLINK notifications seen
    std::uint64_t dump_messages = 0;  // RTM_NEWLINK replies to our RTM_GETLINK dumps
    std::uint64_t dumps = 0;          // dumps completed (open, resyncs, request_stats)
    std::uint64_t resyncs = 0;        // ENOBUFS or interrupted dumps answered by a fresh dump
    std::uint64_t parse_errors = 0;   // malformed or truncated messages, error replies
    std::uint64_t io_errors = 0;      // recv/send failures other than EAGAIN and ENOBUFS
};

// Watches a fixed set of interface names through a non-blocking NETLINK_ROUTE socket subscribed
// to RTMGRP_LINK. Everything is allocated in open(); poll() and request_stats() never allocate.
// Names are followed, not ifindexes: a renamed interface leaves its old name (now `missing`) and
// a new interface taking a watched name becomes known under that name.
class LinkWatch {
public:
    // Opens the socket, subscribes, and reads the initial state of every name with a synchronous
    // RTM_GETLINK dump (bounded to 2 s), so status() is meaningful before the first event.
    [[nodiscard]] static std::variant<std::unique_ptr<LinkWatch>, std::string> open(
        std::span<const std::string> ifnames);

    ~LinkWatch();
    LinkWatch(const LinkWatch&) = delete;
    LinkWatch& operator=(const LinkWatch&) = delete;
    LinkWatch(LinkWatch&&) = delete;
    LinkWatch& operator=(LinkWatch&&) = delete;

    // Readable (EPOLLIN) when poll() has work.
    [[nodiscard]] int fd() const noexcept;

    // Reads at most one burst of netlink datagrams, updates the table and writes the state changes
    // into `out` in the order they happened. Returns how many were written. When `out` fills, the
    // remaining changes are kept (coalesced per interface) and returned first by the next call, so
    // a full `out` means: call again even if the fd is not readable.
    [[nodiscard]] std::size_t poll(std::span<LinkChange> out) noexcept;

    // Asks the kernel for a fresh RTM_GETLINK dump; its replies, read by poll(), refresh the rx
    // counters (and the link state). Asynchronous so the run loop never blocks on the kernel; a
    // request made while a dump is running is served by one more dump when it ends.
    void request_stats() noexcept;

    [[nodiscard]] const LinkStatus& status(std::uint32_t index) const noexcept;
    [[nodiscard]] std::uint32_t size() const noexcept;
    [[nodiscard]] const LinkWatchCounters& counters() const noexcept { return counters_; }
    // True while a dump is outstanding: tests and callers of request_stats() wait on this.
    [[nodiscard]] bool dump_in_flight() const noexcept { return dump_in_flight_; }

    // Netlink datagram buffer. MNL_SOCKET_BUFFER_SIZE (one page) can truncate a dump of links with
    // many attributes; 32 KiB is what later libmnl calls MNL_SOCKET_DUMP_SIZE.
    static constexpr std::size_t buffer_size = 32768;
    // Datagrams read per poll(): one burst.
    static constexpr std::size_t burst_datagrams = 16;

private:
    static constexpr std::size_t name_capacity = 16;  // IFNAMSIZ

    struct Entry {
        char name[name_capacity] = {};
        LinkStatus status;
        LinkState reported = LinkState::unknown;  // the state the caller last saw
        bool seen_in_dump = false;
    };

    LinkWatch() = default;

    [[nodiscard]] bool start_dump() noexcept;
    [[nodiscard]] bool dump_pending() const noexcept { return resync_wanted_ || stats_wanted_; }
    void after_dump_done() noexcept;
    void read_burst() noexcept;
    void handle_datagram(const void* data, std::size_t length) noexcept;
    void handle_link(const nlmsghdr* header) noexcept;
    void set_state(std::uint32_t index, LinkState state) noexcept;
    void mark_missing(std::uint32_t index) noexcept;
    void flush_pending() noexcept;

    mnl_socket* socket_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t dump_seq_ = 0;
    int last_errno_ = 0;
    bool dump_in_flight_ = false;
    bool dump_interrupted_ = false;
    bool resync_wanted_ = false;
    bool stats_wanted_ = false;
    std::vector<Entry> entries_;
    std::unique_ptr<char[]> buffer_;
    LinkWatchCounters counters_;
    // Where poll() is writing changes this call; empty outside poll().
    std::span<LinkChange> out_;
    std::size_t out_count_ = 0;
};

}  // namespace hb::policy
