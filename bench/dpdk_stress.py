#!/usr/bin/env python3
"""Detection latency at the `extreme` profile (1 ms x 3) on a busy-polling DPDK lcore while
stress-ng loads the other core (issue 5).

    python3 bench/dpdk_stress.py [--minutes 10 | --quick] [--gap 2.0] [--out FILE.json]
                                 [--engine-cpu 1 | 0] [--no-stress] [--shield]
                                 [--peer-priority N]

Three nodes on one network (a lab: namespaces, a bridge, veths), timing (1, 3):

- alpha, the observer: hbd with a DPDK adapter (`net_af_packet0,iface=eth1`, `[dpdk] mode =
  "lcore"`, `lcore_cpu = 1`). Its polling thread spins on CPU 1 (the busy-polling lcore,
  SCHED_OTHER: hbd starts it before taking real-time priority). Its engine thread runs on the
  EAL main lcore, `-l 1` by default (hb keeps to its own core; `--engine-cpu 0` puts the engine
  on the loaded core instead), with the production process settings: `[process]
  realtime_priority = 10` (SCHED_FIFO, hbd's default) and `lock_memory = true`.
- beta, the victim, and gamma, the witness: hbd on kernel UDP with the same process settings
  (SCHED_FIFO 10, memory locked), not pinned. The witness is never killed; it is there because a
  two-node cluster reports its last peer's silence as ISOLATED, never NODE_DOWN (DESIGN §6: it
  cannot tell the peer's death from its own isolation).
- `stress-ng --cpu 1 --hrtimers 1 --taskset 0` loads CPU 0 (the "other core") for the whole
  soak. Run as root, its hrtimers stressor's threads are SCHED_RR 49: above hbd's 10.

Every `--gap` seconds beta is killed (SIGKILL); alpha's NODE_DOWN gives the verdict's own
latency_ms (last beat heard -> verdict) and the time from the kill (both monotonic clock); beta is
restarted and alpha's NODE_UP awaited (with it comes NODE_RESTARTED, the new incarnation:
expected too). Every other event alpha reports during the soak is a false verdict, as is a
NODE_DOWN that does not follow a kill. The raw samples, every false verdict with its event, the
kernel nodes' own unexpected events (their view of alpha), thread placement, the polling
thread's schedstat and per-CPU time (steal included) go to the JSON (--out); a summary is
printed.

`--shield` reserves the polling CPU for the cluster once it is up: a cpuset (cgroup v1) holding
only CPU 1 gets the three hbd processes (the kernel nodes stand for other machines, which the
load on this one would not reach; a restarted victim joins them once the observer has seen it
up, since a starting hbd holds its CPU for milliseconds),
another holding the rest gets every other task
that can move (stress-ng, the kernel nodes, the harness, the machine's services), and device
interrupts are steered to the other CPUs; all of it is undone at exit (tasks return to the root
cpuset, whose CPUs are all of them: a task's own narrower affinity from before is not restored).
`--peer-priority` sets the kernel nodes' realtime_priority (default hbd's 10; stress-ng's hrtimer
threads run at SCHED_RR 49).

Needs root, a tree built with libdpdk (build/tools/hbd), 2 CPUs, stress-ng (installs nothing:
says what is missing). Cleans up everything it made (namespaces, processes, stress-ng, the
observer's /var/run/dpdk directory) on any exit.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
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
import benchstats  # noqa: E402

TIMING = (1, 3)
OBSERVER, VICTIM, WITNESS = "alpha", "beta", "gamma"
PORT = "net_af_packet0,iface=eth1"
LCORE_CPU = 1        # the busy-polling lcore
LOAD_CPU = 0         # stress-ng: the other core
REALTIME_PRIORITY = 10  # hbd's default ([process] realtime_priority, docs/config.md)
STRESS_ARGV = ["stress-ng", "--cpu", "1", "--hrtimers", "1", "--taskset", str(LOAD_CPU),
               "--metrics-brief"]


def summary(samples: list[float]) -> dict:
    """The harness's summary (with the p99.9 a 10-minute run has the samples for)."""
    return benchstats.summary(samples)


