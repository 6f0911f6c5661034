// hbd's manual page (its --help) and the lines it prints about its service settings at start
// and at --check.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "tools/hbd/systemd.hh"
#include "tools/node/config.hh"

namespace hb::hbd {

inline constexpr std::string_view manual_description = R"(NAME
  hbd - the hb heartbeat daemon

DESCRIPTION
  Runs one node of an hb cluster from a TOML configuration: sends heartbeats on every network
  the node shares with its peers (kernel UDP or DPDK), writes and reads the shared heartbeat
  disk, watches its own adapters (link state, netmon.cf targets, inbound traffic), and turns
  what it hears into verdicts (NODE_DOWN, NETWORK_DOWN, PARTITION ...): JSON lines (--events)
  and event scripts ([events]).
)";

inline constexpr std::string_view manual_footer = R"(CONFIGURATION
  TOML, see docs/config.md. [cluster] [timing] [local] [[network]] [[node]] are the cluster;
  [process] [netmon] [disk] [dpdk] tune this node; the service sections:
  [events]  script_dir = DIR: for every event, DIR/<event in lower case> (node_down, ...) runs
            if executable, with HB_EVENT HB_NODE HB_NODE_NAME HB_NETWORK HB_ADAPTER
            HB_LATENCY_MS HB_EVIDENCE HB_CLUSTER HB_LOCAL_NODE HB_T_NS in its environment;
            timeout_ms (30000) kills its process group, warn_ms (5000) logs it as running
            long, max_running (8) bounds the scripts run at once.
  [deadman] timeout_ms = N: when the engine loop stalls that long, the node stops beating for
            good (action = "event", reports DEADMAN) or powers off (action = "halt").

SIGNALS
  SIGTERM, SIGINT  graceful stop: LEAVING beats (peers report NODE_LEFT), then exit 0.
  SIGHUP           reload: [timing] and [netmon] are applied without a restart and without a
                   false verdict at any peer; other changes are logged as needing a restart;
                   a configuration with errors is logged and the running one kept.
  SIGUSR2          only with [deadman] test_hook = true: stalls the engine loop until the next
                   SIGUSR2 (a test of the deadman switch).

EXIT STATUS
  0  stopped on request, or --check found the configuration valid
  2  usage or configuration error (each with its line), or the node could not start

FILES
  /etc/hb/NAME.toml            the configuration of systemd's hbd@NAME.service
  /run/hb/                     the runtime directory (the control socket)
  lib/systemd/system/hbd@.service  the systemd unit (Type=notify, watchdog)

ENVIRONMENT
  NOTIFY_SOCKET, WATCHDOG_USEC  set by systemd: READY/RELOADING/STOPPING and WATCHDOG=1 pings
  HB_DEADMAN_NO_HALT            when set, [deadman] action = "halt" never powers off

See docs/operations.md.)";

// At --check: the event scripts found, and whether the deadman may halt here.
void print_service_check(const std::filesystem::path& config_path,
                         const node::NodeSettings& settings);

// At start: one line on the service settings (scripts, deadman, systemd).
std::string describe_service(const node::NodeSettings& settings, const SystemdWatchdog& watchdog);

}  // namespace hb::hbd
