#include "tools/hbd/manual.hh"

#include <fmt/format.h>

#include "tools/hbd/deadman.hh"
#include "tools/hbd/event_scripts.hh"

namespace hb::hbd {

namespace {

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& word : words) {
        out += (out.empty() ? "" : ", ") + word;
    }
    return out.empty() ? "none yet" : out;
}

double to_ms(Nanos ns) {
    return static_cast<double>(ns) / 1e6;
}

std::string describe_deadman(const node::DeadmanSettings& deadman) {
    const bool halt = deadman.action == node::DeadmanSettings::Action::halt;
    std::string out = fmt::format("deadman after {:.0f} ms, action {}", to_ms(deadman.timeout_ns),
                                  halt ? "halt" : "event");
    if (halt) {
        const std::string refused = halt_refusal();
        out += refused.empty() ? " (allowed here)" : " (refused here: " + refused + ")";
    }
    return out + (deadman.test_hook ? ", test hook SIGUSR2" : "");
}

}  // namespace

void print_service_check(const std::filesystem::path& config_path,
                         const node::NodeSettings& settings) {
    if (!settings.events.script_dir.empty()) {
        fmt::print("{}: event scripts in {}: {}\n", config_path.native(),
                   settings.events.script_dir.native(),
                   joined(ScriptRunner::scripts_present(settings.events.script_dir)));
    }
    if (settings.deadman.timeout_ns > 0) {
        fmt::print("{}: {}\n", config_path.native(), describe_deadman(settings.deadman));
    }
}

std::string describe_service(const node::NodeSettings& settings, const SystemdWatchdog& watchdog) {
    std::string out = "service: ";
    out += settings.events.script_dir.empty()
               ? "no event scripts"
               : fmt::format("event scripts in {} (timeout {:.0f} ms, warning at {:.0f} ms)",
                             settings.events.script_dir.native(), to_ms(settings.events.timeout_ns),
                             to_ms(settings.events.warn_ns));
    out += "; ";
    out += settings.deadman.timeout_ns > 0 ? describe_deadman(settings.deadman) : "no deadman";
    out += "; ";
    if (!systemd_supported()) {
        out += "built without libsystemd (no sd_notify)";
    } else if (watchdog.enabled()) {
        out += fmt::format("systemd watchdog every {:.0f} ms (pinged every {:.0f} ms)",
                           to_ms(watchdog.period_ns()), to_ms(watchdog.period_ns() / 2));
    } else {
        out += "no systemd watchdog";
    }
    return out;
}

}  // namespace hb::hbd
