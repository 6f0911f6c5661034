"""Two hbd processes heartbeating over net_memif (DESIGN §7): one port is the memif server, the
other its client on the same Unix socket, both with [dpdk] eal_args without hugepages (memif's
shared regions are memfd memory of its own, so --no-huge works). No network namespace is needed.

A memif link is up only while both ends are connected, so the port link poller reports the
survivor's adapter down when its peer dies (a point-to-point link loses its carrier with the other
end): ADAPTER_DOWN, not NODE_DOWN. Once in the default inline mode, once with both ports polled
by threads of their own ([dpdk] mode = "lcore").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

SKIP_EXIT_CODE = 77


def hbd_path() -> Path:
    return Path(os.environ.get("HBD") or Path(__file__).resolve().parents[2] / "build" / "tools"
                / "hbd")


def config(local: int, socket: Path, prefix: str, dpdk_mode: str = "") -> str:
    """dpdk_mode: extra [dpdk] lines (mode, lcore_cpu), none for the default inline mode."""
    role = "server" if local == 1 else "client"
    port = f"net_memif0,role={role},socket={socket}"
    eal_args = ["--no-huge", "-m", "64", "--no-pci", "--no-telemetry",
                "--log-level=lib.eal:error", f"--file-prefix={prefix}"]
    lines = ["[cluster]", "id = 11", 'key_file = "cluster.key"', "[timing]", "interval_ms = 20", "multiplier = 5",
             "[local]", f"node = {local}",
             "[process]", "realtime_priority = 0", "lock_memory = false",
             "[[network]]", 'name = "net_m"']
    for node in (1, 2):
        transport = f', transport = "dpdk", port = "{port}"' if node == local else ""
        lines += ["[[node]]", f"id = {node}", f'name = "n{node}"',
                  f'adapters = [ {{ network = "net_m", ifname = "memif{node}", '
                  f'address = "198.18.9.{node}"{transport} }} ]']
    lines += ["[dpdk]", "eal_args = [" + ", ".join(json.dumps(arg) for arg in eal_args) + "]"]
    lines += dpdk_mode.splitlines()
    return "\n".join(lines) + "\n"


class Memif(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hb_memif_"))
        self.processes: dict[int, subprocess.Popen] = {}
        self.prefixes = {node: f"hb_memif_{os.getpid()}_{node}" for node in (1, 2)}
        self.addCleanup(self.clean_up)

    def launch(self, dpdk_modes: dict[int, str]) -> None:
        key = self.tmp / "cluster.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        for node in (1, 2):
            (self.tmp / f"{node}.toml").write_text(
                config(node, self.tmp / "memif.sock", self.prefixes[node], dpdk_modes[node]))
        self.start(1)
        self.wait_for_server()
        self.start(2)

    def wait_for_server(self) -> None:
        """The client connects once, when its port starts: its server must listen already."""
        deadline = time.monotonic() + 10
        while not self.server_listens():
            if time.monotonic() > deadline or self.processes[1].poll() is not None:
                stderr = (self.tmp / "1.stderr").read_text(errors="replace")
                self.fail(f"the memif server made no socket\n{stderr[-2000:]}")
            time.sleep(0.02)

    def server_listens(self) -> bool:
        """DPDK 22.11's memif socket is abstract by default (socket-abstract=yes): no file, but
        a line "@PATH" in /proc/net/unix."""
        name = f"@{self.tmp / 'memif.sock'}"
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            return any(line.split()[-1] == name for line in table if len(line.split()) >= 8)

    def start(self, node: int) -> None:
        argv = [str(hbd_path()), "-c", str(self.tmp / f"{node}.toml"),
                "--events", str(self.tmp / f"{node}.events")]
        with open(self.tmp / f"{node}.stderr", "ab") as log:
            self.processes[node] = subprocess.Popen(argv, stdout=log, stderr=log)

    def clean_up(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for prefix in self.prefixes.values():
            shutil.rmtree(Path("/var/run/dpdk") / prefix, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def events(self, node: int) -> list[dict]:
        path = self.tmp / f"{node}.events"
        if not path.exists():
            return []
        text = path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for(self, at: int, timeout: float, since: int = 0, /, **fields) -> dict:
        """The first event of node `at` from index `since` on with these fields."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(at)[since:]:
                if all(event.get(key) == value for key, value in fields.items()):
                    return event
            if self.processes[at].poll() is not None:
                break
            time.sleep(0.02)
        stderr = (self.tmp / f"{at}.stderr").read_text(errors="replace")
        self.fail(f"node {at}: no event {fields} within {timeout} s; events "
                  f"{self.events(at)[since:]}\nstderr:\n{stderr[-2000:]}")

    def polling_threads(self, node: int) -> list[str]:
        """The CPU lists (Cpus_allowed_list) of node's DPDK polling threads."""
        cpus = []
        for task in Path(f"/proc/{self.processes[node].pid}/task").iterdir():
            if (task / "comm").read_text().strip() == "hb-dpdk-lcore":
                status = (task / "status").read_text().splitlines()
                cpus += [line.split()[1] for line in status
                         if line.startswith("Cpus_allowed_list:")]
        return cpus

    def test_two_processes_heartbeat_over_memif(self) -> None:
        self.launch({1: "", 2: ""})
        self.assertEqual(self.polling_threads(1), [], "inline: no polling thread")
        self.wait_for(1, 15, event="NODE_UP", node=2)
        self.wait_for(2, 15, event="NODE_UP", node=1)
        since = len(self.events(1))
        self.processes[2].kill()
        self.processes[2].wait()
        down = self.wait_for(1, 5, since, event="ADAPTER_DOWN")
        self.assertIn("link", down["evidence"], down)
        self.assertEqual(down["adapter"], "memif1", down)
        # The client comes back: the link returns, and its beats, with a new incarnation (it was
        # never judged down: silence behind a down adapter says nothing of the peer).
        since = len(self.events(1))
        shutil.rmtree(Path("/var/run/dpdk") / self.prefixes[2], ignore_errors=True)
        self.start(2)
        self.wait_for(1, 15, since, event="ADAPTER_UP")
        self.wait_for(1, 15, since, event="NODE_RESTARTED", node=2)
        # Graceful stops: each hbd stops its EAL and removes its runtime directory.
        for node in (2, 1):
            self.processes[node].send_signal(signal.SIGTERM)
            self.assertEqual(self.processes[node].wait(timeout=10), 0)
            self.assertFalse((Path("/var/run/dpdk") / self.prefixes[node]).exists())
        self.assertFalse(self.server_listens(), "the server's socket is closed")

    def test_lcore_mode_heartbeats_and_stops_cleanly(self) -> None:
        """Both ends with a polling thread per port ([dpdk] mode = "lcore"), the client's pinned."""
        self.launch({1: 'mode = "lcore"', 2: 'mode = "lcore"\nlcore_cpu = 1'})
        self.wait_for(1, 15, event="NODE_UP", node=2)
        self.wait_for(2, 15, event="NODE_UP", node=1)
        self.assertEqual(len(self.polling_threads(1)), 1)
        self.assertEqual(self.polling_threads(2), ["1"], "pinned to lcore_cpu")
        since = len(self.events(1))
        self.processes[2].kill()
        self.processes[2].wait()
        down = self.wait_for(1, 5, since, event="ADAPTER_DOWN")
        self.assertIn("link", down["evidence"], down)
        self.processes[1].send_signal(signal.SIGTERM)
        self.assertEqual(self.processes[1].wait(timeout=10), 0)
        self.assertFalse((Path("/var/run/dpdk") / self.prefixes[1]).exists())


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: not root (the DPDK EAL needs it, even with --no-huge)")
        sys.exit(SKIP_EXIT_CODE)
    if not hbd_path().is_file():
        print(f"SKIP: hbd not found at {hbd_path()} (build it, or set HBD)")
        sys.exit(SKIP_EXIT_CODE)
    unittest.main(verbosity=2)
