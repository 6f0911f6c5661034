#!/usr/bin/env python3
"""Tests of hb_impair, the userspace impairment relay (DESIGN §10), on veths in namespaces.

Usage: python3 tests/support/impair_relay_test.py HB_IMPAIR_BINARY [unittest arguments]
Exits 77 with the reason when the machine cannot run it (not root, no `ip netns`).

Topology, all in namespaces named hbr<pid>-*, always removed:
    X (x0 198.18.9.1/24) <-veth-> R (rx | hb_impair | ry) <-veth-> Y (y0 198.18.9.2/24)
The relay is a bump in the wire: X and Y share one subnet and ARP through it. tx checksum
offload stays on (the veth default), so every UDP datagram crosses the relay with an unfinished
checksum and arrives only if the relay fills it in.

Python 3.11 standard library only. Sockets are opened inside X and Y by switching this thread's
network namespace for the socket() call (setns), so the test drives both ends itself.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

SKIP = 77
PREFIX = f"hbr{os.getpid()}-"
NS_X, NS_RELAY, NS_Y = PREFIX + "x", PREFIX + "r", PREFIX + "y"
X_ADDRESS, Y_ADDRESS = "198.18.9.1", "198.18.9.2"  # RFC 2544 range only (DESIGN §10)
PORT = 4099
CLONE_NEWNET = 0x40000000
SO_RCVBUFFORCE = 33
HEADER = struct.Struct("!I")  # payload: a sequence number, then padding
PAYLOAD_BYTES = 64
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
ETHERTYPE_EXPERIMENTAL = 0x88B5  # IEEE 802 local experimental: no stack on the way reacts to it
VLAN_ID = 7
VLAN_MARKER = b"hb-impair-vlan"

_libc = ctypes.CDLL(None, use_errno=True)
_namespaces: list[str] = []
_relays: list[subprocess.Popen] = []
_tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
BINARY = ""


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result


def problem() -> str | None:
    """Why this machine cannot run the test (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, AF_PACKET)"
    if shutil.which("ip") is None:
        return "'ip' (iproute2) not found"
    probe = PREFIX + "probe"
    try:
        run(["ip", "netns", "add", probe])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        return f"'ip netns add' does not work here: {error}"
    try:
        run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return f"veth pairs do not work here: {error}"
    finally:
        run(["ip", "netns", "del", probe], check=False)
    return None


def cleanup() -> None:
    """Kills relays, deletes namespaces and the temp dir; safe to call more than once."""
    for relay in _relays:
        if relay.poll() is None:
            relay.kill()
        relay.wait(timeout=10)
    _relays.clear()
    for name in reversed(_namespaces):
        run(["ip", "netns", "del", name], check=False)
    _namespaces.clear()
    shutil.rmtree(_tmp, ignore_errors=True)


def _interrupt(signum: int, _frame) -> None:
    # unittest records SystemExit as one test's error and carries on; KeyboardInterrupt unwinds.
    raise KeyboardInterrupt(f"signal {signum}")


def build_topology() -> None:
    for name in (NS_X, NS_RELAY, NS_Y):
        run(["ip", "netns", "add", name])
        _namespaces.append(name)
        # No IPv6: no DAD or router solicitations, so the links carry only the test's frames
        # and the relay's counters can be compared with what the test sent.
        run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
             "net.ipv6.conf.default.disable_ipv6=1"])
        run(["ip", "-n", name, "link", "set", "dev", "lo", "up"])
    run(["ip", "-n", NS_X, "link", "add", "x0", "type", "veth", "peer", "name", "rx",
         "netns", NS_RELAY])
    run(["ip", "-n", NS_Y, "link", "add", "y0", "type", "veth", "peer", "name", "ry",
         "netns", NS_RELAY])
    run(["ip", "-n", NS_X, "address", "add", f"{X_ADDRESS}/24", "dev", "x0"])
    run(["ip", "-n", NS_Y, "address", "add", f"{Y_ADDRESS}/24", "dev", "y0"])
    for namespace, ifname in ((NS_RELAY, "rx"), (NS_RELAY, "ry"), (NS_X, "x0"), (NS_Y, "y0")):
        run(["ip", "-n", namespace, "link", "set", "dev", ifname, "up"])
    deadline = time.monotonic() + 5
    while not all(operstate(namespace, ifname) == "UP"
                  for namespace, ifname in ((NS_X, "x0"), (NS_Y, "y0"))):
        if time.monotonic() > deadline:
            raise TimeoutError("x0 and y0 not UP within 5 s")
        time.sleep(0.01)


