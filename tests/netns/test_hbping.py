"""hbping (tools/hbping) between network namespaces: multicast with two receivers, unicast, an
absent receiver, TTL across a routed hop, a wrong key, JSON output, impaired replies and every
bad argument. Real hbping processes, real sockets; only 198.18.0.0/15 addresses, only namespaces
the lab creates (and always deletes).

The hbping under test is $HBPING, else build/tools/hbping of this checkout. No timing assertion
here is tighter than seconds: this VM can pause a vCPU for tens of milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

import netns_support
from netns_support import hbnet

RUN_TIMEOUT_S = 60
READY_TIMEOUT_S = 10


DPDK_PORT = "net_af_packet0,iface=eth1"


def hbping_has_dpdk() -> bool:
    """Whether this hbping was built with the DPDK transport (its refusal says so otherwise)."""
    result = subprocess.run([str(hbnet.hbping_path()), "-s", "--transport", "dpdk"],
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return "this build has no DPDK transport" not in result.stderr


class HbpingTestCase(unittest.TestCase):
    """A lab per test; helpers to run receivers in the background and senders to completion."""

    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self._logs = 0

    def one_switch(self, *names: str) -> dict[str, hbnet.Host]:
        """Hosts on one switch, eth1 = 198.18.1.<position>/24."""
        switch = self.lab.switch("sw1")
        hosts = {}
        for number, name in enumerate(names, start=1):
            hosts[name] = self.lab.host(name)
            self.lab.connect(hosts[name], switch, "eth1", f"198.18.1.{number}/24")
        return hosts

    def hbping(self, host: hbnet.Host, *args: str) -> subprocess.CompletedProcess:
        """Runs hbping to completion in host; stdout and stderr as text."""
        result = host.run([str(hbnet.hbping_path()), *args], timeout=RUN_TIMEOUT_S)
        return subprocess.CompletedProcess(result.args, result.returncode,
                                           result.stdout.decode(errors="replace"),
                                           result.stderr.decode(errors="replace"))

    def start_receiver(self, host: hbnet.Host, *args: str) -> tuple[subprocess.Popen, Path]:
        """Starts `hbping -r ARGS` and returns once it listens (its banner is out)."""
        self._logs += 1
        log = self.lab.tmp / f"receiver{self._logs}.log"
        with open(log, "wb") as output:
            process = self.lab.spawn(host, [str(hbnet.hbping_path()), "-r", *args],
                                     stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "istening on" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                self.fail(f"hbping -r {' '.join(args)} exited {process.returncode}:\n"
                          + log.read_text(errors="replace"))
            if time.monotonic() > deadline:
                self.fail(f"hbping -r {' '.join(args)} did not start listening")
            time.sleep(0.02)
        return process, log

    def stop_receiver(self, receiver: tuple[subprocess.Popen, Path]) -> tuple[int, str]:
        """SIGTERM, then its exit status and whole output."""
        process, log = receiver
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=10), log.read_text(errors="replace")

    def assert_exit(self, result: subprocess.CompletedProcess, status: int) -> None:
        self.assertEqual(result.returncode, status,
                         f"{' '.join(result.args)}\nstdout:\n{result.stdout}\n"
                         f"stderr:\n{result.stderr}")

    def assert_five_answered_by_peer(self, result: subprocess.CompletedProcess,
                                     size: int) -> None:
        """A sender's `-c 5` run that 198.18.1.2 answered in full, with its replies' TTL 64."""
        self.assert_exit(result, 0)
        self.assertIn("from 198.18.1.2: 5 packets transmitted, 5 packets received, "
                      "0.0% packet loss", result.stdout)
        self.assertRegex(result.stdout, rf"{size} bytes from 198\.18\.1\.2: seqno=5 ttl=64 ")


class Multicast(HbpingTestCase):

    def test_one_sender_two_receivers_reported_separately(self) -> None:
        hosts = self.one_switch("sender", "rx1", "rx2")
        receivers = [self.start_receiver(hosts[name], "-I", "eth1") for name in ("rx1", "rx2")]
        result = self.hbping(hosts["sender"], "-s", "-I", "eth1", "-c", "5", "-i", "0.1")
        self.assert_exit(result, 0)
        self.assertIn("hbping version", result.stdout)
        self.assertIn("mpinging 227.1.1.1/4098 from 198.18.1.1 (eth1) with ttl=1", result.stdout)
        self.assertIn("--- 227.1.1.1 statistics ---", result.stdout)
        for address in ("198.18.1.2", "198.18.1.3"):
            self.assertIn(f"from {address}: 5 packets transmitted, 5 packets received, "
                          "0.0% packet loss, 0 duplicates, 0 reordered", result.stdout)
            for seq in range(1, 6):
                self.assertRegex(result.stdout, rf"112 bytes from {re.escape(address)}: "
                                 rf"seqno={seq} ttl=64 time=\d+\.\d{{3}} ms")
        self.assertEqual(result.stdout.count("round-trip p50/p99/p99.9 = "), 2)
        self.assertNotIn("NA", result.stdout)
        for receiver in receivers:
            status, output = self.stop_receiver(receiver)
            self.assertEqual(status, 0, output)
            self.assertIn("Listening on 227.1.1.1/4098 and 198.18.1.", output)
            for seq in range(1, 6):
                self.assertIn(f"Replying to mping from 198.18.1.1 bytes=112 seqno={seq} ttl=1\n",
                              output)
            self.assertIn("5 mpings answered, 0 with a bad MAC", output)

    def test_caa_group_and_receiver_count(self) -> None:
        """--caa-group=ADDR gives 228 + ADDR's low 24 bits on every node; -r -c exits by itself."""
        hosts = self.one_switch("sender", "rx1")
        receiver = self.start_receiver(hosts["rx1"], "-I", "eth1", "--caa-group=198.18.1.1",
                                       "-c", "3")
        result = self.hbping(hosts["sender"], "-s", "-I", "eth1", "--caa-group", "-c", "3",
                             "-i", "0.1")
        self.assert_exit(result, 0)
        self.assertIn("mpinging 228.18.1.1/4098", result.stdout)
        process, log = receiver
        self.assertEqual(process.wait(timeout=10), 0, log.read_text())
        self.assertIn("Listening on 228.18.1.1/4098 and 198.18.1.2/4098 (eth1)",
                      log.read_text())


