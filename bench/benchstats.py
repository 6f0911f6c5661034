"""The benchmark harness's arithmetic and parsers, apart from anything that runs: percentiles,
CDFs, ratios, detection latency from events and from bfdd's log, and the sample formats of the
tools it compares (sockperf's full log, hbd's exit line, /proc/PID/stat). Tested on fixed inputs
by bench/benchstats_test.py.

Python 3.11 standard library only.
"""

from __future__ import annotations

import datetime
import fractions
import math
import re
from typing import Callable, Iterable

# The percentiles every summary carries (p99.9 only means something with 1000+ samples).
SUMMARY_PERCENTILES = (50, 90, 99, 99.9)


def percentile(samples: Iterable[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p % of the samples at or below it.

    p = 0 gives the minimum, p = 100 the maximum; no samples give NaN. Nearest rank, not
    interpolation, so every percentile reported is a sample that was measured (and can be found
    in the raw file).
    """
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    # Exact decimal arithmetic: in floats 99.9 / 100 * 1000 is 999.0000000000001, whose ceiling
    # would pick the 1000th sample instead of the 999th.
    rank = max(1, math.ceil(fractions.Fraction(str(p)) * len(ordered) / 100))
    return ordered[min(rank, len(ordered)) - 1]


def percentile_key(p: float) -> str:
    """50 -> 'p50', 99.9 -> 'p99_9': the key a percentile has in results.json."""
    text = f"{p:g}".replace(".", "_")
    return f"p{text}"


def summary(samples: Iterable[float]) -> dict:
    """count, min, mean, the SUMMARY_PERCENTILES and max of the samples (NaN when none)."""
    values = list(samples)
    result = {"count": len(values), "min": percentile(values, 0)}
    result["mean"] = math.fsum(values) / len(values) if values else math.nan
    for p in SUMMARY_PERCENTILES:
        result[percentile_key(p)] = percentile(values, p)
    result["max"] = percentile(values, 100)
    return result


def cdf(samples: Iterable[float]) -> list[tuple[float, float]]:
    """The empirical CDF: (value, fraction of samples <= value) at each distinct value, sorted.

    The last point has fraction 1.0. Equal samples give one point (the highest fraction).
    """
    ordered = sorted(samples)
    count = len(ordered)
    points: list[tuple[float, float]] = []
    for index, value in enumerate(ordered, start=1):
        if points and points[-1][0] == value:
            points[-1] = (value, index / count)
        else:
            points.append((value, index / count))
    return points


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing (NaN) or the denominator is 0."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def histogram(samples: Iterable[float], width: float) -> list[tuple[float, int]]:
    """(bin start, count) of bins `width` wide from the bin holding the smallest sample to the
    one holding the largest, empty bins included, so a plot shows gaps as gaps."""
    if width <= 0:
        raise ValueError("histogram bin width must be positive")
    values = list(samples)
    if not values:
        return []
    first = math.floor(min(values) / width)
    last = math.floor(max(values) / width)
    counts = [0] * (last - first + 1)
    for value in values:
        counts[math.floor(value / width) - first] += 1
    return [((first + i) * width, count) for i, count in enumerate(counts)]


# -- detection latency from hbd's events (DESIGN §9) --------------------------------------------

def detection(events: Iterable[dict], fault_ns: int, event: str,
              where: Callable[[dict], bool] | None = None) -> dict | None:
    """The first event named `event` decided at or after the fault (t_ns >= fault_ns) that
    satisfies `where`, as {"since_fault_ms": decision time - fault time, "latency_ms": the
    event's own (last beat heard -> decision)}; None when there is none.

    Events before the fault are ignored even if they match: they belong to an earlier trial.
    """
    for candidate in events:
        if candidate.get("event") != event or candidate.get("t_ns", -1) < fault_ns:
            continue
        if where is not None and not where(candidate):
            continue
        return {"since_fault_ms": (candidate["t_ns"] - fault_ns) / 1e6,
                "latency_ms": candidate.get("latency_ms")}
    return None


def unexpected(events: Iterable[dict], expected: dict[str, int]) -> list[dict]:
    """The events beyond what was expected: `expected` maps an event name to how many of it are
    expected (more than that many are unexpected too). Order is kept."""
    left = dict(expected)
    extra = []
    for event in events:
        name = event.get("event")
        if left.get(name, 0) > 0:
            left[name] -= 1
        else:
            extra.append(event)
    return extra


# -- FRRouting bfdd's log -------------------------------------------------------------------------

# `log timestamp precision 6`:
# 2026/11/26 15:14:49.384852 BFD: [SEY1D-NT8EQ] state-change: [mhop:no peer:198.18.1.2
#     local:198.18.1.1 vrf:default] up -> down reason:control-expired
BFD_STATE_CHANGE = re.compile(
    r"^(?P<date>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) BFD: (?:\[[\w-]+\] )?"
    r"state-change: \[(?P<session>[^\]]*)\] (?P<old>\w+) -> (?P<new>\w+)"
    r"(?: reason:(?P<reason>[\w-]+))?")


def bfd_state_changes(log_text: str) -> list[dict]:
    """Every state change in a bfdd log: wall-clock time (ns since the epoch, the log's local
    time), peer address, old and new state and the reason bfdd gave."""
    changes = []
    for line in log_text.splitlines():
        match = BFD_STATE_CHANGE.match(line)
        if not match:
            continue
        stamp = datetime.datetime.strptime(match["date"], "%Y/%m/%d %H:%M:%S.%f"
                                           if "." in match["date"] else "%Y/%m/%d %H:%M:%S")
        # strptime's fraction is microseconds; timestamp() reads the naive time as local time,
        # as bfdd wrote it.
        wall_ns = int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000
        peer = re.search(r"peer:(\S+)", match["session"])
        changes.append({"wall_ns": wall_ns, "peer": peer[1] if peer else None,
                        "old": match["old"], "new": match["new"], "reason": match["reason"]})
    return changes


def bfd_detection(changes: Iterable[dict], fault_wall_ns: int, peer: str) -> float | None:
    """Milliseconds from the fault (wall clock) to bfdd's first up -> down of the session with
    `peer` at or after it; None when the session did not go down."""
    for change in changes:
        if (change["peer"] == peer and change["old"] == "up" and change["new"] == "down"
                and change["wall_ns"] >= fault_wall_ns):
            return (change["wall_ns"] - fault_wall_ns) / 1e6
    return None


def bfd_flaps(changes: Iterable[dict], start_wall_ns: int, end_wall_ns: int) -> list[dict]:
    """The sessions' up -> down changes inside [start, end): during a soak every one is false."""
    return [change for change in changes
            if change["old"] == "up" and change["new"] == "down"
            and start_wall_ns <= change["wall_ns"] < end_wall_ns]


# -- other tools' outputs -------------------------------------------------------------------------

def sockperf_full_log(text: str) -> list[float]:
    """Round trips (µs) from `sockperf ping-pong --full-rtt --full-log FILE`: the rows after the
    'packet, txTime(sec), rxTime(sec), rtt(usec)' header, up to the closing rule."""
    samples = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("packet,"):
            in_table = True
            continue
        if not in_table:
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 4:
            break  # the closing rule
        samples.append(float(fields[3]))
    return samples


HBD_STOPPING = re.compile(r"stopping: sent (\d+) beats")


def hbd_beats_sent(log_text: str) -> int | None:
    """Beats sent by an hbd run, from the line it logs when it stops (the last one, if several)."""
    found = HBD_STOPPING.findall(log_text)
    return int(found[-1]) if found else None


def proc_stat_cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from /proc/PID/stat. The command name may hold spaces and
    parentheses, so fields are counted after its closing parenthesis."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_us_per_beat(cpu_ticks: int, ticks_per_s: int, beats: int) -> float:
    """CPU microseconds per beat sent; NaN without beats."""
    if beats <= 0:
        return math.nan
    return cpu_ticks / ticks_per_s * 1e6 / beats
