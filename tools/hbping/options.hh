// hbping's command line: the raw strings the parser collected, checked into Options by a pure
// function, so every bad value is refused with a message naming it (exit 2) and tests need no
// process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hb/clock.hh"
#include "hb/model.hh"
#include "hb/wire.hh"

namespace hb::ping {

inline constexpr Ipv4 default_group{0xE3010101};  // 227.1.1.1, mping's default group
inline constexpr std::uint8_t default_sender_ttl = 1;
// Replies are ordinary unicast: a TTL test through a router then measures the pings alone.
inline constexpr std::uint8_t default_receiver_ttl = 64;
inline constexpr Nanos default_interval_ns = nanos_per_s;
// Below a millisecond hbping would mostly measure its own scheduling; hb's fastest timing
// profile ("extreme") beats every millisecond.
inline constexpr Nanos min_interval_ns = nanos_per_ms;
inline constexpr std::size_t min_size_bytes = wire::beat_size;
inline constexpr std::size_t max_size_bytes = 65507;  // largest IPv4 UDP payload

enum class Role : std::uint8_t { receiver, sender };
enum class Path : std::uint8_t { udp, dpdk };  // --transport

// Whether this build has the DPDK transport (libdpdk found at meson setup).
extern const bool dpdk_built;

// The option values as typed, before any check. Flags are booleans; absent values are nullopt.
struct RawArguments {
    bool receiver = false;                  // -r
    bool sender = false;                    // -s
    bool verbose = false;                   // -v
    bool json = false;                      // --json
    std::optional<std::string> address;     // -a
    std::optional<std::string> caa_group;   // --caa-group[=ADDR]: "" derives from the interface
    std::optional<std::string> count;       // -c
    std::optional<std::string> port;        // -p
    std::optional<std::string> ttl;         // -t
    std::optional<std::string> interval;    // -i (seconds)
    std::optional<std::string> interface;   // -I
    std::optional<std::string> size;        // --size
    std::optional<std::string> deadline;    // -w (seconds)
    std::optional<std::string> transport;   // --transport
    std::optional<std::string> key_file;    // --key-file
    std::optional<std::string> max_loss;    // --max-loss (percent)
    std::optional<std::string> cluster_id;  // --cluster-id
    std::optional<std::string> dpdk_port;   // --port (DPDK devargs; the UDP port is -p)
    std::optional<std::string> source;      // --source (the DPDK port's address)
    std::optional<std::string> eal_args;    // --eal-args
};

struct Options {
    Role role = Role::sender;
    bool verbose = false;
    bool json = false;
    // -a: the group, or a unicast peer (sender) / local address (receiver). Unset with
    // --caa-group until the interface address is known (resolve_caa_group).
    std::optional<Ipv4> address;
    bool caa_group = false;
    std::optional<Ipv4> caa_base;  // --caa-group=ADDR; unset: the interface address
    std::optional<std::uint64_t> count;
    std::uint16_t port = default_port;
    std::uint8_t ttl = default_sender_ttl;
    Nanos interval_ns = default_interval_ns;
    std::string interface;  // empty: the interface of the route toward the address
    std::size_t size_bytes = min_size_bytes;
    std::optional<Nanos> deadline_ns;
    std::string key_file;  // empty: unauthenticated
    double max_loss_percent = 100.0;
    std::uint64_t cluster_id = 0;
    Path path = Path::udp;
    // --transport dpdk only: the port, its address, and the EAL's arguments (empty: the
    // defaults, default_eal_args).
    std::string dpdk_port;
    std::optional<Ipv4> source;
    std::vector<std::string> eal_args;
};

// The EAL arguments when --eal-args is not given: no hugepages, no PCI scan (vdev ports such as
// net_af_packet; a PCI port needs --eal-args with -a ADDRESS), a file prefix of this process's.
[[nodiscard]] std::vector<std::string> default_eal_args(long pid);

// Checks every value; returns the options, or the first problem as "OPTION: ..." naming the value.
// `with_dpdk`: whether --transport dpdk can be served (the tests check both builds' rules).
[[nodiscard]] std::variant<Options, std::string> validate(const RawArguments& raw,
                                                          bool with_dpdk = dpdk_built);

// CAA's default group: 228.0.0.0 ORed with the low 24 bits of a node's address.
[[nodiscard]] constexpr Ipv4 caa_group_of(Ipv4 address) noexcept {
    return Ipv4{0xE4000000U | (address.value & 0x00FFFFFFU)};
}

// Strict number parsing: the whole text, no sign, no spaces. nullopt when it does not parse.
[[nodiscard]] std::optional<std::uint64_t> parse_unsigned(std::string_view text) noexcept;
[[nodiscard]] std::optional<double> parse_decimal(std::string_view text) noexcept;

}  // namespace hb::ping