def link_json(namespace: str, ifname: str) -> dict:
    return json.loads(run(["ip", "-n", namespace, "-j", "link", "show", "dev", ifname]).stdout)[0]


def operstate(namespace: str, ifname: str) -> str:
    return link_json(namespace, ifname)["operstate"]


def mac_of(namespace: str, ifname: str) -> str:
    return link_json(namespace, ifname)["address"]


def socket_in(namespace: str, family: int, kind: int, protocol: int = 0) -> socket.socket:
    """A socket created inside namespace: a socket stays in the namespace it was made in."""
    with open("/proc/self/ns/net", "rb") as home, open(f"/run/netns/{namespace}", "rb") as there:
        if _libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
        try:
            return socket.socket(family, kind, protocol)
        finally:
            if _libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")


def udp_socket_in(namespace: str, address: str) -> socket.socket:
    """A UDP socket bound to address:PORT inside namespace, with a big receive buffer."""
    sock = socket_in(namespace, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    sock.bind((address, PORT))
    return sock


def packet_socket_in(namespace: str, ifname: str) -> socket.socket:
    """An AF_PACKET socket on ifname inside namespace, reporting each frame's auxdata."""
    sock = socket_in(namespace, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.bind((ifname, 0))
    return sock


def captured_vlan_ids(sock: socket.socket, quiet_s: float = 0.5) -> list[tuple[int, int]]:
    """(sequence, VLAN id) of each test frame captured until none came for quiet_s; VLAN id -1
    when the frame arrived untagged."""
    found = []
    sock.settimeout(quiet_s)
    while True:
        try:
            data, ancillary, _, address = sock.recvmsg(2048, socket.CMSG_SPACE(AUXDATA.size))
        except socket.timeout:
            return found
        if address[2] == socket.PACKET_OUTGOING or len(data) < 14 + len(VLAN_MARKER) + 4:
            continue
        vlan_id = -1
        for level, kind, value in ancillary:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, *_, tci, _tpid = AUXDATA.unpack_from(value)
                if status & TP_STATUS_VLAN_VALID:
                    vlan_id = tci & 0x0FFF
        if struct.unpack_from("!H", data, 12)[0] == 0x8100:
            vlan_id = struct.unpack_from("!H", data, 14)[0] & 0x0FFF  # tag left in place
            data = data[:12] + data[16:]
        payload = data[14:]
        if payload.startswith(VLAN_MARKER):
            found.append((HEADER.unpack_from(payload, len(VLAN_MARKER))[0], vlan_id))


def send_sequence(sock: socket.socket, destination: str, count: int, *,
                  gap_s: float = 0.0, burst: int = 50) -> None:
    """Sends datagrams numbered 0..count-1; paced by gap_s each, or a short pause per burst
    so that no socket buffer on the way overflows (only the relay may lose frames here)."""
    padding = bytes(PAYLOAD_BYTES - HEADER.size)
    for sequence in range(count):
        sock.sendto(HEADER.pack(sequence) + padding, (destination, PORT))
        if gap_s > 0:
            time.sleep(gap_s)
        elif sequence % burst == burst - 1:
            time.sleep(0.002)


def receive_sequence(sock: socket.socket, quiet_s: float = 0.5) -> list[int]:
    """Sequence numbers of the datagrams received until none came for quiet_s."""
    received = []
    sock.settimeout(quiet_s)
    while True:
        try:
            data = sock.recv(2048)
        except socket.timeout:
            return received
        received.append(HEADER.unpack_from(data)[0])


def inversions(sequence: list[int]) -> int:
    """Datagrams that arrived after one with a higher number: how much reordering happened."""
    highest, count = -1, 0
    for number in sequence:
        if number < highest:
            count += 1
        highest = max(highest, number)
    return count


class Relay:
    """One hb_impair run between rx and ry; stop() returns its final counters."""

    def __init__(self, *args: str):
        self.log_path = _tmp / f"relay{len(_relays)}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", NS_RELAY, BINARY, "rx", "ry", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        _relays.append(self.process)
        deadline = time.monotonic() + 5
        while "hb_impair: ready" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hb_impair {' '.join(args)} did not start "
                                   f"(exit {self.process.poll()}):\n{self.log()}")
            time.sleep(0.01)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> dict:
        self.process.send_signal(signum)
        stdout, _ = self.process.communicate(timeout=10)
        if self.process.returncode != 0:
            raise AssertionError(f"hb_impair exit {self.process.returncode}:\n{self.log()}")
        lines = stdout.decode().splitlines()
        if len(lines) != 1:
            raise AssertionError(f"hb_impair stdout is not one line: {lines!r}")
        return json.loads(lines[0])


class ImpairRelayTest(unittest.TestCase):
    x: socket.socket
    y: socket.socket

    @classmethod
    def setUpClass(cls) -> None:
        build_topology()
        cls.x = udp_socket_in(NS_X, X_ADDRESS)
        cls.y = udp_socket_in(NS_Y, Y_ADDRESS)
        cls.x_mac = mac_of(NS_X, "x0")
        cls.y_mac = mac_of(NS_Y, "y0")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.x.close()
        cls.y.close()

    def setUp(self) -> None:
        # Permanent neighbours: no ARP frames among the test's, so every impairment draw goes to
        # a datagram and the same seed gives the same outcome run after run.
        run(["ip", "-n", NS_X, "neigh", "replace", Y_ADDRESS, "lladdr", self.y_mac,
             "dev", "x0", "nud", "permanent"])
        run(["ip", "-n", NS_Y, "neigh", "replace", X_ADDRESS, "lladdr", self.x_mac,
             "dev", "y0", "nud", "permanent"])
        self.relay: Relay | None = None

    def tearDown(self) -> None:
        if self.relay is not None and self.relay.process.poll() is None:
            self.relay.process.kill()
            self.relay.process.wait(timeout=10)
        for sock in (self.x, self.y):  # nothing left over for the next test
            sock.settimeout(0)
            try:
                while True:
                    sock.recv(2048)
            except (BlockingIOError, socket.timeout):
                pass

    def start(self, *args: str) -> Relay:
        self.relay = Relay(*args)
        return self.relay

    def test_1_no_impairment_forwards_everything_and_arp(self):
        for namespace, ifname in ((NS_X, "x0"), (NS_Y, "y0")):
            run(["ip", "-n", namespace, "neigh", "flush", "dev", ifname, "nud", "all"])
        relay = self.start()
        # One datagram first: while ARP is unresolved X's kernel queues datagrams and sends the
        # queue out interleaved with new ones, an order change that is not the relay's.
        send_sequence(self.x, Y_ADDRESS, 1)
        self.assertEqual(receive_sequence(self.y), [0], "the first datagram, after ARP")
        send_sequence(self.x, Y_ADDRESS, 1000)
        received = receive_sequence(self.y)
        counters = relay.stop()
        self.assertEqual(received, list(range(1000)), "every datagram, in order")
        neighbours = json.loads(run(["ip", "-n", NS_X, "-j", "neigh", "show", Y_ADDRESS,
                                     "dev", "x0"]).stdout)
        self.assertEqual([entry.get("lladdr") for entry in neighbours], [self.y_mac],
                         "X resolved Y's MAC through the relay")
        # With offload on, the datagrams crossed with unfinished checksums: they arrived only
        # because the relay filled them in.
        self.assertGreaterEqual(counters["a2b"]["checksums_filled"], 1000, counters)
        self.assertGreaterEqual(counters["a2b"]["forwarded"], 1001, "datagrams + ARP request")
        self.assertGreaterEqual(counters["b2a"]["forwarded"], 1, "ARP reply")
        self.assertEqual(counters["a2b"]["dropped"], 0)

    def test_2_loss_rate_and_replay(self):
        counts = []
        for _ in range(2):
            relay = self.start("--loss", "0.2", "--seed", "1")
            send_sequence(self.x, Y_ADDRESS, 5000)
            received = receive_sequence(self.y)
            counters = relay.stop()
            self.assertEqual(counters["a2b"]["received"], 5000, counters)
            self.assertEqual(counters["a2b"]["kernel_drops"], 0, counters)
            self.assertEqual(len(received), counters["a2b"]["forwarded"], counters)
            self.assertEqual(len(set(received)), len(received), "no duplicates")
            counts.append(len(received))
        loss_rate = 1 - counts[0] / 5000
        self.assertGreaterEqual(loss_rate, 0.15, counts)
        self.assertLessEqual(loss_rate, 0.25, counts)
        self.assertEqual(counts[0], counts[1], "the same seed replays the same losses")
        print(f"\n  loss 0.2 seed 1: {counts} of 5000 arrived (loss {loss_rate:.4f})",
              file=sys.stderr)

    def test_3_delay_each_way(self):
        self.start("--delay-ms", "20")
        stop = threading.Event()

        def echo() -> None:
            self.y.settimeout(0.1)
            while not stop.is_set():
                try:
                    data, source = self.y.recvfrom(2048)
                except socket.timeout:
                    continue
                self.y.sendto(data, source)

        echo_thread = threading.Thread(target=echo, daemon=True)
        echo_thread.start()
        round_trips_ms = []
        self.x.settimeout(2)
        try:
            for sequence in range(20):
                started = time.monotonic()
                self.x.sendto(HEADER.pack(sequence) + bytes(60), (Y_ADDRESS, PORT))
                data = self.x.recv(2048)
                round_trips_ms.append((time.monotonic() - started) * 1000)
                self.assertEqual(HEADER.unpack_from(data)[0], sequence)
        finally:
            stop.set()
            echo_thread.join()
        self.assertGreaterEqual(min(round_trips_ms), 40, round_trips_ms)
        self.assertLess(statistics.median(round_trips_ms), 80, round_trips_ms)
        print(f"\n  delay 20 ms: round trip min {min(round_trips_ms):.1f} "
              f"median {statistics.median(round_trips_ms):.1f} "
              f"max {max(round_trips_ms):.1f} ms", file=sys.stderr)

    def test_4_jitter_reorders(self):
        relay = self.start("--delay-ms", "10", "--jitter-ms", "10", "--seed", "4")
        send_sequence(self.x, Y_ADDRESS, 300, gap_s=0.001)
        received = receive_sequence(self.y)
        counters = relay.stop()
        self.assertEqual(sorted(received), list(range(300)), "jitter loses nothing")
        self.assertGreater(inversions(received), 0, "jitter above the send gap reorders")
        self.assertEqual(counters["a2b"]["delayed"], 300, counters)
        print(f"\n  jitter 10 ms, 1 ms gap: {inversions(received)} of 300 overtaken",
              file=sys.stderr)

    def test_4b_reorder_option_holds_frames_back(self):
        relay = self.start("--reorder", "0.1", "--reorder-extra-ms", "5", "--seed", "4")
        send_sequence(self.x, Y_ADDRESS, 300, gap_s=0.001)
        received = receive_sequence(self.y)
        counters = relay.stop()
        self.assertEqual(sorted(received), list(range(300)), "reordering loses nothing")
        self.assertGreater(counters["a2b"]["reordered"], 10, counters)
        self.assertGreater(inversions(received), 0)
        self.assertLessEqual(inversions(received), counters["a2b"]["reordered"],
                             "only held-back frames arrive late")

    def test_5_duplicates(self):
        relay = self.start("--duplicate", "0.1", "--seed", "5")
        send_sequence(self.x, Y_ADDRESS, 2000)
        received = receive_sequence(self.y)
        counters = relay.stop()
        extra = len(received) - 2000
        self.assertEqual(set(received), set(range(2000)), "every datagram at least once")
        self.assertEqual(extra, counters["a2b"]["duplicated"], counters)
        self.assertGreaterEqual(extra, 100)
        self.assertLessEqual(extra, 300)

    def test_6_one_direction_only(self):
        relay = self.start("--a2b-loss", "1")
        send_sequence(self.x, Y_ADDRESS, 200)
        self.assertEqual(receive_sequence(self.y), [], "X->Y all lost")
        send_sequence(self.y, X_ADDRESS, 200)
        self.assertEqual(receive_sequence(self.x), list(range(200)), "Y->X all arrive")
        counters = relay.stop()
        self.assertEqual(counters["a2b"]["dropped"], 200, counters)
        self.assertEqual(counters["b2a"]["forwarded"], 200, counters)
        self.assertEqual(counters["b2a"]["dropped"], 0, counters)

    def test_7_sigterm_prints_counters_that_match(self):
        relay = self.start("--loss", "0.3", "--b2a-loss", "0", "--seed", "7",
                           "--stats-interval-s", "0.1")
        send_sequence(self.x, Y_ADDRESS, 500)
        received = receive_sequence(self.y)
        counters = relay.stop(signal.SIGTERM)
        self.assertIn("seed=7", relay.log())
        interval_lines = [json.loads(line) for line in relay.log().splitlines()
                          if line.startswith("{")]
        self.assertGreater(len(interval_lines), 0, "--stats-interval-s prints to stderr")
        self.assertEqual(interval_lines[-1]["a2b"]["received"], 500, interval_lines[-1])
        self.assertEqual(counters["seed"], 7)
        a2b, b2a = counters["a2b"], counters["b2a"]
        self.assertEqual(a2b["received"], 500, counters)
        self.assertEqual(a2b["forwarded"], len(received), counters)
        self.assertEqual(a2b["dropped"] + a2b["forwarded"], 500, counters)
        self.assertEqual(a2b["duplicated"], 0)
        self.assertEqual(b2a["received"], 0, counters)
        self.assertGreater(a2b["dropped"], 100, counters)

    def test_8_vlan_tagged_frames_keep_their_tag(self):
        # The receiving kernel moves an 802.1Q tag out of the frame into the packet auxdata
        # before the relay reads it; the relay must put it back or Y receives untagged frames.
        relay = self.start()
        sender = packet_socket_in(NS_X, "x0")
        capture = packet_socket_in(NS_Y, "y0")
        try:
            tag = struct.pack("!HH", 0x8100, VLAN_ID)
            for sequence in range(50):
                payload = VLAN_MARKER + HEADER.pack(sequence) + bytes(40)
                sender.send(bytes.fromhex(self.y_mac.replace(":", "")) +
                            bytes.fromhex(self.x_mac.replace(":", "")) + tag +
                            struct.pack("!H", ETHERTYPE_EXPERIMENTAL) + payload)
            tagged = captured_vlan_ids(capture)
        finally:
            sender.close()
            capture.close()
        counters = relay.stop()
        self.assertEqual(sorted(tagged), [(number, VLAN_ID) for number in range(50)], counters)
        self.assertGreaterEqual(counters["a2b"]["vlan_tags_restored"], 50, counters)

def main() -> int:
    global BINARY
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} HB_IMPAIR_BINARY [unittest arguments]", file=sys.stderr)
        return 2
    BINARY = str(Path(sys.argv[1]).resolve())
    if not os.access(BINARY, os.X_OK):
        print(f"hb_impair not found or not executable: {BINARY}", file=sys.stderr)
        return 2
    reason = problem()
    if reason is not None:
        print(f"SKIP: {reason}")
        shutil.rmtree(_tmp, ignore_errors=True)
        return SKIP
    atexit.register(cleanup)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        program = unittest.main(argv=[sys.argv[0], *sys.argv[2:]], exit=False, verbosity=2)
    finally:
        cleanup()
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
