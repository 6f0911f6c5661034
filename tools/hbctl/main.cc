// hbctl: reads a running hbd over its control socket (status, events) and checks configurations
// (DESIGN §8, §9; docs/operations.md).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "build_config.hh"
#include "hb/clock.hh"
#include "tools/hbctl/render.hh"
#include "tools/node/check.hh"
#include "tools/node/config.hh"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_unreachable = 1;
constexpr int exit_usage = 2;
constexpr int reply_timeout_ms_default = 5000;
constexpr std::size_t reply_max_bytes = 64 << 20;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
    interrupted.store(true, std::memory_order_relaxed);
}

constexpr std::string_view exit_codes_text =
    "EXIT STATUS\n"
    "  0  success\n"
    "  1  hbd is not running or not reachable on its control socket, or it refused the request\n"
    "  2  usage or configuration error (the message names the bad value)\n";

constexpr std::string_view socket_text =
    "SOCKET\n"
    "  The control socket is --socket PATH, or the one the configuration -c FILE gives hbd:\n"
    "  [control] socket, by default /run/hb/<cluster id>-<node id>.sock. Without either, the\n"
    "  only socket under /run/hb is used.\n";

struct Found {
    std::string socket;  // empty when it cannot be told: `code` says why
    int code = exit_ok;
};

// The manual-page tail of a command that talks to hbd: where the socket is, examples, exit codes.
std::string footer(std::string_view examples) {
    return std::string(socket_text) + "\nEXAMPLES\n" + std::string(examples) + "\n" +
           std::string(exit_codes_text);
}

// Where the control socket is: --socket, else from the configuration, else the only one in
// /run/hb. Without one, a message on standard error: exit 2 for a configuration error or an
// ambiguous choice, exit 1 when no hbd serves a socket there.
Found find_socket(const std::string& socket, const std::string& config) {
    if (!socket.empty()) {
        return {socket};
    }
    if (!config.empty()) {
        hb::node::ConfigResult loaded = hb::node::load_config(config);
        if (!loaded.errors.empty()) {
            std::fputs(hb::node::format_errors(config, loaded.errors).c_str(), stderr);
            return {{}, exit_usage};
        }
        return {hb::node::control_socket(*loaded.settings).native()};
    }
    std::error_code error;
    std::string found;
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/run/hb", error)) {
        if (entry.path().extension() == ".sock") {
            found = entry.path().native();
            ++count;
        }
    }
    if (count == 1) {
        return {found};
    }
    fmt::print(stderr, "hbctl: {}; say which node with -c FILE or --socket PATH\n",
               count == 0 ? "no control socket in /run/hb (is hbd running?)"
                          : "several control sockets in /run/hb");
    return {{}, count == 0 ? exit_unreachable : exit_usage};
}

// A connected socket, or -1 with a message saying hbd is not reachable.
int connect_to(const std::string& path) {
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) {
        fmt::print(stderr, "hbctl: control socket path {} is too long\n", path);
        return -1;
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fmt::print(stderr, "hbctl: socket: {}\n", std::strerror(errno));
        return -1;
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        ::close(fd);
        fmt::print(
            stderr, "hbctl: cannot reach hbd at {}: {}{}\n", path, std::strerror(error),
            error == ENOENT || error == ECONNREFUSED ? " (is hbd running for this node?)" : "");
        return -1;
    }
    return fd;
}

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
}

