"""A DPDK node among kernel-UDP hbd nodes: beta runs tests/dpdk/dpdk_peer (the engine over the
DPDK transport on net_af_packet, bound to its veth) while alpha and gamma run hbd. They heartbeat
each other unicast (ARP resolved both ways: the kernel asks the DPDK node and the DPDK node asks
the kernel) and multicast, and a killed kernel node is reported down by the DPDK node.

beta's veth keeps no IPv4 address: the DPDK transport owns 198.18.1.2, so the kernel there neither
answers ARP for it nor sends "port unreachable" for beats. The lab turns tx checksum offload off
on every veth (DESIGN §10), so kernel peers' UDP checksums arrive complete and are verified.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "netns"))

import dpdk_netns  # noqa: E402
import netns_support  # noqa: E402
from netns_support import hbnet  # noqa: E402

DPDK_NODE = "beta"


def dpdk_peer_path() -> Path:
    return Path(os.environ.get("DPDK_PEER")
                or hbnet.REPO_ROOT / "build" / "tests" / "dpdk" / "dpdk_peer")


class AfPacketCases:
    network: hbnet.Network

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, ("alpha", DPDK_NODE, "gamma"), (self.network,),
                                     timing=netns_support.TIMING)
        for name in self.cluster.nodes:
            if name == DPDK_NODE:
                self.start_dpdk(name)
            else:
                self.cluster.start(name)

    def start_dpdk(self, name: str) -> None:
        """What Cluster.start does for hbd, for dpdk_peer on the node's eth1."""
        node = self.cluster.node(name)
        node.host.ip("address", "flush", "dev", "eth1")
        node.runs += 1
        node.run_start = len(node.events)
        events_path = self.lab.tmp / f"{name}.{node.runs}.events"
        node.log.follow(events_path)
        argv = [str(dpdk_peer_path()), "-c", str(node.config_path), "--events", str(events_path),
                "--port", "net_af_packet0,iface=eth1",
                "--file-prefix", f"hb_peer_{os.getpid()}_{name}"]
        with open(node.stderr_path(), "wb") as log:
            node.process = self.lab.spawn(node.host, argv, stdout=log, stderr=log)

    def dpdk_counters(self) -> dict:
        """Stops the DPDK node gracefully and returns the counters it prints on exit."""
        node = self.cluster.node(DPDK_NODE)
        node.process.send_signal(signal.SIGTERM)
        code = node.process.wait(timeout=10)
        lines = node.stderr_path().read_text(errors="replace").splitlines()
        self.assertEqual(code, 0, "\n".join(lines[-15:]))
        return json.loads(lines[-1])

    def test_heartbeats_both_ways_and_a_killed_kernel_node_is_reported_down(self) -> None:
        cluster = self.cluster
        cluster.wait_all_up(timeout=15)
        if self.network.mode == "unicast":
            # The kernels learned beta from its own requests (RFC 826): make gamma ask.
            gamma = cluster.node("gamma").host
            gamma.ip("neigh", "flush", "dev", "eth1")
            hbnet._wait(lambda: "198.18.1.2 lladdr" in
                        gamma.ip("neigh", "show", "dev", "eth1").stdout.decode(), 5,
                        "gamma resolving beta's address again")
        dpdk_netns.kill_and_expect_down(self, cluster, DPDK_NODE)
        counters = self.dpdk_counters()
        self.assertGreater(counters["beats_accepted"], 0, counters)
        self.assertEqual(counters["rx_malformed"], 0, counters)
        self.assertEqual(counters["bad_udp_checksum"], 0, counters)
        if self.network.mode == "unicast":
            # The kernel asked for beta's MAC and beta answered; beta asked for the others'.
            self.assertGreater(counters["arp_requests_answered"], 0, counters)
            self.assertGreater(counters["arp_replies_received"], 0, counters)
        else:
            self.assertGreater(counters["igmp_reports_sent"], 0, counters)


class Unicast(AfPacketCases, unittest.TestCase):
    network = hbnet.Network("net_a")


class Multicast(AfPacketCases, unittest.TestCase):
    network = hbnet.Network("net_a", mode="multicast", group="228.18.1.1")


if __name__ == "__main__":
    if not dpdk_peer_path().is_file():
        print(f"SKIP: dpdk_peer not found at {dpdk_peer_path()} (build it, or set DPDK_PEER)")
        sys.exit(netns_support.SKIP_EXIT_CODE)
    netns_support.main()
