#!/usr/bin/env python3
"""hb in a box: three real hbd nodes in network namespaces sharing a heartbeat disk; a partition,
a crash, a restart and a graceful leave, each with the verdicts the nodes reached and how fast
(the README's demo). The disk is what tells the partition from the crash.

Needs root and a built hbd (build/tools/hbd, or $HBD, or --hbd) and hbdisk (build/tools/hbdisk,
$HBDISK or --hbdisk; without it, or with --no-disk, the demo runs without the disk and skips
the partition). Creates only namespaces and loop devices of its own, with 198.18.0.0/15
addresses, and removes everything when it ends, however it ends.
Exit code: 0 every expected verdict came in time, 1 one did not, 2 this machine cannot run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

import hbnet  # noqa: E402  (found through the path above)

NAMES = ("alpha", "beta", "gamma")
SCHEDULING_SLACK_MS = 100  # what a busy machine may add between a verdict and seeing it
QUIET_S = 0.5              # least time to keep watching that a verdict does NOT come
START_TIMEOUT_S = 10


@dataclasses.dataclass
class Row:
    """One line of the summary: a verdict an observer had to reach (or had to not reach)."""
    step: str
    observer: str
    expected: str
    got: str = "-"
    latency_ms: float | None = None
    after_ms: float | None = None  # from the fault (or restart) to the verdict
    status: str = "ok"


class Demo:
    """Runs the steps against a cluster, narrating as it goes and keeping the summary rows."""

    def __init__(self, cluster: hbnet.Cluster):
        self.cluster = cluster
        self.t0_ns = time.monotonic_ns()
        self.bound_ms = 3 * cluster.detection_ms
        self.wait_s = max(2.0, 20 * self.bound_ms / 1000)
        self.rows: list[Row] = []

    def say(self, text: str, at_ns: int | None = None) -> None:
        at_ns = time.monotonic_ns() if at_ns is None else at_ns
        print(f"[{(at_ns - self.t0_ns) / 1e9:8.3f} s] {text}", flush=True)

    def heading(self, text: str) -> None:
        print(f"\n== {text}", flush=True)

    def expect(self, step: str, observers: list[str], event: str, about: str,
               since: dict[str, int], fault_ns: int, fault: str, timed: bool) -> dict[str, dict]:
        """Waits for `event` about node `about` at each observer; narrates what came, in order.

        Timed verdicts must come within 3x nominal detection (by hbd's latency_ms) and within
        that plus scheduling slack measured from the fault.
        """
        about_id = self.cluster.node(about).id
        deadline = time.monotonic() + self.wait_s
        found, missing = {}, []
        for observer in observers:
            row = Row(step, observer, f"{event} {about}")
            self.rows.append(row)
            try:
                got = self.cluster.wait_for(observer, max(0.0, deadline - time.monotonic()),
                                            since, event=event, node=about_id)
            except TimeoutError:
                row.got, row.status = "nothing", "MISSING"
                missing.append(observer)
                continue
            found[observer] = got
            row.got = f"{got['event']} {about}"
            row.latency_ms = got.get("latency_ms")
            row.after_ms = (got["t_ns"] - fault_ns) / 1e6
            if timed and not self.in_time(row):
                row.status = "SLOW"
        for observer, got in sorted(found.items(), key=lambda item: item[1]["t_ns"]):
            detail = f"{(got['t_ns'] - fault_ns) / 1e6:6.1f} ms after {fault}"
            if timed:
                detail = f"latency {_ms(got.get('latency_ms'))}, {detail}"
            self.say(f"  {observer:<6} {event:<15} {about:<6} {detail}", got["t_ns"])
        for observer in missing:
            self.say(f"  {observer:<6} no {event} about {about} within {self.wait_s:.1f} s")
        return found

    def in_time(self, row: Row) -> bool:
        return (isinstance(row.latency_ms, (int, float)) and row.latency_ms <= self.bound_ms
                and row.after_ms <= self.bound_ms + SCHEDULING_SLACK_MS)

    def expect_none(self, step: str, observers: list[str], event: str, about: str,
                    since: dict[str, int]) -> None:
        """After a quiet period, no observer may have reported `event` about `about`."""
        # Observing an absence: waiting is the measurement, and it must outlast detection.
        quiet_s = max(QUIET_S, (self.bound_ms + SCHEDULING_SLACK_MS) / 1000)
        time.sleep(quiet_s)
        about_id = self.cluster.node(about).id
        for observer in observers:
            unexpected = self.cluster.events(observer, since[observer], event=event,
                                             node=about_id)
            row = Row(step, observer, f"no {event}", got=f"{len(unexpected)} {event}")
            if unexpected:
                row.status = "UNEXPECTED"
                self.say(f"  {observer:<6} {event} about {about}: not expected after a leave",
                         unexpected[0]["t_ns"])
            else:
                row.got = "none"
            self.rows.append(row)
        if not self.failed_step(step):
            self.say(f"  no {event} about {about} in the {quiet_s} s that followed")

    def failed_step(self, step: str) -> bool:
        return any(row.status != "ok" for row in self.rows if row.step == step)

    def failed(self) -> bool:
        return any(row.status != "ok" for row in self.rows)


def _ms(value) -> str:
    return f"{value:.1f} ms" if isinstance(value, (int, float)) else "? ms"


def partition(demo: Demo, victim: str) -> None:
    cluster = demo.cluster
    demo.heading(f"0. partition: cutting {victim} off every IP network; the disk still works ...")
    since = cluster.mark()
    cut_ns = time.monotonic_ns()
    cluster.cut_off(victim)
    demo.say(f"{victim} cut off; its slot on the disk still advances, so it is alive: "
             "PARTITION, never NODE_DOWN", cut_ns)
    step = f"cut {victim} off"
    for event in ("NODE_UNREACHABLE", "PARTITION"):
        demo.expect(step, cluster.others(victim), event, victim, since, cut_ns, "the cut",
                    timed=True)
    for peer in cluster.others(victim):
        demo.expect(step, [victim], "PARTITION", peer, since, cut_ns, "the cut", timed=True)
    demo.expect_none(step, list(cluster.nodes), "NODE_DOWN", victim, since)
    since = cluster.mark()
    healed_ns = time.monotonic_ns()
    cluster.cut_off(victim, cut=False)
    demo.say(f"{victim}'s networks restored", healed_ns)
    demo.expect(f"restore {victim}", cluster.others(victim), "PARTITION_HEALED", victim, since,
                healed_ns, "the repair", timed=False)


def crash(demo: Demo, victim: str) -> None:
    cluster = demo.cluster
    demo.heading(f"1. crash: killing {victim} (SIGKILL) ...")
    since = cluster.mark()
    killed_ns = cluster.kill(victim)
    if cluster.disk_devices:
        demo.say(f"killed {victim}; survivors find it unreachable, then its slot stopped: "
                 f"down (nominal {cluster.detection_ms} ms)", killed_ns)
        demo.expect(f"kill {victim}", cluster.others(victim), "NODE_UNREACHABLE", victim, since,
                    killed_ns, "the kill", timed=True)
    else:
        demo.say(f"killed {victim}; survivors must declare it down "
                 f"(nominal {cluster.detection_ms} ms)", killed_ns)
    demo.expect(f"kill {victim}", cluster.others(victim), "NODE_DOWN", victim, since,
                killed_ns, "the kill", timed=True)


def restart(demo: Demo, victim: str) -> None:
    cluster = demo.cluster
    demo.heading(f"2. restart: starting {victim} again ...")
    since = cluster.mark()
    started_ns = cluster.start(victim)
    demo.say(f"started {victim} (a new incarnation)", started_ns)
    step = f"restart {victim}"
    observers = cluster.others(victim)
    demo.expect(step, observers, "NODE_RESTARTED", victim, since, started_ns, "the start",
                timed=False)
    demo.expect(step, observers, "NODE_UP", victim, since, started_ns, "the start", timed=False)
    try:
        cluster.wait_all_up(demo.wait_s, observers=[victim])
        demo.say(f"{victim} sees {', '.join(observers)} up again")
    except TimeoutError:
        demo.rows.append(Row(step, victim, "NODE_UP (peers)", "nothing", status="MISSING"))
        demo.say(f"{victim} did not report its peers up")


def leave(demo: Demo, leaver: str) -> None:
    cluster = demo.cluster
    demo.heading(f"3. graceful leave: stopping {leaver} (SIGTERM) ...")
    since = cluster.mark()
    terminated_ns = cluster.terminate(leaver)
    demo.say(f"sent SIGTERM to {leaver}", terminated_ns)
    step = f"SIGTERM {leaver}"
    observers = cluster.others(leaver)
    demo.expect(step, observers, "NODE_LEFT", leaver, since, terminated_ns, "SIGTERM",
                timed=False)
    try:
        code = cluster.wait_exit(leaver, timeout=5)
    except TimeoutError:
        code = None
    demo.rows.append(Row(step, leaver, "exit 0", f"exit {code}",
                         status="ok" if code == 0 else "UNEXPECTED"))
    demo.say(f"{leaver} exited with {code}")
    demo.expect_none(step, observers, "NODE_DOWN", leaver, since)


def print_topology(cluster: hbnet.Cluster) -> None:
    interval_ms, multiplier = hbnet.timing_of(cluster.timing)
    modes = ", ".join(f"{network.name} {network.mode}"
                      + (f" {network.group}" if network.group else "")
                      for network in cluster.networks)
    print(f"hb demo: {len(cluster.nodes)} nodes, timing {cluster.timing} "
          f"({interval_ms} ms x {multiplier} = {cluster.detection_ms} ms nominal detection), "
          f"{modes}")
    if cluster.disk_devices:
        devices = ", ".join(f"{name} {device}" for name, device in cluster.disk_devices.items())
        print(f"  disk     one file shared through a loop device per node: {devices}")
    for network, switch in cluster.switches.items():
        print(f"  {network:<8} bridge {hbnet.Switch.BRIDGE} in namespace {switch.netns}")
    for node in cluster.nodes.values():
        adapters = "  ".join(f"{ifname} {address}"
                             for ifname, address in node.host.addresses.items())
        print(f"  {node.name:<8} id {node.id}  {adapters}  (namespace {node.host.netns})")


def print_summary(demo: Demo) -> None:
    print(f"\nSummary (timed verdicts: latency_ms <= {demo.bound_ms} ms = 3x nominal, and "
          f"<= {demo.bound_ms + SCHEDULING_SLACK_MS} ms after the fault)")
    header = ("step", "observer", "expected", "got", "latency_ms", "after", "verdict")
    table = [header] + [
        (row.step, row.observer, row.expected, row.got,
         "-" if row.latency_ms is None else f"{row.latency_ms:.1f}",
         "-" if row.after_ms is None else f"{row.after_ms:.1f} ms", row.status)
        for row in demo.rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for number, line in enumerate(table):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        if number == 0:
            print("  " + "  ".join("-" * width for width in widths))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hbd", help="hbd binary (default: $HBD or build/tools/hbd)")
    parser.add_argument("--hbdisk", help="hbdisk binary (default: $HBDISK or build/tools/hbdisk)")
    parser.add_argument("--no-disk", action="store_true",
                        help="no shared heartbeat disk (and so no partition step)")
    parser.add_argument("--multicast", action="store_true",
                        help="beat to the multicast group 228.18.1.1 instead of unicast")
    parser.add_argument("--profile", choices=sorted(hbnet.PROFILES), default="fast",
                        help="timing profile (default: fast, 10 ms x 3)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.hbd:
        os.environ["HBD"] = args.hbd
    if args.hbdisk:
        os.environ["HBDISK"] = args.hbdisk
    disk = not args.no_disk and hbnet.disk_problem() is None
    if not args.no_disk and not disk:
        print(f"demo: no shared disk ({hbnet.disk_problem()}): no partition step",
              file=sys.stderr)
    problem = hbnet.netns_problem() or hbnet.hbd_problem()
    if problem is not None:
        print(f"demo: cannot run here: {problem}", file=sys.stderr)
        return 2
    network = (hbnet.Network("net_a", mode="multicast", group="228.18.1.1") if args.multicast
               else hbnet.Network("net_a"))
    with hbnet.Lab() as lab:
        cluster = hbnet.Cluster(lab, NAMES, [network], timing=args.profile, disk=disk)
        print_topology(cluster)
        demo = Demo(cluster)
        demo.say(f"starting hbd on {', '.join(NAMES)}")
        cluster.start_all()
        try:
            cluster.wait_all_up(START_TIMEOUT_S)
        except TimeoutError as error:
            print(f"demo: the cluster did not come up:\n{error}", file=sys.stderr)
            return 1
        ups = sum(len(cluster.events(name, event="NODE_UP")) for name in NAMES)
        demo.say(f"every node sees every other one ({ups} NODE_UP)")
        if disk:
            partition(demo, "gamma")
        crash(demo, "gamma")
        restart(demo, "gamma")
        leave(demo, "beta")
        print_summary(demo)
    print("\ncleaned up: processes, namespaces and temp dir removed")
    return 1 if demo.failed() else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