class Unicast(HbpingTestCase):

    def test_unicast_peer(self) -> None:
        hosts = self.one_switch("sender", "peer")
        receiver = self.start_receiver(hosts["peer"], "-a", "198.18.1.2")
        # No -I: the sender takes the interface of its route toward the peer, as mping does.
        result = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "-c", "5", "-i", "0.05",
                             "--size", "1400")
        self.assert_five_answered_by_peer(result, 1400)
        status, output = self.stop_receiver(receiver)
        self.assertEqual(status, 0, output)
        self.assertIn("Replying to mping from 198.18.1.1 bytes=1400 seqno=5 ttl=1", output)

    def test_absent_receiver(self) -> None:
        hosts = self.one_switch("sender", "idle")
        for target in (["-a", "198.18.1.2"], ["-I", "eth1"]):  # a silent peer; an empty group
            with self.subTest(target=target):
                result = self.hbping(hosts["sender"], "-s", *target, "-c", "3", "-i", "0.1")
                self.assert_exit(result, 1)
                self.assertIn("3 packets transmitted, 0 packets received, 100.0% packet loss",
                              result.stdout)
                self.assertIn("round-trip min/avg/max/mdev = NA/NA/NA/NA ms", result.stdout)
                self.assertIn("round-trip p50/p99/p99.9 = NA/NA/NA ms", result.stdout)
                self.assertIn("check failed: no reply", result.stdout)

    def test_deadline_without_count(self) -> None:
        """Without -c only silence fails (--max-loss defaults to 100); -w ends the run."""
        hosts = self.one_switch("sender", "peer")
        self.start_receiver(hosts["peer"], "-a", "198.18.1.2")
        started = time.monotonic()
        result = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "-i", "0.1", "-w", "1")
        self.assert_exit(result, 0)
        self.assertLess(time.monotonic() - started, 20)
        self.assertRegex(result.stdout, r"from 198\.18\.1\.2: \d+ packets transmitted")


