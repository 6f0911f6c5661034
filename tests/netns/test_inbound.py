"""The inbound-traffic check (DESIGN §6, local adapter health rule 3) with real hbd processes.

3 nodes x 2 networks; net_a says `link_state = "ignore"`, as a virtual switch that keeps every
link up would, and nobody has netmon targets, so each node judges its net_a adapter by its
interface's rx counter. A blackhole qdisc on the switch-side port toward gamma on net_a stops
every frame to gamma while its link stays up and its own beats still go out: gamma must report
ADAPTER_DOWN on net_a with evidence ["inbound"], alpha and beta REMOTE_ADAPTER_DOWN for gamma on
net_a (gamma's report reaches them over net_b), and nobody NODE_DOWN. When the qdisc goes,
gamma reports ADAPTER_UP and the others REMOTE_ADAPTER_UP.
"""

from __future__ import annotations

import time

import netns_support
from netns_support import ClusterTestCase, hbnet

# Verdicts that one adapter's silence must never cause anywhere.
PEER_VERDICTS = frozenset({"NODE_DOWN", "NODE_UNREACHABLE", "PARTITION", "NETWORK_DOWN",
                           "ISOLATED"})
SETTLE_TIMEOUT_S = 10


class Inbound(ClusterTestCase):
    networks = (hbnet.Network("net_a", link_state="ignore"), hbnet.Network("net_b"))

    def setUp(self) -> None:
        super().setUp()
        self.ids = {name: self.cluster.node(name).id for name in self.names}
        # The first node started hears nobody on net_a until the others run: rule 3 rightly
        # calls that adapter down for a while. Start the test once every verdict is undone.
        self.wait_settled()

    def adapters_settled(self, name: str) -> bool:
        last: dict[tuple, str] = {}
        for event in self.cluster.events(name):
            kind = event["event"]
            if kind in ("ADAPTER_DOWN", "ADAPTER_UP"):
                last[("local", event["network"])] = kind
            elif kind in ("REMOTE_ADAPTER_DOWN", "REMOTE_ADAPTER_UP"):
                last[(event["node"], event["network"])] = kind
        return not any(kind.endswith("_DOWN") for kind in last.values())

    def wait_settled(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while not all(self.adapters_settled(name) for name in self.names):
            if time.monotonic() > deadline:
                self.fail("adapters still down after start\n" + self.cluster.describe())
            time.sleep(hbnet.POLL_S)
        time.sleep(netns_support.QUIET_S)

    def assert_only(self, name: str, since: dict[str, int], expected: dict[str, int]) -> None:
        self.assertEqual(self.event_counts(name, since), expected,
                         f"{name}: events\n" + self.cluster.describe(name, since))

    def test_silent_adapter_is_down_by_inbound_traffic_and_back(self) -> None:
        cluster = self.cluster
        switch = cluster.switches["net_a"]
        port = switch.port_for(cluster.node("gamma").host, "eth1")
        gamma_id = self.ids["gamma"]

        since = cluster.mark()
        silenced_ns = time.monotonic_ns()
        switch.blackhole([port])  # nothing reaches gamma on net_a; its link stays up
        own = cluster.wait_for("gamma", self.verdict_timeout_s, since, event="ADAPTER_DOWN")
        self.assertEqual((own["network"], own["adapter"], own["evidence"]),
                         ("net_a", "eth1", ["inbound"]), hbnet.describe_event(own))
        # The window is the network's interval x multiplier from the last reading that saw the
        # counter move: at most one interval after the last packet.
        after_ms = (own["t_ns"] - silenced_ns) / 1e6
        self.assertGreaterEqual(after_ms, cluster.detection_ms - cluster.interval_ms,
                                hbnet.describe_event(own))
        self.assertLessEqual(after_ms, self.bound_ms + cluster.interval_ms
                             + netns_support.SCHEDULING_SLACK_MS, hbnet.describe_event(own))
        self.assertGreaterEqual(own["latency_ms"], cluster.detection_ms,
                                hbnet.describe_event(own))
        for observer in ("alpha", "beta"):
            event = cluster.wait_for(observer, self.verdict_timeout_s, since,
                                     event="REMOTE_ADAPTER_DOWN", node=gamma_id)
            self.assertEqual((event["network"], event["adapter"]), ("net_a", "eth1"), observer)
            self.assertIn("report", event["evidence"], f"{observer}: from gamma's own report")
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)
        self.assert_only("gamma", since, {"ADAPTER_DOWN": 1})
        self.assert_only("alpha", since, {"REMOTE_ADAPTER_DOWN": 1})
        self.assert_only("beta", since, {"REMOTE_ADAPTER_DOWN": 1})
        self.assertEqual(cluster.node("gamma").host.link_state("eth1")["operstate"], "UP",
                         "gamma's eth1: the link must stay up")

        since = cluster.mark()
        switch.unblackhole([port])
        own = cluster.wait_for("gamma", self.verdict_timeout_s, since, event="ADAPTER_UP")
        self.assertEqual((own["network"], own["adapter"], own["evidence"]),
                         ("net_a", "eth1", ["inbound"]), hbnet.describe_event(own))
        cluster.wait_for_each(("alpha", "beta"), self.verdict_timeout_s, since,
                              event="REMOTE_ADAPTER_UP", node=gamma_id)
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)
        self.assert_only("gamma", since, {"ADAPTER_UP": 1})
        self.assert_only("alpha", since, {"REMOTE_ADAPTER_UP": 1})
        self.assert_only("beta", since, {"REMOTE_ADAPTER_UP": 1})

    def test_ignored_link_state_is_not_evidence(self) -> None:
        """With link_state = "ignore" a link that goes down is judged by its silence only."""
        cluster = self.cluster
        gamma = cluster.node("gamma")
        since = cluster.mark()
        failed_ns = time.monotonic_ns()
        gamma.host.link_down("eth1")
        own = cluster.wait_for("gamma", self.verdict_timeout_s, since, event="ADAPTER_DOWN")
        self.assertEqual((own["network"], own["evidence"]), ("net_a", ["inbound"]),
                         hbnet.describe_event(own))
        # Not at once, as the link poller would have said it: after the window.
        self.assertGreaterEqual((own["t_ns"] - failed_ns) / 1e6,
                                cluster.detection_ms - cluster.interval_ms,
                                hbnet.describe_event(own))
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)
        self.assertEqual(self.event_counts("gamma", since), {"ADAPTER_DOWN": 1},
                         cluster.describe("gamma", since))

        since = cluster.mark()
        gamma.host.link_up("eth1")
        own = cluster.wait_for("gamma", self.verdict_timeout_s, since, event="ADAPTER_UP")
        self.assertEqual((own["network"], own["evidence"]), ("net_a", ["inbound"]),
                         hbnet.describe_event(own))
        cluster.wait_for_each(("alpha", "beta"), self.verdict_timeout_s, since,
                              event="REMOTE_ADAPTER_UP", node=self.ids["gamma"])
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since, PEER_VERDICTS)

    def test_check_and_start_name_each_adapters_health_sources(self) -> None:
        gamma = self.cluster.node("gamma")
        result = gamma.host.run([str(hbnet.hbd_path()), "--check", "-c", str(gamma.config_path)])
        stdout = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, result.stderr.decode(errors="replace"))
        self.assertIn("local adapter eth1 on net_a: inbound traffic\n", stdout)
        self.assertIn("local adapter eth2 on net_b: link state, inbound traffic if eth2 reports "
                      "no carrier state (operstate UNKNOWN) when hbd starts\n", stdout)
        # At start the link watch has read eth2: a veth reports carrier, so no rule 3 there.
        log = gamma.stderr_path().read_text(errors="replace")
        self.assertIn("hbd: local adapter eth1 on net_a: inbound traffic\n", log)
        self.assertIn("hbd: local adapter eth2 on net_b: link state\n", log)


if __name__ == "__main__":
    netns_support.main()
