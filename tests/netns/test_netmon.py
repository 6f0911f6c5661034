"""netmon.cf probing with real hbd processes: 3 nodes on one network and a `!REQD` target host.

The target is a fourth namespace on the same bridge that runs no hbd: its kernel answers the
nodes' ICMP echoes. When it stops answering while every link stays up, each node's only adapter
is netmon-down (DESIGN §6, local adapter health rule 2), so each node is ISOLATED (all local
adapters down) and judges no peer: nobody reports NODE_DOWN. When it answers again, each node
reports ADAPTER_UP and ISOLATION_ENDED.

The nodes' windows end within about one interval of each other, so a node may still hear a
peer's adapter-down report before its own window ends (REMOTE_ADAPTER_DOWN, then ISOLATED), and
after ISOLATION_ENDED it may judge a peer's last report before that peer's own recovery reaches
it (REMOTE_ADAPTER_DOWN, then REMOTE_ADAPTER_UP a beat later). Such remote verdicts are allowed,
but each must be undone by the end: no node is left believing a peer's adapter down.
"""

from __future__ import annotations

import time

import netns_support
from netns_support import ClusterTestCase, hbnet

TARGET_ADDRESS = "198.18.1.100"  # on net_a's subnet; hbnet gives nodes 198.18.1.<node id>
NETMON_CONFIG = '[netmon]\nfile = "netmon.cf"\n'
# Verdicts that silencing a netmon target must never cause anywhere: it says nothing about peers.
PEER_VERDICTS = frozenset({"NODE_DOWN", "NODE_UNREACHABLE", "PARTITION", "NETWORK_DOWN"})


class Netmon(ClusterTestCase):
    def setUp(self) -> None:
        # ClusterTestCase.setUp starts the cluster at once; here the target host and netmon.cf
        # must exist first (hbd reads netmon.cf when it loads its config).
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, self.names, self.networks, timing=self.timing,
                                     extra_config=NETMON_CONFIG)
        self.target = self.lab.host("target")
        self.lab.connect(self.target, self.cluster.switches["net_a"], "eth1",
                         f"{TARGET_ADDRESS}/24")
        # Every node's config lives in the lab's tmp dir, so one file serves all three.
        (self.lab.tmp / "netmon.cf").write_text(f"!REQD eth1 {TARGET_ADDRESS}\n")
        self.cluster.start_all()
        self.cluster.wait_all_up(timeout=self.start_timeout_s)

    def set_target_answering(self, answering: bool) -> None:
        # The target's links stay up: only its ICMP echo answers stop, so only netmon can tell.
        value = "0" if answering else "1"
        self.target.run(["sysctl", "-qw", f"net.ipv4.icmp_echo_ignore_all={value}"], check=True)

    def assert_remote_verdicts_undone(self, since: dict[str, int]) -> None:
        for name in self.names:
            last: dict[int, str] = {}
            for event in self.cluster.events(name, since[name]):
                if event["event"] in ("REMOTE_ADAPTER_DOWN", "REMOTE_ADAPTER_UP"):
                    last[event["node"]] = event["event"]
            self.assertNotIn("REMOTE_ADAPTER_DOWN", last.values(),
                             f"{name}: a peer's adapter left down\n"
                             + self.cluster.describe(name, since))

    def test_target_silent_is_adapter_down_and_isolation_everywhere(self) -> None:
        cluster = self.cluster
        start = cluster.mark()
        # The targets answered from the start: no node reported its adapter down.
        for name in self.names:
            self.assertEqual(cluster.events(name, where=lambda event: event["event"] in
                                            ("ADAPTER_DOWN", "ISOLATED")), [],
                             cluster.describe(name))

        since = cluster.mark()
        silenced_ns = time.monotonic_ns()
        self.set_target_answering(False)
        downs = cluster.wait_for_each(self.names, self.verdict_timeout_s, since,
                                      event="ADAPTER_DOWN")
        for name, event in downs.items():
            self.assertEqual((event["network"], event["adapter"], event["evidence"]),
                             ("net_a", "eth1", ["netmon"]), name)
            # Netmon's window is the network's interval x multiplier, counted from the first
            # probe after the last answer: one interval more than a path's bound at most.
            after_ms = (event["t_ns"] - silenced_ns) / 1e6
            self.assertLessEqual(after_ms, self.bound_ms + cluster.interval_ms
                                 + netns_support.SCHEDULING_SLACK_MS, name)
        # Its only adapter is down: DESIGN §6 says ISOLATED, and no peer verdict.
        isolated = cluster.wait_for_each(self.names, self.verdict_timeout_s, since,
                                         event="ISOLATED")
        for name, event in isolated.items():
            self.assertIn("netmon", event["evidence"], name)
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)
        for name in self.names:
            got = self.event_counts(name, since)
            self.assertEqual((got.get("ADAPTER_DOWN"), got.get("ISOLATED")), (1, 1),
                             f"{name}: {got}\n" + cluster.describe(name, since))
        # Beats kept flowing, so every path stays up: no node was ever gone.
        for name in self.names:
            self.assertTrue(cluster.node(name).alive(), name)

        since = cluster.mark()
        self.set_target_answering(True)
        ups = cluster.wait_for_each(self.names, self.verdict_timeout_s, since, event="ADAPTER_UP")
        for name, event in ups.items():
            self.assertEqual((event["network"], event["adapter"], event["evidence"]),
                             ("net_a", "eth1", ["netmon"]), name)
        cluster.wait_for_each(self.names, self.verdict_timeout_s, since, event="ISOLATION_ENDED")
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)
        for name in self.names:
            got = self.event_counts(name, since)
            self.assertEqual((got.get("ADAPTER_UP"), got.get("ISOLATION_ENDED")), (1, 1),
                             f"{name}: {got}\n" + cluster.describe(name, since))
        self.assert_remote_verdicts_undone(start)


if __name__ == "__main__":
    netns_support.main()
