"""The lab itself (tools/lib/hbnet.py), without hbd: the fault injections the other netns tests
rely on must do what they claim, and cleanup must leave nothing behind.

UDP probes stand in for hb beats: a receiver bound in one namespace, a sender in another.
"""

from __future__ import annotations

import subprocess
import sys
import unittest
from pathlib import Path

import netns_support
from netns_support import hbnet

PORT = hbnet.HBD_PORT
# How long a receiver listens before concluding that nothing gets through.
SILENCE_S = 0.5
# How long a receiver that should hear something may wait: the first unicast beat after a link
# came back can sit in an ARP queue until the next retransmission (1 s by default).
HEAR_S = 5.0

_RECEIVER = r"""
import socket, sys
bind_address, group, local, timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((bind_address, int(sys.argv[5])))
if group != "-":
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton(local))
print("ready", flush=True)
sock.settimeout(timeout_s)
try:
    print(sock.recvfrom(64)[1][0], flush=True)
except TimeoutError:
    print("silence", flush=True)
"""

_SENDER = r"""
import socket, sys, time
destination, local, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((local, 0))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
while True:
    try:
        sock.sendto(b"beat", (destination, port))
    except OSError:  # e.g. EHOSTUNREACH while a failed ARP entry ages: keep beating
        pass
    time.sleep(0.01)
"""


class LabPlumbing(unittest.TestCase):
    """Three hosts on one switch: 198.18.1.1-3 on eth1."""

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.switch = self.lab.switch("sw1")
        self.hosts = {}
        for number, name in enumerate(("alpha", "beta", "gamma"), start=1):
            self.hosts[name] = self.lab.host(name)
            self.lab.connect(self.hosts[name], self.switch, "eth1", f"198.18.1.{number}/24")

    def address(self, name: str) -> str:
        return str(self.hosts[name].addresses["eth1"].ip)

    def heard(self, sender: str, destination: str, receivers: list[str],
              listen_s: float = HEAR_S) -> dict[str, str]:
        """Sends beats from sender to destination; returns, per receiver, the source it heard
        first or 'silence' after listen_s. A group destination makes every receiver join it."""
        group = destination if destination.startswith("228.") else "-"
        listening = {}
        for name in receivers:
            bind_address = destination if group != "-" else self.address(name)
            process = self.lab.spawn(self.hosts[name],
                                     [sys.executable, "-c", _RECEIVER, bind_address, group,
                                      self.address(name), str(listen_s), str(PORT)],
                                     stdout=subprocess.PIPE, text=True)
            self.assertEqual(process.stdout.readline().strip(), "ready")
            listening[name] = process
        sending = self.lab.spawn(self.hosts[sender], [sys.executable, "-c", _SENDER, destination,
                                                      self.address(sender), str(PORT)])
        try:
            return {name: process.communicate(timeout=10)[0].strip()
                    for name, process in listening.items()}
        finally:
            sending.kill()
            sending.wait()

    def test_unicast_crosses_the_switch(self) -> None:
        self.assertEqual(self.heard("alpha", self.address("beta"), ["beta"]),
                         {"beta": self.address("alpha")})

    def test_multicast_floods_to_every_port(self) -> None:
        self.assertEqual(self.heard("alpha", "228.18.1.1", ["beta", "gamma"]),
                         {"beta": self.address("alpha"), "gamma": self.address("alpha")})

    def test_blackhole_drops_everything_and_is_undone(self) -> None:
        self.switch.blackhole()
        self.assertEqual(self.heard("alpha", "228.18.1.1", ["beta", "gamma"], SILENCE_S),
                         {"beta": "silence", "gamma": "silence"})
        self.assertEqual(self.heard("alpha", self.address("beta"), ["beta"], SILENCE_S),
                         {"beta": "silence"})
        for port in self.switch.ports:
            self.assertEqual(self.switch.link_state(port)["operstate"], "UP",
                             f"{port}: a blackhole must keep carriers up")
        self.switch.unblackhole()
        self.assertEqual(self.heard("alpha", "228.18.1.1", ["beta", "gamma"]),
                         {"beta": self.address("alpha"), "gamma": self.address("alpha")})

    def test_blackhole_of_one_port_cuts_only_that_host(self) -> None:
        self.switch.blackhole([self.switch.port_for(self.hosts["gamma"], "eth1")])
        self.assertEqual(self.heard("alpha", "228.18.1.1", ["beta", "gamma"], SILENCE_S),
                         {"beta": self.address("alpha"), "gamma": "silence"})

    def test_link_down_cuts_the_adapter_and_link_up_restores_it(self) -> None:
        self.hosts["beta"].link_down("eth1")
        self.assertEqual(self.hosts["beta"].link_state("eth1")["operstate"], "DOWN")
        self.assertEqual(self.heard("alpha", self.address("beta"), ["beta"], SILENCE_S),
                         {"beta": "silence"})
        self.hosts["beta"].link_up("eth1")
        self.assertEqual(self.heard("alpha", self.address("beta"), ["beta"]),
                         {"beta": self.address("alpha")})

    def test_only_benchmark_addresses_and_short_names(self) -> None:
        host = self.lab.host("delta")
        for address in ("10.0.0.1/24", "192.168.1.1/24", "198.20.0.1/24", "198.18.1.4"):
            with self.subTest(address=address):
                with self.assertRaises(ValueError):
                    self.lab.connect(host, self.switch, "eth1", address)
        with self.assertRaises(ValueError):
            self.lab.connect(host, self.switch, "a-very-long-ifname", "198.18.1.4/24")


class LabCleanup(unittest.TestCase):

    def test_close_removes_namespaces_processes_and_temp_dir(self) -> None:
        lab = hbnet.Lab()
        try:
            host = lab.host("alpha")
            lab.connect(host, lab.switch("sw1"), "eth1", "198.18.1.1/24")
            sleeper = lab.spawn(host, ["sleep", "600"])
        finally:
            lab.close()
        self.assertIsNotNone(sleeper.poll(), "a lab process survived close()")
        listed = hbnet.run(["ip", "netns", "list"]).stdout.decode()
        self.assertNotIn(lab.prefix, listed)
        self.assertFalse(Path(lab.tmp).exists())

    def test_parallel_labs_do_not_clash(self) -> None:
        with hbnet.Lab() as first, hbnet.Lab() as second:
            self.assertNotEqual(first.prefix, second.prefix)
            for lab in (first, second):
                lab.connect(lab.host("alpha"), lab.switch("sw1"), "eth1", "198.18.1.1/24")


if __name__ == "__main__":
    netns_support.main(needs_hbd=False)
