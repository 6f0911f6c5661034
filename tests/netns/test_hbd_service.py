"""hbd as a cluster service (docs/operations.md): event scripts, the deadman switch, systemd's
notify protocol and watchdog, and SIGHUP reload of the timing without a false verdict.

Real hbd processes in network namespaces (tools/lib/hbnet.py); scripts are shell scripts the
tests write, which record their environment to files.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

import netns_support
from netns_support import hbnet

# Verdicts a reload must never cause at any peer, nor a node that only changes its timing.
RELOAD_FALSE_VERDICTS = frozenset({"NODE_DOWN", "NODE_UNREACHABLE", "NODE_LEFT",
                                   "NODE_RESTARTED", "ADAPTER_DOWN", "REMOTE_ADAPTER_DOWN",
                                   "NETWORK_DOWN", "ISOLATED", "PARTITION"})

RECORD_SCRIPT = """#!/bin/sh
# Records this event's environment: out/<event>.<local node>.<node>.<n>
out="{out}/$(echo "$HB_EVENT" | tr 'A-Z' 'a-z').$HB_LOCAL_NODE.$HB_NODE"
n=0
while [ -e "$out.$n" ]; do n=$((n + 1)); done
env > "$out.$n.tmp"
echo "pid=$$" >> "$out.$n.tmp"
echo "cwd=$PWD" >> "$out.$n.tmp"
mv "$out.$n.tmp" "$out.$n"
echo "recorded $HB_EVENT about node $HB_NODE"
"""

HANGING_SCRIPT = RECORD_SCRIPT + """
echo "hanging on purpose"
sleep 600
"""


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def wait_path(pattern_dir: Path, prefix: str, timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(p for p in pattern_dir.glob(prefix + ".*") if not p.name.endswith(".tmp"))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(hbnet.POLL_S)


def wait_log(node: hbnet.Node, text: str, timeout: float = 5) -> str:
    """The node's log once it holds `text` (or when the timeout passes)."""
    deadline = time.monotonic() + timeout
    while text not in node.stderr_path().read_text() and time.monotonic() < deadline:
        time.sleep(hbnet.POLL_S)
    return node.stderr_path().read_text()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class EventScripts(unittest.TestCase):
    """Scripts named after events run with the event in their environment; a hanging one is
    killed at its timeout and does not hold up a later event's script."""

    TIMEOUT_MS = 1500
    WARN_MS = 400

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.scripts = self.lab.tmp / "scripts"
        self.out = self.lab.tmp / "out"
        self.scripts.mkdir()
        self.out.mkdir()
        for name, text in (("node_up", RECORD_SCRIPT), ("node_down", HANGING_SCRIPT)):
            path = self.scripts / name
            path.write_text(text.format(out=self.out))
            path.chmod(0o755)
        # Not executable: must be skipped, not run.
        (self.scripts / "node_restarted").write_text("#!/bin/sh\necho should not run\n")
        extra = (f"[events]\nscript_dir = \"scripts\"\ntimeout_ms = {self.TIMEOUT_MS}\n"
                 f"warn_ms = {self.WARN_MS}\n")
        self.cluster = hbnet.Cluster(self.lab, ("alpha", "beta", "gamma"),
                                     timing=netns_support.TIMING, extra_config=extra)

    def test_scripts_get_the_event_and_a_hanging_one_is_killed_without_delaying_others(self):
        cluster = self.cluster
        # --check lists the scripts it found.
        checked = subprocess.run([str(hbnet.hbd_path()), "--check", "-c",
                                  str(cluster.node("alpha").config_path)],
                                 capture_output=True, text=True, timeout=20)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("event scripts in", checked.stdout)
        self.assertIn("node_up, node_down", checked.stdout)

        cluster.start_all()
        cluster.wait_all_up(timeout=10)
        # alpha (node 1) ran node_up for beta (2) and gamma (3), with the event's environment.
        up = wait_path(self.out, "node_up.1.3", timeout=5)
        self.assertEqual(len(up), 1, cluster.node("alpha").stderr_tail())
        env = read_env(up[0])
        event = cluster.wait_for("alpha", event="NODE_UP", node=3)
        self.assertEqual(env["HB_EVENT"], "NODE_UP")
        self.assertEqual(env["HB_NODE"], "3")
        self.assertEqual(env["HB_NODE_NAME"], "gamma")
        self.assertEqual(env["HB_NETWORK"], "")
        self.assertEqual(env["HB_ADAPTER"], "")
        self.assertEqual(env["HB_CLUSTER"], str(cluster.cluster_id))
        self.assertEqual(env["HB_LOCAL_NODE"], "1")
        self.assertEqual(env["HB_T_NS"], str(event["t_ns"]))
        self.assertIn("HB_LATENCY_MS", env)
        self.assertIn("HB_EVIDENCE", env)
        self.assertEqual(Path(env["cwd"]), self.scripts)
        self.assertNotIn("NOTIFY_SOCKET", env)

        # gamma dies: alpha's node_down script starts and hangs.
        mark = cluster.mark()
        cluster.kill("gamma")
        down_event = cluster.wait_for("alpha", timeout=5, since=mark, event="NODE_DOWN", node=3)
        down = wait_path(self.out, "node_down.1.3", timeout=5)
        self.assertEqual(len(down), 1, cluster.node("alpha").stderr_tail())
        down_env = read_env(down[0])
        self.assertEqual(down_env["HB_EVENT"], "NODE_DOWN")
        self.assertEqual(down_env["HB_NODE_NAME"], "gamma")
        self.assertEqual(down_env["HB_T_NS"], str(down_event["t_ns"]))
        self.assertRegex(down_env["HB_LATENCY_MS"], r"^\d+\.\d{3}$")
        self.assertEqual(down_env["HB_EVIDENCE"], "paths")
        hanging_pid = int(down_env["pid"])
        self.assertTrue(pid_alive(hanging_pid))

        # While it hangs, gamma comes back: its node_up script runs at once.
        cluster.start("gamma")
        cluster.wait_for("alpha", timeout=5, since=mark, event="NODE_UP", node=3)
        seen_ns = None
        deadline = time.monotonic() + 5
        while seen_ns is None and time.monotonic() < deadline:
            if (self.out / "node_up.1.3.1").exists():
                seen_ns = time.monotonic_ns()
            time.sleep(hbnet.POLL_S)
        self.assertIsNotNone(seen_ns, "node_up did not run while node_down hung\n"
                             + cluster.node("alpha").stderr_tail())
        self.assertTrue(pid_alive(hanging_pid), "node_down should still be hanging")

        # The hanging script is reported as running long, then killed at its timeout.
        started_ns = down_event["t_ns"]
        deadline = time.monotonic() + self.TIMEOUT_MS / 1000 + 5
        while pid_alive(hanging_pid) and time.monotonic() < deadline:
            time.sleep(hbnet.POLL_S)
        self.assertFalse(pid_alive(hanging_pid), "the hanging script was not killed")
        killed_after_ms = (time.monotonic_ns() - started_ns) / 1e6
        self.assertGreaterEqual(killed_after_ms, self.TIMEOUT_MS)
        log = cluster.node("alpha").stderr_path().read_text()
        self.assertIn(f"warning: script node_down for NODE_DOWN node 3 (gamma) has been "
                      f"running for", log)
        self.assertIn("script node_down for NODE_DOWN node 3 (gamma) timed out after", log)
        self.assertRegex(log, r"script node_down for NODE_DOWN node 3 \(gamma\) was killed by "
                              r"signal 15 \(TERM\) after \d+\.\d ms \(timed out\)")
        self.assertRegex(log, r"script node_up\[\d+\]: recorded NODE_UP about node 3")
        self.assertRegex(log, r"script node_up for NODE_UP node 3 \(gamma\) exited with status 0")
        self.assertNotIn("should not run", log)
        cluster.terminate("alpha")
        self.assertEqual(cluster.wait_exit("alpha", timeout=10), 0)