def problems(shield: bool = False) -> list[str]:
    found = []
    if shield and not (CpuShield.ROOT / "cpuset.cpus").exists():
        found.append(f"--shield needs cgroup v1's cpuset hierarchy at {CpuShield.ROOT}")
    problem = hbnet.netns_problem() or hbnet.hbd_problem()
    if problem:
        found.append(problem)
    if shutil.which("stress-ng") is None:
        found.append("stress-ng is not installed (apt-get install -y stress-ng)")
    if shutil.which("ethtool") is None:
        found.append("ethtool is not installed (apt-get install -y ethtool): the veths need "
                     "tx checksum offload off for the DPDK port (docs/dpdk.md)")
    cpus = os.sched_getaffinity(0)
    if not {LCORE_CPU, LOAD_CPU} <= cpus:
        found.append(f"needs CPUs {LOAD_CPU} and {LCORE_CPU}; this process may use {sorted(cpus)}")
    if not hbnet.hbd_problem():
        libs = subprocess.run(["ldd", str(hbnet.hbd_path())], capture_output=True).stdout
        if b"librte_eal" not in libs:
            found.append(f"{hbnet.hbd_path()} is not linked with DPDK (install libdpdk-dev, "
                         "reconfigure the build)")
    return found


def production_process_settings(text: str, priority: int = REALTIME_PRIORITY) -> str:
    """The lab writes test-friendly process settings; a soak measures hbd as deployed."""
    old = "[process]\nrealtime_priority = 0\nlock_memory = false\n"
    if old not in text:
        raise SystemExit(f"unexpected lab config (no {old!r}):\n{text}")
    return text.replace(old, f"[process]\nrealtime_priority = {priority}\n"
                              "lock_memory = true\n")


def dpdk_config(text: str, file_prefix: str, engine_cpu: int, lcore_priority: int) -> str:
    own = re.compile(r'(ifname = "eth1", address = "198\.18\.1\.1") \}')
    text, count = own.subn(rf'\1, transport = "dpdk", port = "{PORT}" }}', text)
    if count != 1:
        raise SystemExit(f"could not find the observer's adapter in:\n{text}")
    eal_args = ["-l", str(engine_cpu), "--no-huge", "-m", "64", "--no-pci", "--no-telemetry",
                "--log-level=lib.eal:error", f"--file-prefix={file_prefix}"]
    return (text + "[dpdk]\neal_args = [" + ", ".join(f'"{arg}"' for arg in eal_args) + "]\n"
            f'mode = "lcore"\nlcore_cpu = {LCORE_CPU}\n' +
            (f"lcore_priority = {lcore_priority}\n" if lcore_priority else ""))


POLICY_NAMES = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO",
                os.SCHED_RR: "SCHED_RR", getattr(os, "SCHED_BATCH", 3): "SCHED_BATCH",
                getattr(os, "SCHED_IDLE", 5): "SCHED_IDLE"}


def thread_cpu_s(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def sched_stats(pid: int, tid: int) -> dict:
    """A thread's time on CPU and waiting on a run queue (schedstat, ns) and its context
    switches: the wait is the time it was runnable but another task had its CPU."""
    run_ns, wait_ns, slices = map(int, Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
                                  .split())
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    switches = dict(re.findall(r"^(\w+_ctxt_switches):\s+(\d+)", status, re.M))
    return {"run_ns": run_ns, "wait_ns": wait_ns, "timeslices": slices,
            **{key: int(value) for key, value in switches.items()}}


def delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before[key] for key in after}


def threads(pid: int) -> list[dict]:
    """Every thread of a process: name, scheduling policy and priority, affinity, CPU time."""
    result = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda p: int(p.name)):
        tid = int(task.name)
        try:
            result.append({"tid": tid, "name": (task / "comm").read_text().strip(),
                           "policy": POLICY_NAMES.get(os.sched_getscheduler(tid), "?"),
                           "priority": os.sched_getparam(tid).sched_priority,
                           "cpus": sorted(os.sched_getaffinity(tid)),
                           "cpu_s": thread_cpu_s(pid, tid)})
        except (OSError, ValueError):
            pass
    return result


def cpu_times() -> dict[str, dict[str, int]]:
    """/proc/stat per CPU (jiffies): user, system, idle, steal..."""
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    result = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu"):
            parts = line.split()
            result[parts[0]] = dict(zip(names, map(int, parts[1:9])))
    return result


