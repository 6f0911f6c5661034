#!/usr/bin/env python3
"""End-to-end measurements in network namespaces: round trip over hb's UDP transport side by side
with sockperf ping-pong on the same pair, node-failure detection latency over many kills, and
classification latency per fault kind.

    python3 bench/netns_bench.py rtt            [--seconds 5] [--rate 1000]
    python3 bench/netns_bench.py detection      [--kills 50] [--timing fast]
    python3 bench/netns_bench.py classification [--trials 20] [--timing fast]

Each writes raw samples and a summary as JSON (--out, default: print only) and prints a markdown
table. Needs root, a built tree (build/), and sockperf for the round-trip comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "lib"))
sys.path.insert(0, str(REPO / "bench"))
import hbnet  # noqa: E402
from benchstats import summary  # noqa: E402


def pair(lab: hbnet.Lab) -> tuple[hbnet.Host, hbnet.Host]:
    switch = lab.switch("sw")
    a, b = lab.host("a"), lab.host("b")
    lab.connect(a, switch, "eth1", "198.18.1.1/24")
    lab.connect(b, switch, "eth1", "198.18.1.2/24")
    return a, b


def run_udp_rtt(lab, a, b, count: int, interval_us: int) -> dict:
    tool = str(REPO / "build" / "bench" / "udp_rtt")
    server = lab.spawn(b, [tool, "serve", "-I", "eth1", "-a", "198.18.1.2", "-p", "4099"])
    time.sleep(0.2)
    out = a.run([tool, "ping", "-I", "eth1", "-a", "198.18.1.1", "--peer", "198.18.1.2",
                 "-p", "4099", "-c", str(count), "-i", str(interval_us)],
                timeout=count * max(interval_us, 50) / 1e6 + 30)
    server.send_signal(signal.SIGTERM)
    server.wait(5)
    return json.loads(out.stdout.decode())


SOCKPERF_PERCENTILE = re.compile(r"--->\s+percentile\s+([\d.]+)\s+=\s+([\d.]+)")
SOCKPERF_EDGE = re.compile(r"--->\s+<(MIN|MAX)>\s+observation\s+=\s+([\d.]+)")


def run_sockperf(lab, a, b, seconds: int, rate: int | None) -> dict:
    server = lab.spawn(b, ["sockperf", "server", "-i", "198.18.1.2", "-p", "11111"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    argv = ["sockperf", "ping-pong", "-i", "198.18.1.2", "-p", "11111", "-m", "112",
            "-t", str(seconds), "--full-rtt"]
    argv += ["--mps", str(rate)] if rate else ["--mps", "max"]
    out = a.run(argv, timeout=seconds + 30).stdout.decode()
    server.send_signal(signal.SIGTERM)
    server.wait(5)
    result = {"tool": "sockperf", "unit": "us"}
    for p, value in SOCKPERF_PERCENTILE.findall(out):
        result[{"50.000": "p50", "90.000": "p90", "99.000": "p99",
                "99.900": "p99_9"}.get(p, "p" + p)] = float(value)
    for edge, value in SOCKPERF_EDGE.findall(out):
        result[edge.lower()] = float(value)
    return result


def bench_rtt(args) -> dict:
    if shutil.which("sockperf") is None:
        sys.exit("sockperf is not installed (apt-get install sockperf)")
    results = {}
    with hbnet.Lab() as lab:
        a, b = pair(lab)
        for label, rate in (("paced", args.rate), ("back-to-back", None)):
            count = args.seconds * (rate or 20000)
            interval = 1_000_000 // rate if rate else 0
            hb = run_udp_rtt(lab, a, b, count, interval)
            sp = run_sockperf(lab, a, b, args.seconds, rate)
            results[label] = {"hb": hb, "sockperf": sp,
                              "ratio_p50": hb["p50"] / sp["p50"], "ratio_p99": hb["p99"] / sp["p99"]}
    lines = ["| mode | tool | min | p50 | p90 | p99 | p99.9 | max (us) |", "|---|---|---|---|---|---|---|---|"]
    for label, r in results.items():
        for tool in ("hb", "sockperf"):
            s = r[tool]
            lines.append(f"| {label} | {tool} | {s['min']:.1f} | {s['p50']:.1f} | {s['p90']:.1f} | "
                         f"{s['p99']:.1f} | {s.get('p99_9', math.nan):.1f} | {s['max']:.1f} |")
        lines.append(f"| {label} | hb / sockperf | | {r['ratio_p50']:.2f} | | {r['ratio_p99']:.2f} | | |")
    return {"results": results, "table": "\n".join(lines)}


def bench_detection(args) -> dict:
    latency_ms: list[float] = []    # the verdict's own latency_ms (last beat heard -> verdict)
    since_kill_ms: list[float] = []  # verdict time minus kill time, on the monotonic clock
    false_verdicts = 0
    with hbnet.Lab() as lab:
        cluster = hbnet.Cluster(lab, ["alpha", "beta", "gamma"], timing=args.timing)
        cluster.start_all()
        cluster.wait_all_up(timeout=10)
        survivors = ["alpha", "beta"]
        gamma = cluster.node("gamma").id
        for trial in range(args.kills):
            mark = cluster.mark()
            killed_at = cluster.kill("gamma")
            downs = cluster.wait_for_each(survivors, timeout=5, since=mark, event="NODE_DOWN",
                                          node=gamma)
            for event in downs.values():
                latency_ms.append(event["latency_ms"])
                since_kill_ms.append((event["t_ns"] - killed_at) / 1e6)
            mark = cluster.mark()
            cluster.start("gamma")
            cluster.wait_for_each(survivors, timeout=5, since=mark, event="NODE_UP", node=gamma)
            false_verdicts += sum(len(cluster.events(s, mark[s], event="NODE_DOWN")) for s in survivors)
            false_verdicts += sum(len(cluster.events(s, 0, event="NODE_DOWN",
                                                     where=lambda e: e["node"] != gamma))
                                  for s in survivors) if trial == args.kills - 1 else 0
    nominal = hbnet.timing_of(args.timing)
    result = {"timing": args.timing, "nominal_ms": nominal[0] * nominal[1], "kills": args.kills,
              "latency_ms": summary(latency_ms), "since_kill_ms": summary(since_kill_ms),
              "false_verdicts": false_verdicts,
              "samples": {"latency_ms": latency_ms, "since_kill_ms": since_kill_ms}}
    lines = ["| measure | count | min | p50 | p90 | p99 | max (ms) |", "|---|---|---|---|---|---|---|"]
    for key in ("latency_ms", "since_kill_ms"):
        s = result[key]
        lines.append(f"| {key} | {s['count']} | {s['min']:.1f} | {s['p50']:.1f} | {s['p90']:.1f} | "
                     f"{s['p99']:.1f} | {s['max']:.1f} |")
    result["table"] = "\n".join(lines)
    return result


# Fault kinds of the classification benchmark: (name, the verdicts it must give at each node).
CLASSIFICATION_FAULTS = {
    "adapter": {"gamma": ["ADAPTER_DOWN"], "alpha": ["REMOTE_ADAPTER_DOWN"],
                "beta": ["REMOTE_ADAPTER_DOWN"]},
    "network": {"alpha": ["NETWORK_DOWN"], "beta": ["NETWORK_DOWN"], "gamma": ["NETWORK_DOWN"]},
    "node": {"alpha": ["NODE_DOWN"], "beta": ["NODE_DOWN"]},
    "isolation": {"gamma": ["ADAPTER_DOWN", "ADAPTER_DOWN", "ISOLATED"],
                  "alpha": ["NODE_DOWN"], "beta": ["NODE_DOWN"]},
}


def bench_classification(args) -> dict:
    """Each fault kind, `trials` times, on 3 nodes x 2 networks: per verdict, the time from the
    fault to the verdict and, for verdicts that rest on silence, how far the verdict's own
    latency (last beat heard -> verdict) goes beyond the raw path expiry (interval x multiplier):
    what classification (settle windows, corroboration) adds."""
    nominal = hbnet.timing_of(args.timing)
    nominal_ms = nominal[0] * nominal[1]
    since_fault: dict[str, list[float]] = {}
    beyond_expiry: dict[str, list[float]] = {}
    wrong: list[dict] = []
    names = ["alpha", "beta", "gamma"]
    with hbnet.Lab() as lab:
        cluster = hbnet.Cluster(lab, names, [hbnet.Network("net_a"), hbnet.Network("net_b")],
                                timing=args.timing)
        cluster.start_all()
        cluster.wait_all_up(timeout=10)
        time.sleep(0.5)  # the second network's paths come up after the first NODE_UP
        gamma = cluster.node("gamma")
        switch = cluster.switches["net_a"]
        for trial in range(args.trials):
            for kind, expected in CLASSIFICATION_FAULTS.items():
                mark = cluster.mark()
                if kind == "adapter":
                    fault_ns = time.monotonic_ns()
                    gamma.host.link_down("eth1")
                elif kind == "network":
                    fault_ns = time.monotonic_ns()
                    switch.blackhole()
                elif kind == "node":
                    fault_ns = cluster.kill("gamma")
                else:
                    # Both at once, as when a node's adapters lose power together.
                    fault_ns = time.monotonic_ns()
                    gamma.host.links_down("eth1", "eth2")
                try:
                    for name, verdicts in expected.items():
                        cluster.wait_for(name, 5, mark, event=verdicts[-1])
                except TimeoutError as missing:
                    # A verdict that never came is a result too: say which, with every node's
                    # story, and stop (the cluster is in an unknown state).
                    story = "\n".join(cluster.describe(name, {n: 0 for n in names})
                                      for name in names)
                    raise SystemExit(f"trial {trial}, fault {kind}: {missing}\n{story}")
                time.sleep(0.3)  # anything else it is going to say
                for name in names:
                    if kind == "node" and name == "gamma":
                        continue
                    got = cluster.events(name, mark[name])
                    if sorted(e["event"] for e in got) != sorted(expected.get(name, [])):
                        wrong.append({"trial": trial, "fault": kind, "node": name,
                                      "events": [e["event"] for e in got]})
                    for event in got:
                        key = f"{kind}: {event['event']}"
                        since_fault.setdefault(key, []).append((event["t_ns"] - fault_ns) / 1e6)
                        if "paths" in event.get("evidence", []):
                            beyond_expiry.setdefault(key, []).append(
                                event["latency_ms"] - nominal_ms)
                # Repair, and wait until everyone is whole again.
                mark = cluster.mark()
                if kind == "adapter":
                    gamma.host.link_up("eth1")
                    cluster.wait_for_each(["alpha", "beta"], 10, mark, event="REMOTE_ADAPTER_UP")
                elif kind == "network":
                    switch.unblackhole()
                    cluster.wait_for_each(names, 10, mark, event="NETWORK_UP")
                elif kind == "node":
                    cluster.start("gamma")
                    cluster.wait_for_each(["alpha", "beta"], 10, mark, event="NODE_UP")
                else:
                    gamma.host.link_up("eth1")
                    gamma.host.link_up("eth2")
                    cluster.wait_for_each(["alpha", "beta"], 10, mark, event="NODE_UP")
                # NODE_UP needs one path; the others may take longer. A node's own adapter coming
                # back up can leave its beats on that network stuck for up to a second behind an
                # ARP entry that started resolving while the link was down (docs/linkwatch.md).
                time.sleep(1.5)
    result = {"timing": args.timing, "nominal_ms": nominal_ms, "trials": args.trials,
              "since_fault_ms": {k: summary(v) for k, v in since_fault.items()},
              "beyond_expiry_ms": {k: summary(v) for k, v in beyond_expiry.items()},
              "wrong": wrong,
              "samples": {"since_fault_ms": since_fault, "beyond_expiry_ms": beyond_expiry}}
    lines = ["| fault: verdict | count | since fault p50 | p99 | beyond path expiry p50 | p99 (ms) |",
             "|---|---|---|---|---|---|"]
    for key in since_fault:
        s = result["since_fault_ms"][key]
        b = result["beyond_expiry_ms"].get(key)
        extra = f"{b['p50']:.1f} | {b['p99']:.1f}" if b else "- | -"
        lines.append(f"| {key} | {s['count']} | {s['p50']:.1f} | {s['p99']:.1f} | {extra} |")
    lines.append(f"\nverdicts other than expected: {len(wrong)}")
    for item in wrong[:10]:
        lines.append(f"  {item}")
    result["table"] = "\n".join(lines)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    commands = parser.add_subparsers(dest="command", required=True)
    rtt = commands.add_parser("rtt", help="round trip: hb UDP transport vs sockperf ping-pong")
    rtt.add_argument("--seconds", type=int, default=5)
    rtt.add_argument("--rate", type=int, default=1000, help="paced requests per second")
    detection = commands.add_parser("detection", help="NODE_DOWN latency over repeated kills")
    detection.add_argument("--kills", type=int, default=50)
    detection.add_argument("--timing", default="fast")
    classification = commands.add_parser("classification",
                                         help="latency of each verdict class, per fault kind")
    classification.add_argument("--trials", type=int, default=20)
    classification.add_argument("--timing", default="fast")
    args = parser.parse_args()
    problem = hbnet.netns_problem() or hbnet.hbd_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    benches = {"rtt": bench_rtt, "detection": bench_detection,
               "classification": bench_classification}
    result = benches[args.command](args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(result["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
