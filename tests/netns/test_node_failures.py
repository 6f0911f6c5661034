"""Node crash, hang, restart and graceful leave, seen by the survivors of a 3-node hb cluster.

Real hbd processes (profile fast: 10 ms x 3) in network namespaces on one bridge per network;
the same cases run on a unicast network, a multicast network and two networks at once.
"""

from __future__ import annotations

import time

import netns_support
from netns_support import ClusterTestCase, hbnet

# SIGSTOP lasts at least this long: well past detection, so the hang is a real outage.
HANG_MS = 300


class NodeFailureCases:
    """The cases; mixed into one TestCase per network layout below."""

    victim = "gamma"

    def setUp(self) -> None:
        super().setUp()
        self.victim_id = self.cluster.node(self.victim).id
        self.survivors = self.cluster.others(self.victim)

    def test_sigkill_gives_one_node_down_at_each_survivor(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        killed_ns = cluster.kill(self.victim)
        downs = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                      event="NODE_DOWN", node=self.victim_id)
        for survivor, event in downs.items():
            self.assert_detected(survivor, event, killed_ns)
        self.quiet_period()
        for survivor in self.survivors:
            self.assert_node_downs(survivor, since, {self.victim_id: 1})
        self.assert_no_false_verdicts(self.survivors, since)

    def test_sigstop_then_sigcont_gives_node_down_then_node_up(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        stopped_ns = cluster.stop(self.victim)
        downs = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                      event="NODE_DOWN", node=self.victim_id)
        for survivor, event in downs.items():
            self.assert_detected(survivor, event, stopped_ns)
        _sleep_until_ns(stopped_ns + HANG_MS * 1_000_000)
        continued_ns = cluster.cont(self.victim)
        ups = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                    event="NODE_UP", node=self.victim_id)
        for survivor in self.survivors:
            self.assertGreaterEqual(ups[survivor]["t_ns"], continued_ns,
                                    f"{survivor}: NODE_UP before SIGCONT\n"
                                    + cluster.describe(survivor, since))
        self.quiet_period()
        for survivor in self.survivors:
            self.assert_node_downs(survivor, since, {self.victim_id: 1})
        self.assert_no_false_verdicts(self.survivors, since)
        # The hung node itself knows it was stalled: the silence it measured across its own
        # stop says nothing about its peers, so it reports none of them down.
        self.assert_node_downs(self.victim, since, {})

    def test_restart_after_node_down_gives_restarted_then_up(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        cluster.kill(self.victim)
        cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                              event="NODE_DOWN", node=self.victim_id)
        cluster.start(self.victim)
        restarted = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                          event="NODE_RESTARTED", node=self.victim_id)
        ups = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                    event="NODE_UP", node=self.victim_id)
        for survivor in self.survivors:
            self.assertLessEqual(restarted[survivor]["t_ns"], ups[survivor]["t_ns"],
                                 f"{survivor}: NODE_UP before NODE_RESTARTED\n"
                                 + cluster.describe(survivor, since))
        cluster.wait_all_up(self.verdict_timeout_s, observers=[self.victim])
        self.quiet_period()
        for survivor in self.survivors:
            self.assert_node_downs(survivor, since, {self.victim_id: 1})
        self.assert_no_false_verdicts(self.survivors, since)

    def test_immediate_restart_gives_node_restarted(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        cluster.restart(self.victim)
        cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                              event="NODE_RESTARTED", node=self.victim_id)
        cluster.wait_all_up(self.verdict_timeout_s, observers=[self.victim])
        self.quiet_period()
        for survivor in self.survivors:
            # The restart may or may not have outlasted detection; if it did, the node must be
            # reported up again after its restart.
            downs = cluster.events(survivor, since[survivor], event="NODE_DOWN",
                                   node=self.victim_id)
            self.assertLessEqual(len(downs), 1, cluster.describe(survivor, since))
            if downs:
                restarted = cluster.events(survivor, since[survivor], event="NODE_RESTARTED",
                                           node=self.victim_id)[0]
                cluster.wait_for(survivor, self.verdict_timeout_s, since, event="NODE_UP",
                                 node=self.victim_id,
                                 where=lambda event: event["t_ns"] >= restarted["t_ns"])
        self.assert_no_false_verdicts(self.survivors, since)

    def test_sigterm_gives_node_left_and_no_node_down(self) -> None:
        cluster = self.cluster
        since = cluster.mark()
        terminated_ns = cluster.terminate(self.victim)
        lefts = cluster.wait_for_each(self.survivors, self.verdict_timeout_s, since,
                                      event="NODE_LEFT", node=self.victim_id)
        for survivor, event in lefts.items():
            self.assertLessEqual((event["t_ns"] - terminated_ns) / 1e6,
                                 self.bound_ms + netns_support.SCHEDULING_SLACK_MS,
                                 f"{survivor}: {hbnet.describe_event(event)}")
        self.assertEqual(cluster.wait_exit(self.victim, timeout=5), 0,
                         f"{self.victim}: exit code after SIGTERM\n"
                         + cluster.node(self.victim).stderr_tail())
        self.quiet_period()
        for survivor in self.survivors:
            self.assert_node_downs(survivor, since, {})
            self.assertEqual(len(cluster.events(survivor, since[survivor], event="NODE_LEFT",
                                                node=self.victim_id)), 1,
                             cluster.describe(survivor, since))
        self.assert_no_false_verdicts(self.survivors, since)


def _sleep_until_ns(deadline_ns: int) -> None:
    remaining_s = (deadline_ns - time.monotonic_ns()) / 1e9
    if remaining_s > 0:
        time.sleep(remaining_s)


class UnicastNetwork(NodeFailureCases, ClusterTestCase):
    networks = (hbnet.Network("net_a"),)


class MulticastNetwork(NodeFailureCases, ClusterTestCase):
    networks = (hbnet.Network("net_a", mode="multicast", group="228.18.1.1"),)


class TwoNetworks(NodeFailureCases, ClusterTestCase):
    """Each node has an adapter on each network: a crash kills two paths per survivor at once,
    which must still give one NODE_DOWN, not adapter or network verdicts first."""
    networks = (hbnet.Network("net_a"),
                hbnet.Network("net_b", mode="multicast", group="228.18.2.1"))


if __name__ == "__main__":
    netns_support.main()
