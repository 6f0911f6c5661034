"""Shared pieces of the netns integration tests: skipping, the cluster fixture, verdict checks.

Every test module ends with `netns_support.main()`, which exits 77 (meson's skip code) with the
reason printed when this machine cannot run it, and otherwise runs the module's unittest cases.
"""

from __future__ import annotations

import os
import re
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "lib"))

import hbnet  # noqa: E402  (found through the path above)

SKIP_EXIT_CODE = 77
# What a busy 2-core machine may add between a verdict and the test seeing it, on top of the
# 3x nominal detection bound.
SCHEDULING_SLACK_MS = 100
# Verdicts that a node crash, hang, restart or leave must never cause (DESIGN §6: a correlated
# failure yields one NODE_DOWN, not adapter or network events).
FALSE_VERDICTS = frozenset({"ADAPTER_DOWN", "REMOTE_ADAPTER_DOWN", "NETWORK_DOWN", "ISOLATED",
                            "PARTITION"})
# Least time to keep listening after a verdict to be sure it is not repeated.
QUIET_S = 0.5


def _timing_from_environment() -> str | tuple[int, int]:
    """The suites' timing: 20 ms x 5 unless HB_NETNS_TIMING names a profile or `<ms>x<mult>`.

    These suites check verdicts and their classes, with a 3x nominal bound; the fast profile's
    latency is measured by bench/netns_bench.py. On a virtual machine a vCPU can be paused by its
    host for tens of milliseconds (docs/results/2026-11-22-host-stalls.md), which at 10 ms x 3
    really silences a node and makes a true but unwanted verdict. On hardware whose scheduling
    gaps stay well under 10 ms, `HB_NETNS_TIMING=fast` runs them at the fast profile.
    """
    value = os.environ.get("HB_NETNS_TIMING", "").strip()
    if not value:
        return (20, 5)
    if value in hbnet.PROFILES:
        return value
    match = re.fullmatch(r"(\d+)x(\d+)", value)
    if match is None:
        raise SystemExit(f"HB_NETNS_TIMING={value!r}: expected one of "
                         f"{', '.join(sorted(hbnet.PROFILES))} or <interval_ms>x<multiplier>")
    return (int(match.group(1)), int(match.group(2)))


TIMING = _timing_from_environment()


def main(*, needs_hbd: bool = True) -> None:
    """Runs the calling module's tests, or exits 77 saying why this machine cannot."""
    reason = hbnet.netns_problem() or (hbnet.hbd_problem() if needs_hbd else None)
    if reason is not None:
        print(f"SKIP: {reason}")
        sys.exit(SKIP_EXIT_CODE)
    unittest.main(verbosity=2)


class ClusterTestCase(unittest.TestCase):
    """A fresh lab and a running, fully connected cluster for every test.

    Subclasses choose the networks; the lab is closed (processes killed, namespaces deleted)
    whatever the outcome.
    """

    names: tuple[str, ...] = ("alpha", "beta", "gamma")
    networks: tuple[hbnet.Network, ...] = (hbnet.Network("net_a"),)
    timing: str | tuple[int, int] = TIMING
    disk = False  # a shared disk (one loop device per node of one file), initialised by hbdisk
    extra_config = ""  # TOML appended to every node's configuration (e.g. a [metrics] section)
    start_timeout_s = 10

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, self.names, self.networks, timing=self.timing,
                                     disk=self.disk, extra_config=self.extra_config)
        self.cluster.start_all()
        self.cluster.wait_all_up(timeout=self.start_timeout_s)

    @property
    def bound_ms(self) -> float:
        """Generous detection bound: 3x nominal (interval x multiplier)."""
        return 3 * self.cluster.detection_ms

    @property
    def verdict_timeout_s(self) -> float:
        """How long to wait for a verdict before calling it missing: far above the bound."""
        return max(2.0, 20 * self.bound_ms / 1000)

    def assert_detected(self, observer: str, event: dict, fault_ns: int) -> None:
        """The verdict came fast: by hbd's own latency and as measured from the fault."""
        context = f"{observer}: {hbnet.describe_event(event)}"
        latency_ms = event.get("latency_ms")
        self.assertIsInstance(latency_ms, (int, float), f"{context}: latency_ms missing")
        self.assertLessEqual(latency_ms, self.bound_ms,
                             f"{context}: latency_ms above 3x nominal {self.bound_ms} ms")
        after_fault_ms = (event["t_ns"] - fault_ns) / 1e6
        self.assertGreaterEqual(after_fault_ms, 0,
                                f"{context}: decided {-after_fault_ms:.1f} ms before the fault "
                                "(is t_ns CLOCK_MONOTONIC?)")
        self.assertLessEqual(after_fault_ms, self.bound_ms + SCHEDULING_SLACK_MS,
                             f"{context}: {after_fault_ms:.1f} ms after the fault")

    def assert_no_false_verdicts(self, observers, since: dict[str, int],
                                 verdicts: frozenset[str] = FALSE_VERDICTS) -> None:
        """None of `verdicts` at any of `observers` since `since`."""
        for observer in observers:
            false = self.cluster.events(observer, since[observer],
                                        where=lambda event: event["event"] in verdicts)
            self.assertEqual(false, [], f"{observer}: false verdicts\n"
                             + self.cluster.describe(observer, since))

    def event_counts(self, name: str, since: dict[str, int]) -> dict[str, int]:
        """How many of each event `name` reported since `since`."""
        got: dict[str, int] = {}
        for event in self.cluster.events(name, since[name]):
            got[event["event"]] = got.get(event["event"], 0) + 1
        return got

    def assert_node_downs(self, observer: str, since: dict[str, int], expected: dict[int, int]):
        """Exactly `expected[node id]` NODE_DOWNs about each node, and none about any other."""
        downs = self.cluster.events(observer, since[observer], event="NODE_DOWN")
        counts = {node.id: 0 for node in self.cluster.nodes.values()}
        for event in downs:
            counts[event["node"]] = counts.get(event["node"], 0) + 1
        wanted = {node_id: expected.get(node_id, 0) for node_id in counts}
        self.assertEqual(counts, wanted, f"{observer}: NODE_DOWN count per node id\n"
                         + self.cluster.describe(observer, since))

    def quiet_period(self) -> None:
        """Listen a while longer: a duplicate or late false verdict would show up here.

        A sleep is the honest tool for observing that something does NOT happen; it outlasts
        the detection bound so a late verdict could not slip past it.
        """
        time.sleep(max(QUIET_S, (self.bound_ms + SCHEDULING_SLACK_MS) / 1000))
