"""Failure classification with real hbd processes: 3 nodes x 2 networks (one bridge each).

An adapter, a whole network, and all of one node's adapters fail; each node must report the
right class (DESIGN §6), once, and no NODE_DOWN: a local adapter failure is never reported as
peer failures, and a dead switch is one NETWORK_DOWN, not a flood of per-peer verdicts.
"""

from __future__ import annotations

import time

import netns_support
from netns_support import ClusterTestCase, hbnet

# Paths on the second network may still be coming up when NODE_UP (the first path) arrives.
SETTLE_S = 0.5


class Classification(ClusterTestCase):
    networks = (hbnet.Network("net_a"), hbnet.Network("net_b"))

    def setUp(self) -> None:
        super().setUp()
        time.sleep(SETTLE_S)
        self.ids = {name: self.cluster.node(name).id for name in self.names}

    def events_since(self, name: str, since: dict[str, int], **fields) -> list[dict]:
        return self.cluster.events(name, since[name], **fields)

    def assert_only(self, name: str, since: dict[str, int], expected: dict[str, int]) -> None:
        """Exactly these events (by name and count) at node `name` since the mark."""
        got: dict[str, int] = {}
        for event in self.cluster.events(name, since[name]):
            got[event["event"]] = got.get(event["event"], 0) + 1
        self.assertEqual(got, expected, f"{name}: events\n" + self.cluster.describe(name, since))

    def test_adapter_down_is_local_at_its_node_and_remote_elsewhere(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        gamma = cluster.node("gamma")
        failed_ns = time.monotonic_ns()
        gamma.host.link_down("eth1")
        own = cluster.wait_for("gamma", 5, since, event="ADAPTER_DOWN")
        self.assertEqual((own["network"], own["adapter"], own["evidence"]),
                         ("net_a", "eth1", ["link"]))
        for observer in ("alpha", "beta"):
            event = cluster.wait_for(observer, 5, since, event="REMOTE_ADAPTER_DOWN",
                                     node=self.ids["gamma"])
            self.assertEqual((event["network"], event["adapter"]), ("net_a", "eth1"))
            self.assertIn("report", event["evidence"], "learned from gamma's own report")
            self.assertLessEqual((event["t_ns"] - failed_ns) / 1e6,
                                 self.bound_ms + netns_support.SCHEDULING_SLACK_MS)
        time.sleep(netns_support.QUIET_S)
        self.assert_only("gamma", since, {"ADAPTER_DOWN": 1})
        self.assert_only("alpha", since, {"REMOTE_ADAPTER_DOWN": 1})
        self.assert_only("beta", since, {"REMOTE_ADAPTER_DOWN": 1})

        since = cluster.mark()
        gamma.host.link_up("eth1")
        cluster.wait_for("gamma", 5, since, event="ADAPTER_UP")
        cluster.wait_for_each(("alpha", "beta"), 10, since, event="REMOTE_ADAPTER_UP",
                              node=self.ids["gamma"])
        time.sleep(netns_support.QUIET_S)
        self.assert_only("gamma", since, {"ADAPTER_UP": 1})
        self.assert_only("alpha", since, {"REMOTE_ADAPTER_UP": 1})
        self.assert_only("beta", since, {"REMOTE_ADAPTER_UP": 1})

    def test_network_down_is_one_verdict_at_every_node(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        switch = cluster.switches["net_a"]
        failed_ns = time.monotonic_ns()
        switch.blackhole()  # every frame dropped while every carrier stays up
        downs = cluster.wait_for_each(self.names, 5, since, event="NETWORK_DOWN")
        for name, event in downs.items():
            self.assertEqual(event["network"], "net_a", name)
            self.assertLessEqual((event["t_ns"] - failed_ns) / 1e6,
                                 self.bound_ms + netns_support.SCHEDULING_SLACK_MS)
        time.sleep(netns_support.QUIET_S)
        for name in self.names:
            self.assert_only(name, since, {"NETWORK_DOWN": 1})

        since = cluster.mark()
        switch.unblackhole()
        cluster.wait_for_each(self.names, 10, since, event="NETWORK_UP")
        time.sleep(netns_support.QUIET_S)
        for name in self.names:
            self.assert_only(name, since, {"NETWORK_UP": 1})

    def test_all_adapters_down_is_isolation_and_no_node_down_there(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        gamma = cluster.node("gamma")
        gamma.host.link_down("eth1")
        gamma.host.link_down("eth2")
        isolated = cluster.wait_for("gamma", 5, since, event="ISOLATED")
        self.assertEqual(isolated["evidence"], ["link"])
        # To the others gamma is gone, which is all they can know without a disk.
        cluster.wait_for_each(("alpha", "beta"), 5, since, event="NODE_DOWN",
                              node=self.ids["gamma"])
        time.sleep(netns_support.QUIET_S)
        self.assert_only("gamma", since, {"ADAPTER_DOWN": 2, "ISOLATED": 1})

        since = cluster.mark()
        gamma.host.link_up("eth1")
        gamma.host.link_up("eth2")
        cluster.wait_for("gamma", 5, since, event="ISOLATION_ENDED")
        cluster.wait_for_each(("alpha", "beta"), 10, since, event="NODE_UP",
                              node=self.ids["gamma"])
        time.sleep(netns_support.QUIET_S)
        self.assertEqual(self.events_since("gamma", since, event="NODE_DOWN"), [],
                         cluster.describe("gamma", since))


if __name__ == "__main__":
    netns_support.main()