def cpu_share(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per CPU, the share (%) of each kind of time between two cpu_times()."""
    result = {}
    for cpu, fields in after.items():
        delta = {key: fields[key] - before[cpu][key] for key in fields}
        total = sum(delta.values()) or 1
        result[cpu] = {key: round(100 * value / total, 2) for key, value in delta.items()}
    return result


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def start_stress(seconds: int, log: Path) -> subprocess.Popen:
    argv = STRESS_ARGV + ["--timeout", f"{seconds}s"]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    time.sleep(1.0)
    if process.poll() is not None:
        raise SystemExit(f"stress-ng exited at once ({process.returncode}):\n{log.read_text()}")
    return process


def stop_stress(process: subprocess.Popen | None) -> None:
    """SIGTERM to stress-ng's own process group (its workers too), SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def stress_pids(process: subprocess.Popen) -> list[int]:
    """stress-ng and its workers: the processes of its process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == process.pid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return sorted(pids)


class CpuShield:
    """One CPU for the observer alone (docstring: --shield): two cpusets and interrupt affinity.

    cgroup v1's cpuset hierarchy (/sys/fs/cgroup/cpuset), the one this machine has. A machine with
    only cgroup v2 would need the v2 cpuset controller and partitions instead; that is not
    written, as nothing here could run it (problems() says so). Tasks that cannot move (per-CPU
    kernel threads) stay where they are and are counted.
    """

    ROOT = Path("/sys/fs/cgroup/cpuset")

    def __init__(self, cpu: int, tag: str):
        self.cpu = cpu
        self.root = self.ROOT
        self.shield = self.root / f"hb-shield-{tag}"
        self.rest = self.root / f"hb-rest-{tag}"
        self.others = sorted(set(range(os.cpu_count() or 1)) - {cpu})
        self.moved = 0
        self.unmovable = 0
        self.irqs: dict[Path, str] = {}

    @staticmethod
    def _tasks(group: Path) -> list[str]:
        try:
            return (group / "tasks").read_text().split()
        except OSError:
            return []

    @staticmethod
    def _move(tid: str, group: Path) -> bool:
        try:
            (group / "tasks").write_text(tid)
            return True
        except OSError:
            return False

    def _make(self, group: Path, cpus: str) -> None:
        group.mkdir()
        (group / "cpuset.mems").write_text((self.root / "cpuset.mems").read_text())
        (group / "cpuset.cpus").write_text(cpus)

    def start(self, keep_pids: list[int]) -> None:
        self._make(self.rest, ",".join(map(str, self.others)))
        self._make(self.shield, str(self.cpu))
        kept = {str(tid) for pid in keep_pids for tid in os.listdir(f"/proc/{pid}/task")}
        for tid in self._tasks(self.root):
            if tid in kept:
                continue
            if self._move(tid, self.rest):
                self.moved += 1
            else:
                self.unmovable += 1
        for pid in keep_pids:
            self.add(pid)
        mask = ",".join(map(str, self.others))
        for irq in Path("/proc/irq").glob("*/smp_affinity_list"):
            try:
                old = irq.read_text().strip()
                irq.write_text(mask)
                self.irqs[irq] = old
            except OSError:
                pass  # per-CPU and managed interrupts refuse: they stay

    def add(self, pid: int) -> None:
        """Every thread of `pid` into the shield (a restarted node: it starts outside)."""
        for tid in os.listdir(f"/proc/{pid}/task"):
            if not self._move(tid, self.shield):
                raise SystemExit(f"cannot move thread {tid} of {pid} into {self.shield}")

    @contextlib.contextmanager
    def joined(self):
        """This process inside the shield for a while, so that what it forks starts there."""
        self.add(os.getpid())
        try:
            yield
        finally:
            for tid in os.listdir(f"/proc/{os.getpid()}/task"):
                self._move(tid, self.rest)

    def stop(self) -> None:
        for group in (self.shield, self.rest):
            if not group.exists():
                continue
            for _ in range(3):  # tasks forked meanwhile join the group: sweep until empty
                for tid in self._tasks(group):
                    self._move(tid, self.root)
            try:
                group.rmdir()
            except OSError as error:
                print(f"cannot remove {group}: {error}", file=sys.stderr)
        for irq, old in self.irqs.items():
            try:
                irq.write_text(old)
            except OSError:
                pass

    def describe(self) -> dict:
        return {"cpu": self.cpu, "others": self.others, "cgroup": "v1 cpuset",
                "tasks_moved": self.moved, "tasks_unmovable": self.unmovable,
                "irqs_steered": len(self.irqs)}


def wait_index(cluster: hbnet.Cluster, name: str, timeout: float, start: int,
               accept) -> tuple[int, dict] | None:
    """The index and event of the first event of `name` from index `start` that `accept`s."""
    deadline = time.monotonic() + timeout
    node = cluster.node(name)
    while True:
        events = node.events
        for index in range(start, len(events)):
            if accept(events[index]):
                return index, events[index]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.002)


def soak(args) -> dict:
    file_prefix = f"hb_stress_{os.getpid()}_{OBSERVER}"
    runtime_dir = Path("/var/run/dpdk") / file_prefix
    stress = None
    shield = CpuShield(LCORE_CPU, str(os.getpid())) if args.shield else None
    result: dict = {}
    with hbnet.Lab() as lab:
        cluster = hbnet.Cluster(lab, (OBSERVER, VICTIM, WITNESS), (hbnet.Network("net_a"),),
                                timing=TIMING)
        observer, victim = cluster.node(OBSERVER), cluster.node(VICTIM)
        witness = cluster.node(WITNESS)
        try:
            for node in (observer, victim, witness):
                priority = REALTIME_PRIORITY if node is observer else args.peer_priority
                node.config_path.write_text(production_process_settings(
                    node.config_path.read_text(), priority))
            observer.config_path.write_text(dpdk_config(observer.config_path.read_text(),
                                                        file_prefix, args.engine_cpu,
                                                        args.lcore_priority))
            # The DPDK port owns 198.18.1.1: the kernel must neither answer ARP for it nor send
            # "port unreachable" for its beats (docs/dpdk.md).
            observer.host.ip("address", "flush", "dev", "eth1")
            cluster.start(OBSERVER)
            cluster.start(VICTIM)
            cluster.start(WITNESS)
            cluster.wait_all_up(timeout=20)
            placement = {"observer": threads(observer.process.pid),
                         "victim_first_run": threads(victim.process.pid),
                         "witness": threads(witness.process.pid)}
            pollers = [t for t in placement["observer"] if t["name"] == "hb-dpdk-lcore"]
            if not pollers or pollers[0]["cpus"] != [LCORE_CPU]:
                raise SystemExit(f"observer's polling thread not pinned to CPU {LCORE_CPU}: "
                                 f"{placement['observer']}")
            if not any(t["policy"] == "SCHED_FIFO" for t in placement["observer"]):
                raise SystemExit(f"observer has no SCHED_FIFO thread: {placement['observer']}")
            if shield is not None:
                # After the start: the observer's EAL must see CPU 1 among its own CPUs. The
                # kernel nodes go with it: they stand for other machines, which the load on
                # this one does not reach (on CPU 0 they would be stress-ng's victims, at any
                # priority: see docs/results/2026-11-26-dpdk.md).
                shield.start([observer.process.pid, victim.process.pid, witness.process.pid])
                placement["shielded"] = {name: threads(node.process.pid)
                                         for name, node in cluster.nodes.items()}

            if not args.no_stress:
                stress = start_stress(int(args.minutes * 60) + 120, lab.tmp / "stress-ng.log")
                placement["stress_ng"] = {pid: threads(pid) for pid in stress_pids(stress)}
            time.sleep(2.0)  # load settled before the first kill (its events count too)

            soak_start = {name: len(node.events) for name, node in cluster.nodes.items()}
            expected: set[int] = set()  # indices of alpha's events that trials explain
            trials: list[dict] = []
            missed: list[dict] = []
            cpu_before = cpu_times()
            poll_cpu_before = thread_cpu_s(observer.process.pid, pollers[0]["tid"])
            poll_sched_before = sched_stats(observer.process.pid, pollers[0]["tid"])
            started_s = time.monotonic()
            deadline = started_s + args.minutes * 60
            victim_id = victim.id
            while time.monotonic() < deadline:
                time.sleep(args.gap)
                mark = len(observer.events)
                killed_ns = cluster.kill(VICTIM)
                found = wait_index(cluster, OBSERVER, 5, mark,
                                   lambda e: e["event"] == "NODE_DOWN" and
                                   e.get("node") == victim_id and e["t_ns"] >= killed_ns)
                trial = {"trial": len(trials), "killed_ns": killed_ns}
                if found is None:
                    missed.append({"trial": trial["trial"], "what": "no NODE_DOWN within 5 s"})
                else:
                    index, down = found
                    expected.add(index)
                    trial.update(latency_ms=down["latency_ms"],
                                 since_kill_ms=(down["t_ns"] - killed_ns) / 1e6,
                                 evidence=down.get("evidence"))
                mark = len(observer.events)
                if shield is not None:
                    with shield.joined():  # the victim is forked inside the shield
                        restarted_ns = cluster.start(VICTIM)
                else:
                    restarted_ns = cluster.start(VICTIM)
                found = wait_index(cluster, OBSERVER, 10, mark,
                                   lambda e: e["event"] == "NODE_UP" and
                                   e.get("node") == victim_id)
                if found is None:
                    missed.append({"trial": trial["trial"],
                                   "what": "no NODE_UP within 10 s of the restart",
                                   "victim_stderr": victim.stderr_tail()})
                    trials.append(trial)
                    break
                index, up = found
                expected.add(index)
                trial["restarted_ns"] = restarted_ns
                trial["up_since_start_ms"] = (up["t_ns"] - restarted_ns) / 1e6
                trials.append(trial)
            time.sleep(1.0)  # whatever the last trial still makes the observer say
            elapsed_s = time.monotonic() - started_s
            cpu_share_soak = cpu_share(cpu_before, cpu_times())
            poll_busy = ((thread_cpu_s(observer.process.pid, pollers[0]["tid"]) -
                          poll_cpu_before) / elapsed_s)
            poll_sched = delta(poll_sched_before,
                               sched_stats(observer.process.pid, pollers[0]["tid"]))
            placement["observer_end"] = threads(observer.process.pid)
            if victim.alive():
                placement["victim_last_run"] = threads(victim.process.pid)
            stress_alive = stress is not None and stress.poll() is None

            events = observer.events
            # A restarted victim's new incarnation is also reported as NODE_RESTARTED (next to
            # its NODE_UP): a true report, expected once per restart, between the restart and
            # the next kill.
            windows = [(t["restarted_ns"], trials[i + 1]["killed_ns"] if i + 1 < len(trials)
                        else math.inf) for i, t in enumerate(trials) if "restarted_ns" in t]
            for start_ns, end_ns in windows:
                for index in range(soak_start[OBSERVER], len(events)):
                    event = events[index]
                    if (event["event"] == "NODE_RESTARTED" and event.get("node") == victim_id
                            and start_ns <= event["t_ns"] < end_ns):
                        expected.add(index)
                        break
            ids = {node.id: node.name for node in cluster.nodes.values()}
            false_verdicts = [dict(event, index=index, text=hbnet.describe_event(event, ids))
                              for index, event in enumerate(events)
                              if index >= soak_start[OBSERVER] and index not in expected]
            # The kernel nodes' own views: NODE_UP (each victim run starts with them) and the
            # witness's verdicts on the victim are expected; anything else (e.g. NODE_DOWN alpha)
            # means beats were late there.
            def unexpected(name: str) -> list[dict]:
                return [dict(event, text=hbnet.describe_event(event, ids))
                        for event in cluster.node(name).events[soak_start[name]:]
                        if event["event"] != "NODE_UP" and not (
                            name == WITNESS and event["event"] in ("NODE_DOWN", "NODE_RESTARTED")
                            and event.get("node") == victim_id)]
            victim_other = unexpected(VICTIM)
            witness_other = unexpected(WITNESS)
        finally:
            stop_stress(stress)
            if shield is not None:
                shield.stop()
            if observer.alive():  # graceful: hbd stops the EAL and removes its runtime dir
                observer.process.send_signal(signal.SIGTERM)
                try:
                    observer.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            shutil.rmtree(runtime_dir, ignore_errors=True)
            stress_log = (lab.tmp / "stress-ng.log")
            stress_text = stress_log.read_text(errors="replace") if stress_log.exists() else ""

    latency = [t["latency_ms"] for t in trials if "latency_ms" in t]
    since_kill = [t["since_kill_ms"] for t in trials if "since_kill_ms" in t]
    up = [t["up_since_start_ms"] for t in trials if "up_since_start_ms" in t]
    result = {
        "timing": {"interval_ms": TIMING[0], "multiplier": TIMING[1],
                   "nominal_ms": TIMING[0] * TIMING[1]},
        "minutes": args.minutes, "gap_s": args.gap, "elapsed_s": round(elapsed_s, 1),
        "setup": {"observer": f"{OBSERVER}: hbd, DPDK {PORT}, [dpdk] mode lcore, lcore_cpu "
                              f"{LCORE_CPU}, EAL -l {args.engine_cpu}, realtime_priority "
                              f"{REALTIME_PRIORITY}, lock_memory true",
                  "victim": f"{VICTIM}: hbd, kernel UDP, realtime_priority "
                            f"{args.peer_priority}, lock_memory true, not pinned",
                  "witness": f"{WITNESS}: as {VICTIM}, never killed (a two-node cluster "
                             "reports its last peer's silence as ISOLATED, not NODE_DOWN)",
                  "peer_realtime_priority": args.peer_priority,
                  "lcore_priority": args.lcore_priority,
                  "shield": shield.describe() if shield is not None else None,
                  "stress": "none (--no-stress)" if args.no_stress else " ".join(STRESS_ARGV),
                  "nproc": os.cpu_count(),
                  "kernel": os.uname().release},
        "trials": len(trials), "missed": missed,
        "latency_ms": summary(latency), "since_kill_ms": summary(since_kill),
        "up_since_start_ms": summary(up),
        "false_verdicts": len(false_verdicts), "false_verdict_events": false_verdicts,
        "victim_other_events": victim_other, "witness_other_events": witness_other,
        "poller_busy_fraction": round(poll_busy, 3),
        "poller_schedstat_delta": poll_sched,
        "cpu_share_percent": cpu_share_soak, "stress_ng_alive_at_end": stress_alive,
        "stress_ng_output": stress_text[-3000:],
        "threads": placement,
        "samples": trials,
    }
    return result


def table(result: dict) -> str:
    lines = [f"trials {result['trials']} in {result['elapsed_s']} s, timing "
             f"{result['timing']['interval_ms']} ms x {result['timing']['multiplier']} "
             f"(nominal {result['timing']['nominal_ms']} ms)",
             "| measure | count | min | p50 | p90 | p99 | max (ms) |",
             "|---|---|---|---|---|---|---|"]
    for key in ("latency_ms", "since_kill_ms", "up_since_start_ms"):
        s = result[key]
        lines.append(f"| {key} | {s['count']} | {s['min']:.2f} | {s['p50']:.2f} | "
                     f"{s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} |")
    lines.append(f"false verdicts at the observer: {result['false_verdicts']}")
    for event in result["false_verdict_events"][:20]:
        lines.append(f"  {event['t_ns']}  {event['text']}")
    for key in ("victim_other_events", "witness_other_events"):
        lines.append(f"{key}: {len(result[key])}")
        for event in result[key][:10]:
            lines.append(f"  {event['t_ns']}  {event['text']}")
    if result["missed"]:
        lines.append(f"missed: {result['missed']}")
    sched = result["poller_schedstat_delta"]
    lines.append(f"polling thread: runnable but waiting {sched['wait_ns'] / 1e9:.2f} s, "
                 f"{sched.get('nonvoluntary_ctxt_switches', 0)} involuntary switches")
    lines.append(f"polling thread busy: {100 * result['poller_busy_fraction']:.0f} % of a CPU; "
                 "steal: " + ", ".join(f"{cpu} {share['steal']} %" for cpu, share in
                                       result["cpu_share_percent"].items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--quick", action="store_true", help="1 minute (a smoke run)")
    parser.add_argument("--gap", type=float, default=2.0,
                        help="seconds between the victim's NODE_UP and the next kill")
    parser.add_argument("--engine-cpu", type=int, default=LCORE_CPU, choices=(0, 1),
                        help="the EAL main lcore (-l), where hbd's engine thread runs: 1 (default) "
                             "shares the polling lcore, 0 shares the loaded core")
    parser.add_argument("--no-stress", action="store_true",
                        help="no stress-ng: the same soak on an otherwise idle machine (a baseline)")
    parser.add_argument("--shield", action="store_true",
                        help="reserve CPU 1 for the observer (cpusets, interrupt affinity)")
    parser.add_argument("--peer-priority", type=int, default=REALTIME_PRIORITY,
                        help="the kernel nodes' realtime_priority (SCHED_FIFO; 0: none)")
    parser.add_argument("--lcore-priority", type=int, default=0,
                        help="the observer's [dpdk] lcore_priority (SCHED_FIFO polling thread, "
                             f"below the engine's {REALTIME_PRIORITY}; 0: SCHED_OTHER)")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1
    found = problems(args.shield)
    if found:
        for problem in found:
            print(problem, file=sys.stderr)
        return 2
    result = soak(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