class RoutedHop(HbpingTestCase):
    """sender 198.18.1.1 - sw1 - router (ip_forward=1) - sw2 - peer 198.18.2.2.

    Unicast across the router: routing multicast would need a multicast routing daemon in the
    router namespace, and the TTL rule is the same for both. TTL 1 expires at the router, TTL 2
    reaches the peer with TTL 1 left. The peer replies with its default TTL 64, so only the
    pings' TTL decides.
    """

    def test_ttl_is_respected(self) -> None:
        sw1, sw2 = self.lab.switch("sw1"), self.lab.switch("sw2")
        sender, router, peer = (self.lab.host(name) for name in ("sender", "router", "peer"))
        self.lab.connect(sender, sw1, "eth1", "198.18.1.1/24")
        self.lab.connect(router, sw1, "eth1", "198.18.1.254/24")
        self.lab.connect(router, sw2, "eth2", "198.18.2.254/24")
        self.lab.connect(peer, sw2, "eth1", "198.18.2.2/24")
        router.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        sender.ip("route", "add", "198.18.2.0/24", "via", "198.18.1.254")
        peer.ip("route", "add", "198.18.1.0/24", "via", "198.18.2.254")
        receiver = self.start_receiver(peer, "-a", "198.18.2.2")

        one_hop = self.hbping(sender, "-s", "-a", "198.18.2.2", "-t", "1", "-c", "3", "-i", "0.1")
        self.assert_exit(one_hop, 1)
        self.assertIn("0 packets received", one_hop.stdout)
        two_hops = self.hbping(sender, "-s", "-a", "198.18.2.2", "-t", "2", "-c", "3",
                               "-i", "0.1")
        self.assert_exit(two_hops, 0)
        self.assertIn("3 packets received, 0.0% packet loss", two_hops.stdout)
        self.assertIn("with ttl=2", two_hops.stdout)
        # The replies crossed the router too: 64 - 1.
        self.assertRegex(two_hops.stdout, r"from 198\.18\.2\.2: seqno=1 ttl=63 ")

        status, output = self.stop_receiver(receiver)
        self.assertEqual(status, 0, output)
        self.assertEqual(output.count("Replying to mping"), 3, output)  # none of the TTL-1 pings
        self.assertIn("Replying to mping from 198.18.1.1 bytes=112 seqno=1 ttl=1", output)


class Keys(HbpingTestCase):

    def key(self, name: str) -> str:
        path = self.lab.tmp / name
        path.write_bytes(os.urandom(32))
        path.chmod(0o600)
        return str(path)

    def test_same_key_passes_and_wrong_key_is_reported(self) -> None:
        hosts = self.one_switch("sender", "peer")
        good, other = self.key("good.key"), self.key("other.key")
        receiver = self.start_receiver(hosts["peer"], "-a", "198.18.1.2", "--key-file", good)

        same = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "--key-file", good,
                           "-c", "3", "-i", "0.1")
        self.assert_exit(same, 0)
        self.assertIn(", authenticated:", same.stdout)

        wrong = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "--key-file", other,
                            "-c", "3", "-i", "0.1")
        self.assert_exit(wrong, 1)
        self.assertIn("replies with a bad MAC from 198.18.1.2: 3", wrong.stdout)
        self.assertIn("0 packets received", wrong.stdout)

        none = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "-c", "2", "-i", "0.1")
        self.assert_exit(none, 1)
        self.assertIn("replies with a bad MAC from 198.18.1.2: 2 (its cluster key differs; "
                      "give --key-file)", none.stdout)

        status, output = self.stop_receiver(receiver)
        self.assertEqual(status, 1, output)  # it saw pings with a bad MAC
        self.assertIn("3 mpings answered, 5 with a bad MAC", output)
        self.assertIn("Bad MAC on mping from 198.18.1.1 bytes=112 seqno=1: its cluster key "
                      "differs from --key-file", output)
        self.assertEqual(output.count("Bad MAC on mping"), 5, output)


