"""hbdisk, the heartbeat disk's tool: init (and what it refuses to overwrite), dump, watch, the
dhb_read-style pair test between two processes on two loop devices of one file, hbd --check of a
[disk], and every usage error (exit 2).

No network is involved; it sits with the netns suite because it needs root (loop devices) and
the built tools, and it cleans up what it makes (Lab: loop devices, temp dir).
"""

from __future__ import annotations

import json
import subprocess
import unittest

import netns_support
from netns_support import hbnet

TIMEOUT_S = 30


def hbdisk(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([str(hbnet.hbdisk_path()), *args], capture_output=True, text=True,
                          timeout=timeout)


class Hbdisk(unittest.TestCase):
    def setUp(self) -> None:
        reason = hbnet.disk_problem()
        if reason is not None:
            self.skipTest(reason)
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.file = self.lab.tmp / "shared.disk"

    def assert_exit(self, result: subprocess.CompletedProcess, code: int, text: str = "") -> None:
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        self.assertIn(text, result.stdout + result.stderr)

    def init(self, *extra: str, path: str | None = None) -> subprocess.CompletedProcess:
        return hbdisk("init", path or str(self.file), "--cluster-id", "7", "--slots", "4",
                      *extra)

    def test_init_then_dump_shows_every_empty_slot(self) -> None:
        self.assert_exit(self.init("--interval-ms", "20", "--multiplier", "4"), 0,
                         "initialised for cluster 7: 4 slots of 512 bytes")
        result = hbdisk("dump", str(self.file), "--json")
        self.assert_exit(result, 0)
        dump = json.loads(result.stdout)
        self.assertEqual(dump["header"], {"path": str(self.file), "cluster_id": 7, "slots": 4,
                                          "sector_size": 512, "interval_ms": 20,
                                          "multiplier": 4, "authenticated": False})
        self.assertEqual([slot["status"] for slot in dump["slots"]], ["empty"] * 4)
        text = hbdisk("dump", str(self.file))
        self.assert_exit(text, 0, "cluster 7, 4 slots of 512 bytes, disk timing 20 ms x 4")

    def test_init_never_overwrites_without_force(self) -> None:
        self.assert_exit(self.init(), 0)
        other = hbdisk("init", str(self.file), "--cluster-id", "8", "--slots", "2")
        self.assert_exit(other, 1, "already holds the heartbeat header of another cluster "
                                   "(cluster 7, 4 slots)")
        same = self.init()
        self.assert_exit(same, 1, "of this cluster")
        self.assertEqual(json.loads(hbdisk("dump", str(self.file), "--json").stdout)
                         ["header"]["cluster_id"], 7, "the refused inits changed nothing")
        forced = hbdisk("init", str(self.file), "--cluster-id", "8", "--slots", "2", "--force")
        self.assert_exit(forced, 0, "initialised for cluster 8")
        # Something that is not a heartbeat disk at all is not overwritten either.
        foreign = self.lab.tmp / "foreign.img"
        foreign.write_bytes(b"a filesystem, perhaps" + bytes(8192))
        self.assert_exit(self.init(path=str(foreign)), 1, "is not empty")
        self.assertTrue(foreign.read_bytes().startswith(b"a filesystem"))

    def test_key_file_makes_an_authenticated_disk(self) -> None:
        key = str(hbnet.write_key(self.lab.tmp / "cluster.key"))
        self.assert_exit(self.init("--key-file", key), 0, "authenticated (slots carry a MAC)")
        self.assert_exit(hbdisk("dump", str(self.file)), 1, "is authenticated")
        self.assert_exit(hbdisk("dump", str(self.file)), 1, "give --key-file")
        dump = hbdisk("dump", str(self.file), "--json", "--key-file", key)
        self.assert_exit(dump, 0)
        self.assertTrue(json.loads(dump.stdout)["header"]["authenticated"])
        # Pair-test writes are signed with the key and checked by the other side.
        receiver = subprocess.Popen([str(hbnet.hbdisk_path()), "-p",
                                     self.lab.loop_device(self.file), "-r", "-w", "20",
                                     "--key-file", key],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(receiver.kill)
        sender = hbdisk("-p", self.lab.loop_device(self.file), "-t", "-c", "5", "-i", "20",
                        "--key-file", key)
        self.assert_exit(sender, 0, "Link operates normally: 5 writes, 5 echoed, 0 lost")
        out, _ = receiver.communicate(timeout=TIMEOUT_S)
        self.assertEqual(receiver.returncode, 0, out)
        # A key file others may read is refused, naming it and its mode.
        loose = self.lab.tmp / "loose.key"
        loose.write_bytes(bytes(range(32)))
        loose.chmod(0o644)
        self.assert_exit(hbdisk("dump", str(self.file), "--key-file", str(loose)), 2,
                         f'--key-file "{loose}" has mode 0644')
        # An unauthenticated disk is refused to a key holder: anyone could forge its slots.
        plain = self.lab.tmp / "plain.disk"
        self.assert_exit(self.init(path=str(plain)), 0, "unauthenticated")
        self.assert_exit(hbdisk("dump", str(plain), "--key-file", key), 1,
                         "was initialised without a key")

    def test_dump_of_what_is_not_a_heartbeat_disk_says_why(self) -> None:
        empty = self.lab.tmp / "empty.img"
        empty.write_bytes(bytes(4096))
        self.assert_exit(hbdisk("dump", str(empty)), 1, "not initialised: run hbdisk init")
        self.assert_exit(hbdisk("dump", str(self.lab.tmp / "absent.img")), 1, "absent.img")

    def test_pair_test_between_two_devices_of_one_disk(self) -> None:
        self.assert_exit(self.init(), 0)
        receiver_device = self.lab.loop_device(self.file)
        transmitter_device = self.lab.loop_device(self.file)
        receiver = subprocess.Popen([str(hbnet.hbdisk_path()), "-p", receiver_device, "-r",
                                     "-w", "20"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        self.addCleanup(receiver.kill)
        result = hbdisk("-p", transmitter_device, "-t", "-c", "10", "-i", "10", "--json")
        self.assert_exit(result, 0)
        report = json.loads(result.stdout)
        self.assertEqual((report["sent"], report["echoed"], report["lost"], report["ok"]),
                         (10, 10, 0, True))
        self.assertEqual(report["slots"], [3, 4], "the two highest slots by default")
        rtt = report["rtt_ms"]
        self.assertTrue(0 < rtt["min"] <= rtt["p50"] <= rtt["p99"] <= rtt["max"], rtt)
        out, _ = receiver.communicate(timeout=TIMEOUT_S)
        self.assertEqual(receiver.returncode, 0, out)
        self.assertIn("Link operates normally: echoed 10 writes from slot 3", out)
        # Both slots are left as init made them.
        slots = json.loads(hbdisk("dump", str(self.file), "--json").stdout)["slots"]
        self.assertEqual([slot["status"] for slot in slots], ["empty"] * 4)

    def test_pair_test_without_a_receiver_fails_saying_so(self) -> None:
        self.assert_exit(self.init(), 0)
        result = hbdisk("-p", str(self.file), "-t", "-c", "2", "-w", "1")
        self.assert_exit(result, 1, "No link: none of")

    def test_watch_follows_the_slots(self) -> None:
        self.assert_exit(self.init(), 0)
        result = hbdisk("watch", str(self.file), "--count", "2", "--every-ms", "10", "--json")
        self.assert_exit(result, 0)
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[0]["slots"], [], "no slot written yet")

    def test_hbd_check_opens_the_disk(self) -> None:
        self.assert_exit(self.init(), 0)
        nodes = (hbnet.NodeSpec(1, "alpha", (hbnet.Adapter("net_a", "eth1", "198.18.1.1"),)),
                 hbnet.NodeSpec(2, "beta", (hbnet.Adapter("net_a", "eth1", "198.18.1.2"),)))
        config = self.lab.tmp / "hb.toml"
        for cluster_id, code, text in ((7, 0, "is initialised for this cluster"),
                                       (9, 2, "belongs to cluster 7, not 9")):
            config.write_text(hbnet.render_config(
                cluster_id=cluster_id, local_node=1, networks=[hbnet.Network("net_a")],
                nodes=nodes, key_file=None, extra=f'[disk]\npath = "{self.file}"\n'))
            result = subprocess.run([str(hbnet.hbd_path()), "--check", "-c", str(config)],
                                    capture_output=True, text=True, timeout=TIMEOUT_S)
            self.assert_exit(result, code, text)

    def test_usage_errors_exit_2(self) -> None:
        cases = [
            ((), "give a command"),
            (("init", str(self.file), "--slots", "4"), "--cluster-id"),
            (("init", str(self.file), "--cluster-id", "7", "--slots", "0"), "--slots"),
            (("init", str(self.file), "--cluster-id", "7", "--slots", "256"), "--slots"),
            (("init", str(self.file), "--cluster-id", "x", "--slots", "4"), "--cluster-id"),
            (("init", str(self.file), "--cluster-id", "7", "--slots", "4", "--sector-size",
              "1024"), "--sector-size"),
            (("dump",), "DEV"),
            (("frobnicate",), "frobnicate"),
            (("-p", str(self.file)), "-t|-r"),
            (("-p", str(self.file), "-t", "-r"), "excludes"),
            (("-p", str(self.file), "-t", "--nodes", "2,2"), "two different slots"),
            (("-p", str(self.file), "-t", "-c", "0"), "-c"),
        ]
        for args, text in cases:
            with self.subTest(args=args):
                self.assert_exit(hbdisk(*args), 2, text)


if __name__ == "__main__":
    netns_support.main(needs_hbd=False)
