// hbd: runs one hb node from a TOML configuration and writes its verdicts as JSON lines.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "build_config.hh"
#include "tools/hbd/deadman.hh"
#include "tools/hbd/event_scripts.hh"
#include "tools/hbd/event_sinks.hh"
#include "tools/hbd/log.hh"
#include "tools/hbd/manual.hh"
#include "tools/hbd/reloader.hh"
#include "tools/hbd/services.hh"
#include "tools/hbd/systemd.hh"
#include "tools/node/check.hh"
#include "tools/node/config.hh"
#include "tools/node/node.hh"
#include "tools/node/privileges.hh"
#if HB_HAVE_LIBURING
#include "diskhb/disk_heartbeat.hh"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int) {
    stop_requested.store(true, std::memory_order_relaxed);
}

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    // A closed event pipe must not kill a heartbeat daemon (peers would see a node death).
    std::signal(SIGPIPE, SIG_IGN);
}

// SIGUSR2 stalls the engine loop only with [deadman] test_hook = true (docs/operations.md).
std::atomic<hb::hbd::Deadman*> deadman_for_signal{nullptr};

extern "C" void on_test_stall_signal(int) {
    if (hb::hbd::Deadman* deadman = deadman_for_signal.load(std::memory_order_relaxed)) {
        deadman->toggle_test_stall();
    }
}

