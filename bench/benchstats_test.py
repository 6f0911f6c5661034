#!/usr/bin/env python3
"""The benchmark harness's arithmetic on fixed inputs (bench/benchstats.py): percentiles, CDF,
ratios, histograms, detection latency from events and from bfdd's log, and the parsers of the
other tools' outputs. Runs anywhere (no root, no network): `python3 bench/benchstats_test.py`."""

from __future__ import annotations

import datetime
import math
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402


class Percentiles(unittest.TestCase):
    def test_nearest_rank_on_ten_samples(self) -> None:
        samples = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]
        self.assertEqual(benchstats.percentile(samples, 0), 1)
        self.assertEqual(benchstats.percentile(samples, 10), 1)
        self.assertEqual(benchstats.percentile(samples, 11), 2)
        self.assertEqual(benchstats.percentile(samples, 50), 5)
        self.assertEqual(benchstats.percentile(samples, 51), 6)
        self.assertEqual(benchstats.percentile(samples, 90), 9)
        self.assertEqual(benchstats.percentile(samples, 99), 10)
        self.assertEqual(benchstats.percentile(samples, 100), 10)

    def test_a_percentile_is_always_a_measured_sample(self) -> None:
        samples = [0.5 * i for i in range(1, 1001)]
        for p in (0, 1, 12.5, 50, 99, 99.9, 100):
            self.assertIn(benchstats.percentile(samples, p), samples)
        self.assertEqual(benchstats.percentile(samples, 99.9), 499.5)

    def test_one_sample_and_none(self) -> None:
        self.assertEqual(benchstats.percentile([7.0], 99), 7.0)
        self.assertTrue(math.isnan(benchstats.percentile([], 50)))

    def test_out_of_range_is_an_error(self) -> None:
        with self.assertRaises(ValueError):
            benchstats.percentile([1.0], 101)

    def test_summary_keys_and_values(self) -> None:
        result = benchstats.summary([4, 1, 3, 2])
        self.assertEqual(result, {"count": 4, "min": 1, "mean": 2.5, "p50": 2, "p90": 4,
                                  "p99": 4, "p99_9": 4, "max": 4})
        empty = benchstats.summary([])
        self.assertEqual(empty["count"], 0)
        self.assertTrue(math.isnan(empty["p50"]) and math.isnan(empty["mean"]))


class Distributions(unittest.TestCase):
    def test_cdf_steps_and_ties(self) -> None:
        self.assertEqual(benchstats.cdf([3, 1, 2, 2]), [(1, 0.25), (2, 0.75), (3, 1.0)])
        self.assertEqual(benchstats.cdf([]), [])

    def test_histogram_keeps_empty_bins(self) -> None:
        self.assertEqual(benchstats.histogram([30.2, 30.9, 33.1, 31.0], 1.0),
                         [(30.0, 2), (31.0, 1), (32.0, 0), (33.0, 1)])
        self.assertEqual(benchstats.histogram([], 1.0), [])
        with self.assertRaises(ValueError):
            benchstats.histogram([1.0], 0)

    def test_ratio_and_median(self) -> None:
        self.assertAlmostEqual(benchstats.ratio(22.0, 20.0), 1.1)
        self.assertTrue(math.isnan(benchstats.ratio(1.0, 0.0)))
        self.assertTrue(math.isnan(benchstats.ratio(math.nan, 2.0)))
        self.assertEqual(benchstats.median([3, 1, 2]), 2)
        self.assertEqual(benchstats.median([4, 1, 3, 2]), 2.5)
        self.assertTrue(math.isnan(benchstats.median([])))

    def test_percentile_keys(self) -> None:
        self.assertEqual([benchstats.percentile_key(p) for p in (50, 99, 99.9)],
                         ["p50", "p99", "p99_9"])


class Detection(unittest.TestCase):
    EVENTS = [
        {"t_ns": 1_000_000_000, "event": "NODE_DOWN", "node": 3, "latency_ms": 31.0},  # old trial
        {"t_ns": 2_010_000_000, "event": "NODE_UNREACHABLE", "node": 3, "latency_ms": 30.1},
        {"t_ns": 2_020_000_000, "event": "NODE_DOWN", "node": 2, "latency_ms": 30.5},
        {"t_ns": 2_031_500_000, "event": "NODE_DOWN", "node": 3, "latency_ms": 30.2},
    ]

    def test_first_matching_event_after_the_fault(self) -> None:
        found = benchstats.detection(self.EVENTS, 2_000_000_000, "NODE_DOWN",
                                     lambda e: e["node"] == 3)
        self.assertEqual(found, {"since_fault_ms": 31.5, "latency_ms": 30.2})

    def test_events_before_the_fault_do_not_count(self) -> None:
        found = benchstats.detection(self.EVENTS, 2_000_000_000, "NODE_DOWN")
        self.assertEqual(found["since_fault_ms"], 20.0)
        self.assertIsNone(benchstats.detection(self.EVENTS, 3_000_000_000, "NODE_DOWN"))

    def test_unexpected_counts_beyond_what_was_expected(self) -> None:
        extra = benchstats.unexpected(self.EVENTS[1:], {"NODE_UNREACHABLE": 1, "NODE_DOWN": 1})
        self.assertEqual(extra, [self.EVENTS[3]])
        self.assertEqual(benchstats.unexpected(self.EVENTS, {}), self.EVENTS)


