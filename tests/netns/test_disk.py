"""The disk heartbeat with real hbd processes: nodes in network namespaces share one disk (a
file behind one loop device per node), and the disk tells a partition from a death.

DESIGN §6: with every IP path to a peer down, NODE_UNREACHABLE at once, then NODE_DOWN if its
disk slot stopped or PARTITION if it still advances, PARTITION_HEALED when paths return; a node
that loses its own disk path reports DISK_DOWN and nobody reports anything about it.
"""

from __future__ import annotations

import time

import netns_support
from netns_support import ClusterTestCase, hbnet

# Verdicts that a partition, or one node losing its disk, must never cause anywhere.
NEVER_ON_PARTITION = frozenset({"NODE_DOWN", "ISOLATED", "NETWORK_DOWN", "REMOTE_ADAPTER_DOWN",
                                "ADAPTER_DOWN"})


class DiskCluster(ClusterTestCase):
    disk = True

    def setUp(self) -> None:
        reason = hbnet.disk_problem()
        if reason is not None:
            self.skipTest(reason)
        super().setUp()
        self.ids = {name: self.cluster.node(name).id for name in self.names}
        # The first disk cycles and every path's second network come up after NODE_UP.
        self.cluster.wait_for_each(self.names, self.verdict_timeout_s, 0, event="DISK_UP")
        time.sleep(netns_support.QUIET_S)

    def assert_only(self, name: str, since: dict[str, int], expected: dict[str, int]) -> None:
        self.assertEqual(self.event_counts(name, since), expected,
                         f"{name}: events\n" + self.cluster.describe(name, since))

    def assert_unreachable_then(self, observer: str, about: str, since: dict[str, int],
                                verdict: str) -> None:
        """NODE_UNREACHABLE about `about`, then `verdict` with the disk in its evidence."""
        events = self.cluster.events(observer, since[observer], node=self.ids[about])
        kinds = [event["event"] for event in events]
        self.assertEqual(kinds, ["NODE_UNREACHABLE", verdict],
                         f"{observer} about {about}\n" + self.cluster.describe(observer, since))
        self.assertEqual(events[1]["evidence"], ["paths", "disk"])
        self.assertLessEqual(events[0]["t_ns"], events[1]["t_ns"])


class ThreeNodesTwoNetworks(DiskCluster):
    networks = (hbnet.Network("net_a"), hbnet.Network("net_b"))

    def test_a_node_cut_off_from_every_network_is_a_partition_never_a_death(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        self.cluster.cut_off("gamma")
        for observer in ("alpha", "beta"):
            cluster.wait_for(observer, self.verdict_timeout_s, since, event="PARTITION",
                             node=self.ids["gamma"])
        for peer in ("alpha", "beta"):
            cluster.wait_for("gamma", self.verdict_timeout_s, since, event="PARTITION",
                             node=self.ids[peer])
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, NEVER_ON_PARTITION)
        for observer in ("alpha", "beta"):
            self.assert_unreachable_then(observer, "gamma", since, "PARTITION")
            self.assert_only(observer, since, {"NODE_UNREACHABLE": 1, "PARTITION": 1})
        for peer in ("alpha", "beta"):
            self.assert_unreachable_then("gamma", peer, since, "PARTITION")
        self.assert_only("gamma", since, {"NODE_UNREACHABLE": 2, "PARTITION": 2})

        since = cluster.mark()
        self.cluster.cut_off("gamma", cut=False)
        for observer in ("alpha", "beta"):
            cluster.wait_for(observer, self.verdict_timeout_s, since, event="PARTITION_HEALED",
                             node=self.ids["gamma"])
        for peer in ("alpha", "beta"):
            cluster.wait_for("gamma", self.verdict_timeout_s, since, event="PARTITION_HEALED",
                             node=self.ids[peer])
        self.quiet_period()
        self.assert_only("alpha", since, {"PARTITION_HEALED": 1})
        self.assert_only("beta", since, {"PARTITION_HEALED": 1})
        self.assert_only("gamma", since, {"PARTITION_HEALED": 2})

    def test_a_killed_node_is_unreachable_then_down(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        cluster.kill("gamma")
        for observer in ("alpha", "beta"):
            cluster.wait_for(observer, self.verdict_timeout_s, since, event="NODE_DOWN",
                             node=self.ids["gamma"])
        self.quiet_period()
        for observer in ("alpha", "beta"):
            self.assert_unreachable_then(observer, "gamma", since, "NODE_DOWN")
            self.assert_only(observer, since, {"NODE_UNREACHABLE": 1, "NODE_DOWN": 1})

    def test_a_node_losing_its_disk_says_so_and_nobody_else_says_anything(self) -> None:
        cluster = self.cluster
        device = cluster.disk_devices["gamma"]
        since = cluster.mark()
        hbnet.Lab.set_read_only(device)  # gamma's writes fail from now on
        down = cluster.wait_for("gamma", self.verdict_timeout_s, since, event="DISK_DOWN")
        self.assertEqual(down["evidence"], ["disk"])
        self.quiet_period()
        self.assert_only("gamma", since, {"DISK_DOWN": 1})
        self.assert_only("alpha", since, {})
        self.assert_only("beta", since, {})

        since = cluster.mark()
        hbnet.Lab.set_read_only(device, False)
        cluster.wait_for("gamma", self.verdict_timeout_s, since, event="DISK_UP")
        self.quiet_period()
        self.assert_only("gamma", since, {"DISK_UP": 1})
        self.assert_only("alpha", since, {})
        self.assert_only("beta", since, {})


class TwoNodesOneNetwork(DiskCluster):
    names = ("alpha", "beta")

    def test_cutting_the_only_network_is_a_partition_on_both_sides(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        self.cluster.cut_off("beta")
        cluster.wait_for("alpha", self.verdict_timeout_s, since, event="PARTITION")
        cluster.wait_for("beta", self.verdict_timeout_s, since, event="PARTITION")
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, NEVER_ON_PARTITION)
        self.assert_unreachable_then("alpha", "beta", since, "PARTITION")
        self.assert_unreachable_then("beta", "alpha", since, "PARTITION")

        since = cluster.mark()
        self.cluster.cut_off("beta", cut=False)
        cluster.wait_for_each(self.names, self.verdict_timeout_s, since, event="PARTITION_HEALED")
        self.quiet_period()
        self.assert_only("alpha", since, {"PARTITION_HEALED": 1})
        self.assert_only("beta", since, {"PARTITION_HEALED": 1})

    def test_a_killed_peer_is_unreachable_then_down(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        cluster.kill("beta")
        cluster.wait_for("alpha", self.verdict_timeout_s, since, event="NODE_DOWN")
        self.quiet_period()
        self.assert_unreachable_then("alpha", "beta", since, "NODE_DOWN")
        self.assert_only("alpha", since, {"NODE_UNREACHABLE": 1, "NODE_DOWN": 1})


if __name__ == "__main__":
    netns_support.main()