// Reads lines from hbd and hands each (without its newline) to `on_line`, which returns false to
// stop. Waits at most `timeout_ms` for each line (-1: forever, until interrupted). Returns
// "" at a stop, "eof" when hbd closed, "timeout", "interrupted" or an error text.
template <typename OnLine>
std::string read_lines(int fd, int timeout_ms, OnLine&& on_line) {
    std::string buffer;
    std::array<char, 65536> chunk{};
    while (true) {
        for (std::size_t end; (end = buffer.find('\n')) != std::string::npos;) {
            const bool more = on_line(std::string_view(buffer.data(), end));
            buffer.erase(0, end + 1);
            if (!more) {
                return {};
            }
        }
        if (buffer.size() > reply_max_bytes) {
            return "a reply line longer than 64 MiB";
        }
        pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
        const hb::Nanos deadline =
            timeout_ms < 0 ? 0 : hb::monotonic_now() + timeout_ms * hb::nanos_per_ms;
        int waited = 0;
        while (true) {
            if (interrupted.load(std::memory_order_relaxed)) {
                return "interrupted";
            }
            int slice_ms = 200;
            if (timeout_ms >= 0) {
                const hb::Nanos left = deadline - hb::monotonic_now();
                if (left <= 0) {
                    return "timeout";
                }
                slice_ms = static_cast<int>(std::min<hb::Nanos>(left / hb::nanos_per_ms + 1, 200));
            }
            waited = ::poll(&ready, 1, slice_ms);
            if (waited > 0 || (waited < 0 && errno != EINTR)) {
                break;
            }
        }
        if (waited < 0) {
            return std::string("poll: ") + std::strerror(errno);
        }
        const ssize_t count = ::read(fd, chunk.data(), chunk.size());
        if (count == 0) {
            return "eof";
        }
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            return std::string("read: ") + std::strerror(errno);
        }
        buffer.append(chunk.data(), static_cast<std::size_t>(count));
    }
}

int status_command(const std::string& socket_path, bool json, int timeout_ms) {
    const int fd = connect_to(socket_path);
    if (fd < 0) {
        return exit_unreachable;
    }
    std::string reply;
    std::string outcome;
    if (!send_all(fd, "{\"request\":\"status\"}\n")) {
        outcome = std::string("send: ") + std::strerror(errno);
    } else {
        outcome = read_lines(fd, timeout_ms, [&](std::string_view line) {
            reply.assign(line);
            return false;
        });
    }
    ::close(fd);
    if (!outcome.empty()) {
        fmt::print(stderr, "hbctl: no status from hbd at {}: {}\n", socket_path,
                   outcome == "eof" ? "it closed the connection" : outcome);
        return exit_unreachable;
    }
    const nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || parsed.contains("error")) {
        fmt::print(stderr, "hbctl: hbd at {} answered: {}\n", socket_path, reply);
        return exit_unreachable;
    }
    if (json) {
        fmt::print("{}\n", reply);
    } else {
        fmt::print("{}", hb::hbctl::render_status_table(reply));
    }
    return exit_ok;
}

