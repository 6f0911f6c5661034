#include "tools/node/reload.hh"

#include "tools/node/node.hh"

#include <fmt/format.h>

namespace hb::node {

namespace {

bool same_adapter(const AdapterConfig& a, const AdapterConfig& b) {
    return a.network == b.network && a.ifname == b.ifname && a.address == b.address &&
           a.transport == b.transport && a.port == b.port;
}

bool same_nodes(const std::vector<NodeConfig>& a, const std::vector<NodeConfig>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].id != b[i].id || a[i].name != b[i].name ||
            a[i].adapters.size() != b[i].adapters.size()) {
            return false;
        }
        for (std::size_t j = 0; j < a[i].adapters.size(); ++j) {
            if (!same_adapter(a[i].adapters[j], b[i].adapters[j])) {
                return false;
            }
        }
    }
    return true;
}

// Everything of a network but its timing.
bool same_network(const NetworkConfig& a, const NetworkConfig& b) {
    return a.name == b.name && a.mode == b.mode && a.group == b.group && a.port == b.port &&
           a.ttl == b.ttl && a.link_state == b.link_state;
}

bool same_disk(const DiskSettings& a, const DiskSettings& b) {
    return a.path == b.path && a.interval_ns == b.interval_ns && a.multiplier == b.multiplier &&
           a.sector_size == b.sector_size && a.io == b.io;
}

bool same_process(const ProcessSettings& a, const ProcessSettings& b) {
    return a.realtime_priority == b.realtime_priority && a.lock_memory == b.lock_memory &&
           a.threads == b.threads;
}

// Which adapters have netmon targets decides their health sources (the inbound-traffic rule
// among them), which are planned once, at start.
bool same_probed_adapters(const std::vector<std::vector<Ipv4>>& a,
                          const std::vector<std::vector<Ipv4>>& b) {
    const std::size_t count = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < count; ++i) {
        const bool in_a = i < a.size() && !a[i].empty();
        const bool in_b = i < b.size() && !b[i].empty();
        if (in_a != in_b) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string describe(const Timing& timing) {
    std::string out =
        fmt::format("{} ms x {}", static_cast<double>(timing.interval_ns) / 1e6, timing.multiplier);
    if (timing.up_count != Timing{}.up_count) {
        out += fmt::format(", up_count {}", timing.up_count);
    }
    return out;
}

ReloadPlan plan_reload(const NodeSettings& running, const NodeSettings& next) {
    ReloadPlan plan;
    const ClusterConfig& old_cluster = running.cluster;
    const ClusterConfig& new_cluster = next.cluster;
    const auto restart = [&plan](std::string what) {
        plan.needs_restart.push_back(std::move(what) + " changed: needs a restart");
    };
    if (old_cluster.cluster_id != new_cluster.cluster_id) {
        restart("[cluster] id");
    }
    if (old_cluster.keys.empty() != new_cluster.keys.empty()) {
        restart("authentication on or off ([cluster] key_file, allow_unauthenticated)");
    } else if (old_cluster.keys != new_cluster.keys || running.key_file != next.key_file ||
               running.accept_key_files != next.accept_key_files) {
        plan.keys = new_cluster.keys;
        plan.key_file = next.key_file;
        plan.accept_key_files = next.accept_key_files;
        plan.applied.push_back("keys reloaded: " + describe_keys(new_cluster.keys));
    }
    if (old_cluster.local_node != new_cluster.local_node) {
        restart("[local] node");
    }
    bool networks_same = old_cluster.networks.size() == new_cluster.networks.size();
    for (std::size_t n = 0; networks_same && n < old_cluster.networks.size(); ++n) {
        networks_same = same_network(old_cluster.networks[n], new_cluster.networks[n]);
    }
    if (!networks_same) {
        restart("[[network]] list or settings other than timing");
    }
    if (!same_nodes(old_cluster.nodes, new_cluster.nodes)) {
        restart("[[node]] list or adapters");
    }
    if (!same_process(running.process, next.process)) {
        restart("[process]");
    }
    if (!same_disk(running.disk, next.disk)) {
        restart("[disk]");
    }
    if (running.dpdk.configured != next.dpdk.configured ||
        running.dpdk.eal_args != next.dpdk.eal_args || running.dpdk.mode != next.dpdk.mode ||
        running.dpdk.lcore_cpu != next.dpdk.lcore_cpu ||
        running.dpdk.lcore_priority != next.dpdk.lcore_priority) {
        restart("[dpdk]");
    }
    if (running.events.script_dir != next.events.script_dir ||
        running.events.timeout_ns != next.events.timeout_ns ||
        running.events.warn_ns != next.events.warn_ns ||
        running.events.max_running != next.events.max_running) {
        restart("[events]");
    }
    if (running.control.socket != next.control.socket) {
        restart("[control]");
    }
    if (running.metrics.enabled != next.metrics.enabled ||
        running.metrics.address != next.metrics.address ||
        running.metrics.port != next.metrics.port) {
        restart("[metrics]");
    }
    if (running.deadman.timeout_ns != next.deadman.timeout_ns ||
        running.deadman.action != next.deadman.action ||
        running.deadman.test_hook != next.deadman.test_hook) {
        restart("[deadman]");
    }
    if (networks_same) {
        for (std::size_t n = 0; n < old_cluster.networks.size(); ++n) {
            const Timing& before = old_cluster.networks[n].timing;
            const Timing& after = new_cluster.networks[n].timing;
            if (before != after) {
                plan.timings.emplace_back(static_cast<NetworkIndex>(n), after);
                plan.applied.push_back(fmt::format("network {}: timing {} -> {}",
                                                   old_cluster.networks[n].name, describe(before),
                                                   describe(after)));
            }
        }
    }
    if (running.adaptive_ceiling != next.adaptive_ceiling) {
        plan.adaptive_ceiling = next.adaptive_ceiling;
        plan.applied.push_back(fmt::format("[timing] adaptive_ceiling {} -> {}",
                                           running.adaptive_ceiling, next.adaptive_ceiling));
    }
    if (running.netmon_targets != next.netmon_targets || running.netmon_mode != next.netmon_mode ||
        running.netmon_file != next.netmon_file) {
        if (!same_probed_adapters(running.netmon_targets, next.netmon_targets)) {
            restart("which adapters have [netmon] targets");
        } else if (running.netmon_targets != next.netmon_targets) {
            plan.netmon_targets = next.netmon_targets;
            std::size_t targets = 0;
            for (const std::vector<Ipv4>& list : next.netmon_targets) {
                targets += list.size();
            }
            plan.applied.push_back(
                fmt::format("[netmon] targets: {} in all, from {}", targets,
                            next.netmon_file.empty() ? "(none)" : next.netmon_file.native()));
        }
    }
    return plan;
}

}  // namespace hb::node
