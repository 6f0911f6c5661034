"""A running hbd answers hbping on its own heartbeat socket (DESIGN §8), so `hbping -s` checks
the live path of a cluster without stopping it: with the cluster's key and id every ping is
answered, by the node it was sent to; with another key none is (hbd drops it as a bad MAC),
and the cluster notices nothing either way.
"""

from __future__ import annotations

import json
import os

import netns_support
from netns_support import ClusterTestCase, hbnet

RUN_TIMEOUT_S = 30


class HbdAnswersPings(ClusterTestCase):
    names = ("alpha", "beta")

    def setUp(self) -> None:
        reason = hbnet.hbping_problem()
        if reason is not None:
            self.skipTest(reason)
        super().setUp()

    def hbping(self, *args: str):
        alpha = self.cluster.node("alpha")
        return alpha.host.run([str(hbnet.hbping_path()), "-s", "-a", "198.18.1.2", "-I", "eth1",
                               "--cluster-id", str(self.cluster.cluster_id), "-c", "10",
                               "-i", "0.02", "--json", *args], timeout=RUN_TIMEOUT_S)

    def test_pings_with_the_cluster_key_are_answered_by_hbd(self) -> None:
        since = self.cluster.mark()
        result = self.hbping("--key-file", str(self.lab.tmp / "cluster.key"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["transmitted"], 10)
        self.assertEqual(len(report["responders"]), 1, report)
        responder = report["responders"][0]
        self.assertEqual(responder["address"], "198.18.1.2", "beta's hbd answered")
        self.assertEqual(responder["received"], 10, responder)
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since)

    def test_pings_with_another_key_are_not_answered(self) -> None:
        other_key = self.lab.tmp / "other.key"
        other_key.write_bytes(os.urandom(32))
        other_key.chmod(0o600)
        since = self.cluster.mark()
        result = self.hbping("--key-file", str(other_key))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual((report["responders"], report["reason"]), ([], "no reply"), report)
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, since)


if __name__ == "__main__":
    netns_support.main()