class Json(HbpingTestCase):

    def test_document_per_responder(self) -> None:
        hosts = self.one_switch("sender", "rx1", "rx2")
        for name in ("rx1", "rx2"):
            self.start_receiver(hosts[name], "-I", "eth1")
        result = self.hbping(hosts["sender"], "-s", "-I", "eth1", "-c", "4", "-i", "0.1",
                             "--json")
        self.assert_exit(result, 0)
        document = json.loads(result.stdout)  # stdout holds the document alone
        self.assertEqual(document["role"], "sender")
        self.assertEqual(document["target"], "227.1.1.1")
        self.assertTrue(document["multicast"])
        self.assertEqual((document["transmitted"], document["ttl"], document["size"]),
                         (4, 1, 112))
        self.assertEqual(document["exit_status"], 0)
        self.assertEqual(document["bad_mac"], [])
        by_address = {entry["address"]: entry for entry in document["responders"]}
        self.assertEqual(set(by_address), {"198.18.1.2", "198.18.1.3"})
        for entry in by_address.values():
            self.assertEqual((entry["received"], entry["loss_percent"], entry["duplicates"],
                              entry["reordered"]), (4, 0, 0, 0))
            rtt = entry["rtt_ms"]
            self.assertLessEqual(rtt["min"], rtt["p50"])
            self.assertLessEqual(rtt["p50"], rtt["p99"])
            self.assertLessEqual(rtt["p99"], rtt["p99_9"])
            self.assertLessEqual(rtt["p99_9"], rtt["max"])
            self.assertGreater(rtt["min"], 0)
            self.assertLessEqual(rtt["min"], rtt["avg"])
            self.assertLessEqual(rtt["avg"], rtt["max"])
            self.assertGreaterEqual(rtt["mdev"], 0)

    def test_document_when_nothing_comes_back(self) -> None:
        hosts = self.one_switch("sender", "idle")
        result = self.hbping(hosts["sender"], "-s", "-a", "198.18.1.2", "-c", "2", "-i", "0.1",
                             "--json")
        self.assert_exit(result, 1)
        document = json.loads(result.stdout)
        self.assertEqual(document["responders"], [])
        self.assertEqual(document["transmitted"], 2)
        self.assertEqual(document["worst_loss_percent"], 100)
        self.assertEqual(document["exit_status"], 1)
        self.assertEqual(document["reason"], "no reply")


class Impaired(HbpingTestCase):
    """The peer's replies pass through hb_impair (seeded), so the sender must count what the
    relay did to them."""

    def impaired_peer(self, *relay_args: str) -> None:
        if hbnet.impair_problem() is not None:
            self.skipTest(hbnet.impair_problem())
        switch = self.lab.switch("sw1")
        self.sender = self.lab.host("sender")
        self.lab.connect(self.sender, switch, "eth1", "198.18.1.1/24")
        peer = self.lab.host("peer")
        self.lab.connect_impaired(peer, switch, "eth1", "198.18.1.2/24", list(relay_args))
        self.start_receiver(peer, "-a", "198.18.1.2")

    def test_duplicated_replies(self) -> None:
        self.impaired_peer("--a2b-duplicate", "1")
        result = self.hbping(self.sender, "-s", "-a", "198.18.1.2", "-c", "5", "-i", "0.1")
        self.assert_exit(result, 0)
        # The sender stops once every ping is answered (as ping does), so the last reply's
        # duplicate may come after it stopped listening: 4 or 5, never fewer.
        self.assertRegex(result.stdout, r"5 packets received, 0\.0% packet loss, [45] duplicates")
        self.assertIn(result.stdout.count("(DUP!)"), (4, 5))

    def test_lost_and_reordered_replies(self) -> None:
        self.impaired_peer("--a2b-loss", "0.2", "--a2b-reorder", "0.3",
                           "--a2b-reorder-extra-ms", "60", "--seed", "7")
        args = ["-s", "-a", "198.18.1.2", "-c", "60", "-i", "0.01", "--json"]
        strict = json.loads(self.hbping(self.sender, *args).stdout)
        self.assertEqual(strict["exit_status"], 1, strict)  # -c: any loss fails
        (peer,) = strict["responders"]
        self.assertLess(peer["received"], 60)
        self.assertGreater(peer["loss_percent"], 0)
        self.assertGreater(peer["reordered"], 0)
        lenient = self.hbping(self.sender, *args, "--max-loss", "90")
        self.assert_exit(lenient, 0)