class Deadman(netns_support.ClusterTestCase):
    """A node whose engine loop stalls past [deadman] timeout_ms stops beating for good and says
    DEADMAN; its peers judge it down, not left, even after the loop resumes."""

    TIMEOUT_MS = 300

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        extra = f"[deadman]\ntimeout_ms = {self.TIMEOUT_MS}\naction = \"event\"\ntest_hook = true\n"
        self.cluster = hbnet.Cluster(self.lab, self.names, self.networks, timing=self.timing,
                                     extra_config=extra)
        self.cluster.start_all()
        self.cluster.wait_all_up(timeout=self.start_timeout_s)

    def test_a_stalled_loop_mutes_the_node_and_peers_see_it_down(self):
        cluster = self.cluster
        mark = cluster.mark()
        stalled_ns = cluster.send_signal("alpha", signal.SIGUSR2)
        dead = cluster.wait_for("alpha", timeout=5, since=mark, event="DEADMAN")
        self.assertGreaterEqual((dead["t_ns"] - stalled_ns) / 1e6, self.TIMEOUT_MS)
        self.assertGreaterEqual(dead["latency_ms"], self.TIMEOUT_MS)
        self.assertIsNone(dead["node"])
        for peer in ("beta", "gamma"):
            cluster.wait_for(peer, timeout=self.verdict_timeout_s, since=mark,
                             event="NODE_DOWN", node=1)
        # The loop resumes: the node stays muted, so its peers never see it up again.
        cluster.send_signal("alpha", signal.SIGUSR2)
        self.quiet_period()
        time.sleep(0.5)
        self.assertTrue(cluster.node("alpha").alive())
        for peer in ("beta", "gamma"):
            self.assertEqual(cluster.events(peer, mark[peer], event="NODE_UP", node=1), [],
                             cluster.describe(peer, mark))
        # Stopping it sends no LEAVING beats either: never NODE_LEFT.
        cluster.terminate("alpha")
        self.assertEqual(cluster.wait_exit("alpha", timeout=10), 0)
        self.quiet_period()
        for peer in ("beta", "gamma"):
            self.assertEqual(cluster.events(peer, mark[peer], event="NODE_LEFT"), [])
            self.assert_node_downs(peer, mark, {1: 1})
        self.assertEqual(len(cluster.events("alpha", mark["alpha"], event="DEADMAN")), 1)
        log = cluster.node("alpha").stderr_path().read_text()
        self.assertIn("DEADMAN: the engine loop has not turned", log)
        self.assertRegex(log, r"service: .*, [1-9]\d* beats muted \(deadman\)")


