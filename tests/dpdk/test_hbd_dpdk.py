"""hbd running a DPDK adapter from its configuration: beta's adapter has transport = "dpdk" on
net_af_packet over its veth ([dpdk] eal_args: no hugepages, a file prefix of its own), while alpha
and gamma run hbd on kernel UDP. They heartbeat each other, a killed kernel node is NODE_DOWN at
the DPDK hbd, and beta's veth set down is ADAPTER_DOWN there from the port's link state (not from
rtnetlink, which hbd does not use for DPDK adapters), ADAPTER_UP when it comes back.

beta's veth keeps no IPv4 address (see test_af_packet.py): the DPDK port owns 198.18.1.2.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "netns"))

import dpdk_netns  # noqa: E402
import netns_support  # noqa: E402
from netns_support import hbnet  # noqa: E402

DPDK_NODE = "beta"
PORT = "net_af_packet0,iface=eth1"


class HbdDpdk(unittest.TestCase):
    network = hbnet.Network("net_a")

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, ("alpha", DPDK_NODE, "gamma"), (self.network,),
                                     timing=netns_support.TIMING)
        self.file_prefix = f"hb_hbd_{os.getpid()}_{DPDK_NODE}"
        # Runs before lab.close: a graceful stop lets hbd stop the EAL and remove its runtime
        # directory; whatever a crash left behind goes too.
        self.addCleanup(self.stop_dpdk_node)
        node = self.cluster.node(DPDK_NODE)
        node.config_path.write_text(self.dpdk_config(node.config_path.read_text()))
        node.host.ip("address", "flush", "dev", "eth1")
        for name in self.cluster.nodes:
            self.cluster.start(name)

    def dpdk_config(self, text: str) -> str:
        own = re.compile(r'(ifname = "eth1", address = "198\.18\.1\.2") \}')
        text, count = own.subn(rf'\1, transport = "dpdk", port = "{PORT}" }}', text)
        self.assertEqual(count, 1, text)
        eal_args = ["--no-huge", "-m", "64", "--no-pci", "--no-telemetry",
                    "--log-level=lib.eal:error", f"--file-prefix={self.file_prefix}"]
        return text + "[dpdk]\neal_args = [" + ", ".join(f'"{arg}"' for arg in eal_args) + "]\n"

    def stop_dpdk_node(self) -> None:
        node = self.cluster.node(DPDK_NODE)
        if node.alive():
            node.process.send_signal(signal.SIGTERM)
            try:
                node.process.wait(timeout=10)
            except Exception:  # noqa: BLE001 - lab.close kills it
                pass
        shutil.rmtree(Path("/var/run/dpdk") / self.file_prefix, ignore_errors=True)

    def test_check_describes_the_port(self) -> None:
        node = self.cluster.node(DPDK_NODE)
        result = hbnet.run([str(hbnet.hbd_path()), "--check", "-c", str(node.config_path)])
        self.assertIn(f"local adapter eth1 (DPDK port {PORT}) on net_a: port link state",
                      result.stdout.decode())

    def test_heartbeats_with_kernel_nodes_and_reports_a_killed_one_down(self) -> None:
        cluster = self.cluster
        cluster.wait_all_up(timeout=15)
        dpdk_netns.kill_and_expect_down(self, cluster, DPDK_NODE)
        # A graceful stop: hbd closes the port, stops the EAL and removes its runtime directory.
        node = cluster.node(DPDK_NODE)
        self.assertTrue((Path("/var/run/dpdk") / self.file_prefix).is_dir())
        cluster.terminate(DPDK_NODE)
        self.assertEqual(cluster.wait_exit(DPDK_NODE, timeout=10), 0, node.stderr_tail())
        self.assertFalse((Path("/var/run/dpdk") / self.file_prefix).exists())
        self.assertIn(f"local adapter eth1 (DPDK port {PORT}) on net_a: port link state",
                      node.stderr_path().read_text(errors="replace"))

    def test_the_ports_veth_down_is_adapter_down_from_its_link(self) -> None:
        cluster = self.cluster
        cluster.wait_all_up(timeout=15)
        beta = cluster.node(DPDK_NODE)
        since = cluster.mark()
        beta.host.link_down("eth1")
        down = cluster.wait_for(DPDK_NODE, 5, since, event="ADAPTER_DOWN")
        self.assertEqual(down["adapter"], "eth1", down)
        self.assertIn("link", down["evidence"], down)
        # The port's link, not silence: well before the paths could expire.
        self.assertLess(down["latency_ms"], cluster.detection_ms, down)
        # Its peers, which hear nothing from it now, report it down.
        for name in ("alpha", "gamma"):
            cluster.wait_for(name, 10, since, event="NODE_DOWN", node=beta.id)
        since = cluster.mark()
        beta.host.link_up("eth1")
        up = cluster.wait_for(DPDK_NODE, 5, since, event="ADAPTER_UP")
        self.assertIn("link", up["evidence"], up)
        # Beats flow both ways again through the port: a path comes up only when each side hears
        # the other (DESIGN §6).
        for name in ("alpha", "gamma"):
            cluster.wait_for(name, 10, since, event="NODE_UP", node=beta.id)


if __name__ == "__main__":
    netns_support.main()