class BadArguments(HbpingTestCase):
    """Every bad value exits 2 and the message names it."""

    CASES = [
        (["-s", "-c", "x"], 'hbping: -c: expected a positive integer, got "x"'),
        (["-s", "-c", "0"], '-c: expected a positive integer, got "0"'),
        (["-s", "-c", "-3"], '-c: expected a positive integer, got "-3"'),
        (["-s", "-p", "65536"], '-p: expected a port number 1..65535, got "65536"'),
        (["-s", "-t", "0"], '-t: expected a TTL 1..255, got "0"'),
        (["-s", "-i", "0.0001"], '-i: expected seconds from 0.001 to 86400, got "0.0001"'),
        (["-s", "-i", "nan"], '-i: expected seconds from 0.001 to 86400, got "nan"'),
        (["-s", "-w", "-1"], '-w: expected seconds above 0, at most 86400, got "-1"'),
        (["-s", "--size", "111"], '--size: expected a datagram size of 112..65507 bytes, '
                                  'got "111"'),
        (["-s", "--size", "65508"], '--size: expected a datagram size of 112..65507 bytes, '
                                    'got "65508"'),
        (["-s", "-a", "198.18.1.256"], '-a: expected an IPv4 group or unicast address, '
                                       'got "198.18.1.256"'),
        (["-s", "--max-loss", "150"], '--max-loss: expected a percentage from 0 to 100, '
                                      'got "150"'),
        (["-s", "--port", "net_af_packet0,iface=eth1"], "--port applies to --transport dpdk"),
        (["-s", "--transport", "raw"], '--transport: expected udp or dpdk, got "raw"'),
        (["-s", "--caa-group=300.1.1.1"], '--caa-group: expected a node\'s unicast IPv4 '
                                          'address, got "300.1.1.1"'),
        (["-s", "-a", "227.1.1.1", "--caa-group"], "-a and --caa-group exclude each other"),
        (["-s", "--cluster-id", "x"], '--cluster-id: expected an integer'),
        (["-s", "-I", "eth1/x"], '-I: expected an interface name of 1 to 15 characters, '
                                 'got "eth1/x"'),
        (["-s", "-I", "nosuch0"], '-I: no interface "nosuch0" here'),
        (["-s"], "no route toward 227.1.1.1"),  # no -I and no default route in the namespace
        (["-s", "--key-file", "/nonexistent/key"], '--key-file "/nonexistent/key": cannot be '
                                                   'read'),
        (["-r", "-a", "198.18.1.9", "-I", "eth1"], "-a 198.18.1.9: not the address of eth1"),
        (["-r", "--max-loss", "5"], "--max-loss applies to the sender (-s)"),
        (["-r", "-s"], "-r and -s exclude each other"),
        ([], "give -r (answer pings) or -s (send pings)"),
        (["-s", "--no-such-option"], "--no-such-option"),
        (["-s", "stray"], "stray"),
        (["-s", "-c"], "-c"),
    ]

    def test_every_bad_argument_exits_2(self) -> None:
        hosts = self.one_switch("alone")
        short_key = self.lab.tmp / "short.key"
        short_key.write_bytes(b"0123456789")
        short_key.chmod(0o600)
        open_key = hbnet.write_key(self.lab.tmp / "open.key")
        open_key.chmod(0o644)
        cases = self.CASES + [(["-s", "--key-file", str(short_key), "-I", "eth1"],
                               "holds 10 bytes; a key file needs at least 16"),
                              (["-s", "--key-file", str(open_key), "-I", "eth1"],
                               f"has mode 0644; a key file must not be accessible to group or "
                               f"others (chmod 600 {open_key})")]
        # What --transport dpdk says about its own options depends on the build.
        no_dpdk = "--transport dpdk: this build has no DPDK transport"
        with_dpdk = hbping_has_dpdk()
        dpdk = ["-s", "--transport", "dpdk"]
        port = ["--port", DPDK_PORT]
        cases += [
            (dpdk + ["--source", "198.18.1.1"],
             "--transport dpdk needs --port DEVARGS" if with_dpdk else no_dpdk),
            (dpdk + port, "--transport dpdk needs --source ADDR" if with_dpdk else no_dpdk),
            (dpdk + ["--port", "4098", "--source", "198.18.1.1"],
             '--port: expected a DPDK port' if with_dpdk else no_dpdk),
            (dpdk + port + ["--source", "227.1.1.1"],
             '--source: expected the DPDK port\'s unicast IPv4 address, got "227.1.1.1"'
             if with_dpdk else no_dpdk),
            (dpdk + port + ["--source", "198.18.1.1", "--size", "1400"],
             "--size 1400: the DPDK path carries datagrams of at most 128 bytes"
             if with_dpdk else no_dpdk),
            (dpdk + port + ["--source", "198.18.1.1", "-I", "eth1"],
             "-I names a kernel interface" if with_dpdk else no_dpdk),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                result = self.hbping(hosts["alone"], *args)
                self.assert_exit(result, 2)
                self.assertIn(message, result.stderr)
                self.assertEqual(result.stdout, "")

    def test_port_in_use_exits_2(self) -> None:
        hosts = self.one_switch("alone")
        self.start_receiver(hosts["alone"], "-I", "eth1")
        result = self.hbping(hosts["alone"], "-r", "-I", "eth1", "-w", "1")
        self.assert_exit(result, 2)
        self.assertIn("Address already in use", result.stderr)

    def test_help_is_a_manual(self) -> None:
        result = subprocess.run([str(hbnet.hbping_path()), "--help"], capture_output=True, text=True,
                                timeout=RUN_TIMEOUT_S)
        self.assertEqual(result.returncode, 0)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
            self.assertRegex(result.stdout, rf"(?m)^{section}$")


class Dpdk(HbpingTestCase):
    """hbping --transport dpdk on net_af_packet over a veth against kernel-UDP hbping (and the
    reverse). The DPDK side's veth keeps no IPv4 address: the port owns it (docs/dpdk.md), so the
    kernel there neither answers ARP for it nor sends "port unreachable" for the replies."""

    def setUp(self) -> None:
        super().setUp()
        if not hbping_has_dpdk():
            self.skipTest("this hbping was built without the DPDK transport (libdpdk not found)")
        self.runtime_dirs = self.dpdk_runtime_dirs()
        self.addCleanup(self.remove_runtime_dirs)

    @staticmethod
    def dpdk_runtime_dirs() -> set[Path]:
        root = Path("/var/run/dpdk")
        return set(root.glob("hbping_*")) if root.is_dir() else set()

    def remove_runtime_dirs(self) -> None:
        """hbping removes its EAL runtime directory when it exits normally; a killed one cannot."""
        for path in self.dpdk_runtime_dirs() - self.runtime_dirs:
            shutil.rmtree(path, ignore_errors=True)

    def assert_no_runtime_dir_left(self) -> None:
        self.assertEqual(self.dpdk_runtime_dirs() - self.runtime_dirs, set())

    def dpdk_host(self, host: hbnet.Host) -> list[str]:
        """The DPDK port on host's eth1, whose address the port takes over."""
        address = host.ip("-4", "-o", "address", "show", "dev", "eth1").stdout.decode()
        source = re.search(r"inet (\S+)/", address).group(1)
        host.ip("address", "flush", "dev", "eth1")
        return ["--transport", "dpdk", "--port", DPDK_PORT, "--source", source]

    def skip_unless_eal_runs(self, result: subprocess.CompletedProcess) -> None:
        if result.returncode == 2 and "--eal-args: " in result.stderr:
            self.skipTest("the DPDK EAL cannot start here: " + result.stderr.strip())

    def dpdk_sender(self, target: str, receivers: int) -> None:
        hosts = self.one_switch("sender", *(f"rx{n}" for n in range(1, receivers + 1)))
        listen = ["-a", target] if receivers == 1 and target != "227.1.1.1" else ["-I", "eth1"]
        started = [self.start_receiver(hosts[f"rx{n}"], *listen, "-c", "5")
                   for n in range(1, receivers + 1)]
        result = self.hbping(hosts["sender"], "-s", *self.dpdk_host(hosts["sender"]),
                             "-a", target, "-c", "5", "-i", "0.05", "--json")
        self.skip_unless_eal_runs(result)
        self.assert_exit(result, 0)
        document = json.loads(result.stdout)  # nothing of the EAL's on stdout
        self.assertEqual((document["target"], document["interface"], document["source"],
                          document["transmitted"], document["size"], document["exit_status"]),
                         (target, DPDK_PORT, "198.18.1.1", 5, 112, 0), document)
        self.assertEqual(document["send_errors"], 0, document)
        by_address = {entry["address"]: entry for entry in document["responders"]}
        self.assertEqual(set(by_address), {f"198.18.1.{n}" for n in range(2, receivers + 2)})
        for entry in by_address.values():
            self.assertEqual((entry["received"], entry["loss_percent"], entry["duplicates"]),
                             (5, 0, 0), entry)
            self.assertGreater(entry["rtt_ms"]["min"], 0)
        for receiver in started:
            process, log = receiver
            self.assertEqual(process.wait(timeout=10), 0, log.read_text())
            output = log.read_text()
            for seq in range(1, 6):
                # The kernel saw the DPDK port's TTL (1, -t's default): real IPv4 headers.
                self.assertIn(f"Replying to mping from 198.18.1.1 bytes=112 seqno={seq} ttl=1\n",
                              output)
        self.assert_no_runtime_dir_left()

    def test_dpdk_sender_unicast_against_kernel_receiver(self) -> None:
        self.dpdk_sender("198.18.1.2", 1)

    def test_dpdk_sender_multicast_against_two_kernel_receivers(self) -> None:
        self.dpdk_sender("227.1.1.1", 2)

    def test_dpdk_receiver_against_kernel_sender(self) -> None:
        """Unicast and on a group (joined by IGMP and the group MAC); the DPDK side cannot tell
        the TTL a ping came with and says ttl=?."""
        hosts = self.one_switch("sender", "peer")
        dpdk = self.dpdk_host(hosts["peer"])
        for target in ("198.18.1.2", "227.1.1.1"):
            with self.subTest(target=target):
                receiver = self.start_receiver(hosts["peer"], *dpdk, "-a", target, "-v")
                result = self.hbping(hosts["sender"], "-s", "-I", "eth1", "-a", target,
                                     "-c", "5", "-i", "0.05")
                self.assert_five_answered_by_peer(result, 112)
                status, output = self.stop_receiver(receiver)
                self.assertEqual(status, 0, output)
                self.assertIn(f"(hb wire v1, DPDK port {DPDK_PORT})", output)
                for seq in range(1, 6):
                    self.assertIn(f"Replying to mping from 198.18.1.1 bytes=112 seqno={seq} "
                                  "ttl=?\n", output)
                self.assertIn("5 mpings answered", output)
        self.assert_no_runtime_dir_left()

    def test_wrong_port_exits_2(self) -> None:
        """A port the EAL cannot probe is a set-up error, like a missing interface: exit 2, the
        message naming the port."""
        hosts = self.one_switch("alone")
        result = self.hbping(hosts["alone"], "-s", "--transport", "dpdk", "--source",
                             "198.18.1.1", "--port", "net_af_packet0,iface=nosuch0", "-c", "1")
        self.skip_unless_eal_runs(result)
        self.assert_exit(result, 2)
        self.assertIn("--port net_af_packet0,iface=nosuch0: ", result.stderr)
        self.assert_no_runtime_dir_left()


if __name__ == "__main__":
    if hbnet.hbping_problem() is not None:
        print(f"SKIP: {hbnet.hbping_problem()}")
        sys.exit(netns_support.SKIP_EXIT_CODE)
    netns_support.main(needs_hbd=False)