class SystemdNotify(unittest.TestCase):
    """hbd speaks systemd's notify protocol: READY=1, WATCHDOG=1 at half WATCHDOG_USEC,
    RELOADING=1 and READY=1 around SIGHUP, STOPPING=1."""

    WATCHDOG_MS = 200

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, ("alpha", "beta"), timing=netns_support.TIMING)
        self.socket_path = self.lab.tmp / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(str(self.socket_path))
        self.messages: list[tuple[int, str]] = []

    def receive(self, until, timeout: float) -> None:
        """Collects datagrams until `until(messages)` holds or the timeout passes."""
        deadline = time.monotonic() + timeout
        while not until(self.messages) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            self.messages.append((time.monotonic_ns(), data.decode()))

    def count(self, text: str) -> int:
        return sum(1 for _, message in self.messages if text in message.split("\n"))

    def test_ready_then_watchdog_pings_then_reload_and_stop(self):
        if not hbnet.hbd_path().exists():
            self.skipTest("no hbd")
        cluster = self.cluster
        cluster.start("alpha", env={"NOTIFY_SOCKET": str(self.socket_path),
                                    "WATCHDOG_USEC": str(self.WATCHDOG_MS * 1000)})
        cluster.start("beta")
        self.receive(lambda m: self.count("READY=1") >= 1, timeout=10)
        log = cluster.node("alpha")
        self.assertEqual(self.count("READY=1"), 1, log.stderr_tail())
        ready_at = next(t for t, m in self.messages if m == "READY=1")
        self.receive(lambda m: self.count("WATCHDOG=1") >= 10, timeout=10)
        pings = [t for t, m in self.messages if m == "WATCHDOG=1" and t >= ready_at]
        self.assertGreaterEqual(len(pings), 10, log.stderr_tail())
        # Every half period, give or take a loaded machine: never as slow as the period itself
        # on average, and never a ping per loop turn.
        span_ms = (pings[-1] - pings[0]) / 1e6
        mean_ms = span_ms / (len(pings) - 1)
        self.assertLess(mean_ms, self.WATCHDOG_MS)
        self.assertGreater(mean_ms, self.WATCHDOG_MS / 4)
        self.assertIn("systemd watchdog every 200 ms", log.stderr_path().read_text())

        before = len(self.messages)
        cluster.send_signal("alpha", signal.SIGHUP)
        self.receive(lambda m: any("RELOADING=1" in x for _, x in m[before:])
                     and any(x == "READY=1" for _, x in m[before:]), timeout=10)
        after = [m for _, m in self.messages[before:] if m != "WATCHDOG=1"]
        self.assertGreaterEqual(len(after), 2, after)
        self.assertTrue(after[0].startswith("RELOADING=1\nMONOTONIC_USEC="), after)
        self.assertEqual(after[1], "READY=1", after)

        cluster.terminate("alpha")
        self.assertEqual(cluster.wait_exit("alpha", timeout=10), 0)
        self.receive(lambda m: self.count("STOPPING=1") >= 1, timeout=2)
        self.assertEqual(self.count("STOPPING=1"), 1)


