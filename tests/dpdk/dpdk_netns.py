"""What the DPDK netns tests share: a kernel-UDP hbd killed and reported down by the DPDK node."""

from __future__ import annotations

import unittest

import netns_support
from netns_support import hbnet


def kill_and_expect_down(test: unittest.TestCase, cluster: hbnet.Cluster, observer: str,
                         victim: str = "alpha", witness: str = "gamma") -> None:
    """Kills `victim`: NODE_DOWN at `observer` (the DPDK node) and at the kernel node `witness`,
    and no false verdict at `observer` meanwhile."""
    victim_id = cluster.node(victim).id
    since = cluster.mark()
    killed_ns = cluster.kill(victim)
    down = cluster.wait_for(observer, 10, since, event="NODE_DOWN", node=victim_id)
    test.assertGreaterEqual(down["t_ns"], killed_ns)
    cluster.wait_for(witness, 10, since, event="NODE_DOWN", node=victim_id)
    for event in cluster.events(observer, since[observer]):
        test.assertNotIn(event["event"], netns_support.FALSE_VERDICTS,
                         cluster.describe(observer, since))
