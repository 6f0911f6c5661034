// The configuration check shared by `hbd --check` and `hbctl check`.
#include "tools/node/check.hh"

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "hb/topology.hh"
#include "tools/node/config.hh"
#include "tools/node/node.hh"

namespace hb::node {

int check_config(const std::filesystem::path& config_path, std::string_view program) {
    constexpr int exit_ok = 0;
    constexpr int exit_usage = 2;
    ConfigResult loaded = load_config(config_path);
    if (!loaded.errors.empty()) {
        std::fputs(format_errors(config_path, loaded.errors).c_str(), stderr);
        return exit_usage;
    }
    for (const std::string& warning : loaded.warnings) {
        fmt::print(stderr, "{}: warning: {}\n", program, warning);
    }
    const NodeSettings& settings = *loaded.settings;
    fmt::print("{}: configuration is valid\n", config_path.native());
    fmt::print("{}: beats {}\n", config_path.native(), describe_keys(settings.cluster.keys));
    // Which health sources (DESIGN §6) will judge each local adapter.
    const Topology topology(settings.cluster);
    for (const AdapterHealth& health : plan_adapter_health(settings, topology)) {
        fmt::print("{}: local adapter {}\n", config_path.native(), describe(health));
    }
    fmt::print("{}: control socket {}\n", config_path.native(), control_socket(settings).native());
    if (settings.metrics.enabled) {
        fmt::print("{}: metrics on http://{}:{}/metrics\n", config_path.native(),
                   settings.metrics.address.to_string(), settings.metrics.port);
    }
    // The disk is opened and its header checked now, not at failover time.
    if (!settings.disk.path.empty()) {
        if (std::string problem = check_disk(settings); !problem.empty()) {
            fmt::print(stderr, "{}: {}\n", program, problem);
            return exit_usage;
        }
        fmt::print("{}: disk {} is initialised for this cluster\n", config_path.native(),
                   settings.disk.path.native());
    }
    return exit_ok;
}

}  // namespace hb::node