int events_command(const std::string& socket_path, bool follow, std::size_t last, int timeout_ms) {
    const int fd = connect_to(socket_path);
    if (fd < 0) {
        return exit_unreachable;
    }
    const std::string request = fmt::format(R"({{"request":"events","last":{},"follow":{}}})", last,
                                            follow ? "true" : "false") +
                                "\n";
    int code = exit_ok;
    std::string outcome;
    if (!send_all(fd, request)) {
        outcome = std::string("send: ") + std::strerror(errno);
    } else {
        outcome = read_lines(fd, follow ? -1 : timeout_ms, [&](std::string_view line) {
            const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
            if (parsed.is_object() && parsed.contains("error")) {
                fmt::print(stderr, "hbctl: hbd: {}\n", line);
                code = exit_unreachable;
                return false;
            }
            fmt::print("{}\n", line);
            std::fflush(stdout);  // each event as it happens, also into a pipe
            return true;
        });
    }
    ::close(fd);
    if (outcome == "interrupted" || (outcome == "eof" && !follow) || outcome.empty()) {
        return code;
    }
    fmt::print(stderr, "hbctl: events from hbd at {}: {}\n", socket_path,
               outcome == "eof" ? "hbd closed the connection (it stopped?)" : outcome);
    return exit_unreachable;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "hbctl: reads a running hbd (the hb heartbeat daemon) over its control socket, and "
        "checks hbd configurations.\n\n"
        "COMMANDS\n"
        "  status   the node's networks, adapters, paths and peers, and its counters\n"
        "  events   the events hbd reported (the JSON lines of hbd --events)\n"
        "  check    validate a configuration without running it (as hbd --check)\n\n"
        "Run hbctl COMMAND --help for each command's options and examples."};
    app.footer(std::string(exit_codes_text));
    app.set_version_flag("--version", std::string("hbctl ") + HB_VERSION);
    app.require_subcommand(1);

    std::string socket_path;
    std::string config_path;
    int timeout_ms = reply_timeout_ms_default;
    const auto add_target = [&](CLI::App* command) {
        auto* socket =
            command->add_option("--socket", socket_path, "the control socket of the hbd to read");
        auto* config = command->add_option("-c,--config", config_path,
                                           "read the control socket from this hbd configuration");
        socket->excludes(config);
        command
            ->add_option("--timeout-ms", timeout_ms,
                         "how long to wait for hbd's reply (default 5000)")
            ->check(CLI::Range(1, 3600000));
    };

    CLI::App* status = app.add_subcommand(
        "status",
        "Shows a running node as `lssrc -ls topsvcs` shows Topology Services: per network, each "
        "local adapter (state and health sources) and each path from it to a peer's adapter "
        "(state, beats sent, received and missed, loss %, RTT last and smoothed, time since a "
        "beat was last heard); each peer node's state; the engine's, the detector's and the "
        "disk's counters, drops by reason and events by kind. --json prints hbd's status object "
        "as it came, on one line (docs/operations.md describes every field).");
    bool json = false;
    status->add_flag("--json", json, "print the status as one JSON object");
    add_target(status);
    status->footer(
        footer("  hbctl status -c /etc/hb/hb.toml\n"
               "  hbctl status --socket /run/hb/7-1.sock --json | jq '.peers'\n"));

    CLI::App* events = app.add_subcommand(
        "events",
        "Prints hbd's events, one JSON object per line, as hbd --events writes them. Without "
        "--follow: the most recent events hbd remembers (it keeps the last 256), then exits. "
        "With --follow: first the last N (--last, default 0), then every new event as it "
        "happens, until interrupted (Ctrl-C exits 0). A reader too slow to keep up is "
        "disconnected by hbd, which says so (exit 1): hbd never waits for a reader.");
    bool follow = false;
    std::size_t last = 0;
    bool last_given = false;
    events->add_flag("-f,--follow", follow, "keep printing events as they happen");
    events
        ->add_option("-n,--last", last,
                     "how many remembered events to print first (default: all that are "
                     "remembered without --follow, 0 with it; at most 256)")
        ->check(CLI::Range(0, 256))
        ->each([&](const std::string&) { last_given = true; });
    add_target(events);
    events->footer(
        footer("  hbctl events -c /etc/hb/hb.toml\n"
               "  hbctl events --follow --socket /run/hb/7-1.sock | grep NODE_DOWN\n"));

    CLI::App* check = app.add_subcommand(
        "check",
        "Validates an hbd configuration without running a node: the same checks and output as "
        "hbd --check -c FILE. Prints every error as FILE:LINE: message and exits 2, or says the "
        "configuration is valid, which health sources will judge each local adapter, where the "
        "control socket and metrics will be, and (with [disk]) whether the disk is initialised "
        "for this cluster.");
    std::string check_path;
    check->add_option("-c,--config", check_path, "the configuration file (TOML)")->required();
    check->footer(
        "EXAMPLES\n"
        "  hbctl check -c /etc/hb/hb.toml\n\n"
        "EXIT STATUS\n"
        "  0  the configuration is valid\n"
        "  2  it is not (every error is printed with its line), or usage error\n");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);
        return code == 0 ? exit_ok : exit_usage;
    }

    if (check->parsed()) {
        return hb::node::check_config(check_path, "hbctl");
    }
    std::signal(SIGPIPE, SIG_IGN);
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);

    const Found found = find_socket(socket_path, config_path);
    if (found.socket.empty()) {
        return found.code;
    }
    const std::string& socket = found.socket;
    try {
        if (status->parsed()) {
            return status_command(socket, json, timeout_ms);
        }
        const std::size_t shown = last_given ? last : (follow ? 0 : 256);
        return events_command(socket, follow, shown, timeout_ms);
    } catch (const std::exception& error) {
        // A status from another version of hbd that the table cannot lay out.
        fmt::print(stderr, "hbctl: cannot show hbd's reply: {}\n", error.what());
        return exit_unreachable;
    }
}
