// Dropping capabilities with libcap-ng after set-up.
#include "tools/node/privileges.hh"

#include <cap-ng.h>
#include <linux/capability.h>

#include <algorithm>

namespace hb::node {

std::vector<KeptCapability> capabilities_needed(const NodeSettings& settings) {
    std::vector<KeptCapability> keep;
    const NodeConfig* local = settings.cluster.find_node(settings.cluster.local_node);
    const bool kernel_adapter =
        local != nullptr &&
        std::any_of(local->adapters.begin(), local->adapters.end(),
                    [](const AdapterConfig& a) { return a.transport == TransportKind::udp; });
    const bool dpdk_adapter =
        local != nullptr &&
        std::any_of(local->adapters.begin(), local->adapters.end(),
                    [](const AdapterConfig& a) { return a.transport == TransportKind::dpdk; });
    if (kernel_adapter || dpdk_adapter) {
        // rtnetlink checks the sender of every request: RTM_DELNEIGH when a link comes back
        // (policy/neighbour_flush.hh), and DPDK drivers that reconfigure their port.
        keep.push_back({CAP_NET_ADMIN, kernel_adapter
                                           ? "flushing peers' neighbour entries when a link returns"
                                           : "DPDK port reconfiguration"});
    }
    if (dpdk_adapter) {
        // What DPDK's guide lists for a running primary process (hugepage memory locked, raw
        // frames on af_packet/tap vdevs, device register access of some PMDs).
        keep.push_back({CAP_NET_RAW, "DPDK ports (af_packet and tap vdevs)"});
        keep.push_back({CAP_IPC_LOCK, "DPDK hugepage memory"});
        keep.push_back({CAP_SYS_RAWIO, "DPDK drivers' device access"});
    }
    const bool netmon_targets =
        std::any_of(settings.netmon_targets.begin(), settings.netmon_targets.end(),
                    [](const std::vector<Ipv4>& targets) { return !targets.empty(); });
    if (netmon_targets && !dpdk_adapter) {
        // SIGHUP rebuilds the prober when netmon.cf or the timing changes (operations.md,
        // Reload), and a new raw ICMP socket needs it again.
        keep.push_back({CAP_NET_RAW, "netmon's raw ICMP sockets, reopened by a reload"});
    }
    if (settings.process.lock_memory &&
        std::none_of(keep.begin(), keep.end(),
                     [](const KeptCapability& k) { return k.capability == CAP_IPC_LOCK; })) {
        // mlockall(MCL_FUTURE) locks later mappings too, beyond RLIMIT_MEMLOCK only with it.
        keep.push_back({CAP_IPC_LOCK, "memory locking ([process] lock_memory)"});
    }
    if (settings.process.realtime_priority > 0) {
        // Threads started after the drop (a DPDK lcore the EAL creates with its own attributes)
        // must be able to take SCHED_FIFO again.
        keep.push_back({CAP_SYS_NICE, "real-time priority ([process] realtime_priority)"});
    }
    if (settings.deadman.timeout_ns > 0 &&
        settings.deadman.action == DeadmanSettings::Action::halt) {
        keep.push_back({CAP_SYS_BOOT, "[deadman] action = \"halt\" powers the machine off"});
    }
    return keep;
}

std::vector<std::string> drop_capabilities(const NodeSettings& settings) {
    std::vector<std::string> report;
    capng_clear(CAPNG_SELECT_BOTH);
    if (capng_get_caps_process() != 0) {
        report.emplace_back("capabilities not dropped: cannot read this process's capabilities");
        return report;
    }
    if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE) {
        report.emplace_back("capabilities: none held, nothing to drop");
        return report;
    }
    const std::vector<KeptCapability> needed = capabilities_needed(settings);
    std::vector<KeptCapability> kept;
    for (const KeptCapability& need : needed) {
        if (capng_have_capability(CAPNG_EFFECTIVE, static_cast<unsigned>(need.capability)) != 0) {
            kept.push_back(need);
        }
    }
    // The bounding set too, so that a root process cannot regain what it dropped by exec; but
    // not with event scripts: they do a failover's work (addresses, mounts, services) and, run
    // by root, get their capabilities from the bounding set at exec (docs/security.md).
    const bool scripts = !settings.events.script_dir.empty();
    const bool bounding = !scripts && capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) != 0;
    if (scripts) {
        report.emplace_back(
            "capabilities: bounding set kept for the event scripts ([events] script_dir)");
    }
    capng_clear(bounding ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS);
    for (const KeptCapability& keep : kept) {
        const int rc = capng_update(CAPNG_ADD,
                                    static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED |
                                                              (bounding ? CAPNG_BOUNDING_SET : 0)),
                                    static_cast<unsigned>(keep.capability));
        if (rc != 0) {
            report.emplace_back("capabilities not dropped: capng_update failed");
            return report;
        }
    }
    if (capng_apply(bounding ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS) != 0) {
        report.emplace_back("capabilities not dropped: capng_apply failed");
        return report;
    }
    if (kept.empty()) {
        report.emplace_back("capabilities: all dropped");
        return report;
    }
    std::string line = "capabilities: kept only";
    for (std::size_t i = 0; i < kept.size(); ++i) {
        const char* text = capng_capability_to_name(static_cast<unsigned>(kept[i].capability));
        line += std::string(i == 0 ? " " : ", ") + "cap_" + (text != nullptr ? text : "?") + " (" +
                kept[i].why + ")";
    }
    report.push_back(std::move(line));
    return report;
}

}  // namespace hb::node
