"""FRRouting's bfdd beside hb, on the same namespaces and addresses, for the benchmark harness.

One bfdd per namespace, each with its own configuration, pid file, control socket, vty socket
directory and log (`--vty_socket DIR`, `--bfdctl`, `-i`, `log file`), so several run on one
machine without sharing anything; vtysh reaches one of them with `--vty_socket DIR`. No zebra:
sessions are configured by peer and local address, without `interface` (bfdd learns interfaces
from zebra only). bfdd drops privileges to the `frr` user, so each one's directory belongs to it.
State changes go to the log with microsecond stamps (`log timestamp precision 6`, wall clock),
which benchstats.bfd_state_changes reads.

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import benchstats

BFDD = Path("/usr/lib/frr/bfdd")
FRR_USER = "frr"


def problem() -> str | None:
    """Why bfdd cannot run here (None when it can)."""
    if not BFDD.is_file():
        return f"{BFDD} not found (apt-get install frr)"
    if shutil.which("vtysh") is None:
        return "vtysh not found (apt-get install frr)"
    try:
        pwd.getpwnam(FRR_USER)
    except KeyError:
        return f"no user {FRR_USER!r} (installed with frr)"
    return None


def config_text(log_path: Path, local: str, peers: list[str], interval_ms: int,
                multiplier: int) -> str:
    """A bfdd configuration: one single-hop session per peer at hb's interval and multiplier."""
    lines = [f"log file {log_path}", "log timestamp precision 6", "debug bfd peer", "bfd"]
    for peer in peers:
        lines += [f" peer {peer} local-address {local}",
                  f"  receive-interval {interval_ms}",
                  f"  transmit-interval {interval_ms}",
                  f"  detect-multiplier {multiplier}",
                  " !"]
    lines.append("!")
    return "\n".join(lines) + "\n"


class Bfdd:
    """One bfdd in a lab namespace; start() again after kill() is a restart (same log)."""

    def __init__(self, lab, namespace, name: str, local: str, peers: list[str],
                 interval_ms: int, multiplier: int):
        self.lab = lab
        self.namespace = namespace
        self.local = local
        self.peers = peers
        self.directory = lab.tmp / f"bfdd-{name}"
        self.directory.mkdir()
        # The lab's temp dir is private (0700); bfdd, as frr, must reach its own directory in it.
        os.chmod(lab.tmp, 0o711)
        shutil.chown(self.directory, FRR_USER, FRR_USER)
        self.log_path = self.directory / "bfdd.log"
        self.config_path = self.directory / "bfdd.conf"
        self.config_path.write_text(config_text(self.log_path, local, peers, interval_ms,
                                                multiplier))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [str(BFDD), "-f", str(self.config_path), "-i", str(self.directory / "bfdd.pid"),
                "-z", str(self.directory / "zserv.api"), "--vty_socket", str(self.directory),
                "-A", "127.0.0.1", "-P", "0", "--bfdctl", str(self.directory / "bfdd.sock"),
                "-u", FRR_USER, "-g", FRR_USER]
        with open(self.directory / "stderr.log", "ab") as out:
            self.process = self.lab.spawn(self.namespace, argv, stdout=out,
                                          stderr=subprocess.STDOUT)

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def changes(self) -> list[dict]:
        try:
            return benchstats.bfd_state_changes(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return []

    def session_up(self, peer: str) -> bool:
        """The session's newest logged state is up."""
        state = None
        for change in self.changes():
            if change["peer"] == peer:
                state = change["new"]
        return state == "up"

    def vtysh(self, command: str) -> str:
        result = self.namespace.run(["vtysh", "--vty_socket", str(self.directory), "-c",
                                     command], timeout=10)
        return result.stdout.decode(errors="replace")


def wait_sessions_up(daemons: list[Bfdd], timeout: float) -> bool:
    """Waits until every daemon's every session is up; False on timeout (a result, not an
    error: the harness records sessions that never came up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(daemon.session_up(peer) for daemon in daemons for peer in daemon.peers):
            return True
        time.sleep(0.02)
    return False
