// Validation of hbping's options: each check names the option and quotes the value it refused.
#include "tools/hbping/options.hh"

#include <net/if.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include "build_config.hh"

namespace hb::ping {

const bool dpdk_built = HB_HAVE_DPDK != 0;

namespace {

std::string refused(std::string_view option, std::string_view expected, std::string_view value) {
    std::string message(option);
    message += ": expected ";
    message += expected;
    message += ", got \"";
    message += value;
    message += '"';
    return message;
}

// Seconds as a decimal number into nanoseconds; nullopt when not a number from min_ns to a day.
std::optional<Nanos> parse_seconds(std::string_view text, Nanos min_ns) {
    const std::optional<double> seconds = parse_decimal(text);
    // A day: far beyond any diagnostic run, and well inside Nanos.
    constexpr double max_s = 86400.0;
    if (!seconds || *seconds > max_s) {
        return std::nullopt;
    }
    const auto ns = static_cast<Nanos>(std::llround(*seconds * static_cast<double>(nanos_per_s)));
    if (ns < min_ns) {
        return std::nullopt;
    }
    return ns;
}

bool valid_interface_name(std::string_view name) {
    if (name.empty() || name.size() >= IFNAMSIZ) {
        return false;
    }
    for (const char c : name) {
        if (c == '/' || c == ':' || static_cast<unsigned char>(c) <= ' ') {
            return false;
        }
    }
    return true;
}

// Devargs or a port name: printable, no spaces, and not a bare number (that is -p's UDP port).
bool valid_dpdk_port(std::string_view port) {
    if (port.empty() || parse_unsigned(port)) {
        return false;
    }
    return std::all_of(port.begin(), port.end(), [](char c) {
        return static_cast<unsigned char>(c) > ' ' && static_cast<unsigned char>(c) < 0x7F;
    });
}

// The checks of --transport dpdk's options, and their absence otherwise; empty when all pass.
std::string check_dpdk(const RawArguments& raw, Options& options) {
    if (options.path != Path::dpdk) {
        if (raw.dpdk_port) {
            return "--port applies to --transport dpdk (the UDP port is -p)";
        }
        if (raw.source) {
            return "--source applies to --transport dpdk (with udp, -I picks the address)";
        }
        if (raw.eal_args) {
            return "--eal-args applies to --transport dpdk";
        }
        return {};
    }
    if (!raw.dpdk_port) {
        return "--transport dpdk needs --port DEVARGS (a DPDK port, e.g. "
               "net_af_packet0,iface=eth1)";
    }
    if (!valid_dpdk_port(*raw.dpdk_port)) {
        return refused("--port",
                       "a DPDK port: devargs such as net_af_packet0,iface=eth1, an ethdev name or "
                       "a PCI address (the UDP port is -p)",
                       *raw.dpdk_port);
    }
    options.dpdk_port = *raw.dpdk_port;
    if (!raw.source) {
        return "--transport dpdk needs --source ADDR: the port's own IPv4 address (DPDK cannot "
               "read a kernel interface's)";
    }
    const std::optional<Ipv4> source = Ipv4::parse(*raw.source);
    if (!source || source->is_unspecified() || source->is_multicast() ||
        source->value == 0xFFFFFFFFU) {
        return refused("--source", "the DPDK port's unicast IPv4 address", *raw.source);
    }
    options.source = source;
    if (raw.interface) {
        return "-I names a kernel interface: --transport dpdk takes --port and --source instead";
    }
    if (options.size_bytes > wire::max_datagram) {
        return "--size " + *raw.size + ": the DPDK path carries datagrams of at most " +
               std::to_string(wire::max_datagram) + " bytes (the transport's record size)";
    }
    if (raw.eal_args) {
        std::istringstream words(*raw.eal_args);
        for (std::string word; words >> word;) {
            options.eal_args.push_back(word);
        }
        if (options.eal_args.empty()) {
            return refused("--eal-args", "EAL arguments separated by spaces", *raw.eal_args);
        }
    }
    return {};
}

}  // namespace

std::vector<std::string> default_eal_args(long pid) {
    return {"--no-huge",
            "-m",
            "64",
            "--no-pci",
            "--no-telemetry",
            "--log-level=lib.eal:error",
            "--file-prefix=hbping_" + std::to_string(pid)};
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) noexcept {
    std::uint64_t value = 0;
    const char* const end = text.data() + text.size();
    const auto [at, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc{} || at != end) {
        return std::nullopt;
    }
    return value;
}

std::optional<double> parse_decimal(std::string_view text) noexcept {
    double value = 0;
    const char* const end = text.data() + text.size();
    // `fixed` refuses exponents, hex floats, "inf" and "nan": seconds and percents are plain.
    const auto [at, error] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
    if (text.empty() || text.front() == '-' || error != std::errc{} || at != end ||
        !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::variant<Options, std::string> validate(const RawArguments& raw, bool with_dpdk) {
    Options options;
    if (raw.receiver == raw.sender) {
        return std::string(raw.receiver ? "-r and -s exclude each other: run one receiver (-r) "
                                          "and one sender (-s)"
                                        : "give -r (answer pings) or -s (send pings)");
    }
    options.role = raw.receiver ? Role::receiver : Role::sender;
    options.verbose = raw.verbose;
    options.json = raw.json;
    options.ttl = raw.receiver ? default_receiver_ttl : default_sender_ttl;

    if (raw.transport && *raw.transport != "udp") {
        if (*raw.transport != "dpdk") {
            return refused("--transport", "udp or dpdk", *raw.transport);
        }
        if (!with_dpdk) {
            return std::string(
                "--transport dpdk: this build has no DPDK transport (libdpdk was "
                "not found when it was configured)");
        }
        options.path = Path::dpdk;
    }
    if (raw.address && raw.caa_group) {
        return std::string("-a and --caa-group exclude each other: give one group");
    }
    if (raw.address) {
        const std::optional<Ipv4> address = Ipv4::parse(*raw.address);
        if (!address || address->is_unspecified() || address->value == 0xFFFFFFFFU) {
            return refused("-a", "an IPv4 group or unicast address", *raw.address);
        }
        options.address = address;
    }
    if (raw.caa_group) {
        options.caa_group = true;
        if (!raw.caa_group->empty()) {
            const std::optional<Ipv4> base = Ipv4::parse(*raw.caa_group);
            if (!base || base->is_unspecified() || base->is_multicast()) {
                return refused("--caa-group", "a node's unicast IPv4 address", *raw.caa_group);
            }
            options.caa_base = base;
        }
    }
    if (!options.address && !options.caa_group) {
        options.address = default_group;
    }
    if (raw.count) {
        const std::optional<std::uint64_t> count = parse_unsigned(*raw.count);
        if (!count || *count == 0 || *count > 1'000'000'000) {
            return refused("-c", "a positive integer", *raw.count);
        }
        options.count = count;
    }
    if (raw.port) {
        const std::optional<std::uint64_t> port = parse_unsigned(*raw.port);
        if (!port || *port == 0 || *port > 65535) {
            return refused("-p", "a port number 1..65535", *raw.port);
        }
        options.port = static_cast<std::uint16_t>(*port);
    }
    if (raw.ttl) {
        const std::optional<std::uint64_t> ttl = parse_unsigned(*raw.ttl);
        if (!ttl || *ttl == 0 || *ttl > 255) {
            return refused("-t", "a TTL 1..255", *raw.ttl);
        }
        options.ttl = static_cast<std::uint8_t>(*ttl);
    }
    if (raw.interval) {
        const std::optional<Nanos> interval = parse_seconds(*raw.interval, min_interval_ns);
        if (!interval) {
            return refused("-i", "seconds from 0.001 to 86400", *raw.interval);
        }
        options.interval_ns = *interval;
    }
    if (raw.interface) {
        if (!valid_interface_name(*raw.interface)) {
            return refused("-I", "an interface name of 1 to 15 characters", *raw.interface);
        }
        options.interface = *raw.interface;
    }
    if (raw.size) {
        const std::optional<std::uint64_t> size = parse_unsigned(*raw.size);
        if (!size || *size < min_size_bytes || *size > max_size_bytes) {
            return refused("--size", "a datagram size of 112..65507 bytes", *raw.size);
        }
        options.size_bytes = static_cast<std::size_t>(*size);
    }
    if (raw.deadline) {
        const std::optional<Nanos> deadline = parse_seconds(*raw.deadline, 1);
        if (!deadline) {
            return refused("-w", "seconds above 0, at most 86400", *raw.deadline);
        }
        options.deadline_ns = deadline;
    }
    if (raw.key_file) {
        if (raw.key_file->empty()) {
            return refused("--key-file", "a file name", *raw.key_file);
        }
        options.key_file = *raw.key_file;
    }
    if (raw.max_loss) {
        if (options.role != Role::sender) {
            return std::string("--max-loss applies to the sender (-s), not to -r");
        }
        const std::optional<double> loss = parse_decimal(*raw.max_loss);
        if (!loss || *loss > 100.0) {
            return refused("--max-loss", "a percentage from 0 to 100", *raw.max_loss);
        }
        options.max_loss_percent = *loss;
    } else if (options.count) {
        options.max_loss_percent = 0.0;  // a counted run must get every reply back
    }
    if (raw.cluster_id) {
        const std::optional<std::uint64_t> id = parse_unsigned(*raw.cluster_id);
        if (!id) {
            return refused("--cluster-id", "an integer 0..18446744073709551615", *raw.cluster_id);
        }
        options.cluster_id = *id;
    }
    if (std::string problem = check_dpdk(raw, options); !problem.empty()) {
        return problem;
    }
    return options;
}

}  // namespace hb::ping