def local_wall_ns(text: str) -> int:
    stamp = datetime.datetime.strptime(text, "%Y/%m/%d %H:%M:%S.%f")
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


# bfdd's own lines (FRR 8.4, `log timestamp precision 6`), split only to fit the page.
SESSION = "[mhop:no peer:198.18.1.{} local:198.18.1.1 vrf:default]"
BFD_LOG = "\n".join([
    "2026/11/26 15:14:46.322177 BFD: [PSB4R-8T1TJ] session-new: "
    "mhop:no peer:198.18.1.2 local:198.18.1.1 vrf:default",
    "2026/11/26 15:14:47.342661 BFD: [J1C6V-VMRW5] state-change: "
    f"{SESSION.format(2)} down -> up",
    "2026/11/26 15:14:49.384852 BFD: [SEY1D-NT8EQ] state-change: "
    f"{SESSION.format(2)} up -> down reason:control-expired",
    "2026/11/26 15:14:49.400000 BFD: [SEY1D-NT8EQ] state-change: "
    f"{SESSION.format(3)} up -> down reason:neighbor-down",
    "2026/11/26 15:14:50.500000 BFD: [J1C6V-VMRW5] state-change: "
    f"{SESSION.format(2)} down -> init",
]) + "\n"


class Bfd(unittest.TestCase):
    def test_state_changes_are_parsed_with_microseconds(self) -> None:
        changes = benchstats.bfd_state_changes(BFD_LOG)
        self.assertEqual(len(changes), 4)
        self.assertEqual(changes[1], {"wall_ns": local_wall_ns("2026/11/26 15:14:49.384852"),
                                      "peer": "198.18.1.2", "old": "up", "new": "down",
                                      "reason": "control-expired"})
        self.assertIsNone(changes[0]["reason"])

    def test_detection_is_the_first_down_of_that_peer_after_the_fault(self) -> None:
        changes = benchstats.bfd_state_changes(BFD_LOG)
        fault = local_wall_ns("2026/11/26 15:14:49.353000")
        self.assertAlmostEqual(benchstats.bfd_detection(changes, fault, "198.18.1.2"), 31.852)
        self.assertAlmostEqual(benchstats.bfd_detection(changes, fault, "198.18.1.3"), 47.0)
        self.assertIsNone(benchstats.bfd_detection(changes, fault + 10**9, "198.18.1.2"))

    def test_flaps_inside_the_window(self) -> None:
        changes = benchstats.bfd_state_changes(BFD_LOG)
        start = local_wall_ns("2026/11/26 15:14:49.390000")
        end = local_wall_ns("2026/11/26 15:14:51.000000")
        flaps = benchstats.bfd_flaps(changes, start, end)
        self.assertEqual([flap["peer"] for flap in flaps], ["198.18.1.3"])


SOCKPERF_LOG = """\
------------------------------
test was performed using the following parameters: --mps=1000 --full-rtt
------------------------------
sockperf: ---> percentile 50.000 =   10.375
------------------------------
packet, txTime(sec), rxTime(sec), rtt(usec)
0, 2.401976823, 2.402016543, 39.720
1, 2.402016953, 2.402030043, 13.090
2, 2.402030083, 2.402040258, 10.175
------------------------------
"""


class ToolOutputs(unittest.TestCase):
    def test_sockperf_full_log(self) -> None:
        self.assertEqual(benchstats.sockperf_full_log(SOCKPERF_LOG), [39.72, 13.09, 10.175])
        self.assertEqual(benchstats.sockperf_full_log("no table\n"), [])

    def test_hbd_beats_sent(self) -> None:
        log = ("hbd: node 1 (alpha) of cluster 7 started\n"
               "hbd: stopping: sent 12345 beats (0 failed), accepted 12000, dropped 0\n")
        self.assertEqual(benchstats.hbd_beats_sent(log), 12345)
        self.assertIsNone(benchstats.hbd_beats_sent("hbd: started\n"))

    def test_proc_stat_with_spaces_in_the_name(self) -> None:
        stat = ("4242 (hb d) (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 "
                "170 30 0 0 20 0 3 0 1000 10000000 300 18446744073709551615")
        self.assertEqual(benchstats.proc_stat_cpu_ticks(stat), 200)

    def test_cpu_per_beat(self) -> None:
        self.assertAlmostEqual(benchstats.cpu_us_per_beat(200, 100, 100_000), 20.0)
        self.assertTrue(math.isnan(benchstats.cpu_us_per_beat(200, 100, 0)))


if __name__ == "__main__":
    unittest.main()