# Run inside a node's namespace: prints "<monotonic ns> <src node> <interval us> <multiplier>" for
# every hb beat that arrives on IFACE, for SECONDS.
CAPTURE = r"""
import socket, struct, sys, time
iface, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((iface, 0))
s.settimeout(0.2)
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        data, addr = s.recvfrom(2048)
    except TimeoutError:
        continue
    if addr[2] != socket.PACKET_HOST or len(data) < 20 or data[9] != 17:
        continue
    ihl = (data[0] & 0x0F) * 4
    udp = data[ihl:ihl + 8]
    beat = data[ihl + 8:]
    if len(udp) < 8 or struct.unpack("!H", udp[2:4])[0] != 4098 or len(beat) < 80:
        continue
    if beat[0:2] != b"HB" or beat[3] != 1:
        continue
    src = struct.unpack("<I", beat[16:20])[0]
    print(time.monotonic_ns(), src, struct.unpack("<I", beat[76:80])[0], beat[73], flush=True)
"""


class Reload(netns_support.ClusterTestCase):
    """SIGHUP applies a new [timing] without a false verdict at any peer, in both directions;
    peers see the advertised timing and the gaps between beats change."""

    names = ("alpha", "beta", "gamma")
    networks = (hbnet.Network("net_a"), hbnet.Network("net_b"))
    timing = (10, 3)
    slow = (50, 3)

    def capture(self, observer: str, seconds: float) -> subprocess.Popen:
        return self.lab.spawn(self.cluster.node(observer).host,
                              [sys.executable, "-c", CAPTURE, "eth1", str(seconds)],
                              stdout=subprocess.PIPE, text=True)

    def retime(self, name: str, timing: tuple[int, int]) -> None:
        cluster = self.cluster
        node = cluster.node(name)
        text = node.config_path.read_text().replace(
            f"interval_ms = {self.current[0]}\nmultiplier = {self.current[1]}",
            f"interval_ms = {timing[0]}\nmultiplier = {timing[1]}")
        node.config_path.write_text(text)
        cluster.send_signal(name, signal.SIGHUP)

    def test_slower_and_back_to_faster_without_a_false_verdict(self):
        cluster = self.cluster
        mark = cluster.mark()
        capture = self.capture("beta", 6.0)
        time.sleep(1.0)
        changes_ns = []
        for timing in (self.slow, self.timing):
            self.current = self.timing if timing == self.slow else self.slow
            for name in cluster.nodes:
                self.retime(name, timing)
            changes_ns.append(time.monotonic_ns())
            time.sleep(2.0)
        out, _ = capture.communicate(timeout=20)
        self.quiet_period()
        self.assert_no_false_verdicts(cluster.nodes, mark, RELOAD_FALSE_VERDICTS)
        for name in cluster.nodes:
            log = cluster.node(name).stderr_path().read_text()
            self.assertIn("reload: applied network net_a: timing 10 ms x 3 -> 50 ms x 3", log)
            self.assertIn("reload: applied network net_b: timing 50 ms x 3 -> 10 ms x 3", log)
            self.assertTrue(cluster.node(name).alive())

        # What beta heard from alpha (node 1) on net_a: advertised timing and gaps, per phase.
        beats = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line]
        from_alpha = [(t, interval, mult) for t, src, interval, mult in beats if src == 1]
        self.assertGreater(len(from_alpha), 100, out[-2000:])

        def phase(start_ns, end_ns):
            return [b for b in from_alpha if start_ns <= b[0] < end_ns]

        second_ns = 1_000_000_000
        fast_before = phase(changes_ns[0] - second_ns, changes_ns[0] - 100_000_000)
        slow_middle = phase(changes_ns[0] + second_ns // 2, changes_ns[1] - 100_000_000)
        fast_after = phase(changes_ns[1] + second_ns // 2, changes_ns[1] + 2 * second_ns)
        for beats_in, interval_us, label in ((fast_before, 10_000, "before"),
                                             (slow_middle, 50_000, "slow"),
                                             (fast_after, 10_000, "after")):
            self.assertGreater(len(beats_in), 5, label)
            self.assertEqual({b[1] for b in beats_in}, {interval_us}, label)
            self.assertEqual({b[2] for b in beats_in}, {3}, label)
            gaps_ms = [(b[0] - a[0]) / 1e6 for a, b in zip(beats_in, beats_in[1:])]
            mean_ms = sum(gaps_ms) / len(gaps_ms)
            # Beats go out at 75-90 % of the interval; the capture sees them with some noise.
            self.assertGreater(mean_ms, interval_us / 1000 * 0.5, label)
            self.assertLess(mean_ms, interval_us / 1000 * 1.2, label)

    def test_a_config_with_errors_is_logged_and_the_running_one_kept(self):
        cluster = self.cluster
        node = cluster.node("alpha")
        good = node.config_path.read_text()
        mark = cluster.mark()
        node.config_path.write_text(good.replace("interval_ms = 10", "interval_ms = \"fast\""))
        cluster.send_signal("alpha", signal.SIGHUP)
        log = wait_log(node, "reload failed")
        self.assertIn("reload failed: the running configuration is kept", log)
        self.assertRegex(log, r"alpha\.toml:\d+: \[timing\] interval_ms must be a number")
        # A change that needs a restart is named and ignored; the timing in the same file is
        # applied.
        node.config_path.write_text(good.replace("realtime_priority = 0",
                                                 "realtime_priority = 5")
                                    .replace("multiplier = 3", "multiplier = 4"))
        cluster.send_signal("alpha", signal.SIGHUP)
        log = wait_log(node, "reload: applied")
        self.assertIn("reload: [process] changed: needs a restart; ignored", log)
        self.assertIn("reload: applied network net_a: timing 10 ms x 3 -> 10 ms x 4", log)
        self.quiet_period()
        self.assert_no_false_verdicts(cluster.nodes, mark, RELOAD_FALSE_VERDICTS)
        self.assertTrue(node.alive())


class NetmonReload(netns_support.ClusterTestCase):
    """SIGHUP applies new netmon.cf targets: the rebuilt prober probes the new target."""

    names = ("alpha", "beta")

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, self.names, self.networks, timing=self.timing,
                                     extra_config='[netmon]\nfile = "netmon.cf"\n')
        self.targets = {}
        for index, address in enumerate(("198.18.1.100", "198.18.1.101")):
            host = self.lab.host(f"target{index}")
            self.lab.connect(host, self.cluster.switches["net_a"], "eth1", f"{address}/24")
            self.targets[address] = host
        # Both nodes' configs name this one file; only alpha is told to reload it.
        (self.lab.tmp / "netmon.cf").write_text("!REQD eth1 198.18.1.100\n")
        self.cluster.start_all()
        self.cluster.wait_all_up(timeout=self.start_timeout_s)

    def test_new_targets_are_probed_after_a_reload(self):
        cluster = self.cluster
        mark = cluster.mark()
        (self.lab.tmp / "netmon.cf").write_text("!REQD eth1 198.18.1.101\n")
        cluster.send_signal("alpha", signal.SIGHUP)
        log = wait_log(cluster.node("alpha"), "reload: applied")
        self.assertIn("reload: applied [netmon] targets: 1 in all", log)
        self.quiet_period()
        self.assert_no_false_verdicts(self.names, mark, RELOAD_FALSE_VERDICTS)
        # The new target falls silent: alpha (which probes it now) says so, beta does not.
        self.targets["198.18.1.101"].run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"],
                                         check=True)
        down = cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=mark,
                                event="ADAPTER_DOWN")
        self.assertEqual((down["adapter"], down["evidence"]), ("eth1", ["netmon"]))
        self.quiet_period()
        self.assertEqual(cluster.events("beta", mark["beta"], event="ADAPTER_DOWN"), [],
                         cluster.describe("beta", mark))


if __name__ == "__main__":
    netns_support.main()