using hb::hbd::log_line;

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{std::string(hb::hbd::manual_description)};
    app.footer(std::string(hb::hbd::manual_footer));
    std::string config_path;
    std::string events_path;
    bool check_only = false;
    app.add_option("-c,--config", config_path, "configuration file (TOML)")->required();
    app.add_option("--events", events_path,
                   "write one JSON line per event to PATH ('-' for standard output)");
    app.add_flag("--check", check_only, "validate the configuration and exit (0 ok, 2 errors)");
    app.set_version_flag("--version", std::string("hbd ") + HB_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);
        return code == 0 ? exit_ok : exit_usage;
    }

    if (check_only) {
        // The node's checks (shared with `hbctl check`), then what only hbd runs: its scripts.
        const int code = hb::node::check_config(config_path, "hbd");
        if (code == exit_ok) {
            if (hb::node::ConfigResult checked = hb::node::load_config(config_path);
                checked.settings) {
                hb::hbd::print_service_check(config_path, *checked.settings);
            }
        }
        return code;
    }
    hb::node::ConfigResult loaded = hb::node::load_config(config_path);
    if (!loaded.errors.empty()) {
        std::fputs(hb::node::format_errors(config_path, loaded.errors).c_str(), stderr);
        return exit_usage;
    }
    for (const std::string& warning : loaded.warnings) {
        log_line("warning: " + warning);
    }

    int events_fd = -1;
    if (events_path == "-") {
        events_fd = STDOUT_FILENO;
    } else if (!events_path.empty()) {
        events_fd = ::open(events_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (events_fd < 0) {
            log_line(
                fmt::format("cannot open events file {}: {}", events_path, std::strerror(errno)));
            return exit_usage;
        }
    }

    auto created = hb::node::Node::create(std::move(*loaded.settings));
    if (auto* error = std::get_if<std::string>(&created)) {
        log_line(*error);
        return exit_usage;
    }
    hb::node::Node& node = *std::get<std::unique_ptr<hb::node::Node>>(created);
    const hb::ClusterConfig& cluster = node.settings().cluster;
    const hb::Topology& topology = node.engine().topology();

    install_signal_handlers();
    for (const std::string& line : hb::node::apply_process_settings(node.settings().process)) {
        log_line(line);
    }
    const hb::Nanos started_ns = hb::monotonic_now();
    if (std::string error = node.start(started_ns); !error.empty()) {
        log_line(error);
        return exit_usage;
    }
    // The control socket (hbctl) and the metrics endpoint, served on the engine thread.
    hb::hbd::Services services(node, started_ns);
    std::vector<std::string> service_log;
    const std::string service_error = services.open(service_log);
    for (const std::string& line : service_log) {
        log_line(line);
    }
    if (!service_error.empty()) {
        log_line(service_error);
        return exit_usage;
    }
    log_line(
        fmt::format("node {} ({}) of cluster {} started: incarnation {:#010x}, {} adapters, "
                    "{} paths, {} peers",
                    cluster.local_node, topology.node_name(cluster.local_node), cluster.cluster_id,
                    node.engine().incarnation(), topology.local_adapters().size(),
                    topology.paths().size(), topology.peers().size()));
    for (const hb::node::AdapterHealth& health : node.adapter_health()) {
        log_line("local adapter " + hb::node::describe(health));
    }
    log_line("beats " + hb::node::describe_keys(cluster.keys));
    // Every socket, port, disk and scheduling setting is in place: keep only what running needs.
    for (const std::string& line : hb::node::drop_capabilities(node.settings())) {
        log_line(line);
    }
#if HB_HAVE_LIBURING
    if (const hb::diskhb::DiskHeartbeat* disk = node.disk()) {
        log_line(fmt::format("disk {}: interval {} ms, timeout {} ms, io {}",
                             node.settings().disk.path.native(),
                             static_cast<double>(disk->interval_ns()) / 1e6,
                             static_cast<double>(disk->timeout_ns()) / 1e6, disk->io_mode()));
    }
#endif

    // The service pieces, one object each (docs/operations.md). Events fan out to every sink.
    hb::hbd::SystemdNotifier systemd;
    hb::hbd::EventFanout sinks;
    hb::hbd::JsonLinesWriter writer(events_fd, cluster);
    if (events_fd >= 0) {
        sinks.add(writer);
    }
    sinks.add(services);
    std::unique_ptr<hb::hbd::ScriptRunner> scripts;
    if (!node.settings().events.script_dir.empty()) {
        scripts = std::make_unique<hb::hbd::ScriptRunner>(node.settings().events, cluster);
        if (std::string error; !scripts->start(error)) {
            log_line(error);
            return exit_usage;
        }
        sinks.add(*scripts);
    }
    std::unique_ptr<hb::hbd::Deadman> deadman;
    if (node.settings().deadman.timeout_ns > 0) {
        deadman =
            std::make_unique<hb::hbd::Deadman>(node.settings().deadman, sinks, stop_requested);
        node.engine().set_mute_flag(&deadman->mute_flag());
        node.add_poller(*deadman);
        if (node.settings().deadman.test_hook) {
            deadman_for_signal.store(deadman.get());
            std::signal(SIGUSR2, on_test_stall_signal);
        }
    }
    hb::hbd::SystemdWatchdog watchdog;
    if (std::string error; !watchdog.open(hb::monotonic_now(), error)) {
        log_line(error);
        return exit_usage;
    }
    if (watchdog.enabled()) {
        node.add_poller(watchdog);
    }
    hb::hbd::Reloader reloader(config_path, node.settings(), node, systemd);
    if (std::string error; !reloader.start(error)) {
        log_line(error);
        return exit_usage;
    }
    node.add_poller(reloader);
    log_line(hb::hbd::describe_service(node.settings(), watchdog));
    if (deadman) {
        deadman->start();
    }
    systemd.ready();

    hb::Engine& engine = node.engine();
    const auto drain_events = [&] {
        services.deliver_from_watchdog();
        hb::Event event;
        while (engine.next_event(event)) {
            sinks.publish(event);
        }
    };
    node.run(stop_requested, drain_events, services.pollers());
    systemd.stopping();
    if (deadman) {
        deadman->stop();  // leaving (the disk's LEAVING slot) may take longer than its timeout
    }

    node.leave(hb::monotonic_now());
    drain_events();
    const hb::EngineCounters& counters = engine.counters();
    const hb::policy::DetectorCounters& detector = node.detector().counters();
    log_line(fmt::format(
        "stopping: sent {} beats ({} failed), accepted {}, dropped {}, "
        "events {} (lost {}), local stalls {}, path expiries {}, adaptive raises {}",
        counters.beats_sent, counters.send_failures, counters.beats_accepted,
        counters.dropped_total(), counters.events_emitted, counters.events_lost + writer.lost(),
        counters.local_stalls, detector.path_down, detector.adaptive_raises));
    if (counters.dropped_total() != 0) {
        log_line("dropped by reason: " +
                 hb::node::describe_drops(counters.dropped, counters.last_dropped_from));
    }
    log_line(fmt::format(
        "service: {} reloads, {} timing changes, {} beats muted{}, {} events "
        "dropped for scripts",
        reloader.reloads(), counters.timing_changes, counters.beats_muted,
        deadman && deadman->fired() ? " (deadman)" : "", scripts ? scripts->dropped() : 0));
#if HB_HAVE_LIBURING
    if (const hb::diskhb::DiskHeartbeat* disk = node.disk()) {
        const hb::diskhb::DiskCounters& d = disk->counters();
        log_line(fmt::format(
            "disk: {} cycles, {} I/O errors, {} stalls, {} corrupt, {} torn, {} bad MAC, "
            "{} conflicts",
            d.cycles, d.io_errors + d.short_io, d.stalls, d.corrupt, d.torn, d.bad_mac,
            d.conflicts));
    }
#endif
    return exit_ok;
}
